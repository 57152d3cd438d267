// Tests of the host-namespace rule: hostPID, hostIPC and hostNetwork.
#include <catch2/catch.hpp>

#include "controller/detect/detections.h"
#include "test/controller/detect/detect_test_util.h"

namespace kc::audit {
namespace {

using namespace detect_test;

// A pod sharing the host's PID namespace is high, the host's network or IPC medium; sharing the
// process namespace between the pod's own containers is not a host namespace; the identity that
// deploys the ingress controller on the host network can be trusted.
TEST_CASE("HostNamespacesAndTheirLookAlikes", "[detections]") {
  auto create = [](Detector& d, const std::string& name, const std::string& user, json extraSpec) {
    json p = pod("ingress-nginx", name, "uid-" + name,
                 "registry.k8s.io/ingress-nginx/controller:v1.10.1", nullptr, extraSpec);
    Ev e;
    e.auditID = "a-" + name;
    e.uri = "/api/v1/namespaces/ingress-nginx/pods";
    e.user = user;
    e.resource = "pods";
    e.ns = "ingress-nginx";
    e.name = name;
    e.requestObject = p;
    e.responseObject = p;
    return feed(d, e.str());
  };
  Detector d(DetectorOptions{});
  auto fs = create(d, "peek", "bob@example.com", {{"hostPID", true}});
  REQUIRE(rules(fs) == std::vector<std::string>{"host-namespace"});
  CHECK(fs[0].severity == Severity::kHigh);
  CHECK(fs[0].technique == "T1611");
  CHECK(fs[0].details.at("what") == "hostPID");

  fs = create(d, "net", "bob@example.com", {{"hostNetwork", true}});
  REQUIRE(rules(fs) == std::vector<std::string>{"host-namespace"});
  CHECK(fs[0].severity == Severity::kMedium);
  CHECK(fs[0].details.at("what") == "hostNetwork");
  fs = create(d, "ipc", "bob@example.com", {{"hostIPC", true}});
  REQUIRE(rules(fs) == std::vector<std::string>{"host-namespace"});
  CHECK(fs[0].severity == Severity::kMedium);

  CHECK(create(d, "sidecars", "bob@example.com",
               {{"shareProcessNamespace", true},
                {"hostPID", false},
                {"hostNetwork", false},
                {"hostIPC", false}})
            .empty());

  DetectorOptions o;
  o.trustedIdentities["host-namespace"] = {
      "system:serviceaccount:argocd:argocd-application-controller"};
  Detector trusting(o);
  CHECK(create(trusting, "controller", "system:serviceaccount:argocd:argocd-application-controller",
               {{"hostNetwork", true}, {"dnsPolicy", "ClusterFirstWithHostNet"}})
            .empty());
  CHECK(rules(create(trusting, "controller-2", "alice@example.com", {{"hostNetwork", true}})) ==
        std::vector<std::string>{"host-namespace"});
}

}  // namespace
}  // namespace kc::audit
