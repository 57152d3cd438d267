// Tests of the mirror-pod rule: the API mirrors of static pods started by a node.
#include <catch2/catch.hpp>

#include "controller/detect/detections.h"
#include "test/controller/detect/detect_test_util.h"

namespace kc::audit {
namespace {

using namespace detect_test;

TEST_CASE("MirrorPodsOfStaticPodManifests", "[detections]") {
  Detector d(DetectorOptions{});
  json mirror = pod("kube-system", "backdoor-worker-3", "pod-m", "docker.io/library/alpine:3");
  mirror["metadata"]["annotations"] = {{"kubernetes.io/config.mirror", "3f1c"},
                                       {"kubernetes.io/config.source", "file"}};
  Ev m;
  m.auditID = "a-mirror";
  m.user = "system:node:worker-3";
  m.groups = {"system:nodes", "system:authenticated"};
  m.userAgent = "kubelet/v1.30.1 (linux/amd64) kubernetes/7c48c2b";
  m.resource = "pods";
  m.ns = "kube-system";
  m.requestObject = mirror;
  m.responseObject = mirror;
  auto fs = feed(d, m.str());
  REQUIRE(rule(fs, "mirror-pod") != nullptr);
  CHECK(rule(fs, "mirror-pod")->user == "system:node:worker-3");
  CHECK(rule(fs, "system-namespace-workload") == nullptr);  // a node is a system identity

  // The control plane's own static pods are expected.
  json apiserver = pod("kube-system", "kube-apiserver-cp-1", "pod-api",
                       "registry.k8s.io/kube-apiserver:v1.30.1");
  apiserver["metadata"]["annotations"] = {{"kubernetes.io/config.mirror", "9a"}};
  m.auditID = "a-mirror-api";
  m.user = "system:node:cp-1";
  m.requestObject = apiserver;
  m.responseObject = apiserver;
  CHECK(feed(d, m.str()).empty());
}

// A node's mirror pod is high; a pod carrying the mirror annotation but created by a person is
// not a mirror pod; the control plane's own are reported when asked to; the node identities of
// a distribution that runs add-ons as static pods can be trusted.
TEST_CASE("MirrorPodLookAlikesAndTrustedIdentities", "[detections]") {
  auto create = [](Detector& d, const std::string& ns, const std::string& name,
                   const std::string& user, const std::string& image) {
    json p = pod(ns, name, "uid-" + name, image);
    p["metadata"]["annotations"] = {{"kubernetes.io/config.mirror", "3f1c9e"},
                                    {"kubernetes.io/config.hash", "3f1c9e"},
                                    {"kubernetes.io/config.source", "file"}};
    Ev e;
    e.auditID = "a-" + name;
    e.uri = "/api/v1/namespaces/" + ns + "/pods";
    e.user = user;
    if (user.rfind("system:node:", 0) == 0) {
      e.groups = {"system:nodes", "system:authenticated"};
      e.userAgent = "kubelet/v1.30.1 (linux/amd64) kubernetes/7c48c2b";
    }
    e.resource = "pods";
    e.ns = ns;
    e.name = name;
    e.requestObject = p;
    e.responseObject = p;
    return feed(d, e.str());
  };
  Detector d(DetectorOptions{});
  auto fs =
      create(d, "default", "miner-worker-3", "system:node:worker-3", "docker.io/xmrig/xmrig:6.21");
  REQUIRE(rules(fs) == std::vector<std::string>{"mirror-pod"});
  CHECK(fs[0].severity == Severity::kHigh);
  CHECK(fs[0].technique == "T1610");
  CHECK(fs[0].summary ==
        "system:node:worker-3 created mirror pod default/miner-worker-3 from a static pod "
        "manifest on the node: system:node:worker-3");
  CHECK(create(d, "default", "copied-worker-3", "bob@example.com", "docker.io/library/alpine:3")
            .empty());

  DetectorOptions all;
  all.reportControlPlaneMirrorPods = true;
  Detector reporting(all);
  CHECK(rules(create(reporting, "kube-system", "etcd-cp-1", "system:node:cp-1",
                     "registry.k8s.io/etcd:3.5.12-0")) == std::vector<std::string>{"mirror-pod"});

  DetectorOptions o;
  o.trustedIdentities["mirror-pod"] = {"system:node:cp-*"};
  Detector trusting(o);
  CHECK(create(trusting, "kube-system", "haproxy-cp-1", "system:node:cp-1",
               "docker.io/library/haproxy:2.9")
            .empty());
  CHECK(rules(create(trusting, "kube-system", "haproxy-worker-3", "system:node:worker-3",
                     "docker.io/library/haproxy:2.9")) == std::vector<std::string>{"mirror-pod"});
}

}  // namespace
}  // namespace kc::audit
