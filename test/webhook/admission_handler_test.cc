#include "webhook/admission_handler.h"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "test/test_util.h"
#include "policies/loader.h"
#include "webhook/admission_review.h"
#include "webhook/policy_store.h"

namespace {

struct Fixture {
  std::shared_ptr<prometheus::Registry> registry = std::make_shared<prometheus::Registry>();
  kc::metrics::ServerMetrics serverMetrics{*registry};
  kc::webhook::WebhookMetrics metrics{*registry};
  kc::webhook::AdmissionHandler handler{[] { return kc::policy::PolicySet::empty(); }, metrics,
                                        serverMetrics};

  kc::http::Response call(const std::string& body) {
    kc::http::Request req;
    req.method = "POST";
    req.path = "/validate";
    req.body = body;
    kc::http::Response res;
    handler.handle(req, res);
    return res;
  }
};

TEST_CASE("EmptyPolicySetAdmitsARealPodAndEchoesUid", "[handler]") {
  Fixture f;
  const auto res = f.call(kc::testing::readFile(std::string(KC_SOURCE_DIR) +
                                                "/test/testdata/pod_admission_review.json"));
  REQUIRE(res.status == 200);
  const auto j = nlohmann::json::parse(res.body);
  CHECK(j["response"]["uid"] == "705ab4f5-6393-11e8-b7cc-42010a800002");
  CHECK(j["response"]["allowed"] == true);
  CHECK(f.metrics.count(kc::webhook::Outcome::kAllowed) == 1);
  CHECK(f.metrics.durationCount() == 1);
}

TEST_CASE("BadReviewGets400AndIsCountedByReason", "[handler]") {
  Fixture f;
  auto res = f.call("{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\"}");
  CHECK(res.status == 400);
  CHECK(nlohmann::json::parse(res.body)["error"] == "AdmissionReview has no request");
  res = f.call("{{{");
  CHECK(res.status == 400);
  CHECK(f.serverMetrics.badRequestCount("missing_request") == 1);
  CHECK(f.serverMetrics.badRequestCount("invalid_json") == 1);
  CHECK(f.metrics.count(kc::webhook::Outcome::kAllowed) == 0);
}

// A dense 9 MB body is refused with 413 before it is parsed, and the handler goes on judging
// reviews, large (parsed in a parser of its own) and small.
TEST_CASE("ADenseLargeBodyGets413AndTheNextReviewsAreJudged", "[handler]") {
  Fixture f;
  std::string dense = R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","x":[0)";
  for (std::size_t i = 0; i < kc::webhook::AdmissionDecoder::kMaxLargeBodySeparators; ++i)
    dense += ",0";
  dense += "]}";
  auto res = f.call(dense);
  CHECK(res.status == 413);
  CHECK(f.serverMetrics.badRequestCount("too_many_values") == 1);
  const std::string review = kc::testing::readFile(std::string(KC_SOURCE_DIR) +
                                                   "/test/testdata/pod_admission_review.json");
  auto j = nlohmann::json::parse(review);
  j["request"]["object"]["metadata"]["annotations"]["pad"] = std::string(3u << 20, '[');
  res = f.call(j.dump());
  REQUIRE(res.status == 200);
  CHECK(nlohmann::json::parse(res.body)["response"]["uid"] == j["request"]["uid"]);
  res = f.call(review);
  CHECK(res.status == 200);
  CHECK(f.metrics.count(kc::webhook::Outcome::kAllowed) == 2);
}

// A handler with a policy set; call() posts a review and gives its response.
struct PolicyFixture {
  explicit PolicyFixture(std::shared_ptr<const kc::policy::PolicySet> set)
      : policies(std::move(set)) {}
  std::shared_ptr<const kc::policy::PolicySet> policies;
  std::shared_ptr<prometheus::Registry> registry = std::make_shared<prometheus::Registry>();
  kc::metrics::ServerMetrics serverMetrics{*registry};
  kc::webhook::WebhookMetrics metrics{*registry};
  kc::webhook::AdmissionHandler handler{[this] { return policies; }, metrics, serverMetrics};

