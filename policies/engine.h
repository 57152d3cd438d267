#pragma once
// The policy engine: one immutable, loaded set of policies evaluated against one object.
// No sockets, threads or clock reads; the current time comes in through the caller.
// Thread-safe: a PolicySet is immutable once built and shared through shared_ptr snapshots.

#include <memory>

#include "policies/types.h"

namespace kc::policy {

class PolicySet {
 public:
  // A set with no policies: admits everything. Real behaviour, used until policies load.
  static std::shared_ptr<const PolicySet> empty();

  bool isEmpty() const { return empty_; }
  Verdict evaluate(const EvalInput& in) const;

 private:
  bool empty_ = true;
};

}  // namespace kc::policy
