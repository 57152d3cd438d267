// Tests of the service account rules: serviceaccount-token-requested,
// system-serviceaccount-created.
#include <catch2/catch.hpp>

#include "controller/detect/detections.h"
#include "test/controller/detect/detect_test_util.h"

namespace kc::audit {
namespace {

using namespace detect_test;

// `user` requests a token for service account ns/sa (kubectl create token, the TokenRequest
// API), as the API server logs it at Request level: the request, never the token.
Ev tokenRequest(const std::string& id, const std::string& user, const std::string& ns,
                const std::string& sa, json spec) {
  Ev e;
  e.auditID = id;
  e.level = "Request";
  e.user = user;
  e.resource = "serviceaccounts";
  e.subresource = "token";
  e.ns = ns;
  e.name = sa;
  e.uri = "/api/v1/namespaces/" + ns + "/serviceaccounts/" + sa + "/token";
  e.requestObject = {{"kind", "TokenRequest"},
                     {"apiVersion", "authentication.k8s.io/v1"},
                     {"metadata", {{"creationTimestamp", nullptr}}},
                     {"spec", spec},
                     {"status", {{"token", ""}, {"expirationTimestamp", nullptr}}}};
  return e;
}

TEST_CASE("TokensRequestedByOthersThanTheKubeletAreReported", "[detections][serviceaccounts]") {
  Detector d(DetectorOptions{});
  // kubectl create token deployer -n kube-system --duration=8760h
  auto fs = feed(d, tokenRequest("t-1", "mallory@example.com", "kube-system", "deployer",
                                 {{"audiences", {"https://kubernetes.default.svc"}},
                                  {"expirationSeconds", 31536000},
                                  {"boundObjectRef", nullptr}})
                        .str());
  REQUIRE(rules(fs) == std::vector<std::string>{"serviceaccount-token-requested"});
  CHECK(fs[0].severity == Severity::kHigh);
  CHECK(fs[0].technique == "T1528");
  CHECK(fs[0].details.at("expirationSeconds") == "31536000");
  CHECK(fs[0].details.at("audiences") == "https://kubernetes.default.svc");
  CHECK(fs[0].summary ==
        "mallory@example.com requested a token for service account kube-system/deployer valid "
        "for 31536000 s, bound to no object (it lives until it expires): an account of a system "
        "namespace");
  // In an application namespace: medium.
  fs = feed(
      d,
      tokenRequest("t-2", "dev@example.com", "shop", "web", {{"expirationSeconds", 3600}}).str());
  REQUIRE(rules(fs) == std::vector<std::string>{"serviceaccount-token-requested"});
  CHECK(fs[0].severity == Severity::kMedium);
  // At Metadata level (no request body): reported, without claims about what was asked.
  Ev meta = tokenRequest("t-3", "dev@example.com", "shop", "web", json::object());
  meta.level = "Metadata";
  meta.requestObject = nullptr;
  fs = feed(d, meta.str());
  REQUIRE(rules(fs) == std::vector<std::string>{"serviceaccount-token-requested"});
  CHECK(fs[0].summary == "dev@example.com requested a token for service account shop/web");
  CHECK(fs[0].details.empty());
}

// The kubelet requests its pods' projected tokens all the time (bound to the pod): not
// reported; a secrets operator's identity can be trusted.
TEST_CASE("KubeletTokenRequestsAndTrustedIdentities", "[detections][serviceaccounts]") {
  Detector d(DetectorOptions{});
  CHECK(feed(d,
             tokenRequest(
                 "k-1", "system:node:worker-3", "shop", "web",
                 {{"audiences", {"https://kubernetes.default.svc"}},
                  {"expirationSeconds", 3607},
                  {"boundObjectRef",
                   {{"kind", "Pod"}, {"apiVersion", "v1"}, {"name", "web-7d4b9"}, {"uid", "u-1"}}}})
                 .str())
            .empty());
  DetectorOptions o;
  o.trustedIdentities["serviceaccount-token-requested"] = {
      "system:serviceaccount:vault:vault-auth"};
  Detector trusting(o);
  CHECK(feed(trusting, tokenRequest("k-2", "system:serviceaccount:vault:vault-auth", "shop", "web",
                                    {{"expirationSeconds", 600}})
                           .str())
            .empty());
  auto fs = feed(trusting, tokenRequest("k-3", "mallory@example.com", "shop", "web",
                                        {{"expirationSeconds", 600},
                                         {"boundObjectRef", {{"kind", "Secret"}, {"name", "x"}}}})
                               .str());
  REQUIRE(rules(fs) == std::vector<std::string>{"serviceaccount-token-requested"});
  CHECK(fs[0].details.at("boundObject") == "Secret x");
}

TEST_CASE("ServiceAccountsCreatedInSystemNamespacesAreReported", "[detections][serviceaccounts]") {
  auto create = [](Detector& d, const std::string& id, const std::string& user,
                   const std::string& ns, const std::string& name) {
    Ev e;
    e.auditID = id;
    e.user = user;
    e.resource = "serviceaccounts";
    e.ns = ns;
    e.name = name;
    e.uri = "/api/v1/namespaces/" + ns + "/serviceaccounts";
    e.requestObject = {{"kind", "ServiceAccount"},
                       {"apiVersion", "v1"},
                       {"metadata", {{"name", name}, {"namespace", ns}}}};
    e.responseObject = e.requestObject;
    return feed(d, e.str());
  };
  Detector d(DetectorOptions{});
  auto fs = create(d, "c-1", "mallory@example.com", "kube-system", "kube-proxy-updater");
  REQUIRE(rules(fs) == std::vector<std::string>{"system-serviceaccount-created"});
  CHECK(fs[0].severity == Severity::kHigh);
  CHECK(fs[0].technique == "T1136");
  CHECK(fs[0].kind == "ServiceAccount");
  // The controllers creating their accounts, and anyone in an application namespace: not
  // reported.
  CHECK(
      create(d, "c-2", "system:kube-controller-manager", "kube-system", "job-controller").empty());
  CHECK(create(d, "c-3", "dev@example.com", "shop", "web").empty());
  DetectorOptions o;
  o.trustedIdentities["system-serviceaccount-created"] = {"platform-admin@example.com"};
  Detector trusting(o);
  CHECK(create(trusting, "c-4", "platform-admin@example.com", "kube-system", "metrics").empty());
}

}  // namespace
}  // namespace kc::audit
