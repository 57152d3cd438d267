// Tests of the webhook-config-changed rule: admission webhook configurations, admission policies
// and their bindings, compared with the last state seen.
#include <catch2/catch.hpp>

#include "controller/detect/detections.h"
#include "test/controller/detect/detect_test_util.h"

namespace kc::audit {
namespace {

using namespace detect_test;

TEST_CASE("WebhookConfigChangesAreComparedWithTheLastStateSeen", "[detections]") {
  DetectorOptions o;
  o.trustedIdentities["webhook-config-changed"] = {"system:serviceaccount:cert-manager:*"};
  Detector d(o);
  auto hook = [](std::string name, std::string policy, std::string ca) {
    return json{{"name", name},
                {"failurePolicy", policy},
                {"sideEffects", "None"},
                {"admissionReviewVersions", {"v1"}},
                {"clientConfig",
                 {{"service", {{"namespace", "kube-customs"}, {"name", "kube-customs"}}},
                  {"caBundle", ca}}},
                {"namespaceSelector",
                 {{"matchExpressions",
                   {{{"key", "kubernetes.io/metadata.name"},
                     {"operator", "NotIn"},
                     {"values", {"kube-customs"}}}}}}},
                {"rules",
                 {{{"apiGroups", {""}},
                   {"apiVersions", {"v1"}},
                   {"operations", {"CREATE", "UPDATE"}},
                   {"resources", {"pods"}}}}}};
  };
  auto config = [](json hooks, json labels = json::object()) {
    return json{{"kind", "ValidatingWebhookConfiguration"},
                {"apiVersion", "admissionregistration.k8s.io/v1"},
                {"metadata", {{"name", "kube-customs"}, {"labels", labels}}},
                {"webhooks", hooks}};
  };
  int n = 0;
  auto change = [&](std::string verb, json obj, std::string user = "mallory@example.com",
                    int code = 200) {
    Ev e;
    e.auditID = "vwc-" + std::to_string(++n);
    e.verb = verb;
    e.code = verb == "create" ? 201 : code;
    e.uri = "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/kube-customs";
    e.user = user;
    e.resource = "validatingwebhookconfigurations";
    e.apiGroup = "admissionregistration.k8s.io";
    e.name = "kube-customs";
    e.requestObject = obj;  // a delete has none: null leaves the bodies out
    e.responseObject = obj;
    return feed(d, e.str());
  };
  const json pods = hook("validate.kube-customs.io", "Fail", "Q0Ex");

  // Created: nothing to compare with.
  auto fs = change("create", config({pods}), "helm@example.com");
  REQUIRE(fs.size() == 1);
  CHECK(fs[0].severity == Severity::kHigh);
  CHECK(fs[0].details.count("changes") == 0);

  // A CA bundle rotation is routine: reported, at low severity, and said so.
  json rotated = pods;
  rotated["clientConfig"]["caBundle"] = "Q0Ey";
  fs = change("patch", config({rotated}));
  REQUIRE(fs.size() == 1);
  CHECK(fs[0].severity == Severity::kLow);
  CHECK(fs[0].details.at("changes") == "webhook validate.kube-customs.io: caBundle rotated");
  CHECK(fs[0].summary ==
        "mallory@example.com patched validatingwebhookconfigurations kube-customs: webhook "
        "validate.kube-customs.io: caBundle rotated");

  // So is a change of labels only.
  fs = change("update", config({rotated}, {{"team", "security"}}));
  REQUIRE(fs.size() == 1);
  CHECK(fs[0].severity == Severity::kLow);
  CHECK(fs[0].details.at("changes") == "metadata only");

  // Failing open and carving namespaces out is what an attacker does before walking in.
  json weak = rotated;
  weak["failurePolicy"] = "Ignore";
  weak["namespaceSelector"]["matchExpressions"][0]["values"] = {"kube-customs", "sandbox"};
  fs = change("update", config({weak}));
  REQUIRE(fs.size() == 1);
  CHECK(fs[0].severity == Severity::kHigh);
  CHECK(fs[0].details.at("changes") ==
        "webhook validate.kube-customs.io: failurePolicy Fail -> Ignore; webhook "
        "validate.kube-customs.io: namespaceSelector changed");
  CHECK(fs[0].details.at("failOpenWebhooks") == "validate.kube-customs.io");

  // A denied change changes nothing: the next one is compared with the last admitted state.
  json narrowed = weak;
  narrowed["rules"][0]["operations"] = {"CREATE"};
  fs = change("update", config({narrowed}), "mallory@example.com", 403);
  CHECK(fs.empty());  // only changes that happened are reported
  fs = change("update", config({weak}));
  REQUIRE(fs.size() == 1);
  CHECK(fs[0].severity == Severity::kLow);
  CHECK(fs[0].details.at("changes") == "metadata only");

  // A trusted identity's change is not reported, but it is the state the next one meets.
  fs = change("update", config({narrowed}), "system:serviceaccount:cert-manager:cainjector");
  CHECK(fs.empty());
  json moved = narrowed;
  moved["clientConfig"]["service"]["name"] = "elsewhere";
  fs = change("update", config({moved}));
  REQUIRE(fs.size() == 1);
  CHECK(fs[0].details.at("changes") ==
        "webhook validate.kube-customs.io: clientConfig endpoint changed");

  // Webhooks replaced: one removed, one added.
  fs = change("update", config({hook("other.example.com", "Fail", "Q0Ex")}));
  REQUIRE(fs.size() == 1);
  CHECK(fs[0].severity == Severity::kHigh);
  CHECK(fs[0].details.at("changes") ==
        "webhook validate.kube-customs.io removed; webhook other.example.com added");

  // Deleted, then created again: the old state is gone.
  fs = change("delete", nullptr);
  REQUIRE(fs.size() == 1);
  CHECK(fs[0].severity == Severity::kCritical);
  fs = change("update", config({pods}));
  REQUIRE(fs.size() == 1);
  CHECK(fs[0].severity == Severity::kHigh);
  CHECK(fs[0].details.count("changes") == 0);
}

TEST_CASE("AdmissionPolicyBindingActionsComparedWithTheLastStateSeen", "[detections]") {
  Detector d(DetectorOptions{});
  auto binding = [](json actions) {
    return json{{"kind", "ValidatingAdmissionPolicyBinding"},
                {"apiVersion", "admissionregistration.k8s.io/v1"},
                {"metadata", {{"name", "no-privileged"}}},
                {"spec", {{"policyName", "no-privileged"}, {"validationActions", actions}}}};
  };
  int n = 0;
  auto update = [&](json obj) {
    Ev e;
    e.auditID = "vapb-" + std::to_string(++n);
    e.verb = "update";
    e.code = 200;
    e.user = "mallory@example.com";
    e.resource = "validatingadmissionpolicybindings";
    e.apiGroup = "admissionregistration.k8s.io";
    e.name = "no-privileged";
    e.requestObject = obj;
    e.responseObject = obj;
    return feed(d, e.str());
  };
  auto fs = update(binding({"Deny"}));
  REQUIRE(fs.size() == 1);
  CHECK(fs[0].details.count("changes") == 0);
  fs = update(binding({"Audit", "Warn"}));
  REQUIRE(fs.size() == 1);
  CHECK(fs[0].severity == Severity::kHigh);
  CHECK(fs[0].details.at("changes") == "validationActions Deny -> Audit+Warn");
}

// A new mutating webhook (it can inject containers into every pod) is high; the look-alikes that
// change nothing (a denied delete, reading the configurations) are not reported; a trusted
// identity's changes are not.
TEST_CASE("MutatingWebhookCreatedLookAlikesAndTrustedIdentities", "[detections]") {
  const json injector = {{"kind", "MutatingWebhookConfiguration"},
                         {"apiVersion", "admissionregistration.k8s.io/v1"},
                         {"metadata", {{"name", "sidecar-injector"}, {"uid", "3b1e6f0a-mwc"}}},
                         {"webhooks",
                          {{{"name", "inject.sidecar.example.com"},
                            {"failurePolicy", "Ignore"},
                            {"sideEffects", "None"},
                            {"admissionReviewVersions", {"v1"}},
                            {"clientConfig", {{"url", "https://203.0.113.50:8443/inject"}}},
                            {"rules",
                             {{{"apiGroups", {""}},
                               {"apiVersions", {"v1"}},
                               {"operations", {"CREATE"}},
                               {"resources", {"pods"}}}}}}}}};
  auto write = [&](Detector& d, const std::string& id, const std::string& verb,
                   const std::string& user, int code) {
    Ev e;
    e.auditID = id;
    e.verb = verb;
    e.code = code;
    e.uri = "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations" +
            std::string(verb == "create" || verb == "list" ? "" : "/sidecar-injector");
    e.user = user;
    e.resource = "mutatingwebhookconfigurations";
    e.apiGroup = "admissionregistration.k8s.io";
    if (verb != "list") e.name = "sidecar-injector";
    if (verb == "create") {
      e.requestObject = injector;
      if (code < 300) e.responseObject = injector;
    }
    if (code >= 400) e.annotations = {{"authorization.k8s.io/decision", "forbid"}};
    return feed(d, e.str());
  };
  Detector d(DetectorOptions{});
  auto fs = write(d, "m-create", "create", "mallory@example.com", 201);
  REQUIRE(rules(fs) == std::vector<std::string>{"webhook-config-changed"});
  CHECK(fs[0].severity == Severity::kHigh);
  CHECK(fs[0].technique == "T1562.001");
  CHECK(fs[0].kind == "MutatingWebhookConfiguration");
  CHECK(fs[0].details.at("failOpenWebhooks") == "inject.sidecar.example.com");
  CHECK(fs[0].summary ==
        "mallory@example.com created mutatingwebhookconfigurations sidecar-injector");

  CHECK(write(d, "m-delete-denied", "delete", "mallory@example.com", 403).empty());
  CHECK(write(d, "m-list", "list", "mallory@example.com", 200).empty());
  CHECK(write(d, "m-get", "get", "mallory@example.com", 200).empty());

  DetectorOptions o;
  o.trustedIdentities["webhook-config-changed"] = {"system:serviceaccount:istio-system:*"};
  Detector trusting(o);
  CHECK(write(trusting, "t-create", "create", "system:serviceaccount:istio-system:istiod", 201)
            .empty());
  fs = write(trusting, "t-delete", "delete", "mallory@example.com", 200);
  REQUIRE(rules(fs) == std::vector<std::string>{"webhook-config-changed"});
  CHECK(fs[0].severity == Severity::kCritical);
}

}  // namespace
}  // namespace kc::audit
