// The audit role's tuning from the configuration file: audit.detections.* reaches the detector.

#include "cmd/audit_role.h"

#include <prometheus/registry.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <string>
#include <thread>

#include "common/metrics.h"
#include "controller/events/audit_event.h"
#include "controller/ingest/file_source.h"
#include "test/test_util.h"

namespace kc::cmd {
namespace {

// The settings are checked against the detector's catalogue itself: an unknown rule id is
// refused with the list of every rule id the audit detector reports, in the catalogue's order.
TEST_CASE("ConfigAcceptsExactlyTheRuleIdsOfTheDetectorCatalog", "[audit_role]") {
  std::string catalog;
  for (const auto& r : audit::detectionRules()) {
    if (!audit::readsAuditEvents(r)) continue;
    Config cfg;
    INFO(r.id);
    CHECK(applyConfigYaml("audit:\n  detections:\n    trustedIdentities:\n      " +
                              std::string(r.id) + ": [x]\n",
                          cfg)
              .empty());
    catalog += (catalog.empty() ? "" : ", ") + std::string(r.id);
  }
  Config cfg;
  const auto errors =
      applyConfigYaml("audit:\n  detections:\n    trustedIdentities:\n      pod-exek: [x]\n", cfg);
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].message.find("(expected \"*\" or one of " + catalog + ")") != std::string::npos);
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
  clusterNetworks: [10.0.0.0/16, "fd00:10:244::/48", 192.0.2.7]
)",
                          cfg)
              .empty());
  CHECK(validateConfig(cfg).empty());
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
  REQUIRE(o.clusterNetworks.size() == 3);
  CHECK(o.clusterNetworks[0].text == "10.0.0.0/16");
  CHECK(o.clusterNetworks[1].family == 6);
  CHECK(o.clusterNetworks[1].prefixBits == 48);
  CHECK(o.clusterNetworks[2].prefixBits == 32);
}

TEST_CASE("PresetsAndSystemSettingsReachTheDetectorsSystemScope", "[audit_role]") {
  Config cfg;
  REQUIRE(applyConfigYaml("audit:\n  preset: gke\n", cfg).empty());
  CHECK(cfg.audit.preset == std::vector<std::string>{"gke"});
  REQUIRE(applyConfigYaml(R"(audit:
  preset: [gke, eks]
  systemNamespaces: [platform-system]
  systemIdentities: ["system:serviceaccount:argocd:*"]
)",
                          cfg)
              .empty());
  CHECK(validateConfig(cfg).empty());
  const audit::DetectorOptions o = detectorOptionsFrom(cfg);
  auto has = [](const std::vector<std::string>& v, const std::string& s) {
    return std::find(v.begin(), v.end(), s) != v.end();
  };
  CHECK(has(o.system.namespaces, "kube-system"));
  CHECK(has(o.system.namespaces, "gke-managed-*"));
  CHECK(has(o.system.namespaces, "platform-system"));
  CHECK(has(o.system.usernames, "system:node:*"));
  CHECK(has(o.system.usernames, "eks:*"));
  CHECK(has(o.system.usernames, "system:serviceaccount:argocd:*"));
  CHECK_FALSE(has(detectorOptionsFrom(Config{}).system.usernames, "eks:*"));

  Config bad;
  REQUIRE(applyConfigYaml("audit:\n  preset: [gke, openshift]\n  systemIdentities: [\"\"]\n",
                          bad)
              .size() == 1);  // the empty identity
  const auto errors = validateConfig(bad);
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].key == "audit.preset");
  CHECK(errors[0].message == "unknown preset \"openshift\" (expected gke, eks, aks or none)");
}

