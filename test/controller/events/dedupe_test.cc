#include "controller/events/dedupe.h"

#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>

#include "controller/events/audit_event.h"

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

TEST_CASE("KeysDoNotCollideAcrossTheFieldBoundary") {
  CHECK_FALSE(dedupeKey("ab", "c") == dedupeKey("a", "bc"));
  CHECK(dedupeKey("ab", "c") == dedupeKey("ab", "c"));
  const RequestIdentity a{"id", "get", "/api/v1/pods", "alice", "t"};
  const RequestIdentity b{"id", "get", "/api/v1/pod", "salice", "t"};
  CHECK_FALSE(requestKey(a) == requestKey(b));
}

TEST_CASE("AReusedAuditIdDoesNotMakeANewRequestARepeat") {
  // The API server takes auditID from the client's Audit-ID header. A client that reuses the
  // ID of its earlier request (echoed back to it) must not get the new request dropped: the
  // verb, URI, user and receipt time tell them apart; a true repeat has them all equal.
  const RequestIdentity earlier{"4e0c9d6a-1111-4222-8333-444455556666", "list",
                                "/api/v1/namespaces/shop/pods", "mallory",
                                "2026-11-30T10:00:00.000001Z"};
  RequestIdentity spoof = earlier;
  spoof.verb = "create";
  spoof.requestURI = "/api/v1/namespaces/shop/pods";
  spoof.requestReceivedTimestamp = "2026-11-30T10:05:00.000002Z";
  const std::string_view stage = "ResponseComplete";
  Deduper d;
  CHECK(d.firstSeen(eventKey(earlier, stage, "2026-11-30T10:00:00.010000Z"), 0));
  CHECK(d.firstSeen(eventKey(spoof, stage, "2026-11-30T10:05:00.020000Z"), 1));
  // The same request sent again at another time, same verb and URI: still not a repeat.
  RequestIdentity again = earlier;
  again.requestReceivedTimestamp = "2026-11-30T10:06:00.000003Z";
  CHECK(d.firstSeen(eventKey(again, stage, "2026-11-30T10:06:00.010000Z"), 2));
  // A retried delivery of the spoofing event is one.
  CHECK_FALSE(d.firstSeen(eventKey(spoof, stage, "2026-11-30T10:05:00.020000Z"), 3));
  // Both stages of one request share the request key, not the event key.
  CHECK(requestKey(spoof) == requestKey(RequestIdentity(spoof)));
  CHECK_FALSE(eventKey(spoof, "ResponseStarted", "x") == eventKey(spoof, "ResponseComplete", "x"));
  CHECK_FALSE(requestKey(spoof) == requestKey(earlier));
}

TEST_CASE("KeysDependOnTheSecret") {
  const DedupeSecret saved = DedupeSecret::processDefault();
  const RequestIdentity r{"id", "get", "/api/v1/pods", "alice", "t"};
  const DedupeKey underSaved = requestKey(r);
  const DedupeSecret other{saved.k0 ^ 1, saved.k1};
  CHECK_FALSE(requestKey(other, r) == underSaved);
  CHECK(requestKey(other, r) == requestKey(other, r));
  CHECK(requestKey(r) == underSaved);
  CHECK(requestKey(saved, r) == underSaved);
  // Two processes draw different secrets.
  CHECK_FALSE(DedupeSecret::random() == DedupeSecret::random());
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
    DedupeJournal j(path, DedupeSecret::processDefault());
    CHECK(j.load().empty());
    REQUIRE(j.append({dedupeKey("a", "ResponseComplete"), dedupeKey("b", "ResponseComplete")}));
    REQUIRE(j.append({dedupeKey("c", "ResponseStarted")}));
  }
  DedupeJournal j(path, DedupeSecret::processDefault());
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
    DedupeJournal j(path, DedupeSecret::processDefault());
    REQUIRE(j.append({dedupeKey("a", "s"), dedupeKey("b", "s")}));
  }
  {
    std::ofstream out(path, std::ios::binary | std::ios::app);
    out.write("\x01\x02\x03\x04\x05", 5);  // a record torn by a power loss
  }
  size_t damaged = 0;
  DedupeJournal j(path, DedupeSecret::processDefault());
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
    DedupeJournal j(path, DedupeSecret::processDefault());
    REQUIRE(j.append({dedupeKey("a", "s"), dedupeKey("b", "s"), dedupeKey("c", "s")}));
  }
  {
    // Flip a byte of the first key record (after the secret's): writing a fixed value would
    // change nothing when the keyed hash (random secret) already has it there, 1 time in 256.
    std::fstream f(path, std::ios::binary | std::ios::in | std::ios::out);
    f.seekg(24 + 3);
    const int byte = f.get();
    REQUIRE(byte != std::char_traits<char>::eof());
    f.seekp(24 + 3);
    f.put(static_cast<char>(~byte));
    REQUIRE(f.good());
  }
  size_t damaged = 0;
  auto keys = DedupeJournal(path, DedupeSecret::processDefault()).load(&damaged);
  CHECK(damaged == 1);
  REQUIRE(keys.size() == 2);
  CHECK(keys[1] == dedupeKey("c", "s"));
}

