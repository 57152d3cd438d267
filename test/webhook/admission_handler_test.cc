#include "webhook/admission_handler.h"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "test/test_util.h"
#include "webhook/admission_review.h"

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

}  // namespace
