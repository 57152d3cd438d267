// Tests of the node-debug-pod rule: `kubectl debug node/...` pods.
#include <catch2/catch.hpp>

#include "controller/detect/detections.h"
#include "test/controller/detect/detect_test_util.h"

namespace kc::audit {
namespace {

using namespace detect_test;

TEST_CASE("NodeDebugPodsAreReportedWithTheirNode", "[detections]") {
  Detector d(DetectorOptions{});
  json dbg =
      pod("default", "node-debugger-worker-3-hx2lq", "pod-dbg", "docker.io/library/busybox:1.36",
          nullptr,
          {{"hostPID", true},
           {"hostNetwork", true},
           {"hostIPC", true},
           {"nodeName", "worker-3"},
           {"volumes", {{{"name", "host-root"}, {"hostPath", {{"path", "/"}, {"type", ""}}}}}}});
  Ev e;
  e.auditID = "a-dbg";
  e.user = "bob@example.com";
  e.resource = "pods";
  e.ns = "default";
  e.requestObject = dbg;
  e.responseObject = dbg;
  auto fs = feed(d, e.str());
  const Finding* f = rule(fs, "node-debug-pod");
  REQUIRE(f != nullptr);
  CHECK(f->severity == Severity::kHigh);
  CHECK(f->details.at("what") == "node worker-3");
  CHECK(rule(fs, "sensitive-host-path") != nullptr);
}

// A pod with the host's PID and network namespaces and its root filesystem is a node debugging
// pod whatever its name; a node exporter sharing the same namespaces but mounting only /proc and
// /sys is not; trusted identities silence the rule.
TEST_CASE("NodeDebugPodLookAlikesAndTrustedIdentities", "[detections]") {
  auto create = [](Detector& d, const std::string& name, const std::string& user, json volumes) {
    return createPod(
        d, "default", name, user, "docker.io/library/busybox:1.36",
        {{"hostPID", true}, {"hostNetwork", true}, {"nodeName", "worker-3"}, {"volumes", volumes}});
  };
  const json root = {{{"name", "host"}, {"hostPath", {{"path", "/"}, {"type", ""}}}}};
  Detector d(DetectorOptions{});
  auto fs = create(d, "maintenance", "bob@example.com", root);
  const Finding* f = rule(fs, "node-debug-pod");
  REQUIRE(f != nullptr);
  CHECK(f->severity == Severity::kHigh);
  CHECK(f->technique == "T1611");
  CHECK(f->details.at("what") == "node worker-3");

  fs = create(d, "node-exporter-7x2kq", "bob@example.com",
              {{{"name", "proc"}, {"hostPath", {{"path", "/proc"}}}},
               {{"name", "sys"}, {"hostPath", {{"path", "/sys"}}}}});
  CHECK(rule(fs, "node-debug-pod") == nullptr);
  CHECK(rule(fs, "host-namespace") != nullptr);  // judged, by the other rules

  DetectorOptions o;
  o.trustedIdentities["node-debug-pod"] = {"platform-*@example.com"};
  Detector trusting(o);
  CHECK(rule(create(trusting, "node-debugger-worker-3-hx2lq", "platform-kim@example.com", root),
             "node-debug-pod") == nullptr);
  CHECK(rule(create(trusting, "node-debugger-worker-3-zz9lq", "bob@example.com", root),
             "node-debug-pod") != nullptr);
}

}  // namespace
}  // namespace kc::audit
