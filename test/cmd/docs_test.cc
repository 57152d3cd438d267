// Every configuration key and every metric the product exposes is documented.

#include <catch2/catch.hpp>
#include <prometheus/registry.h>

#include "common/config.h"
#include "common/metrics.h"
#include "controller/audit_metrics.h"
#include "test/test_util.h"
#include "policies/policy.h"
#include "webhook/policy_metrics.h"
#include "webhook/webhook_metrics.h"

namespace {

std::string doc(const std::string& name) {
  return kc::testing::readFile(std::string(KC_SOURCE_DIR) + "/docs/" + name);
}

TEST_CASE("EveryConfigKeyIsInConfigurationDoc", "[docs]") {
  const std::string text = doc("configuration.md");
  for (const auto& [key, type] : kc::configKeys()) {
    INFO(key);
    CHECK(text.find("| `" + key + "` | " + type + " |") != std::string::npos);
  }
}

TEST_CASE("EveryMetricIsInMetricsDoc", "[docs]") {
  prometheus::Registry registry;
  kc::metrics::registerBuildInfo(registry);
  kc::metrics::ServerMetrics server(registry);
  kc::webhook::WebhookMetrics webhook(registry);
  kc::webhook::PolicyMetrics policy(registry);
  kc::audit::AuditMetrics audit(registry);
  audit.dropped("log", "too_large");
  audit.finding("pod-exec", "high");
  audit.lastEvent("log", 1);
  audit.duplicate("log");
  // Families appear in a scrape once they have a child: give every labelled one a value.
  kc::policy::Policy p;
  p.name = "p";
  kc::policy::Verdict verdict;
  verdict.violations.push_back(
      {"p", "pss.privileged", "c", "f", "m", kc::policy::Mode::kEnforce, {}});
  policy.evaluated(kc::policy::PolicySet({p}), verdict, "Pod");
  const std::string text = doc("metrics.md");
  const auto families = registry.Collect();
  REQUIRE(families.size() >= 23);
  for (const auto& family : families) {
    INFO(family.name);
    CHECK(text.find("| `" + family.name + "` |") != std::string::npos);
  }
  for (const auto& reason : kc::metrics::badRequestReasons()) {
    INFO(reason);
    CHECK(text.find("`" + reason + "`") != std::string::npos);
  }
}

}  // namespace
