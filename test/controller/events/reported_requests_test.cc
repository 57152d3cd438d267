// The reported long-running requests' file: what is saved loads back, under its secret, and a
// damaged or hostile file never gives the detector keys it did not save.

#include "controller/events/reported_requests.h"

#include <catch2/catch.hpp>

#include "test/test_util.h"

namespace {

using kc::audit::DedupeKey;
using kc::audit::DedupeSecret;
using kc::audit::loadReportedRequests;
using kc::audit::parseReportedRequests;
using kc::audit::reportedRequestsText;

TEST_CASE("ReportedRequestsLoadBackWithTheirSecretOldestFirst", "[reported_requests]") {
  kc::testing::TempDir dir;
  const DedupeSecret secret{0x0123456789abcdefULL, 0xfedcba9876543210ULL};
  const std::vector<DedupeKey> keys = {
      {1, 2}, {0xffffffffffffffffULL, 0}, {0, 0}, {7, 0x8000000000000000ULL}};
  kc::testing::writeFile(dir.file("r.json"), reportedRequestsText(secret, keys));
  const auto r = loadReportedRequests(dir.file("r.json"), 100);
  REQUIRE(r.ok);
  CHECK(r.found);
  CHECK(r.secret == secret);
  CHECK(r.keys == keys);
  CHECK(r.damaged == 0);
  // Over the cap, the newest are kept.
  const auto capped = loadReportedRequests(dir.file("r.json"), 2);
  REQUIRE(capped.ok);
  CHECK(capped.keys == std::vector<DedupeKey>{keys[2], keys[3]});
}

TEST_CASE("AMissingReportedRequestsFileIsAnEmptyStart", "[reported_requests]") {
  kc::testing::TempDir dir;
  const auto r = loadReportedRequests(dir.file("absent.json"), 100);
  CHECK(r.ok);
  CHECK_FALSE(r.found);
  CHECK(r.keys.empty());
}

TEST_CASE("ADamagedReportedRequestsFileGivesNoKeys", "[reported_requests]") {
  const std::string good = reportedRequestsText({1, 2}, {{3, 4}});
  CHECK(parseReportedRequests(good, 10).ok);
  for (
      const std::string& bad :
      {std::string("not json"), good.substr(0, good.size() / 2), std::string("[]"),
       std::string(
           R"({"kind":"KubeCustomsObjectMemory","version":1,"secret":"00000000000000010000000000000002","keys":[]})"),
       std::string(
           R"({"kind":"KubeCustomsReportedRequests","version":2,"secret":"00000000000000010000000000000002","keys":[]})"),
       std::string(
           R"({"kind":"KubeCustomsReportedRequests","version":1,"secret":"0000000000000001000000000000000G","keys":[]})"),
       std::string(
           R"({"kind":"KubeCustomsReportedRequests","version":1,"secret":"0001","keys":[]})"),
       std::string(
           R"({"kind":"KubeCustomsReportedRequests","version":1,"secret":"00000000000000010000000000000002"})"),
       std::string(
           R"({"kind":"KubeCustomsReportedRequests","version":1,"secret":"00000000000000010000000000000002","keys":{}})")}) {
    INFO(bad);
    const auto r = parseReportedRequests(bad, 10);
    CHECK_FALSE(r.ok);
    CHECK(r.keys.empty());
    CHECK_FALSE(r.error.empty());
  }
  // A malformed key is skipped and counted; the others load.
  const auto r = parseReportedRequests(
      R"({"kind":"KubeCustomsReportedRequests","version":1,"secret":"00000000000000010000000000000002","keys":["0000000000000003000000000000000X",5,"00000000000000030000000000000004","AB000000000000030000000000000004"]})",
      10);
  REQUIRE(r.ok);
  CHECK(r.keys == std::vector<DedupeKey>{{3, 4}});
  CHECK(r.damaged == 3);
}

}  // namespace
