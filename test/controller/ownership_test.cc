// ObjectTracker: the flat, hash-indexed LRU memory of pod-carrying objects. Checked against a
// plain reference model (a list searched linearly) over random operations on small key
// spaces, so that uids and names collide, records get re-keyed and evictions happen all the
// time.

#include "controller/detect/ownership.h"

#include <catch2/catch.hpp>
#include <list>
#include <random>
#include <string>

namespace kc::audit {
namespace {

// The reference: what ObjectTracker promises, written the slow and obvious way.
class Reference {
 public:
  explicit Reference(size_t capacity) : capacity_(capacity) {}

  TrackedObject* find(std::string_view uid) {
    if (uid.empty()) return nullptr;
    for (auto it = lru_.begin(); it != lru_.end(); ++it) {
      if (it->o.uid == uid) return touch(it);
    }
    return nullptr;
  }
  TrackedObject* findByName(std::string_view kind, std::string_view ns, std::string_view name) {
    if (name.empty()) return nullptr;
    for (auto it = lru_.begin(); it != lru_.end(); ++it) {
      if (it->named && it->o.kind == kind && it->o.namespace_ == ns && it->o.name == name) {
        return touch(it);
      }
    }
    return nullptr;
  }
  TrackedObject& upsert(std::string_view uid, std::string_view kind, std::string_view ns,
                        std::string_view name) {
    TrackedObject* found = find(uid);
    if (!found) found = findByName(kind, ns, name);
    if (found) {
      Rec& r = lru_.front();
      if (!uid.empty() && r.o.uid != uid) {
        TrackedObject fresh;
        fresh.uid = std::string(uid);
        fresh.kind = r.o.kind;
        fresh.namespace_ = r.o.namespace_;
        fresh.name = r.o.name;
        r.o = fresh;
      }
      if (r.o.name.empty() && !name.empty()) name_(r, kind, ns, name);
      return r.o;
    }
    if (lru_.size() >= capacity_) {
      lru_.pop_back();
      ++evicted_;
    }
    lru_.emplace_front();
    Rec& r = lru_.front();
    r.o.uid = std::string(uid);
    name_(r, kind, ns, name);
    return r.o;
  }
  std::string rootUid(std::string_view uid) {
    std::string current(uid);
    for (int depth = 0; depth < 8; ++depth) {
      const Rec* r = byUid(current);
      if (r == nullptr || r->o.ownerUid.empty() || byUid(r->o.ownerUid) == nullptr) break;
      current = r->o.ownerUid;
    }
    return current;
  }
  size_t size() const { return lru_.size(); }
  uint64_t evicted() const { return evicted_; }

