#include "webhook/policy_metrics.h"

#include <iterator>

namespace kc::webhook {

namespace {

// The values of the `kind` label; the last one, "other", stands for every other kind.
constexpr std::string_view kKindLabels[] = {"Pod",
                                            "Deployment",
                                            "ReplicaSet",
                                            "StatefulSet",
                                            "DaemonSet",
                                            "Job",
                                            "CronJob",
                                            "ReplicationController",
                                            "PodTemplate",
                                            "Service",
                                            "PodExecOptions",
                                            "PodAttachOptions",
                                            "PodPortForwardOptions",
                                            "other"};

int kindIndex(std::string_view kind) {
  constexpr int kOther = static_cast<int>(std::size(kKindLabels)) - 1;
  for (int i = 0; i < kOther; ++i) {
    if (kKindLabels[i] == kind) return i;
  }
  return kOther;
}

}  // namespace

std::string_view boundedKind(std::string_view kind) { return kKindLabels[kindIndex(kind)]; }

PolicyMetrics::PolicyMetrics(prometheus::Registry& registry) {
  static_assert(std::size(kKindLabels) == kKinds);
  evaluations_ = &prometheus::BuildCounter()
                      .Name("kube_customs_policy_evaluations_total")
                      .Help(
                          "Policy evaluations, by policy, effective mode, decision (pass, "
                          "deny, warn, audit) and resource kind.")
                      .Register(registry);
  violations_ = &prometheus::BuildCounter()
                     .Name("kube_customs_policy_violations_total")
                     .Help("Policy violations found, by rule id, whatever the mode.")
                     .Register(registry);
  loadSuccess_ = &prometheus::BuildGauge()
                      .Name("kube_customs_policy_load_success")
                      .Help(
                          "1 when the last policy load succeeded, 0 when it failed (the "
                          "previous set stays in force).")
                      .Register(registry)
                      .Add({});
  policiesLoaded_ = &prometheus::BuildGauge()
                         .Name("kube_customs_policies_loaded")
                         .Help("Policies in the set in force (0: every object is admitted).")
                         .Register(registry)
                         .Add({});
  loadTimestamp_ = &prometheus::BuildGauge()
                        .Name("kube_customs_policy_load_timestamp_seconds")
                        .Help("When the policy set in force was loaded, Unix seconds.")
                        .Register(registry)
                        .Add({});
  expiring_ = &prometheus::BuildGauge()
                   .Name("kube_customs_policy_exceptions_expiring")
                   .Help("Policy exceptions still active that expire within 7 days.")
                   .Register(registry)
                   .Add({});
}

void PolicyMetrics::loaded(bool ok, std::size_t inForce, double unixSeconds) {
  loadSuccess_->Set(ok ? 1 : 0);
  policiesLoaded_->Set(static_cast<double>(inForce));
  if (ok) loadTimestamp_->Set(unixSeconds);
}

void PolicyMetrics::evaluated(const policy::PolicySet& set, const policy::Verdict& verdict,
                              std::string_view kind) {
  static constexpr const char* kDecisionNames[kDecisions] = {"pass", "audit", "warn", "deny"};
  const int kindSlot = kindIndex(kind);
  const std::string_view k = kKindLabels[kindSlot];
  const auto& policies = set.policies();
  std::lock_guard<std::mutex> lock(mutex_);
  if (set.id() != cachedSet_) {
    cachedSet_ = set.id();
    slots_.assign(policies.size(), Slots{});
  }
  for (std::size_t i = 0; i < policies.size(); ++i) {
    const auto& p = policies[i];
    // The decision of this policy: the strongest mode among its violations, or pass.
    int decision = 0;
    policy::Mode mode = p.mode;
    for (const auto& v : verdict.violations) {
      if (v.policy != p.name) continue;
      const int d = v.mode == policy::Mode::kEnforce ? 3 : v.mode == policy::Mode::kWarn ? 2 : 1;
      if (d > decision) {
        decision = d;
        mode = v.mode;
      }
    }
    prometheus::Counter*& c = slots_[i].c[kindSlot][decision][static_cast<int>(mode)];
    if (c == nullptr) {
      const std::string m(policy::modeName(mode));
      const std::string key =
          "e|" + p.name + "|" + m + "|" + kDecisionNames[decision] + "|" + std::string(k);
      auto it = counters_.find(key);
      if (it == counters_.end()) {
        it = counters_
                 .emplace(key, &evaluations_->Add({{"policy", p.name},
                                                   {"mode", m},
                                                   {"decision", kDecisionNames[decision]},
                                                   {"kind", std::string(k)}}))
                 .first;
      }
      c = it->second;
    }
    c->Increment();
  }
  for (const auto& v : verdict.violations) {
    const std::string key = "v|" + v.rule;
    auto it = counters_.find(key);
    if (it == counters_.end())
      it = counters_.emplace(key, &violations_->Add({{"rule", v.rule}})).first;
    it->second->Increment();
  }
}

double PolicyMetrics::evaluationCount(std::string_view policy, std::string_view mode,
                                      std::string_view decision, std::string_view kind) const {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = counters_.find("e|" + std::string(policy) + "|" + std::string(mode) + "|" +
                           std::string(decision) + "|" + std::string(kind));
  return it == counters_.end() ? 0 : it->second->Value();
}

double PolicyMetrics::violationCount(std::string_view rule) const {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = counters_.find("v|" + std::string(rule));
  return it == counters_.end() ? 0 : it->second->Value();
}

}  // namespace kc::webhook