TEST_CASE("ClusterNetworksThatAreNotCidrBlocksAreRefused", "[audit_role]") {
  Config cfg;
  REQUIRE(applyConfigYaml("audit:\n  clusterNetworks: [10.0.0.0/8, 10.0.0.0/33, pods, "
                          "\"fd00::/129\", 10.1.0.0/08]\n",
                          cfg)
              .empty());
  const auto errors = validateConfig(cfg);
  REQUIRE(errors.size() == 4);
  for (const auto& e : errors) CHECK(e.key == "audit.clusterNetworks");
  CHECK(errors[0].message ==
        "\"10.0.0.0/33\" is not a CIDR block such as \"10.0.0.0/8\" or \"fd00::/8\"");
  CHECK(errors[1].message.rfind("\"pods\"", 0) == 0);
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

using Annotations = std::map<std::string, std::string>;

const auto kNow = std::chrono::system_clock::time_point(std::chrono::seconds(1764496800));

TEST_CASE("AlertForAPodExecCarriesThePodTheCommandAndTheImages", "[audit_role][alert]") {
  audit::Finding f;
  f.rule = "pod-exec";
  f.severity = audit::Severity::kHigh;
  f.technique = "T1609";
  f.techniqueName = "Container Administration Command";
  f.summary = "mallory@example.com ran `cat /var/run/secrets/token` in pod shop/web-1";
  f.auditID = "a0000003-0000-4000-8000-000000000003";
  f.stage = "ResponseStarted";
  f.verb = "create";
  f.kind = "Pod";
  f.resource = "pods";
  f.subresource = "exec";
  f.namespace_ = "shop";
  f.name = "web-1";
  f.user = "mallory@example.com";
  f.images = {"nginx:1.25", "ghcr.io/acme/sidecar@sha256:abc"};
  f.containers = {"app"};
  f.command = "cat /var/run/secrets/token";
  f.sourceIP = "203.0.113.7";  // not an annotation
  const audit::Alert a = alertFor(f, kNow);

  CHECK(a.alertname == "KubeCustomsAuditFinding");
  // Bounded labels only: no user, pod, image or command.
  CHECK(a.labels == std::map<std::string, std::string>{
                        {"rule", "pod-exec"}, {"severity", "high"}, {"namespace", "shop"}});
  CHECK(a.annotations == Annotations{{"summary", f.summary},
                                     {"technique", "T1609 Container Administration Command"},
                                     {"user", "mallory@example.com"},
                                     {"auditID", "a0000003-0000-4000-8000-000000000003"},
                                     {"kind", "Pod"},
                                     {"name", "web-1"},
                                     {"image", "nginx:1.25,ghcr.io/acme/sidecar@sha256:abc"},
                                     {"pod", "web-1"},
                                     {"command", "cat /var/run/secrets/token"},
                                     {"runbook_url", "docs/runbook.md"}});
  CHECK(a.startsAt == kNow);
  CHECK(a.endsAt == std::chrono::system_clock::time_point{});  // the client's lifetime applies
  CHECK(a.generatorURL.empty());
}

TEST_CASE("AlertForAPolicyViolationCarriesTheViolationsAndTheRequestUser", "[audit_role][alert]") {
  audit::Finding f;
  f.rule = "policy-violation";
  f.severity = audit::Severity::kMedium;
  f.technique = "T1610";
  f.techniqueName = "Deploy Container";
  f.summary = "replicaset shop/api-5d8f violates 2 policy rules";
  f.auditID = "b0000001";
  f.kind = "ReplicaSet";
  f.resource = "replicasets";
  f.namespace_ = "shop";
  f.name = "api-5d8f";
  f.user = "mallory@example.com";
  f.requestUser = "system:serviceaccount:kube-system:deployment-controller";
  f.images = {"busybox:1.36"};
  f.violations = {"[baseline] pss.privileged (app): privileged containers are not allowed",
                  "[baseline] pss.hostPath: hostPath volumes are not allowed"};
  const audit::Alert a = alertFor(f, kNow);

  CHECK(a.labels == std::map<std::string, std::string>{{"rule", "policy-violation"},
                                                       {"severity", "medium"},
                                                       {"namespace", "shop"}});
  CHECK(a.annotations ==
        Annotations{{"summary", f.summary},
                    {"technique", "T1610 Deploy Container"},
                    {"user", "mallory@example.com"},
                    {"auditID", "b0000001"},
                    {"kind", "ReplicaSet"},
                    {"name", "api-5d8f"},
                    {"image", "busybox:1.36"},
                    {"request_user", "system:serviceaccount:kube-system:deployment-controller"},
                    {"violations",
                     "[baseline] pss.privileged (app): privileged containers are not allowed; "
                     "[baseline] pss.hostPath: hostPath volumes are not allowed"},
                    {"runbook_url", "docs/runbook.md"}});
  // Not a pod: no `pod` annotation; no command: no `command` annotation.
  CHECK(a.annotations.count("pod") == 0);
  CHECK(a.annotations.count("command") == 0);
}

TEST_CASE("AlertForAFindingWithoutOptionalFieldsLeavesTheirAnnotationsOut", "[audit_role][alert]") {
  // A cluster-scoped deletion: no namespace, images, command, request user or violations.
  audit::Finding f;
  f.rule = "webhook-config-changed";
  f.severity = audit::Severity::kCritical;
  f.technique = "T1562";
  f.techniqueName = "Impair Defenses";
  f.summary = "mallory@example.com deleted validatingwebhookconfiguration kube-customs";
  f.auditID = "a0000007";
  f.kind = "ValidatingWebhookConfiguration";
  f.resource = "validatingwebhookconfigurations";
  f.name = "kube-customs";
  f.user = "mallory@example.com";
  const audit::Alert a = alertFor(f, kNow);

  CHECK(a.annotations == Annotations{{"summary", f.summary},
                                     {"technique", "T1562 Impair Defenses"},
                                     {"user", "mallory@example.com"},
                                     {"auditID", "a0000007"},
                                     {"kind", "ValidatingWebhookConfiguration"},
                                     {"name", "kube-customs"},
                                     {"runbook_url", "docs/runbook.md"}});
  for (const char* absent : {"image", "pod", "command", "request_user", "violations"}) {
    INFO(absent);
    CHECK(a.annotations.count(absent) == 0);
  }
  CHECK(a.labels.at("rule") == "webhook-config-changed");
  CHECK(a.labels.at("severity") == "critical");
  // No namespace: the label is empty (or absent), which the Alertmanager client drops.
  CHECK((a.labels.count("namespace") == 0 || a.labels.at("namespace").empty()));
}

TEST_CASE("AlertForNamesThePodByKindOrByResource", "[audit_role][alert]") {
  audit::Finding byResource;  // the kind unknown, the resource pods
  byResource.rule = "pod-attach";
  byResource.resource = "pods";
  byResource.name = "web-2";
  CHECK(alertFor(byResource, kNow).annotations.at("pod") == "web-2");
  audit::Finding byKind;
  byKind.rule = "privileged-container";
  byKind.kind = "Pod";
  byKind.name = "debug";
  CHECK(alertFor(byKind, kNow).annotations.at("pod") == "debug");
  audit::Finding deployment;
  deployment.rule = "privileged-container";
  deployment.kind = "Deployment";
  deployment.resource = "deployments";
  deployment.name = "tunnel";
  CHECK(alertFor(deployment, kNow).annotations.count("pod") == 0);
}

// A field the finding does not have is no annotation at all: a finding without a name (a list,
// a non-resource URL) has no `name`, one without a technique no `technique`.
TEST_CASE("AlertForSendsNoEmptyOrBlankAnnotations", "[audit_role][alert]") {
  audit::Finding f;
  f.rule = "anonymous-access";
  f.severity = audit::Severity::kMedium;
  f.summary = "system:anonymous listed secrets";
  const audit::Alert a = alertFor(f, kNow);
  for (const auto& [name, value] : a.annotations) {
    INFO(name << " = \"" << value << "\"");
    CHECK(value.find_first_not_of(' ') != std::string::npos);
  }
}

TEST_CASE("AlertsOfRealFindingsCarryTheirDetails", "[audit_role][alert]") {
  // The emulated attack through the detector: the token read by exec and the privileged pod.
  audit::DetectorOptions options = detectorOptionsFrom(Config{});
  audit::Detector detector(std::move(options));
  audit::EventParser parser;
  std::vector<audit::Finding> findings;
  const std::string attack =
      kc::testing::readFile(std::string(KC_SOURCE_DIR) + "/test/testdata/audit_attack.jsonl");
  parser.parseLines(attack, [&](const audit::Event& e) { detector.onEvent(e, findings); });
  int execs = 0, privileged = 0;
  for (const auto& f : findings) {
    const audit::Alert a = alertFor(f, kNow);
    INFO(f.rule << " " << f.name);
    CHECK(a.alertname == "KubeCustomsAuditFinding");
    CHECK(a.labels.at("rule") == f.rule);
    CHECK(a.labels.at("severity") == audit::severityName(f.severity));
    CHECK(a.annotations.at("auditID") == f.auditID);
    CHECK(a.annotations.at("user") == f.user);
    CHECK(a.annotations.at("summary") == f.summary);
    if (f.rule == "pod-exec") {
      ++execs;
      CHECK(a.labels.at("namespace") == "shop");
      CHECK(a.annotations.at("pod") == "checkout-7d9f8c6b5-x2k4q");
      CHECK(a.annotations.at("command") ==
            "cat /var/run/secrets/kubernetes.io/serviceaccount/token");
      CHECK(a.annotations.at("technique") == "T1609 Container Administration Command");
    }
    if (f.rule == "privileged-container" && f.name == "debug") {
      ++privileged;
      CHECK(a.annotations.at("pod") == "debug");
      REQUIRE_FALSE(f.images.empty());
      CHECK(a.annotations.at("image") == f.images[0]);
    }
  }
  CHECK(execs == 1);
  CHECK(privileged == 1);
}

// The audit role following a log that already holds a backlog (a first start on a large log, a
// restart after downtime).
struct Backlog {
  kc::testing::TempDir dir;
  std::string log = dir.file("audit.log");
  std::string checkpoint = dir.file("state/audit-checkpoint.json");
  std::string baseline = dir.file("state/baseline.json");
  uint64_t size = 0;

  explicit Backlog(int events) {
    std::filesystem::create_directories(dir.file("state"));
    std::ofstream out(log);
    for (int i = 0; i < events; ++i) {
      out << R"({"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"l-)"
          << i
          << R"(","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/ci/configmaps","verb":"list","user":{"username":"system:serviceaccount:ci:runner"},"objectRef":{"resource":"configmaps","namespace":"ci","apiVersion":"v1"},"responseStatus":{"code":200},"requestReceivedTimestamp":"2026-11-30T10:00:00.000000Z","stageTimestamp":"2026-11-30T10:00:00.000100Z"})"
          << "\n";
    }
    out.close();
    size = std::filesystem::file_size(log);
  }
  Config config() const {
    Config cfg;
    cfg.stateDir = dir.file("state");
    cfg.audit.logPath = log;
    return cfg;
  }
  uint64_t committed() const {
    const std::optional<audit::Checkpoint> cp = audit::loadCheckpoint(checkpoint);
    return cp ? cp->offset : 0;
  }
};

