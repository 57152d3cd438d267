// Tests of the anonymous-request-allowed rule.
#include <catch2/catch.hpp>

#include "controller/detect/detections.h"
#include "test/controller/detect/detect_test_util.h"

namespace kc::audit {
namespace {

using namespace detect_test;

TEST_CASE("AnonymousRequestsAllowed", "[detections]") {
  Detector d(DetectorOptions{});
  Ev anon;
  anon.auditID = "a-anon";
  anon.verb = "list";
  anon.code = 200;
  anon.uri = "/api/v1/secrets?limit=500";
  anon.user = "system:anonymous";
  anon.groups = {"system:unauthenticated"};
  anon.userAgent = "curl/8.5.0";
  anon.resource = "secrets";
  anon.level = "Metadata";
  auto fs = feed(d, anon.str());
  REQUIRE(fs.size() == 1);
  CHECK(fs[0].rule == "anonymous-request-allowed");
  CHECK(fs[0].technique == "T1078.001");
  anon.auditID = "a-anon-healthz";
  anon.uri = "/healthz";
  CHECK(feed(d, anon.str()).empty());
  anon.auditID = "a-anon-denied";
  anon.uri = "/api/v1/secrets";
  anon.code = 403;
  anon.annotations = {{"authorization.k8s.io/decision", "forbid"}};
  CHECK(feed(d, anon.str()).empty());
}

// An anonymous read of ConfigMaps allowed by RBAC is high, also when the audit policy records no
// authorization decision and only the success code tells; the public endpoints (version, OIDC
// discovery, readiness) are not reported, nor a named user's request. The rule's trusted
// identities key silences it, for every anonymous caller at once: it cannot tell them apart.
TEST_CASE("AnonymousRequestLookAlikesAndTrustedIdentities", "[detections]") {
  auto anon = [](Detector& d, const std::string& id, const std::string& uri,
                 bool decisionRecorded = true, const std::string& user = "system:anonymous") {
    Ev e;
    e.auditID = id;
    e.verb = "list";
    e.code = 200;
    e.level = "Metadata";
    e.uri = uri;
    e.user = user;
    e.groups = {"system:unauthenticated"};
    e.userAgent = "python-requests/2.31.0";
    e.resource = "configmaps";
    e.ns = "kube-system";
    if (decisionRecorded) {
      e.annotations = {{"authorization.k8s.io/decision", "allow"},
                       {"authorization.k8s.io/reason",
                        "RBAC: allowed by ClusterRoleBinding \"open\" of ClusterRole \"view\" to "
                        "Group \"system:unauthenticated\""}};
    } else {
      e.annotations = json::object();
    }
    return feed(d, e.str());
  };
  Detector d(DetectorOptions{});
  auto fs = anon(d, "an-1", "/api/v1/namespaces/kube-system/configmaps?limit=500");
  REQUIRE(rules(fs) == std::vector<std::string>{"anonymous-request-allowed"});
  CHECK(fs[0].severity == Severity::kHigh);
  CHECK(fs[0].technique == "T1078.001");
  CHECK(fs[0].summary ==
        "anonymous request allowed: list /api/v1/namespaces/kube-system/configmaps from 10.0.12.7");
  fs = anon(d, "an-2", "/api/v1/namespaces/kube-system/configmaps", false);
  REQUIRE(rules(fs) == std::vector<std::string>{"anonymous-request-allowed"});
  CHECK(fs[0].severity == Severity::kHigh);

  for (const char* uri : {"/version", "/.well-known/openid-configuration", "/openid/v1/jwks",
                          "/readyz?verbose", "/livez/ping"}) {
    INFO(uri);
    CHECK(anon(d, std::string("an-public-") + uri, uri).empty());
  }
  CHECK(anon(d, "an-user", "/api/v1/namespaces/kube-system/configmaps", true, "bob@example.com")
            .empty());

  DetectorOptions o;
  o.trustedIdentities["anonymous-request-allowed"] = {"system:anonymous"};
  Detector trusting(o);
  CHECK(anon(trusting, "t-1", "/api/v1/namespaces/kube-system/configmaps").empty());
}

}  // namespace
}  // namespace kc::audit
