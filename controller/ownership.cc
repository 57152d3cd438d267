#include "controller/ownership.h"

#include <algorithm>
#include <array>

namespace kc::audit {

bool isWorkloadController(std::string_view username) {
  static constexpr std::string_view kPrefix = "system:serviceaccount:kube-system:";
  static constexpr std::array<std::string_view, 7> kControllers = {
      "replicaset-controller", "deployment-controller", "job-controller",
      "cronjob-controller",    "daemon-set-controller", "statefulset-controller",
      "replication-controller"};
  if (username == "system:kube-controller-manager") return true;
  if (username.substr(0, kPrefix.size()) != kPrefix) return false;
  std::string_view sa = username.substr(kPrefix.size());
  return std::find(kControllers.begin(), kControllers.end(), sa) != kControllers.end();
}

bool TrackedObject::hasKey(std::string_view key) const {
  return std::find(findingKeys.begin(), findingKeys.end(), key) != findingKeys.end();
}

void TrackedObject::addKey(std::string key) {
  if (hasKey(key) || findingKeys.size() >= kMaxKeys) return;
  findingKeys.push_back(std::move(key));
}

bool TrackedObject::isChanger(std::string_view user) const {
  return std::find(changers.begin(), changers.end(), user) != changers.end();
}

void TrackedObject::addChanger(std::string user) {
  if (user.empty() || isChanger(user)) return;
  if (changers.size() >= kMaxChangers) changers.erase(changers.begin());
  changers.push_back(std::move(user));
}

ObjectTracker::ObjectTracker(size_t capacity) : capacity_(std::max<size_t>(capacity, 1)) {}

std::string ObjectTracker::nameKey(std::string_view kind, std::string_view ns,
                                   std::string_view name) {
  std::string k;
  k.reserve(kind.size() + ns.size() + name.size() + 2);
  k.append(kind).push_back('/');
  k.append(ns).push_back('/');
  k.append(name);
  return k;
}

std::string_view ObjectTracker::scratchNameKey(std::string_view kind, std::string_view ns,
                                              std::string_view name) {
  scratch_.clear();
  scratch_.append(kind).push_back('/');
  scratch_.append(ns).push_back('/');
  scratch_.append(name);
  return scratch_;
}

void ObjectTracker::touch(std::list<TrackedObject>::iterator it) {
  if (it != lru_.begin()) lru_.splice(lru_.begin(), lru_, it);
}

TrackedObject* ObjectTracker::find(std::string_view uid) {
  if (uid.empty()) return nullptr;
  auto it = byUid_.find(uid);
  if (it == byUid_.end()) return nullptr;
  touch(it->second);
  return &*it->second;
}

TrackedObject* ObjectTracker::findByName(std::string_view kind, std::string_view ns,
                                         std::string_view name) {
  if (name.empty()) return nullptr;
  auto it = byName_.find(scratchNameKey(kind, ns, name));
  if (it == byName_.end()) return nullptr;
  touch(it->second);
  return &*it->second;
}

TrackedObject& ObjectTracker::upsert(std::string_view uid, std::string_view kind,
                                     std::string_view ns, std::string_view name) {
  TrackedObject* found = find(uid);
  if (!found) found = findByName(kind, ns, name);
  if (found) {
    // A recreated object under the same name has a new uid: re-key it, keep nothing stale.
    if (!uid.empty() && found->uid != uid) {
      if (!found->uid.empty()) byUid_.erase(found->uid);
      std::string n = found->name, k = found->kind, s = found->namespace_;
      *found = TrackedObject{};
      found->uid = std::string(uid);
      found->kind = k;
      found->namespace_ = s;
      found->name = n;
      byUid_[found->uid] = lru_.begin();
    }
    if (found->name.empty() && !name.empty()) {
      found->name = std::string(name);
      byName_[nameKey(kind, ns, name)] = lru_.begin();
    }
    return *found;
  }
  while (lru_.size() >= capacity_) {
    const TrackedObject& old = lru_.back();
    if (!old.uid.empty()) byUid_.erase(old.uid);
    if (!old.name.empty()) {
      auto nit = byName_.find(scratchNameKey(old.kind, old.namespace_, old.name));
      if (nit != byName_.end() && nit->second == std::prev(lru_.end())) byName_.erase(nit);
    }
    lru_.pop_back();
    ++evicted_;
  }
  lru_.emplace_front();
  TrackedObject& o = lru_.front();
  o.uid = std::string(uid);
  o.kind = std::string(kind);
  o.namespace_ = std::string(ns);
  o.name = std::string(name);
  if (!o.uid.empty()) byUid_[o.uid] = lru_.begin();
  if (!o.name.empty()) byName_[nameKey(kind, ns, name)] = lru_.begin();
  return o;
}

std::string ObjectTracker::rootUid(std::string_view uid) {
  std::string current(uid);
  for (int depth = 0; depth < 8; ++depth) {
    auto it = byUid_.find(current);
    if (it == byUid_.end() || it->second->ownerUid.empty()) break;
    if (byUid_.find(it->second->ownerUid) == byUid_.end()) break;
    current = it->second->ownerUid;
  }
  return current;
}

}  // namespace kc::audit
