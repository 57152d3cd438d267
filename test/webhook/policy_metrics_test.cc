#include "webhook/policy_metrics.h"

#include <catch2/catch.hpp>

#include "policies/policy.h"

namespace {

using kc::policy::Mode;

kc::policy::PolicySet makeSet(const std::string& first) {
  kc::policy::Policy a, b;
  a.name = first;
  a.mode = Mode::kEnforce;
  b.name = std::string("b");  // not = "b": GCC 12 -Wrestrict false positive (PR 105329)
  b.mode = Mode::kWarn;
  return kc::policy::PolicySet({a, b});
}

TEST_CASE("CountsEveryPolicyOfTheSetWithItsDecisionAndKind", "[policy-metrics]") {
  prometheus::Registry registry;
  kc::webhook::PolicyMetrics m(registry);
  const auto set = makeSet("a");
  kc::policy::Verdict denied;
  denied.violations.push_back({"a", "image.denied", "c", "f", "msg", Mode::kEnforce, {}});
  denied.violations.push_back({"a", "image.latestTag", "c", "f", "msg", Mode::kWarn, {}});
  m.evaluated(set, denied, "Pod");
  m.evaluated(set, kc::policy::Verdict{}, "Pod");
  m.evaluated(set, kc::policy::Verdict{}, "SomethingElse");
  m.evaluated(set, denied, "Service");
  CHECK(m.evaluationCount("a", "enforce", "deny", "Service") == 1);
  CHECK(m.evaluationCount("a", "enforce", "deny", "Pod") == 1);
  CHECK(m.evaluationCount("a", "enforce", "pass", "Pod") == 1);
  CHECK(m.evaluationCount("a", "enforce", "pass", "other") == 1);
  CHECK(m.evaluationCount("b", "warn", "pass", "Pod") == 2);
  CHECK(m.violationCount("image.denied") == 2);
  CHECK(m.violationCount("image.latestTag") == 2);
}

TEST_CASE("ANewPolicySetIsCountedUnderItsOwnNames", "[policy-metrics]") {
  prometheus::Registry registry;
  kc::webhook::PolicyMetrics m(registry);
  m.evaluated(makeSet("a"), kc::policy::Verdict{}, "Deployment");
  const auto reloaded = makeSet("renamed");
  m.evaluated(reloaded, kc::policy::Verdict{}, "Deployment");
  CHECK(m.evaluationCount("a", "enforce", "pass", "Deployment") == 1);
  CHECK(m.evaluationCount("renamed", "enforce", "pass", "Deployment") == 1);
  CHECK(m.evaluationCount("b", "warn", "pass", "Deployment") == 2);
}

}  // namespace
