#include "webhook/admission_review.h"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "common/json_writer.h"
#include "test/test_util.h"

namespace {

using kc::webhook::AdmissionDecoder;
using kc::webhook::AdmissionRequest;
using kc::webhook::DecodeError;

std::string fixture() {
  return kc::testing::readFile(std::string(KC_SOURCE_DIR) +
                               "/test/testdata/pod_admission_review.json");
}

TEST_CASE("DecodesEveryFieldOfARealPodAdmissionReview", "[admission]") {
  AdmissionDecoder d;
  AdmissionRequest r;
  const std::string body = fixture();
  const auto res = d.decode(body, r);
  REQUIRE(res.ok());
  CHECK(r.uid == "705ab4f5-6393-11e8-b7cc-42010a800002");
  CHECK(r.kind.group.empty());
  CHECK(r.kind.version == "v1");
  CHECK(r.kind.kind == "Pod");
  CHECK(r.resource.resource == "pods");
  CHECK(r.requestKind.kind == "Pod");
  CHECK(r.requestResource.resource == "pods");
  CHECK(r.subResource.empty());
  CHECK(r.name == "checkout-7d9f8c6b5-x2k4q");
  CHECK(r.namespace_ == "shop");
  CHECK(r.operation == "CREATE");
  CHECK(r.userInfo.username == "system:serviceaccount:kube-system:replicaset-controller");
  CHECK(r.userInfo.groups.size() == 3);
  CHECK(r.userInfo.groups[2] == "system:authenticated");
  CHECK_FALSE(r.dryRun);
  REQUIRE(r.object.is_object());
  std::string_view image;
  REQUIRE(r.object["spec"]["containers"].at(0)["image"].get_string().get(image) ==
          simdjson::SUCCESS);
  CHECK(image.rfind("registry.example.com/shop/checkout:2.14.3@sha256:", 0) == 0);
  CHECK(r.oldObject.is_null());
  CHECK(r.options.is_object());
}

TEST_CASE("DecodesSubresourceAndDryRun", "[admission]") {
  AdmissionDecoder d;
  AdmissionRequest r;
  const std::string body = R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview",
    "request":{"uid":"u1","kind":{"group":"","version":"v1","kind":"Pod"},
    "subResource":"ephemeralcontainers","operation":"UPDATE","dryRun":true,
    "object":{"kind":"Pod"},"oldObject":{"kind":"Pod"}}})";
  REQUIRE(d.decode(body, r).ok());
  CHECK(r.subResource == "ephemeralcontainers");
  CHECK(r.dryRun);
  CHECK(r.oldObject.is_object());
}

struct BadCase {
  const char* name;
  const char* body;
  DecodeError error;
};

TEST_CASE("RejectsBodiesThatAreNotAdmissionReviewV1", "[admission]") {
  const BadCase cases[] = {
      {"not json", "hello", DecodeError::kInvalidJson},
      {"truncated", R"({"apiVersion":"admission.k8s.io/v1")", DecodeError::kInvalidJson},
      {"invalid utf-8", "{\"a\":\"\xff\xfe\"}", DecodeError::kInvalidJson},
      {"array", "[1,2]", DecodeError::kNotAdmissionReview},
      {"wrong kind", R"({"apiVersion":"admission.k8s.io/v1","kind":"Pod"})",
       DecodeError::kNotAdmissionReview},
      {"v1beta1",
       R"({"apiVersion":"admission.k8s.io/v1beta1","kind":"AdmissionReview","request":{"uid":"x"}})",
       DecodeError::kNotAdmissionReview},
      {"apiVersion number", R"({"apiVersion":1,"kind":"AdmissionReview"})",
       DecodeError::kNotAdmissionReview},
      {"no request", R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"})",
       DecodeError::kMissingRequest},
      {"null request",
       R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":null})",
       DecodeError::kMissingRequest},
      {"request string",
       R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":"x"})",
       DecodeError::kInvalidField},
      {"no uid",
       R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"operation":"CREATE"}})",
       DecodeError::kMissingUid},
      {"uid number",
       R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":7}})",
       DecodeError::kInvalidField},
      {"object array",
       R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","operation":"CREATE","object":[]}})",
       DecodeError::kInvalidField},
      {"groups not list",
       R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","operation":"CREATE","userInfo":{"groups":"a"}}})",
       DecodeError::kInvalidField},
      {"dryRun string",
       R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","operation":"CREATE","dryRun":"yes"}})",
       DecodeError::kInvalidField},
      {"no operation",
       R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u"}})",
       DecodeError::kInvalidField},
  };
  AdmissionDecoder d;
  for (const auto& c : cases) {
    INFO(c.name);
    AdmissionRequest r;
    const auto res = d.decode(c.body, r);
    CHECK(res.error == c.error);
    CHECK_FALSE(res.message.empty());
  }
}

