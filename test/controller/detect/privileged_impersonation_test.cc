// Tests of the privileged-impersonation rule.
#include <catch2/catch.hpp>

#include "controller/detect/detections.h"
#include "test/controller/detect/detect_test_util.h"

namespace kc::audit {
namespace {

using namespace detect_test;

TEST_CASE("ImpersonationOfPrivilegedIdentities", "[detections]") {
  Detector d(DetectorOptions{});
  Ev imp;
  imp.auditID = "a-imp";
  imp.verb = "get";
  imp.code = 200;
  imp.uri = "/api/v1/namespaces/kube-system/secrets/bootstrap-token-abcdef";
  imp.user = "bob@example.com";
  imp.resource = "secrets";
  imp.ns = "kube-system";
  imp.impersonated = {{"username", "ops-break-glass"}, {"groups", {"system:masters"}}};
  auto fs = feed(d, imp.str());
  REQUIRE(fs.size() == 1);
  CHECK(fs[0].rule == "privileged-impersonation");
  CHECK(fs[0].severity == Severity::kHigh);
  CHECK(fs[0].impersonatedUser == "ops-break-glass");
  imp.auditID = "a-imp2";
  imp.impersonated = {{"username", "jane@example.com"}, {"groups", {"developers"}}};
  CHECK(feed(d, imp.str()).empty());
}

// Impersonating a node is high when allowed and medium when denied; an identity named in
// privilegedIdentities is a privileged target; impersonating an ordinary user (what an
// authenticating proxy does) is not reported; the proxy's own identity can be trusted.
TEST_CASE("PrivilegedImpersonationLookAlikesAndTrustedIdentities", "[detections]") {
  auto request = [](Detector& d, const std::string& id, const std::string& user, json target,
                    int code = 200) {
    Ev e;
    e.auditID = id;
    e.verb = "get";
    e.code = code;
    e.level = "Metadata";
    e.uri = "/api/v1/namespaces/kube-system/secrets/bootstrap-token-abcdef";
    e.user = user;
    e.resource = "secrets";
    e.ns = "kube-system";
    e.name = "bootstrap-token-abcdef";
    e.impersonated = std::move(target);
    if (code >= 400) e.annotations = {{"authorization.k8s.io/decision", "forbid"}};
    return feed(d, e.str());
  };
  const json node = {{"username", "system:node:worker-3"}, {"groups", {"system:nodes"}}};
  DetectorOptions o;
  o.privilegedIdentities = {"platform-root"};
  o.trustedIdentities["privileged-impersonation"] = {"system:serviceaccount:auth:oidc-proxy"};
  Detector d(o);
  auto fs = request(d, "i-1", "bob@example.com", node);
  REQUIRE(rules(fs) == std::vector<std::string>{"privileged-impersonation"});
  CHECK(fs[0].severity == Severity::kHigh);
  CHECK(fs[0].technique == "T1078");
  CHECK(fs[0].impersonatedUser == "system:node:worker-3");
  CHECK(fs[0].summary.find(
            "bob@example.com impersonated node identity system:node:worker-3: get ") == 0);
  fs = request(d, "i-2", "bob@example.com", node, 403);
  REQUIRE(rules(fs) == std::vector<std::string>{"privileged-impersonation"});
  CHECK(fs[0].severity == Severity::kMedium);
  CHECK(fs[0].details.at("outcome") == "denied");
  fs = request(d, "i-3", "bob@example.com", {{"username", "platform-root"}});
  REQUIRE(rules(fs) == std::vector<std::string>{"privileged-impersonation"});
  CHECK(fs[0].severity == Severity::kHigh);

  CHECK(request(
            d, "i-4", "system:serviceaccount:auth:oidc-proxy",
            {{"username", "jane@example.com"}, {"groups", {"developers", "system:authenticated"}}})
            .empty());
  CHECK(request(d, "i-5", "bob@example.com",
                {{"username", "platform-rooted"}, {"groups", {"developers"}}})
            .empty());
  // The trusted proxy impersonating an administrator is not reported; bob doing so is.
  CHECK(request(d, "i-6", "system:serviceaccount:auth:oidc-proxy",
                {{"username", "kubernetes-admin"}, {"groups", {"system:masters"}}})
            .empty());
  CHECK(rules(request(d, "i-7", "bob@example.com",
                      {{"username", "kubernetes-admin"}, {"groups", {"system:masters"}}})) ==
        std::vector<std::string>{"privileged-impersonation"});
}

}  // namespace
}  // namespace kc::audit