 private:
  struct Rec {
    TrackedObject o;
    bool named = false;  // the newest record under its name
  };
  TrackedObject* touch(std::list<Rec>::iterator it) {
    lru_.splice(lru_.begin(), lru_, it);
    return &lru_.front().o;
  }
  const Rec* byUid(std::string_view uid) const {
    if (uid.empty()) return nullptr;
    for (const Rec& r : lru_) {
      if (r.o.uid == uid) return &r;
    }
    return nullptr;
  }
  void name_(Rec& r, std::string_view kind, std::string_view ns, std::string_view name) {
    r.o.kind = std::string(kind);
    r.o.namespace_ = std::string(ns);
    r.o.name = std::string(name);
    r.named = false;
    if (name.empty()) return;
    for (Rec& other : lru_) {
      if (other.named && other.o.kind == kind && other.o.namespace_ == ns && other.o.name == name) {
        other.named = false;
      }
    }
    r.named = true;
  }
  size_t capacity_;
  std::list<Rec> lru_;
  uint64_t evicted_ = 0;
};

// Records are told apart by a serial number kept in `actor`.
std::string id(const TrackedObject* o) { return o == nullptr ? "-" : o->actor; }

TEST_CASE("TrackerAgreesWithTheReferenceModel") {
  for (size_t capacity : {1u, 2u, 5u, 17u}) {
    ObjectTracker t(capacity);
    Reference ref(capacity);
    std::mt19937 rng(static_cast<unsigned>(capacity));
    auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<unsigned>(n)); };
    auto uid = [&] { return pick(8) == 0 ? std::string() : "uid-" + std::to_string(pick(12)); };
    auto kind = [&] { return pick(2) ? std::string("Pod") : std::string("ReplicaSet"); };
    auto ns = [&] { return pick(2) ? std::string("shop") : std::string("default"); };
    auto name = [&] { return pick(6) == 0 ? std::string() : "n" + std::to_string(pick(6)); };
    int serial = 0;
    for (int step = 0; step < 20000; ++step) {
      INFO("capacity " << capacity << ", step " << step);
      switch (pick(5)) {
        case 0: {
          const std::string u = uid();
          REQUIRE(id(t.find(u)) == id(ref.find(u)));
          break;
        }
        case 1: {
          const std::string k = kind(), s = ns(), n = name();
          REQUIRE(id(t.findByName(k, s, n)) == id(ref.findByName(k, s, n)));
          break;
        }
        case 2: {
          const std::string u = uid();
          REQUIRE(std::string(t.rootUid(u)) == ref.rootUid(u));
          break;
        }
        default: {
          const std::string u = uid(), k = kind(), s = ns(), n = name();
          TrackedObject& a = t.upsert(u, k, s, n);
          TrackedObject& b = ref.upsert(u, k, s, n);
          REQUIRE(id(&a) == id(&b));
          REQUIRE(a.uid == b.uid);
          REQUIRE(a.name == b.name);
          if (a.actor.empty()) a.actor = b.actor = "#" + std::to_string(++serial);
          if (pick(3) == 0) a.ownerUid = b.ownerUid = uid();
          break;
        }
      }
      REQUIRE(t.size() == ref.size());
      REQUIRE(t.evicted() == ref.evicted());
    }
  }
}

TEST_CASE("TrackerFollowsOwnersToTheRootAndStopsOnCycles") {
  ObjectTracker t(100);
  t.upsert("dep", "Deployment", "shop", "web");
  t.upsert("rs", "ReplicaSet", "shop", "web-7d4").ownerUid = "dep";
  t.upsert("pod", "Pod", "shop", "web-7d4-x1").ownerUid = "rs";
  CHECK(t.rootUid("pod") == "dep");
  CHECK(t.rootUid("rs") == "dep");
  CHECK(t.rootUid("unknown") == "unknown");
  t.upsert("a", "Pod", "shop", "a").ownerUid = "b";
  t.upsert("b", "Pod", "shop", "b").ownerUid = "a";
  const std::string_view root = t.rootUid("a");
  CHECK((root == "a" || root == "b"));
}

TEST_CASE("TrackerForgetsTheLeastRecentlyUsedFirst") {
  ObjectTracker t(3);
  t.upsert("u1", "Pod", "ns", "p1");
  t.upsert("u2", "Pod", "ns", "p2");
  t.upsert("u3", "Pod", "ns", "p3");
  REQUIRE(t.find("u1") != nullptr);  // u2 is now the oldest
  t.upsert("u4", "Pod", "ns", "p4");
  CHECK(t.find("u2") == nullptr);
  CHECK(t.findByName("Pod", "ns", "p2") == nullptr);
  CHECK(t.find("u1") != nullptr);
  CHECK(t.evicted() == 1);
  CHECK(t.size() == 3);
  // A recreated object under a known name gets a fresh record under its new uid.
  TrackedObject& again = t.upsert("u1", "Pod", "ns", "p1");
  again.actor = "alice";
  TrackedObject& recreated = t.upsert("", "Pod", "ns", "p1");
  CHECK(&recreated == &again);
  TrackedObject& rekeyed = t.upsert("u1b", "Pod", "ns", "p1");
  CHECK(rekeyed.actor.empty());
  CHECK(t.find("u1") == nullptr);
  CHECK(t.find("u1b") == &rekeyed);
}

}  // namespace
}  // namespace kc::audit