TEST_CASE("NamesTheRequestFieldWithTheWrongType", "[admission]") {
  // Every field the decoder reads, given a value of the wrong type, is reported by name.
  const std::pair<const char*, const char*> cases[] = {
      {R"("kind":"Pod")", "request.kind"},
      {R"("resource":1)", "request.resource"},
      {R"("subResource":[])", "request.subResource"},
      {R"("requestKind":{"kind":5})", "request.requestKind"},
      {R"("requestResource":"pods")", "request.requestResource"},
      {R"("requestSubResource":true)", "request.requestSubResource"},
      {R"("name":{})", "request.name"},
      {R"("namespace":2)", "request.namespace"},
      {R"("oldObject":"x")", "request.oldObject"},
      {R"("options":[1])", "request.options"},
      {R"("userInfo":{"username":3})", "request.userInfo"},
  };
  AdmissionDecoder d;
  for (const auto& [field, name] : cases) {
    INFO(field);
    const std::string body =
        std::string(
            R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","operation":"CREATE",)") +
        field + "}}";
    AdmissionRequest r;
    const auto res = d.decode(body, r);
    CHECK(res.error == DecodeError::kInvalidField);
    CHECK(res.message.find(name) != std::string::npos);
  }
}

TEST_CASE("NullFieldsAreAbsentAndARepeatedKeyCountsOnce", "[admission]") {
  AdmissionDecoder d;
  AdmissionRequest r;
  const auto res = d.decode(
      R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u",)"
      R"("operation":"CREATE","namespace":"first","namespace":"second","name":null,)"
      R"("oldObject":null,"dryRun":null,"userInfo":{"username":"alice","groups":["g1","g2"]}}})",
      r);
  REQUIRE(res.ok());
  CHECK(r.namespace_ == "first");
  CHECK(r.name.empty());
  CHECK(r.oldObject.is_null());
  CHECK_FALSE(r.dryRun);
  CHECK(r.userInfo.username == "alice");
  CHECK(r.userInfo.groups == std::vector<std::string_view>{"g1", "g2"});
}

TEST_CASE("RejectsNestingDeeperThanTheCap", "[admission]") {
  std::string deep =
      R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","operation":"CREATE","object":)";
  for (int i = 0; i < 5000; ++i) deep += "[";
  for (int i = 0; i < 5000; ++i) deep += "]";
  deep += "}}";
  AdmissionDecoder d;
  AdmissionRequest r;
  CHECK(d.decode(deep, r).error == DecodeError::kTooDeep);
}