  nlohmann::json call(const nlohmann::json& review) {
    kc::http::Request req;
    req.method = "POST";
    req.path = "/validate";
    const std::string body = review.dump();
    req.body = body;
    kc::http::Response res;
    handler.handle(req, res);
    REQUIRE(res.status == 200);
    return nlohmann::json::parse(res.body)["response"];
  }
};

// A Service review as the API server sends it (kubectl expose ... --external-ip), judged by the
// built-in policies: the externalIPs policy denies it with a message that says what to do.
TEST_CASE("TheBuiltInPoliciesDenyAServiceWithExternalIPs", "[handler][services]") {
  const kc::policy::LoadResult loaded =
      kc::policy::loadPolicies(kc::webhook::embeddedDefaultPolicies());
  REQUIRE(loaded.ok());
  PolicyFixture f(loaded.policies);
  auto call = [&](const nlohmann::json& review) { return f.call(review); };
  auto& metrics = f.metrics;
  nlohmann::json service = nlohmann::json::parse(R"({
    "apiVersion": "v1", "kind": "Service",
    "metadata": {"name": "capture", "namespace": "shop", "labels": {"app": "mitm"}},
    "spec": {"ports": [{"port": 443, "protocol": "TCP", "targetPort": 8443}],
             "selector": {"app": "mitm"}, "type": "ClusterIP",
             "externalIPs": ["8.8.8.8"]}})");
  nlohmann::json review = nlohmann::json::parse(R"({
    "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
    "request": {"uid": "0f3c1a8e-6b1d-4c55-9e7a-2d2f1c9b7e11",
      "kind": {"group": "", "version": "v1", "kind": "Service"},
      "resource": {"group": "", "version": "v1", "resource": "services"},
      "requestKind": {"group": "", "version": "v1", "kind": "Service"},
      "requestResource": {"group": "", "version": "v1", "resource": "services"},
      "name": "capture", "namespace": "shop", "operation": "CREATE",
      "userInfo": {"username": "dev@example.com", "groups": ["devs", "system:authenticated"]},
      "options": {"apiVersion": "meta.k8s.io/v1", "kind": "CreateOptions"},
      "dryRun": false}})");
  review["request"]["object"] = service;
  auto r = call(review);
  CHECK(r["uid"] == "0f3c1a8e-6b1d-4c55-9e7a-2d2f1c9b7e11");
  CHECK(r["allowed"] == false);
  CHECK(r["status"]["code"] == 403);
  CHECK(r["status"]["message"].get<std::string>().find(
            "[service-external-ips] external IP \"8.8.8.8\" is not allowed") == 0);
  CHECK(metrics.count(kc::webhook::Outcome::kDenied) == 1);

  // Without externalIPs it passes, NodePort included (not refused by default).
  service["spec"].erase("externalIPs");
  service["spec"]["type"] = "NodePort";
  review["request"]["object"] = service;
  CHECK(call(review)["allowed"] == true);

  // An update that adds them is refused; a relabelling of a Service that had them is not.
  nlohmann::json old = service;
  review["request"]["operation"] = "UPDATE";
  review["request"]["oldObject"] = old;
  service["spec"]["externalIPs"] = {"203.0.113.10"};
  review["request"]["object"] = service;
  CHECK(call(review)["allowed"] == false);
  review["request"]["oldObject"] = service;
  service["metadata"]["labels"]["tier"] = "edge";
  review["request"]["object"] = service;
  CHECK(call(review)["allowed"] == true);

  // kube-system is exempt.
  review["request"]["operation"] = "CREATE";
  review["request"].erase("oldObject");
  review["request"]["namespace"] = "kube-system";
  service["metadata"]["namespace"] = "kube-system";
  review["request"]["object"] = service;
  CHECK(call(review)["allowed"] == true);
}

// kubectl exec as the API server asks about it (CONNECT on pods/exec), judged by a policy that
// lets only the on-call group open sessions.
TEST_CASE("AnExecByAnIdentityNotAllowedIsRefused", "[handler][podConnect]") {
  const kc::policy::LoadResult loaded = kc::policy::loadPolicies({{"exec.yaml", R"(
apiVersion: policy.kube-customs.io/v1alpha1
kind: DeploymentPolicy
metadata: {name: sessions}
spec:
  podConnect: {allowedGroups: [oncall]}
)"}});
  REQUIRE(loaded.ok());
  PolicyFixture f(loaded.policies);
  auto call = [&](const nlohmann::json& review) { return f.call(review); };
  auto& metrics = f.metrics;
  nlohmann::json review = nlohmann::json::parse(R"({
    "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
    "request": {"uid": "8c2f7a1e-3b4d-4e5f-9a6b-7c8d9e0f1a2b",
      "kind": {"group": "", "version": "v1", "kind": "PodExecOptions"},
      "resource": {"group": "", "version": "v1", "resource": "pods"},
      "subResource": "exec",
      "requestKind": {"group": "", "version": "v1", "kind": "PodExecOptions"},
      "requestResource": {"group": "", "version": "v1", "resource": "pods"},
      "requestSubResource": "exec",
      "name": "checkout-7d9f8c6b5-x2k4q", "namespace": "shop", "operation": "CONNECT",
      "userInfo": {"username": "mallory@example.com", "groups": ["system:authenticated"]},
      "object": {"kind": "PodExecOptions", "apiVersion": "v1", "stdin": true, "stdout": true,
                 "tty": true, "container": "app",
                 "command": ["cat", "/var/run/secrets/kubernetes.io/serviceaccount/token"]},
      "oldObject": null, "dryRun": false, "options": null}})");
  auto r = call(review);
  CHECK(r["allowed"] == false);
  CHECK(r["status"]["code"] == 403);
  CHECK(r["status"]["message"] ==
        "[sessions] exec into pod \"shop/checkout-7d9f8c6b5-x2k4q\" (container \"app\", command "
        "\"cat /var/run/secrets/kubernetes.io/serviceaccount/token\") by \"mallory@example.com\" "
        "is not allowed; allowed: group \"oncall\"");
  review["request"]["userInfo"]["groups"] = {"oncall", "system:authenticated"};
  CHECK(call(review)["allowed"] == true);
  CHECK(metrics.count(kc::webhook::Outcome::kDenied) == 1);
  CHECK(metrics.count(kc::webhook::Outcome::kAllowed) == 1);
}

}  // namespace
