#include "cmd/config.h"

#include <catch2/catch.hpp>

#include "controller/detect/catalogue.h"

namespace {

TEST_CASE("AppliesEveryKindOfValueFromYaml", "[config]") {
  kc::Config cfg;
  const auto errors = kc::applyConfigYaml(R"(
roles: [webhook]
logLevel: debug
server:
  listen: "127.0.0.1:9443"
  threads: 3
  maxBodyBytes: 1048576
  headerTimeoutSeconds: 2.5
tls:
  certFile: /certs/tls.crt
  keyFile: /certs/tls.key
audit:
  bearerTokens: [a, b]
)",
                                          cfg);
  REQUIRE(errors.empty());
  CHECK(cfg.roles == std::vector<std::string>{"webhook"});
  CHECK(cfg.logLevel == "debug");
  CHECK(cfg.server.listen == "127.0.0.1:9443");
  CHECK(cfg.server.threads == 3);
  CHECK(cfg.server.maxBodyBytes == 1048576);
  CHECK(cfg.server.headerTimeoutSeconds == 2.5);
  CHECK(cfg.tls.certFile == "/certs/tls.crt");
  CHECK(cfg.audit.bearerTokens == std::vector<std::string>{"a", "b"});
  CHECK(cfg.metrics.listen == ":9090");  // untouched default
  CHECK(kc::validateConfig(cfg).empty());
}

TEST_CASE("ReportsUnknownKeyWithDottedNameAndLine", "[config]") {
  kc::Config cfg;
  const auto errors = kc::applyConfigYaml("server:\n  listen: ':1'\n  maxBody: 5\n", cfg);
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].key == "server.maxBody");
  CHECK(errors[0].line == 3);
  CHECK(errors[0].toString("c.yaml") == "c.yaml:3: server.maxBody: unknown key");
}

TEST_CASE("ReportsWrongTypesWithLine", "[config]") {
  kc::Config cfg;
  const auto errors = kc::applyConfigYaml(
      "roles: webhook\nserver:\n  threads: many\n  maxBodyBytes: -1\n  listen: [a]\n"
      "tls: yes\n",
      cfg);
  REQUIRE(errors.size() == 5);
  CHECK(errors[0].key == "roles");
  CHECK(errors[0].message == "expected list of strings");
  CHECK(errors[1].key == "server.threads");
  CHECK(errors[1].line == 3);
  CHECK(errors[2].key == "server.maxBodyBytes");
  CHECK(errors[3].key == "server.listen");
  CHECK(errors[4].key == "tls");
  CHECK(errors[4].message == "expected a mapping");
}

TEST_CASE("QuotedNumberIsNotAnInteger", "[config]") {
  kc::Config cfg;
  const auto errors = kc::applyConfigYaml("server:\n  threads: \"4\"\n", cfg);
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].key == "server.threads");
}

TEST_CASE("ReportsYamlSyntaxErrorWithLine", "[config]") {
  kc::Config cfg;
  const auto errors = kc::applyConfigYaml("server:\n  listen: [unclosed\n", cfg);
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].line >= 2);
  CHECK(errors[0].message.find("invalid YAML") == 0);
}

TEST_CASE("EmptyFileKeepsDefaultsAndTopLevelMustBeAMapping", "[config]") {
  kc::Config cfg;
  CHECK(kc::applyConfigYaml("", cfg).empty());
  CHECK(cfg.server.listen == ":8443");
  CHECK(kc::applyConfigYaml("- a\n- b\n", cfg).size() == 1);
}

TEST_CASE("DetectionsDefaultsReportEverything", "[config]") {
  const kc::DetectionsConfig d = kc::Config{}.audit.detections;
  CHECK(d.trustedIdentities.empty());
  CHECK(d.privilegedIdentities.empty());
  CHECK_FALSE(d.reportControlPlaneMirrorPods);
  CHECK_FALSE(d.reportWarnViolations);
  CHECK(d.maxTrackedObjects == 100000);
  CHECK(d.maxTrackedRequests == 16384);
}

