// AuditService: one runtime for serve and replay. Real state files in a temporary directory:
// a replay's reported sessions are carried to the next under the secret they were made with
// (also from a file of the old replay format), the followed log and the reported sessions share
// one secret across a restart, and findings become alerts with bounded labels.
#include "controller/audit_service.h"

#include <prometheus/registry.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include "controller/events/reported_requests.h"
#include "test/test_util.h"

namespace kc::audit {
namespace {

namespace fs = std::filesystem;

std::string execEvent(int i, std::string_view stage) {
  const std::string n = std::to_string(i);
  return R"({"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Request","auditID":"x-)" + n +
         R"(","stage":")" + std::string(stage) +
         R"(","requestURI":"/api/v1/namespaces/ci/pods/web-)" + n +
         R"(/exec?command=id&container=app","verb":"create","user":{"username":"dev@example.com"},"objectRef":{"resource":"pods","namespace":"ci","name":"web-)" +
         n +
         R"(","apiVersion":"v1","subresource":"exec"},"responseStatus":{"code":101},"requestReceivedTimestamp":"2026-11-30T10:00:01.000000Z","stageTimestamp":"2026-11-30T10:00:01.000200Z"})";
}

// One replay over `text` with the memory (and the reported sessions beside it) in `memory`.
struct Replay {
  std::vector<Finding> findings;
  DedupeSecret secret;
};
Replay replay(const kc::testing::TempDir& dir, const std::string& memory, const std::string& text) {
  Replay r;
  AuditServiceOptions o;
  o.strictState = true;
  o.state.memory = memory;
  o.onFinding = [&r](const Finding& f) { r.findings.push_back(f); };
  prometheus::Registry registry;
  AuditService service(std::move(o), registry);
  std::string error;
  REQUIRE(service.open(error));
  kc::testing::writeFile(dir.file("input.log"), text);
  std::FILE* in = std::fopen(dir.file("input.log").c_str(), "rb");
  REQUIRE(in != nullptr);
  const AuditService::ReplayResult result = service.replay(in, [] {});
  std::fclose(in);
  CHECK(result.ok);
  REQUIRE(service.saveAtEnd(false, error));
  r.secret = service.secret();
  return r;
}

TEST_CASE("ASessionReportedByOneReplayIsNotReportedAgainByTheNext", "[audit_service]") {
  kc::testing::TempDir dir;
  const std::string memory = dir.file("memory.jsonl");
  const Replay first = replay(dir, memory, execEvent(1, "ResponseStarted") + "\n");
  REQUIRE(first.findings.size() == 1);
  CHECK(first.findings[0].rule == "pod-exec");
  CHECK(fs::exists(dir.file("memory.requests.journal")));
  CHECK_FALSE(fs::exists(dir.file("memory.requests.json")));
  const Replay second = replay(dir, memory, execEvent(1, "ResponseComplete") + "\n");
  CHECK(second.secret == first.secret);
  CHECK(second.findings.empty());
  // Without the saved sessions, the end of the session is reported.
  fs::remove(dir.file("memory.requests.journal"));
  const Replay forgetful = replay(dir, memory, execEvent(1, "ResponseComplete") + "\n");
  CHECK(forgetful.findings.size() == 1);
}

TEST_CASE("SessionsSavedInTheOldReplayFormatAreCarriedAndMigrated", "[audit_service]") {
  kc::testing::TempDir dir;
  const std::string memory = dir.file("memory.jsonl");
  const Replay first = replay(dir, memory, execEvent(2, "ResponseStarted") + "\n");
  REQUIRE(first.findings.size() == 1);
  // The same sessions, as an earlier version of replay saved them.
  std::optional<DedupeSecret> secret;
  const std::vector<DedupeKey> keys =
      DedupeJournal(dir.file("memory.requests.journal"), DedupeSecret::processDefault())
          .load(nullptr, &secret);
  REQUIRE(secret);
  REQUIRE(keys.size() == 1);
  fs::remove(dir.file("memory.requests.journal"));
  kc::testing::writeFile(dir.file("memory.requests.json"), reportedRequestsText(*secret, keys));

  const Replay second = replay(dir, memory, execEvent(2, "ResponseComplete") + "\n");
  CHECK(second.secret == *secret);
  CHECK(second.findings.empty());
  CHECK_FALSE(fs::exists(dir.file("memory.requests.json")));
  std::optional<DedupeSecret> migrated;
  CHECK(DedupeJournal(dir.file("memory.requests.journal"), DedupeSecret::processDefault())
            .load(nullptr, &migrated) == keys);
  REQUIRE(migrated);
  CHECK(*migrated == *secret);
}

