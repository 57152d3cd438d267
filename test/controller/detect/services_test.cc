// Tests of the Service exposure rules: service-exposed and service-external-ips.
#include <catch2/catch.hpp>

#include "controller/detect/detections.h"
#include "test/controller/detect/detect_test_util.h"

namespace kc::audit {
namespace {

using namespace detect_test;

// `kubectl expose deployment tunnel --type=NodePort`, then the changes that follow.
TEST_CASE("ServiceExposureIsReportedForWhatAChangeAdds", "[detections]") {
  DetectorOptions o;
  o.trustedIdentities["service-exposed"] = {"system:serviceaccount:argocd:*"};
  Detector d(o);
  int n = 0;
  auto service = [](const std::string& name, const std::string& type, json extraSpec = {}) {
    json spec = {{"type", type},
                 {"selector", {{"app", name}}},
                 {"ports", {{{"port", 8080}, {"targetPort", 8080}, {"protocol", "TCP"}}}}};
    if (type == "NodePort" || type == "LoadBalancer") spec["ports"][0]["nodePort"] = 30080;
    for (auto& [k, v] : extraSpec.items()) spec[k] = v;
    return json{{"kind", "Service"},
                {"apiVersion", "v1"},
                {"metadata", {{"name", name}, {"namespace", "sandbox"}, {"uid", "svc-" + name}}},
                {"spec", spec}};
  };
  auto write = [&](const std::string& verb, const std::string& name, json request, json response,
                   const std::string& user = "mallory@example.com", int code = 0) {
    Ev e;
    e.auditID = "svc-" + std::to_string(++n);
    e.verb = verb;
    e.code = code ? code : (verb == "create" ? 201 : 200);
    e.uri = "/api/v1/namespaces/sandbox/services" + (verb == "create" ? "" : "/" + name);
    e.user = user;
    e.resource = "services";
    e.ns = "sandbox";
    e.name = name;
    e.requestObject = std::move(request);
    e.responseObject = std::move(response);
    return feed(d, e.str());
  };

  // A ClusterIP Service exposes nothing outside the cluster.
  CHECK(write("create", "tunnel", service("tunnel", "ClusterIP"), service("tunnel", "ClusterIP"))
            .empty());
  // Turned into a NodePort: reported, with what it exposes.
  auto fs =
      write("patch", "tunnel", {{"spec", {{"type", "NodePort"}}}}, service("tunnel", "NodePort"));
  REQUIRE(rules(fs) == std::vector<std::string>{"service-exposed"});
  CHECK(fs[0].severity == Severity::kMedium);
  CHECK(fs[0].technique == "T1133");
  CHECK(fs[0].kind == "Service");
  CHECK(fs[0].details.at("type") == "NodePort");
  CHECK(fs[0].details.at("ports") == "8080:30080/TCP");
  CHECK(fs[0].details.at("selector") == "app=tunnel");
  CHECK(fs[0].summary ==
        "mallory@example.com exposed service sandbox/tunnel as NodePort (8080:30080/TCP), "
        "selecting app=tunnel");
  // Changes that add no exposure: a label patch, a full update of the same NodePort, a move to
  // LoadBalancer (already outside).
  CHECK(write("patch", "tunnel", {{"metadata", {{"labels", {{"x", "y"}}}}}},
              service("tunnel", "NodePort"))
            .empty());
  CHECK(write("update", "tunnel", service("tunnel", "NodePort"), service("tunnel", "NodePort"))
            .empty());
  CHECK(write("update", "tunnel", service("tunnel", "LoadBalancer"),
              service("tunnel", "LoadBalancer"))
            .empty());
  // externalIPs: traffic inside the cluster to that address now reaches the Service's pods.
  fs = write("patch", "tunnel", {{"spec", {{"externalIPs", {"203.0.113.9"}}}}},
             service("tunnel", "LoadBalancer", {{"externalIPs", {"203.0.113.9"}}}));
  REQUIRE(rules(fs) == std::vector<std::string>{"service-external-ips"});
  CHECK(fs[0].severity == Severity::kHigh);
  CHECK(fs[0].technique == "T1557");
  CHECK(fs[0].details.at("externalIPs") == "203.0.113.9");
  // One more address is reported for that address alone; the same list again is not.
  fs = write("patch", "tunnel", {{"spec", {{"externalIPs", {"203.0.113.9", "198.51.100.7"}}}}},
             service("tunnel", "LoadBalancer", {{"externalIPs", {"203.0.113.9", "198.51.100.7"}}}));
  REQUIRE(rules(fs) == std::vector<std::string>{"service-external-ips"});
  CHECK(fs[0].details.at("externalIPs") == "198.51.100.7");
  CHECK(write("update", "tunnel",
              service("tunnel", "LoadBalancer", {{"externalIPs", {"198.51.100.7", "203.0.113.9"}}}),
              service("tunnel", "LoadBalancer", {{"externalIPs", {"198.51.100.7", "203.0.113.9"}}}))
            .empty());
  // Back to ClusterIP, then NodePort again: exposed anew.
  CHECK(write("update", "tunnel", service("tunnel", "ClusterIP"), service("tunnel", "ClusterIP"))
            .empty());
  CHECK(rules(write("patch", "tunnel", {{"spec", {{"type", "NodePort"}}}},
                    service("tunnel", "NodePort"))) == std::vector<std::string>{"service-exposed"});

  // Services never seen before (created before this process): a patch that does not touch
  // type, ports or externalIPs says nothing; one that does, or a full update, is judged as new.
  CHECK(write("patch", "old-lb", {{"metadata", {{"annotations", {{"a", "b"}}}}}},
              service("old-lb", "LoadBalancer"))
            .empty());
  CHECK(write("patch", "old-np", {{"spec", {{"ports", json::array()}}}},
              service("old-np", "NodePort"))
            .size() == 1);
  CHECK(write("update", "old-np2", service("old-np2", "NodePort"), service("old-np2", "NodePort"))
            .size() == 1);
  // A create always starts from nothing, even under a name seen before.
  CHECK(write("create", "old-lb", service("old-lb", "LoadBalancer"),
              service("old-lb", "LoadBalancer"))
            .size() == 1);
  // Trusted identities, denied requests and Services of no exposure are not reported.
  CHECK(write("create", "web", service("web", "LoadBalancer"), service("web", "LoadBalancer"),
              "system:serviceaccount:argocd:argocd-application-controller")
            .empty());
  CHECK(write("create", "denied", service("denied", "NodePort"), json(), "mallory@example.com", 403)
            .empty());
  CHECK(write("create", "name", service("name", "ExternalName"), service("name", "ExternalName"))
            .empty());
  // Without a selector the endpoints are set by hand: said in the summary.
  json manual = service("manual", "NodePort");
  manual["spec"].erase("selector");
  fs = write("create", "manual", manual, manual);
  REQUIRE(fs.size() == 1);
  CHECK(fs[0].summary.find("no selector") != std::string::npos);
}

// externalIPs on a new Service are high and name the addresses; the look-alikes (a LoadBalancer
// whose address is in status, a ClusterIP pinned to an internal clusterIP) are not externalIPs;
// a bare-metal cluster's network operator can be trusted for externalIPs without losing the
// exposure of its Services, and the other way round.
TEST_CASE("ExternalIPsLookAlikesAndTrustedIdentities", "[detections]") {
  auto create = [](Detector& d, const std::string& name, const std::string& user, json spec,
                   json status = json::object()) {
    spec["selector"] = {{"app", name}};
    if (!spec.contains("ports")) spec["ports"] = {{{"port", 53}, {"protocol", "UDP"}}};
    const json svc = {
        {"kind", "Service"},
        {"apiVersion", "v1"},
        {"metadata", {{"name", name}, {"namespace", "infra"}, {"uid", "svc-" + name}}},
        {"spec", spec},
        {"status", status}};
    Ev e;
    e.auditID = "a-" + name;
    e.uri = "/api/v1/namespaces/infra/services?fieldManager=kubectl-create";
    e.user = user;
    e.resource = "services";
    e.ns = "infra";
    e.name = name;
    e.requestObject = svc;
    e.responseObject = svc;
    return feed(d, e.str());
  };
  Detector d(DetectorOptions{});
  auto fs = create(d, "dns", "mallory@example.com",
                   {{"type", "ClusterIP"}, {"externalIPs", {"8.8.8.8", "8.8.4.4"}}});
  REQUIRE(rules(fs) == std::vector<std::string>{"service-external-ips"});
  CHECK(fs[0].severity == Severity::kHigh);
  CHECK(fs[0].technique == "T1557");
  CHECK(fs[0].kind == "Service");
  CHECK(fs[0].details.at("externalIPs") == "8.8.4.4, 8.8.8.8");
  CHECK(fs[0].summary.find("mallory@example.com set externalIPs 8.8.4.4, 8.8.8.8 on service "
                           "infra/dns") == 0);

  fs = create(d, "edge", "mallory@example.com",
              {{"type", "LoadBalancer"},
               {"ports", {{{"port", 443}, {"nodePort", 31443}, {"protocol", "TCP"}}}}},
              {{"loadBalancer", {{"ingress", {{{"ip", "203.0.113.10"}}}}}}});
  CHECK(rules(fs) == std::vector<std::string>{"service-exposed"});
  CHECK(create(d, "internal", "mallory@example.com",
               {{"type", "ClusterIP"}, {"clusterIP", "10.96.0.53"}, {"clusterIPs", {"10.96.0.53"}}})
            .empty());

  DetectorOptions o;
  o.trustedIdentities["service-external-ips"] = {"netops@example.com"};
  Detector trusting(o);
  CHECK(create(trusting, "dns", "netops@example.com", {{"externalIPs", {"192.0.2.53"}}}).empty());
  CHECK(rules(create(trusting, "ingress", "netops@example.com",
                     {{"type", "NodePort"}, {"externalIPs", {"192.0.2.80"}}})) ==
        std::vector<std::string>{"service-exposed"});
  CHECK(
      rules(create(trusting, "dns-2", "mallory@example.com", {{"externalIPs", {"192.0.2.53"}}})) ==
      std::vector<std::string>{"service-external-ips"});
}

}  // namespace
}  // namespace kc::audit