TEST_CASE("AppliesDetectionTuning", "[config]") {
  kc::Config cfg;
  const auto errors = kc::applyConfigYaml(R"(
audit:
  detections:
    trustedIdentities:
      webhook-config-changed:
        - system:serviceaccount:cert-manager:cert-manager-cainjector
      pod-exec: ["system:serviceaccount:ci:*", "bot@example.com"]
      "*": [system:serviceaccount:gitops:argocd-application-controller]
      host-port: []
    privilegedIdentities: [breakglass@example.com]
    reportControlPlaneMirrorPods: true
    reportWarnViolations: yes
    maxTrackedObjects: 250000
    maxTrackedRequests: 32768
)",
                                          cfg);
  REQUIRE(errors.empty());
  const kc::DetectionsConfig& d = cfg.audit.detections;
  CHECK(d.trustedIdentities ==
        std::map<std::string, std::vector<std::string>>{
            {"webhook-config-changed",
             {"system:serviceaccount:cert-manager:cert-manager-cainjector"}},
            {"pod-exec", {"system:serviceaccount:ci:*", "bot@example.com"}},
            {"*", {"system:serviceaccount:gitops:argocd-application-controller"}},
            {"host-port", {}}});
  CHECK(d.privilegedIdentities == std::vector<std::string>{"breakglass@example.com"});
  CHECK(d.reportControlPlaneMirrorPods);
  CHECK(d.reportWarnViolations);
  CHECK(d.maxTrackedObjects == 250000);
  CHECK(d.maxTrackedRequests == 32768);
  CHECK(kc::validateConfig(cfg).empty());
  // Every rule id of the catalog is accepted.
  std::string yaml = "audit:\n  detections:\n    trustedIdentities:\n";
  size_t auditRules = 0;
  for (const auto& rule : kc::audit::kRuleCatalogue) {
    if (!kc::audit::readsAuditEvents(rule)) continue;
    yaml += "      " + std::string(rule.id) + ": [x]\n";
    ++auditRules;
  }
  kc::Config all;
  CHECK(kc::applyConfigYaml(yaml, all).empty());
  CHECK(all.audit.detections.trustedIdentities.size() == auditRules);
  // The node door's rules have no requesting identity to trust.
  kc::Config node;
  CHECK_FALSE(
      kc::applyConfigYaml(
          "audit:\n  detections:\n    trustedIdentities:\n      container-exec: [x]\n", node)
          .empty());
}

TEST_CASE("EmptyDetectionsSectionKeepsDefaults", "[config]") {
  kc::Config cfg;
  CHECK(kc::applyConfigYaml("audit:\n  detections:\n", cfg).empty());
  CHECK(cfg.audit.detections.trustedIdentities.empty());
  CHECK(cfg.audit.detections.maxTrackedObjects == 100000);
}

TEST_CASE("RejectsUnknownRuleIdInTrustedIdentitiesNamingKeyAndLine", "[config]") {
  kc::Config cfg;
  const auto errors = kc::applyConfigYaml(
      "audit:\n  detections:\n    trustedIdentities:\n      pod-exec: [a]\n"
      "      pod-exce: [b]\n",
      cfg);
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].key == "audit.detections.trustedIdentities.pod-exce");
  CHECK(errors[0].line == 5);
  CHECK(errors[0].toString("c.yaml").rfind(
            "c.yaml:5: audit.detections.trustedIdentities.pod-exce: unknown rule id \"pod-exce\" "
            "(expected \"*\" or one of policy-violation, privileged-container,",
            0) == 0);
  CHECK(errors[0].message.find("unexpected-user-agent)") != std::string::npos);
}

