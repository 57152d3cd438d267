#include "controller/detect/ownership.h"

#include <algorithm>
#include <array>
#include <cstring>

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

bool TrackedObject::hasKey(std::string_view key, size_t among) const {
  const auto end =
      findingKeys.begin() + static_cast<std::ptrdiff_t>(std::min(among, findingKeys.size()));
  return std::find(findingKeys.begin(), end, key) != end;
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

namespace {

// A fast 64-bit hash over one or more strings, eight bytes at a time. Not collision resistant:
// the index confirms every hit against the stored key.
class Hasher {
 public:
  explicit Hasher(uint64_t seed) : h_(seed) {}
  Hasher& add(std::string_view s) {
    const char* p = s.data();
    size_t n = s.size();
    while (n >= 8) {
      uint64_t w;
      std::memcpy(&w, p, 8);
      mix(w);
      p += 8;
      n -= 8;
    }
    uint64_t w = 0;
    if (n > 0) std::memcpy(&w, p, n);               // an empty view may have no data pointer at all
    mix(w ^ (static_cast<uint64_t>(n + 1) << 56));  // the length ends each part
    return *this;
  }
  uint64_t done() const {
    uint64_t h = h_;
    h ^= h >> 32;
    h *= 0xd6e8feb86659fd93ULL;
    h ^= h >> 32;
    return h;
  }

 private:
  void mix(uint64_t w) {
    h_ = (h_ ^ w) * 0x9e3779b97f4a7c15ULL;
    h_ ^= h_ >> 29;
  }
  uint64_t h_;
};

uint64_t uidHash(std::string_view uid) { return Hasher(0x243f6a8885a308d3ULL).add(uid).done(); }

uint64_t nameHash(std::string_view kind, std::string_view ns, std::string_view name) {
  return Hasher(0x13198a2e03707344ULL).add(kind).add(ns).add(name).done();
}

}  // namespace

ObjectTracker::Index::Index() : slots_(16, Slot{0, kNil}), mask_(15) {}

template <class Match>
uint32_t ObjectTracker::Index::find(uint64_t hash, Match&& match) const {
  for (size_t i = home(hash);; i = (i + 1) & mask_) {
    const Slot& s = slots_[i];
    if (s.node == kNil) return kNil;
    if (s.hash == hash && match(s.node)) return s.node;
  }
}

void ObjectTracker::Index::insert(uint64_t hash, uint32_t node) {
  if (2 * (count_ + 1) > slots_.size()) grow();
  size_t i = home(hash);
  while (slots_[i].node != kNil) i = (i + 1) & mask_;
  slots_[i] = {hash, node};
  ++count_;
}

void ObjectTracker::Index::erase(uint64_t hash, uint32_t node) {
  size_t i = home(hash);
  for (;; i = (i + 1) & mask_) {
    if (slots_[i].node == kNil) return;
    if (slots_[i].node == node && slots_[i].hash == hash) break;
  }
  // Backward shift: pull later entries of the probe run into the hole when the hole lies
  // between their home slot and where they sit, so every entry stays reachable.
  for (size_t j = (i + 1) & mask_; slots_[j].node != kNil; j = (j + 1) & mask_) {
    const size_t h = home(slots_[j].hash);
    if (((j - h) & mask_) >= ((j - i) & mask_)) {
      slots_[i] = slots_[j];
      i = j;
    }
  }
  slots_[i] = {0, kNil};
  --count_;
}

void ObjectTracker::Index::grow() {
  std::vector<Slot, HugePageAllocator<Slot>> old(slots_.size() * 2, Slot{0, kNil});
  old.swap(slots_);
  mask_ = slots_.size() - 1;
  count_ = 0;
  for (const Slot& s : old) {
    if (s.node != kNil) insert(s.hash, s.node);
  }
}

ObjectTracker::ObjectTracker(size_t capacity)
    : capacity_(std::clamp<size_t>(capacity, 1, kNil - 1)) {
  // Address space only (pages are committed as records are first written): the pool never
  // moves its records to grow.
  nodes_.reserve(std::min<size_t>(capacity_, 1u << 22));
}

uint32_t ObjectTracker::findUid(std::string_view uid, uint64_t hash) const {
  return byUid_.find(hash, [&](uint32_t n) { return nodes_[n].obj.uid == uid; });
}

uint32_t ObjectTracker::findName(std::string_view kind, std::string_view ns, std::string_view name,
                                 uint64_t hash) const {
  return byName_.find(hash, [&](uint32_t n) {
    const TrackedObject& o = nodes_[n].obj;
    return o.name == name && o.namespace_ == ns && o.kind == kind;
  });
}

void ObjectTracker::unlink(uint32_t n) {
  Node& node = nodes_[n];
  if (node.prev != kNil)
    nodes_[node.prev].next = node.next;
  else
    head_ = node.next;
  if (node.next != kNil)
    nodes_[node.next].prev = node.prev;
  else
    tail_ = node.prev;
  node.prev = node.next = kNil;
}

void ObjectTracker::pushFront(uint32_t n) {
  Node& node = nodes_[n];
  node.prev = kNil;
  node.next = head_;
  if (head_ != kNil) nodes_[head_].prev = n;
  head_ = n;
  if (tail_ == kNil) tail_ = n;
}

void ObjectTracker::touch(uint32_t n) {
  if (n == head_) return;
  unlink(n);
  pushFront(n);
}

void ObjectTracker::setUid(uint32_t n, std::string_view uid, uint64_t hash) {
  Node& node = nodes_[n];
  if (!node.obj.uid.empty()) byUid_.erase(node.uidHash, n);
  node.obj.uid.assign(uid);
  if (!uid.empty()) {
    node.uidHash = hash;
    byUid_.insert(node.uidHash, n);
  }
}

void ObjectTracker::setName(uint32_t n, std::string_view kind, std::string_view ns,
                            std::string_view name, uint64_t hash) {
  Node& node = nodes_[n];
  if (node.nameIndexed) byName_.erase(node.nameHash, n);
  node.nameIndexed = false;
  node.obj.kind.assign(kind);
  node.obj.namespace_.assign(ns);
  node.obj.name.assign(name);
  if (name.empty()) return;
  node.nameHash = hash;
  // A newer object under a name takes the name over: the older one is found by uid only.
  const uint32_t other = findName(kind, ns, name, node.nameHash);
  if (other != kNil) {
    byName_.erase(node.nameHash, other);
    nodes_[other].nameIndexed = false;
  }
  byName_.insert(node.nameHash, n);
  node.nameIndexed = true;
}

TrackedObject* ObjectTracker::find(std::string_view uid) {
  if (uid.empty()) return nullptr;
  const uint32_t n = findUid(uid, uidHash(uid));
  if (n == kNil) return nullptr;
  touch(n);
  return &nodes_[n].obj;
}

TrackedObject* ObjectTracker::findByName(std::string_view kind, std::string_view ns,
                                         std::string_view name) {
  if (name.empty()) return nullptr;
  const uint32_t n = findName(kind, ns, name, nameHash(kind, ns, name));
  if (n == kNil) return nullptr;
  touch(n);
  return &nodes_[n].obj;
}

TrackedObject& ObjectTracker::upsert(std::string_view uid, std::string_view kind,
                                     std::string_view ns, std::string_view name) {
  // Each key is hashed once, for the lookups and the indexing below.
  const uint64_t uh = uid.empty() ? 0 : uidHash(uid);
  const uint64_t nh = name.empty() ? 0 : nameHash(kind, ns, name);
  uint32_t n = uid.empty() ? kNil : findUid(uid, uh);
  if (n == kNil && !name.empty()) n = findName(kind, ns, name, nh);
  if (n != kNil) {
    touch(n);
    TrackedObject& found = nodes_[n].obj;
    // A recreated object under the same name has a new uid: re-key it, keep nothing stale.
    if (!uid.empty() && found.uid != uid) {
      TrackedObject fresh;
      fresh.kind = std::move(found.kind);
      fresh.namespace_ = std::move(found.namespace_);
      fresh.name = std::move(found.name);
      fresh.uid = std::move(found.uid);  // still indexed under it until setUid
      found = std::move(fresh);
      setUid(n, uid, uh);
    }
    if (found.name.empty() && !name.empty()) setName(n, kind, ns, name, nh);
    return found;
  }
  n = newNode();
  setUid(n, uid, uh);
  setName(n, kind, ns, name, nh);
  return nodes_[n].obj;
}

uint32_t ObjectTracker::newNode() {
  uint32_t n;
  if (size_ < capacity_) {
    n = static_cast<uint32_t>(nodes_.size());
    nodes_.emplace_back();
    ++size_;
  } else {
    // Forget the least recently used object and reuse its node.
    n = tail_;
    unlink(n);
    Node& old = nodes_[n];
    if (!old.obj.uid.empty()) byUid_.erase(old.uidHash, n);
    if (old.nameIndexed) byName_.erase(old.nameHash, n);
    old.nameIndexed = false;
    old.obj = TrackedObject{};
    ++evicted_;
  }
  pushFront(n);
  return n;
}

void ObjectTracker::forEachOldestFirst(
    const std::function<void(const TrackedObject&, bool nameIndexed)>& visit) const {
  for (uint32_t n = tail_; n != kNil; n = nodes_[n].prev)
    visit(nodes_[n].obj, nodes_[n].nameIndexed);
}

TrackedObject& ObjectTracker::restore(std::string_view uid, std::string_view kind,
                                      std::string_view ns, std::string_view name,
                                      bool nameIndexed) {
  const uint64_t uh = uid.empty() ? 0 : uidHash(uid);
  uint32_t n = uid.empty() ? kNil : findUid(uid, uh);
  if (n != kNil) {
    touch(n);
    Node& node = nodes_[n];
    if (node.nameIndexed) byName_.erase(node.nameHash, n);
    node.nameIndexed = false;
    TrackedObject fresh;
    fresh.uid = std::move(node.obj.uid);
    node.obj = std::move(fresh);
  } else {
    n = newNode();
    setUid(n, uid, uh);
  }
  if (nameIndexed && !name.empty()) {
    setName(n, kind, ns, name, nameHash(kind, ns, name));
  } else {
    TrackedObject& o = nodes_[n].obj;
    o.kind.assign(kind);
    o.namespace_.assign(ns);
    o.name.assign(name);
  }
  return nodes_[n].obj;
}

std::string_view ObjectTracker::rootUid(std::string_view uid) const {
  std::string_view current = uid;
  uint32_t n = current.empty() ? kNil : findUid(current, uidHash(current));
  for (int depth = 0; depth < 8 && n != kNil; ++depth) {
    const std::string& owner = nodes_[n].obj.ownerUid;
    if (owner.empty()) break;
    const uint32_t o = findUid(owner, uidHash(owner));
    if (o == kNil) break;
    current = nodes_[o].obj.uid;
    n = o;
  }
  return current;
}

}  // namespace kc::audit
