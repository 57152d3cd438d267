// Tests of serviceaccount-token-stolen: a token bound to a pod or a node used from another
// address than that pod's or node's, and bound tokens and system identities used from outside
// the cluster networks.
#include <catch2/catch.hpp>

#include "controller/detect/detections.h"
#include "policies/rules.h"
#include "test/controller/detect/detect_test_util.h"

namespace kc::audit {
namespace {

using namespace detect_test;

const std::string kWeb = "system:serviceaccount:shop:web";
const std::string kPod = "web-7d4b9c6f5-x2kqp";
const std::string kPodUid = "3f6c1f2e-8a4b-4c1d-9e0f-5a6b7c8d9e01";
const std::string kNodeA = "ip-10-0-1-10.eu-west-1.compute.internal";

// An audit event of `user` (with `extra`, the bound token's claims) from `sourceIP`, as the API
// server logs it at Metadata level (or with `requestObject`).
json event(const std::string& id, const std::string& verb, const std::string& user,
           const std::string& sourceIP, const std::string& resource, const std::string& ns,
           const std::string& name, const std::string& sub = "", json extra = nullptr,
           json requestObject = nullptr) {
  json objectRef = {{"resource", resource}, {"apiVersion", "v1"}};
  if (!ns.empty()) objectRef["namespace"] = ns;
  if (!name.empty()) objectRef["name"] = name;
  if (!sub.empty()) objectRef["subresource"] = sub;
  json u = {{"username", user},
            {"uid", "5b2b0c9e-1f7d-4a55-9d0e-2f1d7e3c4b5a"},
            {"groups", {"system:serviceaccounts", "system:authenticated"}}};
  if (!extra.is_null()) u["extra"] = extra;
  std::string uri = "/api/v1/" + (ns.empty() ? "" : "namespaces/" + ns + "/") + resource +
                    (name.empty() ? "" : "/" + name) + (sub.empty() ? "" : "/" + sub);
  json e = {{"kind", "Event"},
            {"apiVersion", "audit.k8s.io/v1"},
            {"level", requestObject.is_null() ? "Metadata" : "Request"},
            {"auditID", id},
            {"stage", "ResponseComplete"},
            {"requestURI", uri},
            {"verb", verb},
            {"user", u},
            {"sourceIPs", {sourceIP}},
            {"userAgent", "web/v0.0.0 (linux/amd64) kubernetes/$Format"},
            {"objectRef", objectRef},
            {"responseStatus", {{"metadata", json::object()}, {"code", 200}}},
            {"requestReceivedTimestamp", "2026-01-10T09:00:00.000000Z"},
            {"stageTimestamp", "2026-01-10T09:00:00.004000Z"},
            {"annotations", {{"authorization.k8s.io/decision", "allow"}}}};
  if (!requestObject.is_null()) e["requestObject"] = requestObject;
  return e;
}

// The claims of a token the kubelet got for pod `pod` (uid `uid`) on `node`.
json podClaims(const std::string& pod, const std::string& uid, const std::string& node) {
  return {{"authentication.kubernetes.io/credential-id",
           {"JTI=0c1d2e3f-4a5b-6c7d-8e9f-" + uid.substr(0, 8)}},
          {"authentication.kubernetes.io/node-name", {node}},
          {"authentication.kubernetes.io/node-uid", {"8e7d6c5b-4a39-4281-9f0e-1d2c3b4a5968"}},
          {"authentication.kubernetes.io/pod-name", {pod}},
          {"authentication.kubernetes.io/pod-uid", {uid}}};
}

// The kubelet of `node` (from `nodeIP`) patches the status of pod shop/`pod`: running at
// `podIPs` on host `nodeIP`.
json podStatusPatch(const std::string& id, const std::string& node, const std::string& nodeIP,
                    const std::string& pod, const std::string& uid,
                    const std::vector<std::string>& podIPs) {
  json ips = json::array();
  for (const auto& ip : podIPs) ips.push_back({{"ip", ip}});
  const json patch = {
      {"metadata", {{"uid", uid}}},
      {"status",
       {{"$setElementOrder/conditions",
         {{{"type", "PodReadyToStartContainers"}}, {{"type", "Initialized"}}, {{"type", "Ready"}}}},
        {"conditions",
         {{{"lastTransitionTime", "2026-01-10T08:59:58Z"}, {"status", "True"}, {"type", "Ready"}}}},
        {"hostIP", nodeIP},
        {"hostIPs", {{{"ip", nodeIP}}}},
        {"phase", "Running"},
        {"podIP", podIPs.front()},
        {"podIPs", ips}}}};
  json e = event(id, "patch", "system:node:" + node, nodeIP, "pods", "shop", pod, "status", nullptr,
                 patch);
  e["user"]["groups"] = {"system:nodes", "system:authenticated"};
  e["userAgent"] = "kubelet/v1.31.2 (linux/amd64) kubernetes/5864a46";
  return e;
}

std::vector<Finding> feedJson(Detector& d, const json& e) { return feed(d, e.dump()); }

std::vector<policy::IpBlock> networks(std::initializer_list<const char*> cidrs) {
  std::vector<policy::IpBlock> out;
  for (const char* c : cidrs) {
    policy::IpBlock b;
    REQUIRE(policy::parseIpBlock(c, b));
    out.push_back(b);
  }
  return out;
}

// A pod's token used from the pod and from its node is not reported; used from another pod's
// address it is, high, once per address; a token of a pod whose address is not known, or of
// another pod of the same name, is not; the identity trusted for the rule is not.
TEST_CASE("PodBoundTokenUsedFromAnotherAddressIsReportedOnce", "[detections]") {
  auto run = [&](DetectorOptions o) {
    Detector d(o);
    std::vector<Finding> all;
    auto add = [&](const std::vector<Finding>& fs) { all.insert(all.end(), fs.begin(), fs.end()); };
    // Unknown yet: the kubelet has not written the pod's status.
    add(feedJson(d, event("a-0", "get", kWeb, "10.244.3.9", "secrets", "shop", "web-db", "",
                          podClaims(kPod, kPodUid, kNodeA))));
    add(feedJson(d, podStatusPatch("a-1", kNodeA, "10.0.1.10", kPod, kPodUid,
                                   {"10.244.1.7", "fd00:10:244:1::7"})));
    // From the pod itself (IPv4, IPv6 written another way) and from its node.
    for (const std::string ip : {"10.244.1.7", "fd00:10:244:1:0:0:0:7", "10.0.1.10"}) {
      add(feedJson(d, event("a-own-" + ip, "get", kWeb, ip, "configmaps", "shop", "web-config", "",
                            podClaims(kPod, kPodUid, kNodeA))));
    }
    // From another pod, twice.
    for (const std::string id : {"a-2", "a-3"}) {
      add(feedJson(d, event(id, "list", kWeb, "10.244.3.9", "secrets", "shop", "", "",
                            podClaims(kPod, kPodUid, kNodeA))));
    }
    // The pod re-created under its name: its new token, before its status is written.
    add(feedJson(d, event("a-4", "get", kWeb, "10.244.2.4", "configmaps", "shop", "web-config", "",
                          podClaims(kPod, "9a8b7c6d-0000-4c1d-9e0f-5a6b7c8d9e02", kNodeA))));
    return all;
  };

  const auto fs = run(DetectorOptions{});
  REQUIRE(rules(fs) == std::vector<std::string>{"serviceaccount-token-stolen"});
  const Finding& f = fs[0];
  CHECK(f.severity == Severity::kHigh);
  CHECK(f.technique == "T1550.001");
  CHECK(f.user == kWeb);
  CHECK(f.sourceIP == "10.244.3.9");
  CHECK(f.auditID == "a-2");
  CHECK(f.details.at("pod-name") == kPod);
  CHECK(f.details.at("node-name") == kNodeA);
  CHECK(f.details.at("expectedAddresses") == "10.244.1.7, fd00:10:244:1::7, 10.0.1.10");
  CHECK(f.summary ==
        kWeb + " used from 10.244.3.9, not the address of pod shop/" + kPod + " it is bound to");

  DetectorOptions trusting;
  trusting.trustedIdentities["serviceaccount-token-stolen"] = {"system:serviceaccount:shop:*"};
  CHECK(run(trusting).empty());
}

// With the cluster networks set, a bound token or a system identity used from outside them is
// reported (the node's own kubelet identity, a kube-system service account, a component);
// a service account of an application namespace with a legacy token (no claims), and the
// API server's own loopback requests, are not. Without them, none of these is.
TEST_CASE("CredentialsUsedFromOutsideTheClusterNetworks", "[detections]") {
  auto run = [&](DetectorOptions o) {
    Detector d(o);
    std::vector<Finding> all;
    auto add = [&](const json& e) {
      const auto fs = feedJson(d, e);
      all.insert(all.end(), fs.begin(), fs.end());
    };
    add(event("n-1", "get", kWeb, "198.51.100.23", "secrets", "shop", "web-db", "",
              podClaims(kPod, kPodUid, kNodeA)));
    json kubelet =
        event("n-2", "get", "system:node:" + kNodeA, "203.0.113.5", "secrets", "shop", "web-db");
    add(kubelet);
    add(event("n-3", "list", "system:serviceaccount:kube-system:coredns", "2001:db8:77::5",
              "endpointslices", "", ""));
    add(event("n-4", "update", "system:kube-scheduler", "203.0.113.5", "leases", "kube-system",
              "kube-scheduler"));
    // Not system identities, not bound: a legacy token of an application's service account.
    add(event("n-5", "list", "system:serviceaccount:shop:ci", "198.51.100.23", "pods", "shop", ""));
    // Inside the networks, and loopback.
    add(event("n-6", "get", "system:node:" + kNodeA, "10.0.1.10", "pods", "shop", kPod));
    add(event("n-7", "get", "system:kube-controller-manager", "127.0.0.1", "pods", "shop", kPod));
    return all;
  };
  CHECK(run(DetectorOptions{}).empty());

  DetectorOptions o;
  o.clusterNetworks = networks({"10.0.0.0/16", "10.244.0.0/16", "fd00:10:244::/48"});
  const auto fs = run(o);
  REQUIRE(rules(fs) == std::vector<std::string>(4, "serviceaccount-token-stolen"));
  CHECK(fs[0].user == kWeb);
  CHECK(fs[0].details.at("reason") == "outside the cluster networks");
  CHECK(fs[1].user == "system:node:" + kNodeA);
  CHECK(fs[1].sourceIP == "203.0.113.5");
  CHECK(fs[2].user == "system:serviceaccount:kube-system:coredns");
  CHECK(fs[2].sourceIP == "2001:db8:77::5");
  CHECK(fs[3].user == "system:kube-scheduler");
  for (const auto& f : fs) CHECK(f.severity == Severity::kHigh);
}

// A token bound to a node (kubectl create token --bound-object-kind Node) is compared with the
// node's addresses from its status (InternalIP, ExternalIP; not its Hostname) and its kubelet's
// requests.
TEST_CASE("NodeBoundTokenUsedFromAnotherAddress", "[detections]") {
  Detector d(DetectorOptions{});
  const json nodeClaims = {
      {"authentication.kubernetes.io/credential-id", {"JTI=5e4d3c2b-1a09-4f8e-b7d6-c5b4a3928170"}},
      {"authentication.kubernetes.io/node-name", {kNodeA}},
      {"authentication.kubernetes.io/node-uid", {"8e7d6c5b-4a39-4281-9f0e-1d2c3b4a5968"}}};
  const std::string agent = "system:serviceaccount:monitoring:node-agent";
  // Unknown node: nothing.
  CHECK(feedJson(d, event("b-0", "get", agent, "10.0.2.20", "nodes", "", kNodeA, "", nodeClaims))
            .empty());
  json status = {{"status",
                  {{"addresses",
                    {{{"type", "InternalIP"}, {"address", "10.0.1.10"}},
                     {{"type", "ExternalIP"}, {"address", "34.240.1.2"}},
                     {{"type", "Hostname"}, {"address", kNodeA}}}}}}};
  json patch = event("b-1", "patch", "system:node:" + kNodeA, "10.0.1.10", "nodes", "", kNodeA,
                     "status", nullptr, status);
  CHECK(feedJson(d, patch).empty());
  for (const std::string ip : {"10.0.1.10", "34.240.1.2"}) {
    CHECK(feedJson(d, event("b-own-" + ip, "get", agent, ip, "nodes", "", kNodeA, "", nodeClaims))
              .empty());
  }
  const auto fs =
      feedJson(d, event("b-2", "get", agent, "10.0.2.20", "nodes", "", kNodeA, "", nodeClaims));
  REQUIRE(rules(fs) == std::vector<std::string>{"serviceaccount-token-stolen"});
  CHECK(fs[0].details.at("expectedAddresses") == "10.0.1.10, 34.240.1.2");
  CHECK(fs[0].summary ==
        agent + " used from 10.0.2.20, not an address of node " + kNodeA + " it is bound to");
}

// Claims that are not what the API server writes (not lists, lists of numbers, too many keys)
// cost nothing but the claims: the event is still read.
TEST_CASE("MalformedTokenClaimsAreIgnored", "[detections]") {
  Detector d(DetectorOptions{});
  json extra = {{"authentication.kubernetes.io/pod-name", "not-a-list"},
                {"authentication.kubernetes.io/node-name", {7}}};
  for (int i = 0; i < 40; ++i) extra["k" + std::to_string(i)] = {"v"};
  EventParser parser;
  int events = 0;
  parser.parse(event("c-1", "get", kWeb, "10.244.3.9", "secrets", "shop", "x", "", extra).dump(),
               [&](const Event& e) {
                 ++events;
                 CHECK(e.user.extraValue("authentication.kubernetes.io/pod-name").empty());
                 CHECK(e.user.extraValue("authentication.kubernetes.io/node-name").empty());
                 CHECK(e.user.extra.size() == UserInfo::kMaxExtra);
               });
  CHECK(events == 1);
}

}  // namespace
}  // namespace kc::audit
