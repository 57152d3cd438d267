// Every configuration key and every metric the product exposes is documented.

#include <catch2/catch.hpp>
#include <prometheus/registry.h>

#include "common/config.h"
#include "common/metrics.h"
#include "test/test_util.h"
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
  const std::string text = doc("metrics.md");
  const auto families = registry.Collect();
  REQUIRE(families.size() >= 7);
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
