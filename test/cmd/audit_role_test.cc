// The audit role's tuning from the configuration file: audit.detections.* reaches the detector.

#include "cmd/audit_role.h"

#include <algorithm>
#include <catch2/catch.hpp>

#include "controller/audit_event.h"
#include "test/test_util.h"

namespace kc::cmd {
namespace {

TEST_CASE("ConfigAcceptsExactlyTheRuleIdsOfTheDetectorCatalog", "[audit_role]") {
  std::vector<std::string> catalog, accepted;
  for (const auto& r : audit::detectionRules()) catalog.emplace_back(r.id);
  for (std::string_view id : detectionRuleIds()) accepted.emplace_back(id);
  INFO("a rule was added or renamed: update detectionRuleIds() in common/config.cc");
  CHECK(accepted == catalog);
}

TEST_CASE("DefaultConfigGivesTheDetectorDefaults", "[audit_role]") {
  const audit::DetectorOptions o = detectorOptionsFrom(Config{});
  const audit::DetectorOptions d;
  CHECK(o.trustedIdentities == d.trustedIdentities);
  CHECK(o.privilegedIdentities == d.privilegedIdentities);
  CHECK(o.reportControlPlaneMirrorPods == d.reportControlPlaneMirrorPods);
  CHECK(o.reportWarnViolations == d.reportWarnViolations);
  CHECK(o.maxTrackedObjects == d.maxTrackedObjects);
  CHECK(o.maxTrackedRequests == d.maxTrackedRequests);
  CHECK_FALSE(o.policies);
  CHECK(o.baseline == nullptr);
}

TEST_CASE("EveryDetectionSettingOfTheFileReachesTheDetectorOptions", "[audit_role]") {
  Config cfg;
  REQUIRE(applyConfigYaml(R"(audit:
  detections:
    trustedIdentities:
      webhook-config-changed: ["system:serviceaccount:cert-manager:*"]
      "*": [gitops]
    privilegedIdentities: [breakglass]
    reportControlPlaneMirrorPods: true
    reportWarnViolations: true
    maxTrackedObjects: 1234
    maxTrackedRequests: 99
)",
                          cfg)
              .empty());
  const audit::DetectorOptions o = detectorOptionsFrom(cfg);
  CHECK(
      o.trustedIdentities ==
      std::map<std::string, std::vector<std::string>>{
          {"webhook-config-changed", {"system:serviceaccount:cert-manager:*"}}, {"*", {"gitops"}}});
  CHECK(o.privilegedIdentities == std::vector<std::string>{"breakglass"});
  CHECK(o.reportControlPlaneMirrorPods);
  CHECK(o.reportWarnViolations);
  CHECK(o.maxTrackedObjects == 1234);
  CHECK(o.maxTrackedRequests == 99);
}

std::vector<std::string> rulesFound(const Config& cfg) {
  audit::Detector detector(detectorOptionsFrom(cfg));
  audit::EventParser parser;
  std::vector<audit::Finding> findings;
  const std::string attack =
      kc::testing::readFile(std::string(KC_SOURCE_DIR) + "/test/testdata/audit_attack.jsonl");
  const audit::ParseStats stats =
      parser.parseLines(attack, [&](const audit::Event& e) { detector.onEvent(e, findings); });
  REQUIRE(stats.events == 7);
  std::vector<std::string> rules;
  for (const auto& f : findings) rules.push_back(f.rule);
  return rules;
}

TEST_CASE("ATrustedIdentityOfTheFileSilencesThatRuleAndNoOther", "[audit_role]") {
  const std::vector<std::string> all = rulesFound(Config{});
  REQUIRE(std::count(all.begin(), all.end(), "pod-exec") == 1);
  Config cfg;
  REQUIRE(applyConfigYaml("audit:\n  detections:\n    trustedIdentities:\n"
                          "      pod-exec: [\"mallory@*\"]\n",
                          cfg)
              .empty());
  std::vector<std::string> expected = all;
  expected.erase(std::find(expected.begin(), expected.end(), "pod-exec"));
  CHECK(rulesFound(cfg) == expected);
  // "*" trusts the attacker for every rule.
  Config everything;
  REQUIRE(applyConfigYaml("audit:\n  detections:\n    trustedIdentities:\n"
                          "      \"*\": [mallory@example.com]\n",
                          everything)
              .empty());
  const std::vector<std::string> rest = rulesFound(everything);
  CHECK(std::count(rest.begin(), rest.end(), "pod-exec") == 0);
  CHECK(std::count(rest.begin(), rest.end(), "webhook-config-changed") == 0);
}

}  // namespace
}  // namespace kc::cmd