TEST_CASE("CountsJsonSeparatorsOutsideStringsOnly", "[admission]") {
  using kc::webhook::countJsonSeparators;
  constexpr std::size_t kAll = ~std::size_t{0} - 1;
  CHECK(countJsonSeparators(R"({"a":[1,2,{"b":"x,y:[{"}]})", kAll) == 7);
  CHECK(countJsonSeparators(R"({"a\",[b":1})", kAll) == 2);    // escaped quote stays inside
  CHECK(countJsonSeparators(R"({"a\\":[1,{}]})", kAll) == 5);  // an even run ends the string
  CHECK(countJsonSeparators(R"({"a\\\":[":1})", kAll) == 2);   // an odd run does not
  CHECK(countJsonSeparators(R"({"unterminated,[,)", kAll) == 1);
  CHECK(countJsonSeparators("", kAll) == 0);
  CHECK(countJsonSeparators("[1,1,1,1,1]", 2) == 3);  // stops once past the bound
}

// A large body whose structure would make a DOM many times its size (a dense array here) is
// refused before it is parsed; a large body whose bulk is a string is parsed.
TEST_CASE("RefusesALargeBodyWithMoreValuesThanAnyStorableObject", "[admission]") {
  const std::string head =
      R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","operation":"CREATE","object":)";
  std::string dense = head + "{\"x\":[0";
  dense.reserve(head.size() + 2 * AdmissionDecoder::kMaxLargeBodySeparators + 16);
  for (std::size_t i = 0; i < AdmissionDecoder::kMaxLargeBodySeparators; ++i) dense += ",0";
  dense += "]}}}";
  AdmissionDecoder d;
  AdmissionRequest r;
  const auto res = d.decode(dense, r);
  CHECK(res.error == DecodeError::kTooManyValues);
  CHECK(res.message.find("JSON values") != std::string::npos);
  CHECK(kc::webhook::reasonOf(res.error) == "too_many_values");
  // A few separators fewer (the review's own count too): parsed.
  std::string fits = head + "{\"x\":[0";
  for (std::size_t i = 0; i + 16 < AdmissionDecoder::kMaxLargeBodySeparators; ++i) fits += ",0";
  fits += "]}}}";
  CHECK(d.decode(fits, r).error == DecodeError::kNone);
  // Commas inside a string do not count: 5 MiB of them in a label is a valid review.
  auto j = nlohmann::json::parse(fixture());
  j["request"]["object"]["metadata"]["labels"]["pad"] = std::string(5u << 20, ',');
  const std::string padded = j.dump();
  CHECK(d.decode(padded, r).ok());
  CHECK(r.uid == "705ab4f5-6393-11e8-b7cc-42010a800002");
}

TEST_CASE("EncodesAllowedResponseEchoingUid", "[admission]") {
  kc::webhook::AdmissionResponse out;
  out.uid = "abc";
  const auto j = nlohmann::json::parse(kc::webhook::encodeResponse(out));
  CHECK(j["apiVersion"] == "admission.k8s.io/v1");
  CHECK(j["kind"] == "AdmissionReview");
  CHECK(j["response"]["uid"] == "abc");
  CHECK(j["response"]["allowed"] == true);
  CHECK_FALSE(j["response"].contains("status"));
}

TEST_CASE("EncodesDenyWithStatusWarningsAndAnnotations", "[admission]") {
  std::vector<std::string> warnings = {"image uses \"latest\"", "line\nbreak"};
  std::map<std::string, std::string> annotations = {{"kube-customs.io/violations", "a,b"}};
  kc::webhook::AdmissionResponse out;
  out.uid = "u\"1";
  out.allowed = false;
  out.code = 403;
  out.reason = "Forbidden";
  out.message = "[images] container \"x\" uses \\ a tab\t";
  out.warnings = &warnings;
  out.auditAnnotations = &annotations;
  const auto j = nlohmann::json::parse(kc::webhook::encodeResponse(out));
  CHECK(j["response"]["uid"] == "u\"1");
  CHECK(j["response"]["allowed"] == false);
  CHECK(j["response"]["status"]["code"] == 403);
  CHECK(j["response"]["status"]["reason"] == "Forbidden");
  CHECK(j["response"]["status"]["message"] == "[images] container \"x\" uses \\ a tab\t");
  CHECK(j["response"]["warnings"] == nlohmann::json(warnings));
  CHECK(j["response"]["auditAnnotations"]["kube-customs.io/violations"] == "a,b");
}

TEST_CASE("EscapingAlwaysYieldsValidJsonEvenFromInvalidUtf8", "[admission]") {
  std::string out;
  kc::json::appendJsonString(
      out, std::string("a\x01\xff\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xed\xa0\x80", 15));
  const auto j = nlohmann::json::parse("[" + out + "]");
  CHECK(
      j[0] ==
      "a\x01\xef\xbf\xbd\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
}

}  // namespace
