#pragma once
// The containers expected on a node outside Kubernetes (node.allowedOutsideKubernetes and what
// `kube-customs respond accept` added): read by the node rules, which do not report them, and
// by the responder, which never isolates them. Immutable once parsed; thread-safe to read.

#include <string>
#include <vector>

#include "node/container.h"
#include "policies/image_ref.h"

namespace kc::node {

// Containers expected on a node outside Kubernetes (node.allowedOutsideKubernetes): a node's
// own agents, a build container, a local registry. Each entry is one of
//   image:<image glob>        the image (policies' image globs: `*`, `**`, `?`, segment-aware)
//   name:<glob>               the container's name (`*` and `?` over the whole name)
//   label:<key>=<glob>        a label of the container and its value
//   <image glob>              the same as image:<image glob>
// Labels are the runtime's word, given by whoever starts the container: allow by label only
// what is also allowed to start containers on the node.
class OutsideAllowList {
 public:
  // False and `error` (naming the entry) for an entry that cannot be read.
  static bool parse(const std::vector<std::string>& entries, OutsideAllowList& out,
                    std::string& error);
  // The entry that allows `c`, or "" when none does.
  std::string allows(const Container& c) const;
  bool empty() const { return entries_.empty(); }
  std::size_t size() const { return entries_.size(); }
  // Appends the entries of `other` (the operator's accepts beside the configured ones).
  void add(const OutsideAllowList& other) {
    entries_.insert(entries_.end(), other.entries_.begin(), other.entries_.end());
  }

 private:
  struct Entry {
    enum class Kind { kImage, kName, kLabel } kind = Kind::kImage;
    std::string text;  // as configured, for the finding and the log
    policy::ImageGlob image;
    std::string key, pattern;
  };
  std::vector<Entry> entries_;
};

}  // namespace kc::node