// `audit replay --update-baseline` saves under the lock `baseline accept` takes and keeps what
// was accepted in the file while it ran (it used to overwrite it).
TEST_CASE("ReplayKeepsAValueAcceptedInTheBaselineWhileItRan", "[audit_service]") {
  kc::testing::TempDir dir;
  const std::string baselineFile = dir.file("baseline.json");
  {
    Baseline learned;
    REQUIRE(learned.accept("shop", "Deployment", BaselineDimension::kCreator, "alice"));
    REQUIRE(learned.save(baselineFile));
  }
  AuditServiceOptions o;
  o.strictState = true;
  o.state.baseline = baselineFile;
  prometheus::Registry registry;
  AuditService service(std::move(o), registry);
  std::string error;
  REQUIRE(service.open(error));
  kc::testing::writeFile(dir.file("input.log"), execEvent(5, "ResponseStarted") + "\n");
  std::FILE* in = std::fopen(dir.file("input.log").c_str(), "rb");
  REQUIRE(in != nullptr);
  CHECK(service.replay(in, [] {}).ok);
  std::fclose(in);
  {
    // What `kube-customs baseline accept` does meanwhile.
    files::ExclusiveLock lock(baselineFile + ".lock");
    BaselineOptions fromFile;
    fromFile.learningFromFile = true;
    Baseline file(fromFile);
    REQUIRE(file.load(baselineFile));
    REQUIRE(file.accept("shop", "Deployment", BaselineDimension::kCreator, "bob"));
    REQUIRE(file.save(baselineFile));
  }
  REQUIRE(service.saveAtEnd(/*baseline=*/true, error));
  Baseline after;
  REQUIRE(after.load(baselineFile));
  const std::string shown = after.show().dump();
  CHECK(shown.find("alice") != std::string::npos);
  CHECK(shown.find("bob") != std::string::npos);
}

