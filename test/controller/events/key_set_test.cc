#include "controller/events/key_set.h"

#include <catch2/catch.hpp>
#include <deque>
#include <random>
#include <set>
#include <utility>

#include "controller/events/dedupe.h"

namespace kc::audit {
namespace {

constexpr int64_t kSec = 1'000'000;

DedupeKey k(uint64_t hi, uint64_t lo) { return DedupeKey{hi, lo}; }

TEST_CASE("KeyFifoSetHoldsKeysAndRefusesRepeats") {
  KeyFifoSet s(100);
  CHECK(s.empty());
  CHECK(s.insert(k(1, 2), 0));
  CHECK(s.insert(k(2, 1), 0));
  CHECK_FALSE(s.insert(k(1, 2), 5));
  CHECK(s.contains(k(1, 2)));
  CHECK(s.contains(k(2, 1)));
  CHECK_FALSE(s.contains(k(1, 1)));
  CHECK(s.size() == 2);
  CHECK(s.oldestKey() == k(1, 2));
  CHECK(s.oldestStamp() == 0);  // the refused repeat did not restamp it
}

TEST_CASE("KeyFifoSetEvictsTheOldestBeyondMaxEntries") {
  KeyFifoSet s(3);
  uint64_t evicted = 0;
  for (uint64_t i = 1; i <= 5; ++i) CHECK(s.insert(k(i, i * 7), static_cast<int64_t>(i), &evicted));
  CHECK(evicted == 2);
  CHECK(s.size() == 3);
  CHECK_FALSE(s.contains(k(1, 7)));
  CHECK_FALSE(s.contains(k(2, 14)));
  CHECK(s.contains(k(3, 21)));
  CHECK(s.contains(k(5, 35)));
  CHECK(s.oldestKey() == k(3, 21));
  CHECK(s.oldestStamp() == 3);
}

TEST_CASE("KeyFifoSetHoldsTheAllZeroKey") {
  KeyFifoSet s(2);
  uint64_t evicted = 0;
  CHECK_FALSE(s.contains(k(0, 0)));
  CHECK(s.insert(k(0, 0), 1, &evicted));
  CHECK(s.contains(k(0, 0)));
  CHECK_FALSE(s.insert(k(0, 0), 2, &evicted));
  CHECK(s.insert(k(0, 1), 3, &evicted));
  CHECK(s.insert(k(0, 2), 4, &evicted));  // evicts the zero key
  CHECK(evicted == 1);
  CHECK_FALSE(s.contains(k(0, 0)));
  CHECK(s.contains(k(0, 1)));
}

TEST_CASE("KeyFifoSetWithNoRoomHoldsNothing") {
  KeyFifoSet s(0);
  uint64_t evicted = 0;
  CHECK(s.insert(k(1, 1), 0, &evicted));
  CHECK(s.insert(k(1, 1), 0, &evicted));
  CHECK(evicted == 2);
  CHECK(s.empty());
}

TEST_CASE("KeyFifoSetBackwardShiftKeepsCollidingKeysReachable") {
  // Keys with the same home slot (same low bits) form one probe run; deleting from its middle
  // must shift the later ones back, including across the end of the table.
  KeyFifoSet s(1000);
  const uint64_t mask = s.tableCapacity() - 1;
  std::vector<DedupeKey> keys;
  for (uint64_t i = 1; i <= 12; ++i) keys.push_back(k(i, (mask - 1) + (i % 3) * (mask + 1) * i));
  for (const auto& key : keys) REQUIRE(s.insert(key, 0));
  // Pop the oldest few: they sit at the start of the run.
  for (int i = 0; i < 5; ++i) s.popOldest();
  for (size_t i = 0; i < keys.size(); ++i) CHECK(s.contains(keys[i]) == (i >= 5));
  for (const auto& key : keys) s.insert(key, 1);  // the popped ones come back
  for (const auto& key : keys) CHECK(s.contains(key));
  CHECK(s.size() == keys.size());
}

// The same operations on std::set + std::deque, the obvious implementation.
class Reference {
 public:
  explicit Reference(size_t max) : max_(max) {}
  bool insert(std::pair<uint64_t, uint64_t> key, int64_t stamp, uint64_t& evicted) {
    if (set_.count(key)) return false;
    set_.insert(key);
    order_.push_back({key, stamp});
    while (set_.size() > max_) {
      set_.erase(order_.front().first);
      order_.pop_front();
      ++evicted;
    }
    return true;
  }
  void expire(int64_t now, int64_t window, uint64_t& evicted) {
    while (!order_.empty() && now - order_.front().second > window) {
      set_.erase(order_.front().first);
      order_.pop_front();
      ++evicted;
    }
  }
  bool contains(std::pair<uint64_t, uint64_t> key) const { return set_.count(key) != 0; }
  size_t size() const { return set_.size(); }

