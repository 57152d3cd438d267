#pragma once
// A bounded set of 128-bit keys that forgets in insertion order (FIFO), for the deduper's
// event keys and the detector's once-per-request keys.
//
// Layout: an open-addressing table of keys (power-of-two capacity, load <= 1/2, linear
// probing, backward-shift deletion: no tombstones) plus a ring buffer of (key, stamp) in
// insertion order. Both are flat arrays: no allocation per key, one or two cache lines per
// lookup. The keys are hashes already (eventKey, requestKey), so the low word is the table index.
//
// Thread-safety: not thread-safe.

#include <cstddef>
#include <cstdint>
#include <vector>

#include "controller/events/huge_pages.h"

namespace kc::audit {

// 128-bit keyed hash of an event or a request (see dedupe.h). Collisions are negligible at
// the sizes held here.
struct DedupeKey {
  uint64_t hi = 0;
  uint64_t lo = 0;
  bool operator==(const DedupeKey&) const = default;
};

class KeyFifoSet {
 public:
  // maxEntries: the oldest keys are evicted beyond it (0: nothing is ever held).
  explicit KeyFifoSet(size_t maxEntries);

  bool contains(const DedupeKey& key) const;
  // Starts loading the table slot where `key` would be looked up (no effect on the contents):
  // lookups issued some work later then overlap their memory loads instead of waiting for each.
  void prefetch(const DedupeKey& key) const { __builtin_prefetch(&slots_[home(key)]); }
  // Adds `key` stamped with `stamp` (the caller's clock, non-decreasing) unless present.
  // Returns false when it was present (nothing changes). When the set is full the oldest key
  // is evicted first; *evicted (optional) is incremented per key evicted, the new one included
  // when maxEntries is 0.
  bool insert(const DedupeKey& key, int64_t stamp, uint64_t* evicted = nullptr);

  size_t size() const { return count_; }
  bool empty() const { return count_ == 0; }
  size_t maxEntries() const { return maxEntries_; }
  // The oldest key and its stamp; the set must not be empty.
  const DedupeKey& oldestKey() const { return ring_[head_].key; }
  int64_t oldestStamp() const { return ring_[head_].stamp; }
  // Removes the oldest key; the set must not be empty.
  void popOldest();
  // Calls f(key, stamp) for every key, oldest first.
  template <typename F>
  void forEachOldestFirst(F&& f) const {
    for (size_t i = 0; i < count_; ++i) {
      const Entry& e = ring_[(head_ + i) & (ring_.size() - 1)];
      f(e.key, e.stamp);
    }
  }

  // For tests: slots in the hash table.
  size_t tableCapacity() const { return slots_.size(); }

 private:
  struct Entry {
    DedupeKey key;
    int64_t stamp;
  };
  static bool isEmptySlot(const DedupeKey& k) { return k.hi == 0 && k.lo == 0; }
  size_t home(const DedupeKey& k) const { return static_cast<size_t>(k.lo) & mask_; }
  // Index of the slot holding `key` (non-zero key), or npos.
  size_t findSlot(const DedupeKey& key) const;
  void tableInsert(const DedupeKey& key);  // key absent, non-zero, room guaranteed
  void tableErase(const DedupeKey& key);
  void growTable();
  void growRing();

  size_t maxEntries_;
  std::vector<DedupeKey, HugePageAllocator<DedupeKey>> slots_;  // {0, 0} = empty slot
  size_t mask_ = 0;
  size_t tableCount_ = 0;  // keys in slots_ (the zero key lives in hasZero_)
  bool hasZero_ = false;   // the key {0, 0} is held
  std::vector<Entry, HugePageAllocator<Entry>> ring_;  // capacity a power of two
  size_t head_ = 0;
  size_t count_ = 0;
};

}  // namespace kc::audit
