// Tests of the nodes-proxy-access rule: the kubelet API reached through nodes/proxy.
#include <catch2/catch.hpp>

#include "controller/detect/detections.h"
#include "test/controller/detect/detect_test_util.h"

namespace kc::audit {
namespace {

using namespace detect_test;

TEST_CASE("NodesProxyRequestsAreScoredByKubeletPath", "[detections]") {
  Detector d(DetectorOptions{});
  Ev proxy;
  proxy.auditID = "a-proxy";
  proxy.stage = "ResponseStarted";
  proxy.verb = "create";
  proxy.code = 101;
  proxy.uri = "/api/v1/nodes/worker-3/proxy/exec/kube-system/kube-proxy-x/kube-proxy?command=sh";
  proxy.user = "mallory@example.com";
  proxy.resource = "nodes";
  proxy.subresource = "proxy";
  proxy.name = "worker-3";
  auto fs = feed(d, proxy.str());
  REQUIRE(fs.size() == 1);
  CHECK(fs[0].rule == "nodes-proxy-access");
  CHECK(fs[0].severity == Severity::kCritical);
  proxy.stage = "ResponseComplete";
  CHECK(feed(d, proxy.str()).empty());
  proxy.auditID = "a-proxy-metrics";
  proxy.verb = "get";
  proxy.code = 200;
  proxy.uri = "/api/v1/nodes/worker-3/proxy/metrics/cadvisor";
  fs = feed(d, proxy.str());
  REQUIRE(fs.size() == 1);
  CHECK(fs[0].severity == Severity::kLow);
}

// The kubelet API through nodes/proxy, by path: /pods high, an unlisted path medium, /stats low;
// the look-alikes that do not reach the kubelet (`kubectl get node`, a denied proxy request) are
// not reported; the scraper's service account can be trusted.
TEST_CASE("NodesProxyLookAlikesAndTrustedIdentities", "[detections]") {
  auto proxy = [](Detector& d, const std::string& id, const std::string& user,
                  const std::string& path, int code = 200) {
    Ev e;
    e.auditID = id;
    e.verb = "get";
    e.code = code;
    e.level = "Metadata";
    e.uri = "/api/v1/nodes/worker-3/proxy" + path;
    e.user = user;
    e.resource = "nodes";
    e.subresource = "proxy";
    e.name = "worker-3";
    if (code >= 400) e.annotations = {{"authorization.k8s.io/decision", "forbid"}};
    return feed(d, e.str());
  };
  Detector d(DetectorOptions{});
  auto fs = proxy(d, "np-pods", "mallory@example.com", "/pods");
  REQUIRE(rules(fs) == std::vector<std::string>{"nodes-proxy-access"});
  CHECK(fs[0].severity == Severity::kHigh);
  CHECK(fs[0].technique == "T1609");
  CHECK(fs[0].kind == "Node");
  CHECK(fs[0].details.at("kubeletPath") == "/pods");
  CHECK(fs[0].summary ==
        "mallory@example.com reached the kubelet API of node worker-3 at /pods through "
        "nodes/proxy (get)");
  fs = proxy(d, "np-configz", "mallory@example.com", "/configz");
  REQUIRE(fs.size() == 1);
  CHECK(fs[0].severity == Severity::kHigh);
  fs = proxy(d, "np-other", "mallory@example.com", "/flightrecorder");
  REQUIRE(fs.size() == 1);
  CHECK(fs[0].severity == Severity::kMedium);
  fs = proxy(d, "np-stats", "mallory@example.com", "/stats/summary");
  REQUIRE(fs.size() == 1);
  CHECK(fs[0].severity == Severity::kLow);

  Ev node;
  node.auditID = "np-get-node";
  node.verb = "get";
  node.code = 200;
  node.level = "Metadata";
  node.uri = "/api/v1/nodes/worker-3";
  node.user = "mallory@example.com";
  node.resource = "nodes";
  node.name = "worker-3";
  CHECK(feed(d, node.str()).empty());
  CHECK(proxy(d, "np-denied", "mallory@example.com", "/run/shop/web/app", 403).empty());

  DetectorOptions o;
  o.trustedIdentities["nodes-proxy-access"] = {"system:serviceaccount:monitoring:prometheus-*"};
  Detector trusting(o);
  CHECK(proxy(trusting, "t-metrics", "system:serviceaccount:monitoring:prometheus-k8s",
              "/metrics/cadvisor")
            .empty());
  CHECK(proxy(trusting, "t-metrics-2", "mallory@example.com", "/metrics/cadvisor").size() == 1);
}

}  // namespace
}  // namespace kc::audit