// Replay names the line of each rejection, from a regular file (memory map) and from a pipe
// (reader thread) alike: chunk after chunk, with an over-long line skipped before the parser and
// NUL bytes read as line ends.
TEST_CASE("ReplayNamesTheLineAndReasonOfEachRejection", "[audit_service]") {
  kc::testing::TempDir dir;
  std::string text;
  std::vector<std::pair<uint64_t, std::string>> want;
  uint64_t line = 0;
  auto add = [&](const std::string& l, const char* reason = nullptr) {
    text += l + "\n";
    ++line;
    if (reason != nullptr) want.emplace_back(line, reason);
  };
  add(execEvent(1, "ResponseStarted"));
  add("{\"torn\":", "invalid_json");
  // Enough events to span several 4 MiB reads of the stream reader and 32 MiB map windows.
  const std::string pad = execEvent(2, "ResponseComplete");
  for (int i = 0; i < 25'000; ++i) add(pad);
  add(R"({"pad":")" + std::string(13u << 20, 'y') + "\"}", "too_large");
  for (int i = 0; i < 25'000; ++i) add(pad);
  add("[1]", "not_an_event");
  add(std::string(3, '\0') + "{}");  // three line ends, then an event without fields
  line += 3;
  want.emplace_back(line, "missing_field");
  add(R"({"kind":"Event","apiVersion":"audit.k8s.io/v3"})", "unsupported_version");
  kc::testing::writeFile(dir.file("input.log"), text);

  for (const bool pipe : {false, true}) {
    INFO(pipe);
    AuditServiceOptions o;
    prometheus::Registry registry;
    AuditService service(std::move(o), registry);
    std::string error;
    REQUIRE(service.open(error));
    std::FILE* in = pipe ? popen(("cat " + dir.file("input.log")).c_str(), "r")
                         : std::fopen(dir.file("input.log").c_str(), "rb");
    REQUIRE(in != nullptr);
    std::vector<std::pair<uint64_t, std::string>> seen;
    const AuditService::ReplayResult r = service.replay(
        in, [] {},
        [&](uint64_t l, std::string_view reason) { seen.emplace_back(l, std::string(reason)); });
    if (pipe) {
      pclose(in);
    } else {
      std::fclose(in);
    }
    CHECK(r.ok);
    CHECK(seen == want);
    CHECK(service.pipeline().parseStats().rejectedTotal() + r.tooLong == want.size());
    CHECK(service.pipeline().events() == 2);
  }
}

TEST_CASE("ReplayRefusesAStateFileItCannotUse", "[audit_service]") {
  kc::testing::TempDir dir;
  kc::testing::writeFile(dir.file("memory.jsonl"), "{\"kind\":\"Baseline\"}\n");
  AuditServiceOptions o;
  o.strictState = true;
  o.state.memory = dir.file("memory.jsonl");
  prometheus::Registry registry;
  AuditService service(std::move(o), registry);
  std::string error;
  CHECK_FALSE(service.open(error));
  CHECK(error.find("not an object memory file") != std::string::npos);
}

// The audit role: the followed log's dedupe journal and the reported sessions share the
// service's secret, and a restart on the same state keeps it.
TEST_CASE("TheRoleKeepsOneSecretForTheLogAndTheSessionsAcrossARestart", "[audit_service]") {
  kc::testing::TempDir dir;
  const std::string log = dir.file("audit.log");
  kc::testing::writeFile(log, execEvent(3, "ResponseStarted") + "\n");
  auto options = [&](std::mutex& mu, std::vector<Finding>& out) {
    AuditServiceOptions o;
    o.state = StatePaths::under(dir.file("state"));
    o.logPath = log;
    o.pollInterval = std::chrono::milliseconds(20);
    o.stateSaveInterval = std::chrono::milliseconds(20);
    o.onFinding = [&](const Finding& f) {
      std::lock_guard lock(mu);
      out.push_back(f);
    };
    return o;
  };
  std::string error;
  REQUIRE(prepareStateDir(dir.file("state"), error));
  auto runUntil = [&](size_t findings, std::vector<Finding>& out, DedupeSecret& secret) {
    std::mutex mu;
    prometheus::Registry registry;
    AuditService service(options(mu, out), registry);
    REQUIRE(service.start(error));
    secret = service.secret();
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    for (;;) {
      {
        std::lock_guard lock(mu);
        if (out.size() >= findings || std::chrono::steady_clock::now() > deadline) break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    // Let the worker reach the end of the log before stopping.
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    service.stop(std::chrono::milliseconds(0));
  };
  std::vector<Finding> first;
  DedupeSecret firstSecret;
  runUntil(1, first, firstSecret);
  REQUIRE(first.size() == 1);
  const StatePaths paths = StatePaths::under(dir.file("state"));
  std::optional<DedupeSecret> logSecret, requestsSecret;
  DedupeJournal(paths.logJournal(), DedupeSecret::processDefault()).load(nullptr, &logSecret);
  const std::vector<DedupeKey> sessions =
      DedupeJournal(paths.reportedRequests(), DedupeSecret::processDefault())
          .load(nullptr, &requestsSecret);
  REQUIRE(logSecret);
  REQUIRE(requestsSecret);
  CHECK(*logSecret == firstSecret);
  CHECK(*requestsSecret == firstSecret);
  CHECK(sessions.size() == 1);
  CHECK(fs::exists(paths.baseline));
  CHECK(fs::exists(paths.memory));

  // After the restart, the end of the session is not reported again.
  {
    std::ofstream out(log, std::ios::app);
    out << execEvent(3, "ResponseComplete") << "\n" << execEvent(4, "ResponseStarted") << "\n";
  }
  std::vector<Finding> second;
  DedupeSecret secondSecret;
  runUntil(1, second, secondSecret);
  CHECK(secondSecret == firstSecret);
  REQUIRE(second.size() == 1);
  CHECK(second[0].auditID == "x-4");
}

TEST_CASE("AFindingsAlertHasBoundedLabelsAndItsDetailsAsAnnotations", "[audit_service]") {
  Finding f;
  f.rule = "pod-exec";
  f.severity = Severity::kHigh;
  f.namespace_ = "ci";
  f.name = "web-1";
  f.resource = "pods";
  f.user = "dev@example.com";
  f.command = "id";
  const auto now = std::chrono::system_clock::time_point(std::chrono::seconds(1'800'000'000));
  const Alert a = alertFor(f, now);
  CHECK(a.alertname == "KubeCustomsAuditFinding");
  CHECK(a.labels.size() == 3);
  CHECK(a.labels.at("rule") == "pod-exec");
  CHECK(a.labels.at("namespace") == "ci");
  CHECK(a.annotations.at("pod") == "web-1");
  CHECK(a.annotations.at("command") == "id");
  CHECK(a.annotations.count("images") == 0);
  CHECK(a.startsAt == now);
}

}  // namespace
}  // namespace kc::audit