// SIGTERM must not wait for the backlog: what is not read stays in the log, after the
// committed position, and is read after the restart. The state is saved.
TEST_CASE("StopDoesNotWaitForTheBacklogOfTheLog", "[audit_role]") {
  const Backlog backlog(10'000);
  Config cfg = backlog.config();
  cfg.audit.pollIntervalSeconds = 60;  // the stop comes before the first poll
  prometheus::Registry registry;
  metrics::ServerMetrics serverMetrics(registry);
  AuditRole role(cfg, registry, nullptr, serverMetrics);
  std::string error;
  REQUIRE(role.start(error));
  role.stop(std::chrono::milliseconds(0));
  CHECK(backlog.committed() < backlog.size);
  CHECK(std::filesystem::exists(backlog.baseline));
}

// A backlog is read poll after poll, at once (not one step per poll interval), and the
// baseline is saved while it is read, not only once it is all read.
TEST_CASE("ABacklogIsReadPollAfterPollWithTheStateSavedInBetween", "[audit_role]") {
  const Backlog backlog(5'000);
  Config cfg = backlog.config();
  cfg.audit.pollIntervalSeconds = 2;
  cfg.audit.stateSaveIntervalSeconds = 0.05;
  cfg.audit.logMaxBytesPerPoll = 4096;
  prometheus::Registry registry;
  metrics::ServerMetrics serverMetrics(registry);
  AuditRole role(cfg, registry, nullptr, serverMetrics);
  std::string error;
  REQUIRE(role.start(error));
  bool savedDuringBacklog = false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  uint64_t committed = 0;
  for (;;) {
    // The baseline first: saved before a position short of the end was read, it was saved
    // during the backlog.
    const bool saved = std::filesystem::exists(backlog.baseline);
    committed = backlog.committed();
    if (committed >= backlog.size || std::chrono::steady_clock::now() > deadline) break;
    savedDuringBacklog |= saved;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  role.stop(std::chrono::milliseconds(0));
  CHECK(committed == backlog.size);
  CHECK(savedDuringBacklog);
}

}  // namespace
}  // namespace kc::cmd