#pragma once
// Memory of the pod-carrying objects seen in audit events, keyed by metadata.uid: who is
// responsible for each (attribution through controllers: Deployment -> ReplicaSet -> Pod,
// CronJob -> Job -> Pod), the images and commands it last ran, which identities changed it, and
// which detection keys it already produced (so a Pod is not reported again for what its
// template was reported for). Bounded: least recently used objects are forgotten first.
//
// Thread-safety: not thread-safe; owned by one Detector.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "controller/events/huge_pages.h"

namespace kc::audit {

// The built-in controllers that create pods and pod-carrying objects on behalf of the identity
// that created or changed the owning workload: system:serviceaccount:kube-system:
// {replicaset,deployment,job,cronjob,daemon-set,statefulset,replication}-controller, and
// system:kube-controller-manager (controllers without per-controller credentials).
bool isWorkloadController(std::string_view username);

// One container as last seen: what the image-change detection compares.
struct ContainerState {
  std::string name;  // "init:", "" or "ephemeral:" prefix + container name
  std::string image;
  std::string command;  // command and args, joined
  bool operator==(const ContainerState&) const = default;
};

struct TrackedObject {
  std::string uid;
  std::string kind;
  std::string namespace_;
  std::string name;
  std::string ownerUid;               // the controller ownerReference, "" when none
  std::string actor;                  // identity responsible: creator or last human changer
  std::string actorUserAgent;         // that identity's user agent
  std::vector<std::string> changers;  // identities that created or changed the pod spec
  bool hasContainers = false;
  std::vector<ContainerState> containers;
  std::vector<std::string> findingKeys;  // detection keys found on this object

  // Among the first `among` keys only (the keys it had before the event being judged).
  bool hasKey(std::string_view key, size_t among = kMaxKeys) const;
  void addKey(std::string key);  // bounded (kMaxKeys)
  bool isChanger(std::string_view user) const;
  void addChanger(std::string user);  // bounded (kMaxChangers), oldest dropped

  static constexpr size_t kMaxKeys = 64;
  static constexpr size_t kMaxChangers = 16;
};

class ObjectTracker {
 public:
  explicit ObjectTracker(size_t capacity = 100'000);

  // Pointers and references returned stay valid until the next upsert (which may evict).

  // The object with this uid, or nullptr. Marks it recently used.
  TrackedObject* find(std::string_view uid);
  // The object by kind, namespace and name (for events whose body lacks a uid), or nullptr.
  TrackedObject* findByName(std::string_view kind, std::string_view ns, std::string_view name);
  // Finds or creates the record. `uid` may be empty: the record is then keyed by name only.
  TrackedObject& upsert(std::string_view uid, std::string_view kind, std::string_view ns,
                        std::string_view name);

  // The topmost known owner's uid (`uid` itself when it has no known owner). Follows at most 8
  // links, so cycles in hostile input cannot loop. Valid until the next upsert.
  std::string_view rootUid(std::string_view uid) const;

  // Every object, least recently used first, and whether it is the one found by its name
  // (another object may have taken the name over). Restoring them in this order rebuilds the
  // same tracker (object_memory.h saves and loads it this way).
  void forEachOldestFirst(
      const std::function<void(const TrackedObject&, bool nameIndexed)>& visit) const;
  // Adds an object as forEachOldestFirst gave it, as the most recently used one: a new record
  // unless one with the same (non-empty) uid exists, which is then emptied and reused. Unlike
  // upsert it never merges objects by name. Evicts the least recently used when full.
  TrackedObject& restore(std::string_view uid, std::string_view kind, std::string_view ns,
                         std::string_view name, bool nameIndexed);

  size_t size() const { return size_; }
  size_t capacity() const { return capacity_; }
  uint64_t evicted() const { return evicted_; }

 private:
  static constexpr uint32_t kNil = 0xffffffffu;

  struct Node {
    TrackedObject obj;
    uint64_t uidHash = 0;
    uint64_t nameHash = 0;
    uint32_t prev = kNil;      // towards the most recently used
    uint32_t next = kNil;      // towards the least recently used
    bool nameIndexed = false;  // byName_ leads here (a newer object may have taken the name)
  };

  // Open-addressing index from a 64-bit key hash to a node: linear probing, load <= 1/2,
  // backward-shift deletion. Equal hashes of different keys may coexist; lookups confirm the
  // key against the node, so a collision costs a probe, never a wrong answer.
  class Index {
   public:
    Index();
    template <class Match>
    uint32_t find(uint64_t hash, Match&& match) const;
    void insert(uint64_t hash, uint32_t node);
    void erase(uint64_t hash, uint32_t node);

   private:
    struct Slot {
      uint64_t hash;
      uint32_t node;  // kNil = empty
    };
    size_t home(uint64_t hash) const { return static_cast<size_t>(hash) & mask_; }
    void grow();
    std::vector<Slot, HugePageAllocator<Slot>> slots_;
    size_t mask_ = 0;
    size_t count_ = 0;
  };

  uint32_t findUid(std::string_view uid, uint64_t hash) const;
  uint32_t findName(std::string_view kind, std::string_view ns, std::string_view name,
                    uint64_t hash) const;
  void touch(uint32_t n);
  // A cleared node, indexed nowhere, at the front (the least recently used one is evicted
  // when the tracker is full).
  uint32_t newNode();
  void unlink(uint32_t n);
  void pushFront(uint32_t n);
  // Re-index node n under uid (whose hash is `hash`), or under kind/namespace/name.
  void setUid(uint32_t n, std::string_view uid, uint64_t hash);
  void setName(uint32_t n, std::string_view kind, std::string_view ns, std::string_view name,
               uint64_t hash);

  size_t capacity_;
  size_t size_ = 0;
  uint64_t evicted_ = 0;
  std::vector<Node, HugePageAllocator<Node>>
      nodes_;             // grows up to capacity_, then nodes are reused in place
  uint32_t head_ = kNil;  // most recently used
  uint32_t tail_ = kNil;  // least recently used
  Index byUid_;
  Index byName_;
};

}  // namespace kc::audit
