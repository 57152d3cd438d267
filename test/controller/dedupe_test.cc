#include "controller/dedupe.h"

#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <string>

#include "controller/audit_event.h"

namespace kc::audit {
namespace {

constexpr int64_t kSec = 1'000'000;

std::string tempPath(const std::string& name) {
  auto dir = std::filesystem::temp_directory_path() / ("kc-dedupe-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  auto p = dir / name;
  std::filesystem::remove(p);
  return p.string();
}

TEST_CASE("SuppressesRepeatedAuditIdAndStage") {
  Deduper d;
  CHECK(d.firstSeen("id-1", "ResponseStarted", 0));
  CHECK(d.firstSeen("id-1", "ResponseComplete", 0));  // another stage of the same request
  CHECK(d.firstSeen("id-2", "ResponseComplete", 0));
  CHECK_FALSE(d.firstSeen("id-1", "ResponseComplete", 1));  // retried batch
  CHECK_FALSE(d.firstSeen("id-1", "ResponseStarted", 2));
  CHECK(d.duplicates() == 2);
  CHECK(d.size() == 3);
}

TEST_CASE("KeysAreStableAcrossReleases") {
  // Journals written by earlier releases hold these keys: FNV-1a 64 over auditID, 0xff and
  // stage, seeded twice, each through the murmur3 finalizer (values computed independently).
  const DedupeKey k = dedupeKey("5b1e7c1a-0000-4000-8000-000000000001", "ResponseComplete");
  CHECK(k.hi == 0x6dabe02a2381f615ULL);
  CHECK(k.lo == 0x4fe64271eb553b7bULL);
}

TEST_CASE("KeysDoNotCollideAcrossTheFieldBoundary") {
  CHECK_FALSE(dedupeKey("ab", "c") == dedupeKey("a", "bc"));
  CHECK(dedupeKey("ab", "c") == dedupeKey("ab", "c"));
}

TEST_CASE("ForgetsKeysOlderThanTheWindow") {
  Deduper d({.maxEntries = 100, .windowMicros = 60 * kSec});
  CHECK(d.firstSeen("a", "ResponseComplete", 0));
  CHECK_FALSE(d.firstSeen("a", "ResponseComplete", 60 * kSec));  // at the edge: still held
  CHECK(d.firstSeen("b", "ResponseComplete", 30 * kSec));
  CHECK(d.firstSeen("a", "ResponseComplete", 61 * kSec));  // expired, seen anew
  CHECK(d.size() == 2);
  CHECK(d.evictions() == 1);
}

TEST_CASE("MemoryStaysBoundedByMaxEntries") {
  Deduper d({.maxEntries = 1000, .windowMicros = 3600 * kSec});
  for (int i = 0; i < 100000; ++i) {
    REQUIRE(d.firstSeen("id-" + std::to_string(i), "ResponseComplete", i));
  }
  CHECK(d.size() == 1000);
  CHECK(d.evictions() == 99000);
  // The newest are remembered, the oldest were evicted.
  CHECK_FALSE(d.firstSeen("id-99999", "ResponseComplete", 100000));
  CHECK(d.firstSeen("id-0", "ResponseComplete", 100000));
}

TEST_CASE("JournalRoundTripsKeysAndResets") {
  std::string path = tempPath("journal-roundtrip");
  {
    DedupeJournal j(path);
    CHECK(j.load().empty());
    REQUIRE(j.append({dedupeKey("a", "ResponseComplete"), dedupeKey("b", "ResponseComplete")}));
    REQUIRE(j.append({dedupeKey("c", "ResponseStarted")}));
  }
  DedupeJournal j(path);
  auto keys = j.load();
  REQUIRE(keys.size() == 3);
  CHECK(keys[2] == dedupeKey("c", "ResponseStarted"));
  Deduper d;
  for (const auto& k : keys) d.firstSeen(k, 0);
  CHECK_FALSE(d.firstSeen("b", "ResponseComplete", 0));
  CHECK(d.firstSeen("d", "ResponseComplete", 0));
  REQUIRE(j.reset());
  CHECK(j.load().empty());
  REQUIRE(j.append({dedupeKey("e", "ResponseComplete")}));
  CHECK(j.load().size() == 1);
}

TEST_CASE("JournalIgnoresATornTailAndKeepsLaterRecordsAligned") {
  std::string path = tempPath("journal-torn");
  {
    DedupeJournal j(path);
    REQUIRE(j.append({dedupeKey("a", "s"), dedupeKey("b", "s")}));
  }
  {
    std::ofstream out(path, std::ios::binary | std::ios::app);
    out.write("\x01\x02\x03\x04\x05", 5);  // a record torn by a power loss
  }
  size_t damaged = 0;
  DedupeJournal j(path);
  CHECK(j.load(&damaged).size() == 2);
  CHECK(damaged == 1);
  REQUIRE(j.append({dedupeKey("c", "s")}));
  auto keys = j.load(&damaged);
  CHECK(damaged == 0);
  REQUIRE(keys.size() == 3);
  CHECK(keys[2] == dedupeKey("c", "s"));
}

TEST_CASE("JournalSkipsACorruptedRecord") {
  std::string path = tempPath("journal-corrupt");
  {
    DedupeJournal j(path);
    REQUIRE(j.append({dedupeKey("a", "s"), dedupeKey("b", "s"), dedupeKey("c", "s")}));
  }
  {
    std::fstream f(path, std::ios::binary | std::ios::in | std::ios::out);
    f.seekp(24 + 3);
    f.put('\x7f');
  }
  size_t damaged = 0;
  auto keys = DedupeJournal(path).load(&damaged);
  CHECK(damaged == 1);
  REQUIRE(keys.size() == 2);
  CHECK(keys[1] == dedupeKey("c", "s"));
}


TEST_CASE("ARetriedTenThousandEventBatchIsReportedOnce") {
  // The webhook backend POSTs EventLists and retries a whole batch on any non-2xx answer.
  std::string body =
      R"({"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{},"items":[)";
  for (int i = 0; i < 10000; ++i) {
    if (i > 0) body += ',';
    body +=
        R"({"level":"Metadata","auditID":"b-)" + std::to_string(i / 2) + R"(","stage":")" +
        (i % 2 ? "ResponseComplete" : "ResponseStarted") +
        R"(","requestURI":"/api/v1/namespaces/ci/pods?watch=true","verb":"watch","user":{"username":"system:serviceaccount:ci:runner"},"sourceIPs":["10.1.2.3"],"responseStatus":{"code":200},"requestReceivedTimestamp":"2024-05-01T10:00:00.000000Z","stageTimestamp":"2024-05-01T10:00:00.000000Z"})";
  }
  body += "]}";
  EventParser parser;
  Deduper deduper;
  uint64_t reported = 0;
  for (int delivery = 0; delivery < 3; ++delivery) {  // the first try and two retries
    auto stats = parser.parse(body, [&](const Event& e) {
      if (deduper.firstSeen(e.auditID, e.stage, e.timeMicros)) ++reported;
    });
    CHECK(stats.events == 10000);
    CHECK(stats.rejectedTotal() == 0);
  }
  CHECK(reported == 10000);  // 5000 requests x 2 stages, once each
  CHECK(deduper.duplicates() == 20000);
}

}  // namespace
}  // namespace kc::audit
