// Tests of the unjudged-object rule: pod-carrying writes whose audit event lost its bodies.
#include <catch2/catch.hpp>

#include "controller/detect/detections.h"
#include "test/controller/detect/detect_test_util.h"

namespace kc::audit {
namespace {

using namespace detect_test;

// A pod padded past the audit backend's event limit reaches the log without its bodies (the
// apiserver truncates the event), and past the webhook's body cap the webhook fails open: the
// write itself is reported, higher when the apiserver says a webhook failed open for it.
TEST_CASE("PodCarryingWritesWithoutBodiesAreReportedAsUnjudged", "[detections]") {
  Detector d(DetectorOptions{});
  Ev t;
  t.auditID = "a-padded";
  t.user = "mallory@example.com";
  t.resource = "deployments";
  t.apiGroup = "apps";
  t.uri = "/apis/apps/v1/namespaces/scratch/deployments";
  t.ns = "scratch";
  t.name = "tunnel";
  t.annotations["audit.k8s.io/truncated"] = "true";
  auto fs = feed(d, t.str());
  REQUIRE(rules(fs) == std::vector<std::string>{"unjudged-object"});
  CHECK(fs[0].severity == Severity::kMedium);
  CHECK(fs[0].kind == "Deployment");
  CHECK(fs[0].namespace_ == "scratch");
  CHECK(fs[0].name == "tunnel");
  CHECK(fs[0].technique == "T1562");
  CHECK(fs[0].summary ==
        "mallory@example.com created Deployment scratch/tunnel but its audit event was "
        "truncated: the object was not judged");

  Ev open = t;
  open.auditID = "a-padded-open";
  open.verb = "update";
  open.code = 200;
  open.annotations["failed-open.validating.webhook.admission.k8s.io/round_0_index_0"] =
      "validate.kube-customs.io";
  fs = feed(d, open.str());
  REQUIRE(rules(fs) == std::vector<std::string>{"unjudged-object"});
  CHECK(fs[0].severity == Severity::kHigh);
  CHECK(fs[0].details.at("failedOpenWebhooks") == "validate.kube-customs.io");
  CHECK(fs[0].summary.find("changed Deployment scratch/tunnel") != std::string::npos);
  CHECK(fs[0].summary.find("failed open") != std::string::npos);

  // Not for reads, deletions, failed writes, other kinds, or subresources.
  Ev get = t;
  get.auditID = "a-get";
  get.verb = "get";
  get.code = 200;
  CHECK(feed(d, get.str()).empty());
  Ev del = t;
  del.auditID = "a-del";
  del.verb = "delete";
  del.code = 200;
  CHECK(feed(d, del.str()).empty());
  Ev failed = t;
  failed.auditID = "a-failed";
  failed.code = 422;
  CHECK(feed(d, failed.str()).empty());
  Ev cm = t;
  cm.auditID = "a-cm";
  cm.resource = "configmaps";
  cm.apiGroup = "";
  CHECK(feed(d, cm.str()).empty());
  Ev scale = t;
  scale.auditID = "a-scale";
  scale.subresource = "scale";
  CHECK(feed(d, scale.str()).empty());

  // Trusted identities are not reported.
  DetectorOptions o;
  o.trustedIdentities["unjudged-object"] = {"mallory@*"};
  Detector trusting(o);
  CHECK(feed(trusting, t.str()).empty());
}

}  // namespace
}  // namespace kc::audit
