#pragma once
// A map from string keys holding at most a fixed number of entries: adding a key when full
// forgets the oldest key added first (first in, first out; reading or overwriting an entry does
// not make it younger). What the units remember of objects (Services, RBAC roles, webhook
// configurations) is bounded this way. Not thread-safe.

#include <cstddef>
#include <iterator>
#include <list>
#include <string>
#include <unordered_map>
#include <utility>

namespace kc::audit::detect {

template <typename V>
class BoundedMap {
 public:
  // `cap` of 0 is taken as 1: the entry just added is always kept.
  explicit BoundedMap(std::size_t cap) : cap_(cap == 0 ? 1 : cap) {}

  // The entry of `key`, or nullptr.
  V* find(const std::string& key) {
    auto it = entries_.find(key);
    return it == entries_.end() ? nullptr : &it->second.value;
  }
  const V* find(const std::string& key) const {
    auto it = entries_.find(key);
    return it == entries_.end() ? nullptr : &it->second.value;
  }

  // The entry of `key`; a new one, value-initialized, when absent, the oldest entry forgotten
  // first when full.
  V& get(const std::string& key) {
    auto it = entries_.find(key);
    if (it != entries_.end()) return it->second.value;
    while (entries_.size() >= cap_) {
      entries_.erase(order_.front());
      order_.pop_front();
    }
    order_.push_back(key);
    return entries_.emplace(key, Entry{V{}, std::prev(order_.end())}).first->second.value;
  }

  // Sets the entry of `key` to `value` (see get()).
  void put(const std::string& key, V value) { get(key) = std::move(value); }

  // Forgets `key`, if present, and its place in the order: added again, it is the youngest.
  bool erase(const std::string& key) {
    auto it = entries_.find(key);
    if (it == entries_.end()) return false;
    order_.erase(it->second.pos);
    entries_.erase(it);
    return true;
  }

  std::size_t size() const { return entries_.size(); }
  std::size_t capacity() const { return cap_; }
  // The keys, oldest first.
  const std::list<std::string>& order() const { return order_; }

 private:
  struct Entry {
    V value;
    std::list<std::string>::iterator pos;  // the key's place in order_
  };
  std::size_t cap_;
  std::unordered_map<std::string, Entry> entries_;
  std::list<std::string> order_;  // oldest first
};

}  // namespace kc::audit::detect