 private:
  size_t max_;
  std::set<std::pair<uint64_t, uint64_t>> set_;
  std::deque<std::pair<std::pair<uint64_t, uint64_t>, int64_t>> order_;
};

TEST_CASE("KeyFifoSetMatchesAReferenceModelUnderChurn") {
  // Few distinct low bits: long probe runs, many collisions, deletions everywhere in them,
  // and table and ring growth along the way.
  for (size_t max : {1u, 7u, 64u, 1000u, 5000u}) {
    std::mt19937_64 rng(max * 7919);
    KeyFifoSet s(max);
    Reference ref(max);
    uint64_t ev = 0, refEv = 0;
    const uint64_t universe = max * 3 + 10;
    for (int step = 0; step < 60000; ++step) {
      const uint64_t id = rng() % universe;
      // hi distinguishes keys; lo has only 512 values: heavy clustering in the table.
      const DedupeKey key = k(id * 0x9e3779b97f4a7c15ULL + 1, (id % 512) << 3);
      const auto rkey = std::make_pair(key.hi, key.lo);
      if (rng() % 4 == 0) {
        REQUIRE(s.contains(key) == ref.contains(rkey));
        continue;
      }
      const int64_t now = step;
      if (rng() % 16 == 0 && !s.empty()) {
        // Expire with a window: pop oldest while too old, as Deduper does.
        const int64_t window = static_cast<int64_t>(rng() % (max * 2 + 1));
        while (!s.empty() && now - s.oldestStamp() > window) {
          s.popOldest();
          ++ev;
        }
        ref.expire(now, window, refEv);
      }
      REQUIRE(s.insert(key, now, &ev) == ref.insert(rkey, now, refEv));
      REQUIRE(s.size() == ref.size());
      REQUIRE(ev == refEv);
    }
    // Every key of the universe agrees at the end.
    for (uint64_t id = 0; id < universe; ++id) {
      const DedupeKey key = k(id * 0x9e3779b97f4a7c15ULL + 1, (id % 512) << 3);
      REQUIRE(s.contains(key) == ref.contains({key.hi, key.lo}));
    }
  }
}

TEST_CASE("DeduperMatchesAReferenceModelWithWindowAndCap") {
  std::mt19937_64 rng(42);
  const int64_t window = 50 * kSec;
  Deduper d({.maxEntries = 300, .windowMicros = window});
  Reference ref(300);
  uint64_t refEv = 0, refDup = 0;
  int64_t now = 0;
  for (int step = 0; step < 50000; ++step) {
    now += static_cast<int64_t>(rng() % (kSec / 4));
    const std::string id = "id-" + std::to_string(rng() % 700);
    const DedupeKey key = dedupeKey(id, "ResponseComplete");
    ref.expire(now, window, refEv);
    const bool refFirst = ref.insert({key.hi, key.lo}, now, refEv);
    if (!refFirst) ++refDup;
    REQUIRE(d.firstSeen(id, "ResponseComplete", now) == refFirst);
    REQUIRE(d.size() == ref.size());
    REQUIRE(d.evictions() == refEv);
    REQUIRE(d.duplicates() == refDup);
  }
  CHECK(refEv > 0);
  CHECK(refDup > 0);
}

TEST_CASE("DeduperEvictsByWindowBeforeCountingARepeat") {
  Deduper d({.maxEntries = 10, .windowMicros = 10 * kSec});
  for (int i = 0; i < 5; ++i) REQUIRE(d.firstSeen("id-" + std::to_string(i), "s", i * kSec));
  CHECK_FALSE(d.firstSeen("id-2", "s", 12 * kSec));  // 10 s old: still held
  CHECK(d.firstSeen("id-1", "s", 12 * kSec));        // 11 s old: expired, new again
  CHECK(d.evictions() == 2);                         // id-0 and id-1
  CHECK(d.size() == 4);                              // id-2, id-3, id-4, id-1
  CHECK(d.contains(dedupeKey("id-1", "s")));
  CHECK_FALSE(d.contains(dedupeKey("id-0", "s")));
  CHECK(d.duplicates() == 1);
}

}  // namespace
}  // namespace kc::audit
