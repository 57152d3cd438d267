#include "webhook/admission_handler.h"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "test/test_util.h"

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

}  // namespace
