#include "webhook/policy_metrics.h"

namespace kc::webhook {

std::string_view boundedKind(std::string_view kind) {
  static constexpr std::string_view kKinds[] = {
      "Pod",     "Deployment", "ReplicaSet", "StatefulSet", "DaemonSet",
      "Job",     "CronJob",    "ReplicationController",     "PodTemplate"};
  for (auto k : kKinds) {
    if (k == kind) return k;
  }
  return "other";
}

PolicyMetrics::PolicyMetrics(prometheus::Registry& registry) {
  evaluations_ = &prometheus::BuildCounter()
                      .Name("kube_customs_policy_evaluations_total")
                      .Help("Policy evaluations, by policy, effective mode, decision (pass, "
                            "deny, warn, audit) and resource kind.")
                      .Register(registry);
  violations_ = &prometheus::BuildCounter()
                     .Name("kube_customs_policy_violations_total")
                     .Help("Policy violations found, by rule id, whatever the mode.")
                     .Register(registry);
  loadSuccess_ = &prometheus::BuildGauge()
                      .Name("kube_customs_policy_load_success")
                      .Help("1 when the last policy load succeeded, 0 when it failed (the "
                            "previous set stays in force).")
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

void PolicyMetrics::loaded(bool ok, double unixSeconds) {
  loadSuccess_->Set(ok ? 1 : 0);
  if (ok) loadTimestamp_->Set(unixSeconds);
}

prometheus::Counter& PolicyMetrics::counter(prometheus::Family<prometheus::Counter>& family,
                                            const std::map<std::string, std::string>& labels,
                                            const std::string& key) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = counters_.find(key);
  if (it != counters_.end()) return *it->second;
  auto& c = family.Add(labels);
  counters_.emplace(key, &c);
  return c;
}

void PolicyMetrics::evaluated(const policy::PolicySet& set, const policy::Verdict& verdict,
                              std::string_view kind) {
  const std::string k(boundedKind(kind));
  for (const auto& p : set.policies()) {
    // The decision of this policy: the strongest mode among its violations, or pass.
    const char* decision = "pass";
    std::string_view mode = policy::modeName(p.mode);
    int strength = 0;
    for (const auto& v : verdict.violations) {
      if (v.policy != p.name) continue;
      const int s = v.mode == policy::Mode::kEnforce ? 3 : v.mode == policy::Mode::kWarn ? 2 : 1;
      if (s > strength) {
        strength = s;
        decision = s == 3 ? "deny" : s == 2 ? "warn" : "audit";
        mode = policy::modeName(v.mode);
      }
    }
    const std::string m(mode);
    counter(*evaluations_, {{"policy", p.name}, {"mode", m}, {"decision", decision}, {"kind", k}},
            "e|" + p.name + "|" + m + "|" + decision + "|" + k)
        .Increment();
  }
  for (const auto& v : verdict.violations)
    counter(*violations_, {{"rule", v.rule}}, "v|" + v.rule).Increment();
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
