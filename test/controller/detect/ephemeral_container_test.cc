// Tests of the ephemeral-container rule: containers added through pods/ephemeralcontainers.
#include <catch2/catch.hpp>

#include "controller/detect/detections.h"
#include "test/controller/detect/detect_test_util.h"

namespace kc::audit {
namespace {

using namespace detect_test;

TEST_CASE("EphemeralContainerAddedAndJudged", "[detections]") {
  Detector d(DetectorOptions{});
  json p = pod("shop", "web-1", "pod-e", "registry.example.com/shop/web:1");
  Ev c;
  c.auditID = "a-c";
  c.user = "ci";
  c.resource = "pods";
  c.ns = "shop";
  c.responseObject = p;
  feed(d, c.str());

  json withDebug = p;
  withDebug["spec"]["ephemeralContainers"] = {{{"name", "debugger-abcde"},
                                               {"image", "docker.io/library/busybox:1.36"},
                                               {"targetContainerName", "app"},
                                               {"securityContext", {{"privileged", true}}}}};
  Ev e;
  e.auditID = "a-eph";
  e.verb = "patch";
  e.code = 200;
  e.uri = "/api/v1/namespaces/shop/pods/web-1/ephemeralcontainers";
  e.user = "bob@example.com";
  e.resource = "pods";
  e.subresource = "ephemeralcontainers";
  e.ns = "shop";
  e.name = "web-1";
  e.requestObject = {
      {"spec", {{"ephemeralContainers", {{{"name", "debugger-abcde"}}}}}}};  // a patch
  e.responseObject = withDebug;
  auto fs = feed(d, e.str());
  const Finding* eph = rule(fs, "ephemeral-container");
  REQUIRE(eph != nullptr);
  CHECK(eph->severity == Severity::kHigh);
  CHECK(eph->container() == "debugger-abcde");
  CHECK(eph->user == "bob@example.com");
  const Finding* priv = rule(fs, "privileged-container");
  REQUIRE(priv != nullptr);
  CHECK(priv->container() == "debugger-abcde");

  // Body-less (truncated) event: still reported, without details.
  Ev t = e;
  t.auditID = "a-eph-t";
  t.requestObject = nullptr;
  t.responseObject = nullptr;
  t.annotations["audit.k8s.io/truncated"] = "true";
  fs = feed(d, t.str());
  REQUIRE(fs.size() == 1);
  CHECK(fs[0].rule == "ephemeral-container");
}

// `kubectl debug` adds a privileged ephemeral container through pods/ephemeralcontainers: the
// ephemeral-container and privileged-container findings name it, and nothing else of the pod
// (its privileged init container, its SYS_ADMIN app container, its host path) is judged again,
// whether the detector saw the pod's creation or not.
TEST_CASE("PrivilegedEphemeralContainerIsJudgedAlone", "[detections]") {
  const PodCarryingKind& k = kPodCarryingKinds[0];
  REQUIRE(k.kind == "Pod");
  const json created =
      podCarryingObject(k, "shop", "web-7d4b9c-x2k8p", "uid-eph", initEscapeSpec(), true);
  json withDebug = created;
  withDebug["metadata"]["resourceVersion"] = "731977";
  withDebug["spec"]["ephemeralContainers"] = {
      fullContainer("debugger-8hx2q", "docker.io/nicolaka/netshoot:v0.13",
                    {{"targetContainerName", "app"},
                     {"stdin", true},
                     {"tty", true},
                     {"securityContext", {{"privileged", true}}}})};

  Ev eph;
  eph.auditID = "a-eph";
  eph.code = 200;
  eph.uri = "/api/v1/namespaces/shop/pods/web-7d4b9c-x2k8p/ephemeralcontainers";
  eph.user = "bob@example.com";
  eph.resource = "pods";
  eph.subresource = "ephemeralcontainers";
  eph.ns = "shop";
  eph.name = "web-7d4b9c-x2k8p";
  SECTION("patch") {  // kubectl debug
    eph.verb = "patch";
    eph.requestObject = {
        {"spec", {{"ephemeralContainers", withDebug["spec"]["ephemeralContainers"]}}}};
  }
  SECTION("update") {
    eph.verb = "update";
    eph.requestObject = withDebug;
  }
  eph.responseObject = withDebug;

  auto check = [&](const std::vector<Finding>& fs) {
    REQUIRE(rules(fs) == std::vector<std::string>{"ephemeral-container", "privileged-container"});
    for (const auto& f : fs) {
      INFO(f.rule);
      CHECK(f.containers == std::vector<std::string>{"debugger-8hx2q"});
      CHECK(f.kind == "Pod");
      CHECK(f.namespace_ == "shop");
      CHECK(f.name == "web-7d4b9c-x2k8p");
      CHECK(f.subresource == "ephemeralcontainers");
      CHECK(f.user == "bob@example.com");
      CHECK(f.severity == Severity::kHigh);
    }
    CHECK(fs[0].details.at("what") == "debugger-8hx2q (docker.io/nicolaka/netshoot:v0.13)");
    CHECK(fs[1].details.at("what") == "debugger-8hx2q");
  };
  {
    INFO("creation seen");
    Detector d(DetectorOptions{});
    Ev c = createEvent(k, "shop", "web-7d4b9c-x2k8p", "uid-eph", initEscapeSpec(),
                       "system:serviceaccount:kube-system:replicaset-controller");
    CHECK(rule(feed(d, c.str()), "privileged-container") != nullptr);
    check(feed(d, eph.str()));
  }
  {
    INFO("creation not seen");
    Detector d(DetectorOptions{});
    check(feed(d, eph.str()));
  }
}

// `kubectl debug` adding a debugging container is high; the look-alikes that are not the
// subresource (a label patch of the pod, the kubelet's status update listing the ephemeral
// container's state) are not reported; trusted identities silence the rule.
TEST_CASE("EphemeralContainerLookAlikesAndTrustedIdentities", "[detections]") {
  const json created = pod("shop", "web-1", "uid-web-1", "registry.example.com/shop/web:1.4.2");
  json withDebug = created;
  withDebug["spec"]["ephemeralContainers"] = {
      fullContainer("debugger-r7x2k", "docker.io/library/busybox:1.36",
                    {{"targetContainerName", "app"}, {"stdin", true}, {"tty", true}})};
  auto debug = [&](Detector& d, const std::string& id, const std::string& user) {
    Ev e;
    e.auditID = id;
    e.verb = "patch";
    e.code = 200;
    e.uri = "/api/v1/namespaces/shop/pods/web-1/ephemeralcontainers";
    e.user = user;
    e.resource = "pods";
    e.subresource = "ephemeralcontainers";
    e.ns = "shop";
    e.name = "web-1";
    e.requestObject = {
        {"spec", {{"ephemeralContainers", withDebug["spec"]["ephemeralContainers"]}}}};
    e.responseObject = withDebug;
    return feed(d, e.str());
  };
  Detector d(DetectorOptions{});
  auto fs = debug(d, "a-debug", "bob@example.com");
  REQUIRE(rules(fs) == std::vector<std::string>{"ephemeral-container"});
  CHECK(fs[0].severity == Severity::kHigh);
  CHECK(fs[0].technique == "T1610");
  CHECK(fs[0].details.at("what") == "debugger-r7x2k (docker.io/library/busybox:1.36)");

  Ev labels;
  labels.auditID = "a-label";
  labels.verb = "patch";
  labels.code = 200;
  labels.uri = "/api/v1/namespaces/shop/pods/web-2?fieldManager=kubectl-label";
  labels.user = "bob@example.com";
  labels.resource = "pods";
  labels.ns = "shop";
  labels.name = "web-2";
  labels.requestObject = {{"metadata", {{"labels", {{"debug", "true"}}}}}};
  json relabelled = pod("shop", "web-2", "uid-web-2", "registry.example.com/shop/web:1.4.2");
  relabelled["metadata"]["labels"]["debug"] = "true";
  labels.responseObject = relabelled;
  CHECK(rule(feed(d, labels.str()), "ephemeral-container") == nullptr);

  Ev status;
  status.auditID = "a-status";
  status.verb = "patch";
  status.code = 200;
  status.uri = "/api/v1/namespaces/shop/pods/web-1/status";
  status.user = "system:node:worker-3";
  status.groups = {"system:nodes", "system:authenticated"};
  status.userAgent = "kubelet/v1.30.1 (linux/amd64) kubernetes/7c48c2b";
  status.resource = "pods";
  status.subresource = "status";
  status.ns = "shop";
  status.name = "web-1";
  status.requestObject = {
      {"status", {{"ephemeralContainerStatuses", {{{"name", "debugger-r7x2k"}}}}}}};
  status.responseObject = withDebug;
  CHECK(feed(d, status.str()).empty());

  DetectorOptions o;
  o.trustedIdentities["ephemeral-container"] = {"sre-*@example.com"};
  Detector trusting(o);
  CHECK(debug(trusting, "a-debug-sre", "sre-anna@example.com").empty());
  // Another identity adding the same container (to a pod this detector has not seen) is.
  Detector other(o);
  CHECK(rules(debug(other, "a-debug-bob", "bob@example.com")) ==
        std::vector<std::string>{"ephemeral-container"});
}

}  // namespace
}  // namespace kc::audit
