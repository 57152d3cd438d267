// Tests of the workload creation rules: daemonset-created, cronjob-created and job-created.
#include <catch2/catch.hpp>

#include "controller/detect/detections.h"
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

// A new DaemonSet and a new CronJob are medium, with their images; the look-alike (a DaemonSet
// updated) is not reported; a Job made by a person is job-created, not cronjob-created; each
// rule's trusted identities silence it.
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
  // A Job made by hand is its own rule (it used to go unreported).
  fs = feed(
      d, createEvent(job, "shop", "pg-backup-once", "uid-once", backup, "alice@example.com").str());
  REQUIRE(rules(fs) == std::vector<std::string>{"job-created"});
  CHECK(fs[0].severity == Severity::kMedium);

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

// job-created: a Job created by a person is medium, by a service account low; the Jobs a CronJob
// makes (created by the cronjob controller, owned by the CronJob) are not reported, whoever
// created the CronJob; logged without its body, still reported unless the cronjob controller
// made it; trusted identities silence it.
TEST_CASE("JobCreatedByPeopleAndServiceAccountsNotByTheCronJobController", "[detections]") {
  const PodCarryingKind& job = kPodCarryingKinds[5];
  const PodCarryingKind& cron = kPodCarryingKinds[6];
  REQUIRE(job.kind == "Job");
  const json kit = podTemplateSpec("ghcr.io/attacker/kit:1", {{"restartPolicy", "Never"}});

  Detector d(DetectorOptions{});
  auto fs =
      feed(d, createEvent(job, "shop", "debug", "uid-debug", kit, "mallory@example.com").str());
  REQUIRE(rules(fs) == std::vector<std::string>{"job-created"});
  CHECK(fs[0].severity == Severity::kMedium);
  CHECK(fs[0].technique == "T1610");
  CHECK(fs[0].kind == "Job");
  CHECK(fs[0].images == std::vector<std::string>{"ghcr.io/attacker/kit:1"});
  CHECK(fs[0].summary ==
        "mallory@example.com created Job shop/debug (runs once) with image(s) "
        "ghcr.io/attacker/kit:1");

  const std::string argo = "system:serviceaccount:argo:argo-workflows-controller";
  fs = feed(d, createEvent(job, "ci", "build-42", "uid-build-42", kit, argo).str());
  REQUIRE(rules(fs) == std::vector<std::string>{"job-created"});
  CHECK(fs[0].severity == Severity::kLow);

  // A CronJob by alice, then its Job as the cronjob controller creates it: the CronJob is
  // reported, its Job is not.
  const json backup =
      podTemplateSpec("docker.io/bitnami/postgresql:16.3.0", {{"restartPolicy", "OnFailure"}});
  REQUIRE(
      rules(feed(d, createEvent(cron, "shop", "pg-backup", "uid-cron", backup, "alice@example.com")
                        .str())) == std::vector<std::string>{"cronjob-created"});
  for (const std::string controller :
       {"system:serviceaccount:kube-system:cronjob-controller", "system:kube-controller-manager"}) {
    INFO(controller);
    Ev made =
        createEvent(job, "shop", "pg-backup-29470560", "uid-job-" + controller, backup, controller);
    made.auditID = "a-job-" + controller;
    made.userAgent = kKcmPrefix + "cronjob-controller";
    made.requestObject["metadata"]["ownerReferences"] = {
        ownerRef("CronJob", "pg-backup", "uid-cron")};
    made.responseObject["metadata"]["ownerReferences"] =
        made.requestObject["metadata"]["ownerReferences"];
    CHECK(feed(d, made.str()).empty());
  }

  // Logged without its body.
  fs = writeWithoutBody(d, "m-job", "create", "mallory@example.com", "batch", "jobs", "shop",
                        "debug-2");
  REQUIRE(rules(fs) == std::vector<std::string>{"job-created"});
  CHECK(fs[0].severity == Severity::kMedium);
  CHECK(fs[0].details.at("body") == "not logged");
  CHECK(fs[0].summary ==
        "mallory@example.com created Job shop/debug-2 (runs once); the audit policy did not log "
        "its body, so its images are not known");
  CHECK(writeWithoutBody(d, "m-job-2", "create",
                         "system:serviceaccount:kube-system:cronjob-controller", "batch", "jobs",
                         "shop", "pg-backup-29470561")
            .empty());
  CHECK(writeWithoutBody(d, "m-job-3", "update", "mallory@example.com", "batch", "jobs", "shop",
                         "debug-2")
            .empty());

  DetectorOptions o;
  o.trustedIdentities["job-created"] = {"system:serviceaccount:argo:*"};
  Detector trusting(o);
  CHECK(
      feed(trusting, createEvent(job, "ci", "build-43", "uid-build-43", kit, argo).str()).empty());
  CHECK(writeWithoutBody(trusting, "m-job-4", "create", argo, "batch", "jobs", "ci", "build-44")
            .empty());
  CHECK(
      rules(feed(
          trusting,
          createEvent(job, "ci", "build-45", "uid-build-45", kit, "mallory@example.com").str())) ==
      std::vector<std::string>{"job-created"});
}

}  // namespace
}  // namespace kc::audit
