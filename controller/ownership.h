#pragma once
// Memory of the pod-carrying objects seen in audit events, keyed by metadata.uid: who is
// responsible for each (attribution through controllers: Deployment -> ReplicaSet -> Pod,
// CronJob -> Job -> Pod), the images and commands it last ran, which identities changed it, and
// which detection keys it already produced (so a Pod is not reported again for what its
// template was reported for). Bounded: least recently used objects are forgotten first.
//
// Thread-safety: not thread-safe; owned by one Detector.

#include <cstddef>
#include <list>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

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

  bool hasKey(std::string_view key) const;
  void addKey(std::string key);  // bounded (kMaxKeys)
  bool isChanger(std::string_view user) const;
  void addChanger(std::string user);  // bounded (kMaxChangers), oldest dropped

  static constexpr size_t kMaxKeys = 64;
  static constexpr size_t kMaxChangers = 16;
};

class ObjectTracker {
 public:
  explicit ObjectTracker(size_t capacity = 100'000);

  // The object with this uid, or nullptr. Marks it recently used.
  TrackedObject* find(std::string_view uid);
  // The object by kind, namespace and name (for events whose body lacks a uid), or nullptr.
  TrackedObject* findByName(std::string_view kind, std::string_view ns, std::string_view name);
  // Finds or creates the record. `uid` may be empty: the record is then keyed by name only.
  TrackedObject& upsert(std::string_view uid, std::string_view kind, std::string_view ns,
                        std::string_view name);

  // The topmost known owner's uid (the object's own uid when it has no known owner). Follows at
  // most 8 links, so cycles in hostile input cannot loop.
  std::string rootUid(std::string_view uid);

  size_t size() const { return lru_.size(); }
  size_t capacity() const { return capacity_; }
  uint64_t evicted() const { return evicted_; }

 private:
  // Hash and equality that also take string_views, so lookups allocate no key strings.
  struct KeyHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const noexcept {
      return std::hash<std::string_view>{}(s);
    }
  };
  using Index =
      std::unordered_map<std::string, std::list<TrackedObject>::iterator, KeyHash, std::equal_to<>>;

  static std::string nameKey(std::string_view kind, std::string_view ns, std::string_view name);
  // nameKey written into scratch_ (its storage reused between lookups).
  std::string_view scratchNameKey(std::string_view kind, std::string_view ns,
                                  std::string_view name);
  void touch(std::list<TrackedObject>::iterator it);

  size_t capacity_;
  uint64_t evicted_ = 0;
  std::list<TrackedObject> lru_;  // front = most recently used
  Index byUid_;
  Index byName_;
  std::string scratch_;
};

}  // namespace kc::audit
