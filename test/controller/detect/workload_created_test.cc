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

}  // namespace
}  // namespace kc::audit
