// Every configuration key, metric and audit detection rule the product has is documented.

#include <prometheus/registry.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cctype>

#include "cmd/config.h"
#include "common/internal_errors.h"
#include "common/metrics.h"
#include "controller/detect/detections.h"
#include "controller/events/audit_metrics.h"
#include "node/node_metrics.h"
#include "policies/policy.h"
#include "respond/auto_responder.h"
#include "test/test_util.h"
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

TEST_CASE("EveryDetectionRuleHasASectionWithItsTechniqueInDetectionsDoc", "[docs]") {
  // A "### " heading naming the rule (rules documented together share one), whose section has
  // the Sees, Why, ATT&CK (with the catalog's technique), False positives and Tune items.
  const std::string text = doc("detections.md");
  for (const auto& r : kc::audit::detectionRules()) {
    INFO(r.id);
    size_t at = std::string::npos;
    for (size_t h = text.find("\n### "); h != std::string::npos; h = text.find("\n### ", h + 1)) {
      const std::string heading = text.substr(h + 5, text.find('\n', h + 1) - h - 5);
      for (size_t i = heading.find(r.id); i != std::string::npos; i = heading.find(r.id, i + 1)) {
        const size_t end = i + r.id.size();
        if ((end == heading.size() || heading[end] == ',') && (i == 0 || heading[i - 1] == ' '))
          at = h;
      }
    }
    REQUIRE(at != std::string::npos);
    const std::string section = text.substr(at, text.find("\n#", at + 1) - at);
    for (const char* item :
         {"- **Sees**:", "- **Why**:", "- **ATT&CK**:", "- **False positives**:", "- **Tune**:"}) {
      INFO(item);
      CHECK(section.find(item) != std::string::npos);
    }
    CHECK(section.find(std::string(r.technique) + " ") != std::string::npos);
  }
}

// The catalogue's docs anchor of each rule is the anchor of a "### " heading of
// detections.md, as Markdown renderers make it (lower case, punctuation dropped, spaces to
// hyphens), so that links built from the catalogue land on the rule's section.
TEST_CASE("EveryCatalogueAnchorIsAHeadingOfDetectionsDoc", "[docs]") {
  const std::string text = doc("detections.md");
  std::vector<std::string> anchors;
  for (size_t h = text.find("\n### "); h != std::string::npos; h = text.find("\n### ", h + 1)) {
    const std::string heading = text.substr(h + 5, text.find('\n', h + 1) - h - 5);
    std::string slug;
    for (char c : heading) {
      const unsigned char u = static_cast<unsigned char>(c);
      if (std::isalnum(u) || c == '-' || c == '_') {
        slug.push_back(static_cast<char>(std::tolower(u)));
      } else if (c == ' ') {
        slug.push_back('-');
      }
    }
    anchors.push_back(slug);
  }
  for (const auto& r : kc::audit::detectionRules()) {
    INFO(r.id << " -> #" << r.anchor);
    CHECK(std::find(anchors.begin(), anchors.end(), std::string(r.anchor)) != anchors.end());
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
  // The node role's.
  kc::node::NodeMetrics node(registry);
  node.event(kc::node::Runtime::kDocker, "start");
  node.lastEvent(kc::node::Runtime::kDocker, 1);
  node.state(kc::node::Runtime::kDocker, kc::node::RuntimeState::kConnected);
  node.containers(kc::node::Runtime::kDocker, 1, 1);
  node.error(kc::node::Runtime::kDocker, "timeout");
  node.exec(kc::node::Runtime::kDocker, true);
  node.finding("container-exec", "high");
  node.reconnect(kc::node::Runtime::kDocker);
  kc::testing::TempDir state;
  kc::respond::AutoResponderOptions responder;
  responder.respond.stateDir = state.path();
  kc::respond::AutoResponder autoResponder(responder, registry);
  const std::string text = doc("metrics.md");
  const auto families = registry.Collect();
  REQUIRE(families.size() >= 23);
  for (const auto& family : families) {
    INFO(family.name);
    CHECK(text.find("| `" + family.name + "` |") != std::string::npos);
  }
  // Added to every scrape by the metrics listener, beside the registry's families.
  CHECK(text.find("| `" + kc::internal::metricFamily().name + "` |") != std::string::npos);
  for (const auto& reason : kc::metrics::badRequestReasons()) {
    INFO(reason);
    CHECK(text.find("`" + reason + "`") != std::string::npos);
  }
}

}  // namespace