TEST_CASE("RejectsWrongTypesOfDetectionTuning", "[config]") {
  kc::Config cfg;
  const auto errors = kc::applyConfigYaml(R"(audit:
  detections:
    trustedIdentities: [pod-exec]
    privilegedIdentities: admin
    reportControlPlaneMirrorPods: "true"
    reportWarnViolations: maybe
    maxTrackedObjects: -5
    reportEverything: true
)",
                                          cfg);
  REQUIRE(errors.size() == 6);
  CHECK(errors[0].key == "audit.detections.trustedIdentities");
  CHECK(errors[0].line == 3);
  CHECK(errors[0].message == "expected map of lists of strings");
  CHECK(errors[1].key == "audit.detections.privilegedIdentities");
  CHECK(errors[1].message == "expected list of strings");
  CHECK(errors[2].key == "audit.detections.reportControlPlaneMirrorPods");
  CHECK(errors[2].message == "expected boolean");
  CHECK(errors[3].key == "audit.detections.reportWarnViolations");
  CHECK(errors[3].line == 6);
  CHECK(errors[4].key == "audit.detections.maxTrackedObjects");
  CHECK(errors[5].key == "audit.detections.reportEverything");
  CHECK(errors[5].message == "unknown key");

  kc::Config other;
  const auto more = kc::applyConfigYaml(R"(audit:
  detections: [a]
)",
                                        other);
  REQUIRE(more.size() == 1);
  CHECK(more[0].key == "audit.detections");
  CHECK(more[0].message == "expected a mapping");
}

TEST_CASE("RejectsMalformedTrustedIdentityLists", "[config]") {
  kc::Config cfg;
  const auto errors = kc::applyConfigYaml(R"(audit:
  detections:
    trustedIdentities:
      pod-exec: alice
      pod-attach:
      host-port: [[a]]
      "*": [""]
    privilegedIdentities: [root, ""]
)",
                                          cfg);
  REQUIRE(errors.size() == 5);
  CHECK(errors[0].key == "audit.detections.trustedIdentities.pod-exec");
  CHECK(errors[0].line == 4);
  CHECK(errors[0].message == "expected list of strings");
  CHECK(errors[1].key == "audit.detections.trustedIdentities.pod-attach");
  CHECK(errors[1].line == 5);
  CHECK(errors[1].message == "expected list of strings");
  CHECK(errors[2].key == "audit.detections.trustedIdentities.host-port");
  CHECK(errors[2].message == "expected a string in the list");
  CHECK(errors[3].key == "audit.detections.trustedIdentities.*");
  CHECK(errors[3].line == 7);
  CHECK(errors[3].message == "empty string in the list");
  CHECK(errors[4].key == "audit.detections.privilegedIdentities");
  CHECK(errors[4].line == 8);
  CHECK(errors[4].message == "empty string in the list");
  CHECK(cfg.audit.detections.trustedIdentities.empty());  // nothing half-applied
}

TEST_CASE("ValidationRejectsZeroDetectorMemory", "[config]") {
  kc::Config cfg;
  cfg.audit.detections.maxTrackedObjects = 0;
  cfg.audit.detections.maxTrackedRequests = 0;
  auto errors = kc::validateConfig(cfg);
  REQUIRE(errors.size() == 2);
  CHECK(errors[0].key == "audit.detections.maxTrackedObjects");
  CHECK(errors[1].key == "audit.detections.maxTrackedRequests");
  cfg.audit.detections.maxTrackedObjects = 5'000'000'000ull;
  cfg.audit.detections.maxTrackedRequests = 1;
  errors = kc::validateConfig(cfg);
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].message == "must be between 1 and 4294967294");
}

TEST_CASE("ValidationRejectsImpossibleSettings", "[config]") {
  kc::Config cfg;
  cfg.roles = {"webhook", "mutate"};
  cfg.logLevel = "loud";
  cfg.tls.certFile = "/only/cert";
  cfg.server.maxBodyBytes = 0;
  const auto errors = kc::validateConfig(cfg);
  std::vector<std::string> keys;
  for (const auto& e : errors) keys.push_back(e.key);
  CHECK(keys == std::vector<std::string>{"roles", "logLevel", "server.maxBodyBytes", "tls"});
}

}  // namespace
