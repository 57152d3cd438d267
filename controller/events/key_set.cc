#include "controller/events/key_set.h"

#include <algorithm>

namespace kc::audit {
namespace {

constexpr size_t kNpos = static_cast<size_t>(-1);

size_t pow2AtLeast(size_t n) {
  size_t p = 1;
  while (p < n) p <<= 1;
  return p;
}

}  // namespace

KeyFifoSet::KeyFifoSet(size_t maxEntries) : maxEntries_(maxEntries) {
  const size_t initial = pow2AtLeast(std::max<size_t>(std::min<size_t>(maxEntries, 1024), 8));
  slots_.assign(2 * initial, DedupeKey{});
  mask_ = slots_.size() - 1;
  ring_.resize(initial);
}

size_t KeyFifoSet::findSlot(const DedupeKey& key) const {
  for (size_t i = home(key);; i = (i + 1) & mask_) {
    const DedupeKey& s = slots_[i];
    if (s == key) return i;
    if (isEmptySlot(s)) return kNpos;
  }
}

bool KeyFifoSet::contains(const DedupeKey& key) const {
  if (isEmptySlot(key)) return hasZero_;
  return findSlot(key) != kNpos;
}

void KeyFifoSet::tableInsert(const DedupeKey& key) {
  size_t i = home(key);
  while (!isEmptySlot(slots_[i])) i = (i + 1) & mask_;
  slots_[i] = key;
  ++tableCount_;
}

void KeyFifoSet::tableErase(const DedupeKey& key) {
  size_t i = findSlot(key);
  if (i == kNpos) return;
  // Backward shift: pull later entries of the probe run into the hole when the hole lies
  // between their home slot and where they sit, so every key stays reachable from its home
  // without tombstones.
  for (size_t j = (i + 1) & mask_; !isEmptySlot(slots_[j]); j = (j + 1) & mask_) {
    const size_t h = home(slots_[j]);
    if (((j - h) & mask_) >= ((j - i) & mask_)) {
      slots_[i] = slots_[j];
      i = j;
    }
  }
  slots_[i] = DedupeKey{};
  --tableCount_;
}

void KeyFifoSet::growTable() {
  std::vector<DedupeKey, HugePageAllocator<DedupeKey>> old(slots_.size() * 2, DedupeKey{});
  old.swap(slots_);
  mask_ = slots_.size() - 1;
  tableCount_ = 0;
  for (const DedupeKey& k : old) {
    if (!isEmptySlot(k)) tableInsert(k);
  }
}

void KeyFifoSet::growRing() {
  std::vector<Entry, HugePageAllocator<Entry>> bigger(ring_.size() * 2);
  for (size_t i = 0; i < count_; ++i) bigger[i] = ring_[(head_ + i) & (ring_.size() - 1)];
  ring_.swap(bigger);
  head_ = 0;
}

void KeyFifoSet::popOldest() {
  const DedupeKey& k = ring_[head_].key;
  if (isEmptySlot(k))
    hasZero_ = false;
  else
    tableErase(k);
  head_ = (head_ + 1) & (ring_.size() - 1);
  --count_;
}

bool KeyFifoSet::insert(const DedupeKey& key, int64_t stamp, uint64_t* evicted) {
  if (contains(key)) return false;
  if (maxEntries_ == 0) {
    if (evicted) ++*evicted;
    return true;
  }
  while (count_ >= maxEntries_) {
    popOldest();
    if (evicted) ++*evicted;
  }
  // At the cap every insert evicts the oldest key, whose slot is as random as the new one's:
  // start loading the slot of a key a few evictions ahead.
  constexpr size_t kEvictAhead = 8;
  if (count_ + kEvictAhead >= maxEntries_ && count_ > kEvictAhead)
    prefetch(ring_[(head_ + kEvictAhead) & (ring_.size() - 1)].key);
  if (isEmptySlot(key)) {
    hasZero_ = true;
  } else {
    if (2 * (tableCount_ + 1) > slots_.size()) growTable();
    tableInsert(key);
  }
  if (count_ == ring_.size()) growRing();
  ring_[(head_ + count_) & (ring_.size() - 1)] = {key, stamp};
  ++count_;
  return true;
}

}  // namespace kc::audit
