#pragma once
// Metrics of policy evaluation, shared by both doors: evaluations by policy, mode, decision and
// resource kind; violations by rule; whether the last load succeeded and when the set in force
// was loaded; exceptions about to expire. Policy names come from the loaded documents (a small,
// operator-controlled set), kinds from a fixed list, rule ids from the engine. Thread-safe.

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "policies/engine.h"

namespace kc::webhook {

class PolicyMetrics {
 public:
  explicit PolicyMetrics(prometheus::Registry& registry);

  // After a load attempt: its success and the number of policies in force now.
  void loaded(bool ok, std::size_t inForce, double unixSeconds);
  void exceptionsExpiring(double n) { expiring_->Set(n); }
  // Counts one evaluation of every policy of `set` against an object of `kind`.
  void evaluated(const policy::PolicySet& set, const policy::Verdict& verdict,
                 std::string_view kind);

  double evaluationCount(std::string_view policy, std::string_view mode, std::string_view decision,
                         std::string_view kind) const;
  double violationCount(std::string_view rule) const;
  double loadSuccess() const { return loadSuccess_->Value(); }
  double policiesLoaded() const { return policiesLoaded_->Value(); }

 private:
  // Counter handles of the evaluations family for the policy set last seen, by policy index,
  // kind, decision and mode: resolved once per set, so a request costs no string building.
  static constexpr int kKinds = 14, kDecisions = 4, kModes = 3;  // kinds: kKindLabels in the .cc
  struct Slots {
    prometheus::Counter* c[kKinds][kDecisions][kModes] = {};
  };
  std::uint64_t cachedSet_ = 0;
  std::vector<Slots> slots_;

  mutable std::mutex mutex_;
  std::map<std::string, prometheus::Counter*, std::less<>> counters_;
  prometheus::Family<prometheus::Counter>* evaluations_;
  prometheus::Family<prometheus::Counter>* violations_;
  prometheus::Gauge* loadSuccess_;
  prometheus::Gauge* loadTimestamp_;
  prometheus::Gauge* policiesLoaded_;
  prometheus::Gauge* expiring_;
};

// The `kind` label value: a pod-carrying kind, or "other".
std::string_view boundedKind(std::string_view kind);

}  // namespace kc::webhook
