// Tests of the workload creation rules: daemonset-created and cronjob-created.
#include <catch2/catch.hpp>

#include "controller/detections.h"
#include "test/controller/detect/detect_test_util.h"

namespace kc::audit {
namespace {

using namespace detect_test;

TEST_CASE("NewCronJob", "[detections]") {
  Detector d(DetectorOptions{});
  json cj = {{"kind", "CronJob"},
             {"apiVersion", "batch/v1"},
             {"metadata", {{"name", "cleanup"}, {"namespace", "shop"}, {"uid", "cj-1"}}}};
  cj["spec"]["schedule"] = "*/5 * * * *";
  cj["spec"]["jobTemplate"]["spec"]["template"]["spec"] =
      podTemplateSpec("docker.io/xmrig/xmrig:6.21", {{"restartPolicy", "OnFailure"}});
  Ev e;
  e.auditID = "a-cj";
  e.user = "mallory@example.com";
  e.resource = "cronjobs";
  e.apiGroup = "batch";
  e.ns = "shop";
  e.responseObject = cj;
  auto fs = feed(d, e.str());
  REQUIRE(rule(fs, "cronjob-created") != nullptr);
  CHECK(rule(fs, "cronjob-created")->technique == "T1053.007");
  CHECK(rule(fs, "cronjob-created")->images ==
        std::vector<std::string>{"docker.io/xmrig/xmrig:6.21"});
}

// A new DaemonSet and a new CronJob are medium, with their images; the look-alikes (a DaemonSet
// updated, a Job that is not a CronJob) are not reported; each rule's trusted identities
// silence it.
TEST_CASE("WorkloadCreationsLookAlikesAndTrustedIdentities", "[detections]") {
  const PodCarryingKind& ds = kPodCarryingKinds[4];
  const PodCarryingKind& job = kPodCarryingKinds[5];
  const PodCarryingKind& cron = kPodCarryingKinds[6];
  REQUIRE(ds.kind == "DaemonSet");
  REQUIRE(job.kind == "Job");
  REQUIRE(cron.kind == "CronJob");
  const json agent = podTemplateSpec("docker.io/grafana/alloy:v1.1.0");
  const json backup =
      podTemplateSpec("docker.io/bitnami/postgresql:16.3.0", {{"restartPolicy", "OnFailure"}});

  Detector d(DetectorOptions{});
  Ev created = createEvent(ds, "monitoring", "alloy", "uid-alloy", agent, "alice@example.com");
  auto fs = feed(d, created.str());
  REQUIRE(rules(fs) == std::vector<std::string>{"daemonset-created"});
  CHECK(fs[0].severity == Severity::kMedium);
  CHECK(fs[0].technique == "T1610");
  CHECK(fs[0].images == std::vector<std::string>{"docker.io/grafana/alloy:v1.1.0"});
  CHECK(fs[0].summary ==
        "alice@example.com created DaemonSet monitoring/alloy (runs on every node) with "
        "image(s) docker.io/grafana/alloy:v1.1.0");
  Ev updated = created;
  updated.auditID = "a-update-alloy";
  updated.verb = "update";
  updated.code = 200;
  updated.uri = "/apis/apps/v1/namespaces/monitoring/daemonsets/alloy";
  updated.requestObject = updated.responseObject;
  CHECK(feed(d, updated.str()).empty());

  fs = feed(
      d, createEvent(cron, "shop", "pg-backup", "uid-backup", backup, "alice@example.com").str());
  REQUIRE(rules(fs) == std::vector<std::string>{"cronjob-created"});
  CHECK(fs[0].severity == Severity::kMedium);
  CHECK(fs[0].technique == "T1053.007");
  CHECK(fs[0].images == std::vector<std::string>{"docker.io/bitnami/postgresql:16.3.0"});
  CHECK(feed(d, createEvent(job, "shop", "pg-backup-once", "uid-once", backup, "alice@example.com")
                    .str())
            .empty());

  DetectorOptions o;
  o.trustedIdentities["daemonset-created"] = {"system:serviceaccount:argocd:*"};
  o.trustedIdentities["cronjob-created"] = {"system:serviceaccount:argocd:*"};
  Detector trusting(o);
  const std::string argo = "system:serviceaccount:argocd:argocd-application-controller";
  CHECK(feed(trusting, createEvent(ds, "monitoring", "alloy", "uid-alloy", agent, argo).str())
            .empty());
  CHECK(feed(trusting, createEvent(cron, "shop", "pg-backup", "uid-backup", backup, argo).str())
            .empty());
  CHECK(rules(feed(trusting, createEvent(ds, "monitoring", "alloy-2", "uid-alloy-2", agent,
                                         "alice@example.com")
                                 .str())) == std::vector<std::string>{"daemonset-created"});
}

// Logged without their bodies (audit level Metadata, the common policy for most resources), a
// new DaemonSet and a new CronJob are still reported from the request line and the identity,
// saying that the body was not logged; an update, a Deployment, and a trusted identity are not.
TEST_CASE("WorkloadCreationsLoggedWithoutBodiesAreReported", "[detections]") {
  Detector d(DetectorOptions{});
  auto fs = writeWithoutBody(d, "m-1", "create", "mallory@example.com", "apps", "daemonsets",
                             "monitoring", "node-agent");
  REQUIRE(rules(fs) == std::vector<std::string>{"daemonset-created"});
  CHECK(fs[0].severity == Severity::kMedium);
  CHECK(fs[0].kind == "DaemonSet");
  CHECK(fs[0].details.at("body") == "not logged");
  CHECK(fs[0].images.empty());
  CHECK(fs[0].summary ==
        "mallory@example.com created DaemonSet monitoring/node-agent (runs on every node); the "
        "audit policy did not log its body, so its images are not known");
  fs = writeWithoutBody(d, "m-2", "create", "mallory@example.com", "batch", "cronjobs", "shop",
                        "cleanup");
  REQUIRE(rules(fs) == std::vector<std::string>{"cronjob-created"});
  CHECK(fs[0].technique == "T1053.007");
  CHECK(writeWithoutBody(d, "m-3", "update", "mallory@example.com", "apps", "daemonsets",
                         "monitoring", "node-agent")
            .empty());
  CHECK(writeWithoutBody(d, "m-4", "create", "mallory@example.com", "apps", "deployments", "shop",
                         "web")
            .empty());
  DetectorOptions o;
  o.trustedIdentities["daemonset-created"] = {"system:serviceaccount:flux-system:*"};
  Detector trusting(o);
  CHECK(writeWithoutBody(trusting, "m-5", "create",
                         "system:serviceaccount:flux-system:kustomize-controller", "apps",
                         "daemonsets", "monitoring", "node-agent")
            .empty());
}

}  // namespace
}  // namespace kc::audit
