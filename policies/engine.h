#pragma once
// The policy engine: one immutable, loaded set of policies evaluated against one object.
// No sockets, threads or clock reads; the current time comes in through the caller
// (EvalInput::now), and so does the clock of a deadline (EvalInput::deadline), past which the
// evaluation stops and says so. Every violation of every policy is returned; the verdict's
// message, warnings and audit annotations are composed from the policies' modes.
// Thread-safe: a PolicySet is immutable once built and shared through shared_ptr snapshots.

#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>

#include "policies/policy.h"
#include "policies/types.h"

namespace kc::policy {

// Audit annotation key carrying every violation of a request.
inline constexpr std::string_view kAuditAnnotationViolations = "kube-customs.io/violations";

class PolicySet {
 public:
  PolicySet() = default;
  explicit PolicySet(std::vector<Policy> policies);

  // A set with no policies: admits everything. Real behaviour, used until policies load.
  static std::shared_ptr<const PolicySet> empty();

  bool isEmpty() const { return empty_; }
  const std::vector<Policy>& policies() const { return policies_; }
  // Unique per constructed set (never reused within a process), so callers can cache what
  // they derive from a set, e.g. metric handles, and notice when a reload replaced it.
  std::uint64_t id() const { return id_; }
  Verdict evaluate(const EvalInput& in) const;

  // Exceptions still active at `now` that expire before `now + window` (default 7 days).
  int exceptionsExpiringWithin(Seconds now,
                               std::chrono::seconds window = std::chrono::hours(24 * 7)) const;

 private:
  static std::uint64_t nextId();
  bool empty_ = true;
  std::vector<Policy> policies_;
  std::uint64_t id_ = nextId();
};

}  // namespace kc::policy