TEST_CASE("AJournalFarLargerThanAnyThisProcessWritesIsLeftOutWhole") {
  std::string path = tempPath("journal-huge");
  {
    DedupeJournal j(path, DedupeSecret::processDefault());
    REQUIRE(j.append({dedupeKey("a", "s")}));
  }
  // Grown to 80 MiB (holes): past the read cap, so not loaded, and counted as damaged.
  REQUIRE(::truncate(path.c_str(), off_t{80} << 20) == 0);
  size_t damaged = 0;
  std::optional<DedupeSecret> secret;
  CHECK(DedupeJournal(path, DedupeSecret::processDefault()).load(&damaged, &secret).empty());
  CHECK(damaged == 1);
  CHECK_FALSE(secret.has_value());
  std::filesystem::remove(path);
}

TEST_CASE("JournalKeepsTheSecretItsKeysWereMadeWith") {
  const std::string path = tempPath("journal-secret");
  const DedupeSecret first{0x1111, 0x2222};
  const DedupeKey a = dedupeKey(first, "a", "ResponseComplete");
  {
    DedupeJournal j(path, first);
    REQUIRE(j.append({a}));
  }
  // A new process draws another secret; the journal gives the old one back with its keys.
  const DedupeSecret second{0x3333, 0x4444};
  std::optional<DedupeSecret> secret;
  size_t stale = 9;
  auto keys = DedupeJournal(path, second).load(nullptr, &secret, &stale);
  REQUIRE(secret);
  CHECK(*secret == first);
  CHECK(stale == 0);
  REQUIRE(keys.size() == 1);
  CHECK_FALSE(keys[0] == dedupeKey(second, "a", "ResponseComplete"));  // not under the new one
  CHECK(keys[0] == dedupeKey(*secret, "a", "ResponseComplete"));
  // Rewritten and reset, the journal keeps the secret.
  DedupeJournal j(path, *secret);
  REQUIRE(j.rewrite(keys));
  REQUIRE(j.append({dedupeKey(first, "b", "ResponseComplete")}));
  CHECK(j.load(nullptr, &secret).size() == 2);
  REQUIRE(j.reset());
  secret.reset();
  CHECK(j.load(nullptr, &secret).empty());
  REQUIRE(secret);
  CHECK(*secret == first);
}

TEST_CASE("JournalLeavesOutKeysOfTheOlderKeyFunction") {
  // Records of the earlier format ("KCJ1": unkeyed hashes of auditID and stage) cannot be
  // compared with today's keys: they are counted as stale, not loaded, not damaged.
  const std::string path = tempPath("journal-v1");
  {
    std::ofstream out(path, std::ios::binary);
    for (uint64_t i = 1; i <= 3; ++i) {
      const uint64_t hi = i * 0x0101010101010101ULL, lo = i;
      const uint32_t check =
          static_cast<uint32_t>((hi * 0x9e3779b97f4a7c15ULL) ^ (lo >> 7) ^ 0x5bd1e995u);
      const uint32_t magic = 0x4b434a31;
      out.write(reinterpret_cast<const char*>(&hi), 8);
      out.write(reinterpret_cast<const char*>(&lo), 8);
      out.write(reinterpret_cast<const char*>(&check), 4);
      out.write(reinterpret_cast<const char*>(&magic), 4);
    }
  }
  size_t damaged = 9, stale = 0;
  std::optional<DedupeSecret> secret;
  CHECK(
      DedupeJournal(path, DedupeSecret::processDefault()).load(&damaged, &secret, &stale).empty());
  CHECK(damaged == 0);
  CHECK(stale == 3);
  CHECK_FALSE(secret);
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
