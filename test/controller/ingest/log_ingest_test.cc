// LogIngest: the log backend's ingest loop, killed with SIGKILL in the middle of a backlog and
// started again on the same state, must report every finding once: none lost, none repeated
// (but for the one event whose findings were being handed off at the kill). The backlog is
// longer than the deduper holds, so the journal must not grow past it between commits.
#include "controller/ingest/log_ingest.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "test/controller/series_value.h"

namespace kc::audit {
namespace {

namespace fs = std::filesystem;

struct TempDir {
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "kc-ingest-XXXXXX").string();
    path = ::mkdtemp(tmpl.data());
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  std::string operator/(const std::string& name) const { return path + "/" + name; }
  std::string path;
};

std::string listEvent(int i) {
  return R"({"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"l-)" +
         std::to_string(i) +
         R"(","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/ci/configmaps","verb":"list","user":{"username":"system:serviceaccount:ci:runner"},"objectRef":{"resource":"configmaps","namespace":"ci","apiVersion":"v1"},"responseStatus":{"code":200},"requestReceivedTimestamp":"2026-11-30T10:00:00.000000Z","stageTimestamp":"2026-11-30T10:00:00.000100Z"})";
}

// An exec into a pod of its own: one pod-exec finding each.
std::string execEvent(int i) {
  const std::string n = std::to_string(i);
  return R"({"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Request","auditID":"x-)" + n +
         R"(","stage":"ResponseStarted","requestURI":"/api/v1/namespaces/ci/pods/web-)" + n +
         R"(/exec?command=id&container=app","verb":"create","user":{"username":"dev@example.com"},"objectRef":{"resource":"pods","namespace":"ci","name":"web-)" +
         n +
         R"(","apiVersion":"v1","subresource":"exec"},"responseStatus":{"code":101},"requestReceivedTimestamp":"2026-11-30T10:00:01.000000Z","stageTimestamp":"2026-11-30T10:00:01.000200Z"})";
}

constexpr size_t kDedupeCapacity = 4096;
constexpr size_t kCommitEveryKeys = 1000;

// One ingest process: reads the log to its end through a detector, writing the auditID of
// every finding to `findings` (one write each, O_APPEND), slowly enough to be killed midway.
[[noreturn]] void ingestChild(const TempDir& dir, const std::string& findings,
                              size_t commitEveryKeys) {
  const int out = ::open(findings.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
  if (out < 0) _exit(3);
  Detector detector(DetectorOptions{});
  PipelineOptions po;
  po.dedupe.maxEntries = kDedupeCapacity;
  // The secret of the previous run's journal, as the audit service adopts it
  // (StateDir::adoptSecret): its keys only match under it.
  std::optional<DedupeSecret> secret;
  DedupeJournal(dir / "checkpoint.json.journal", DedupeSecret::processDefault())
      .load(nullptr, &secret);
  po.secret = secret.value_or(DedupeSecret::random());
  AuditPipeline pipeline(po, detector, nullptr, [&](const Finding& f) {
    ::usleep(100);  // a slow consumer of findings: the kill lands in the middle
    const std::string line = f.auditID + "\n";
    if (::write(out, line.data(), line.size()) != static_cast<ssize_t>(line.size())) _exit(4);
  });
  LogIngestOptions lo;
  lo.file.path = dir / "audit.log";
  lo.file.checkpointPath = dir / "checkpoint.json";
  lo.file.readChunkBytes = 16 * 1024;
  lo.commitEveryKeys = commitEveryKeys;
  lo.commitEveryBatches = commitEveryKeys;  // the keys decide
  LogIngest ingest(lo, pipeline, nullptr);
  ingest.start();
  while (ingest.poll() > 0) {
  }
  _exit(0);
}

std::vector<std::string> readLines(const std::string& path) {
  std::vector<std::string> lines;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

struct Outcome {
  std::vector<std::string> run1, run2;
  size_t journalKeysAtKill = 0;
};

Outcome killAndRestart(size_t commitEveryKeys, int execs) {
  TempDir dir;
  {
    std::ofstream log(dir / "audit.log");
    for (int i = 0; i < execs; ++i) {
      for (int j = 0; j < 4; ++j) log << listEvent(i * 4 + j) << "\n";
      log << execEvent(i) << "\n";
    }
  }
  Outcome o;
  const pid_t first = ::fork();
  REQUIRE(first >= 0);
  if (first == 0) ingestChild(dir, dir / "findings1", commitEveryKeys);
  // Kill it once it has reported a third of the findings.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (readLines(dir / "findings1").size() < static_cast<size_t>(execs / 3) &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ::kill(first, SIGKILL);
  int status = 0;
  ::waitpid(first, &status, 0);
  REQUIRE(WIFSIGNALED(status));  // killed in the middle, not finished
  size_t damaged = 0;
  o.journalKeysAtKill =
      DedupeJournal(dir / "checkpoint.json.journal", DedupeSecret::processDefault())
          .load(&damaged)
          .size();

  const pid_t second = ::fork();
  REQUIRE(second >= 0);
  if (second == 0) ingestChild(dir, dir / "findings2", commitEveryKeys);
  ::waitpid(second, &status, 0);
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);
  o.run1 = readLines(dir / "findings1");
  o.run2 = readLines(dir / "findings2");
  return o;
}

TEST_CASE("Kill9InABacklogLongerThanTheDeduperLosesAndRepeatsNoFinding", "[ingest]") {
  const int execs = 3000;  // 15,000 events: more than the deduper's 4,096
  const Outcome o = killAndRestart(kCommitEveryKeys, execs);
  INFO("run 1: " << o.run1.size() << " findings, run 2: " << o.run2.size());
  REQUIRE(!o.run1.empty());
  REQUIRE(o.run1.size() < static_cast<size_t>(execs));
  // The journal never holds much more than a commit's worth of keys (plus one batch).
  CHECK(o.journalKeysAtKill < 2 * kCommitEveryKeys);
  CHECK(o.journalKeysAtKill < kDedupeCapacity);

  std::map<std::string, int> seen;
  for (const auto& id : o.run1) ++seen[id];
  for (const auto& id : o.run2) ++seen[id];
  for (int i = 0; i < execs; ++i) {
    const std::string id = "x-" + std::to_string(i);
    INFO(id);
    CHECK(seen.count(id) == 1);  // none lost
  }
  CHECK(seen.size() == static_cast<size_t>(execs));  // nothing else
  // Repeated: at most the event whose finding was handed off when the kill came.
  for (const auto& [id, n] : seen) {
    if (n == 1) continue;
    INFO(id << " reported " << n << " times");
    CHECK(n == 2);
    CHECK(id == o.run1.back());
  }
}

TEST_CASE("LinesOverTheCapAreCountedAsDroppedByTheLogSource", "[ingest]") {
  TempDir dir;
  {
    std::ofstream log(dir / "audit.log");
    log << listEvent(1) << "\n" << std::string(10000, 'x') << "\n" << listEvent(2) << "\n";
  }
  prometheus::Registry registry;
  AuditMetrics metrics(registry);
  Detector detector(DetectorOptions{});
  AuditPipeline pipeline(PipelineOptions{}, detector, &metrics, nullptr);
  LogIngestOptions lo;
  lo.file.path = dir / "audit.log";
  lo.file.checkpointPath = dir / "checkpoint.json";
  lo.file.maxLineBytes = 4096;
  LogIngest ingest(lo, pipeline, &metrics);
  ingest.start();
  CHECK(ingest.poll() > 0);
  CHECK(pipeline.events() == 2);
  CHECK(metrics.droppedCount("log", "too_large") == 1);
  // Counted once, not again on the next poll.
  { std::ofstream(dir / "audit.log", std::ios::app) << listEvent(3) << "\n"; }
  ingest.poll();
  CHECK(pipeline.events() == 3);
  CHECK(metrics.droppedCount("log", "too_large") == 1);
  CHECK(ingest.commits() >= 2);
}

// One line of the log dated in the year 9999 (a forged or badly skewed event) must not hold the
// last-event gauge above the real events' times: the audit-silence alert watches it.
TEST_CASE("AnEventDatedInTheFutureDoesNotPinTheLastEventTime", "[ingest]") {
  TempDir dir;
  std::string future = listEvent(1);
  for (const char* field : {"requestReceivedTimestamp", "stageTimestamp"}) {
    const size_t at = future.find(std::string(field) + "\":\"");
    REQUIRE(at != std::string::npos);
    future.replace(at + std::string(field).size() + 3, 4, "9999");
  }
  REQUIRE(future.find("9999-11-30T10:00:00.000100Z") != std::string::npos);
  { std::ofstream(dir / "audit.log") << future << "\n"; }
  prometheus::Registry registry;
  AuditMetrics metrics(registry);
  Detector detector(DetectorOptions{});
  AuditPipeline pipeline(PipelineOptions{}, detector, &metrics, nullptr);
  LogIngestOptions lo;
  lo.file.path = dir / "audit.log";
  lo.file.checkpointPath = dir / "checkpoint.json";
  LogIngest ingest(lo, pipeline, &metrics);
  ingest.start();
  ingest.poll();
  REQUIRE(pipeline.events() == 1);
  const double now =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  const double last = kc::testing::seriesValue(
      registry, "kube_customs_audit_last_event_timestamp_seconds", {{"source", "log"}});
  CHECK(last > 0);
  CHECK(last <= now);
}

uint64_t committedOffset(const std::string& checkpoint) {
  const std::optional<Checkpoint> cp = loadCheckpoint(checkpoint);
  return cp ? cp->offset : 0;
}

// A stop (SIGTERM) in the middle of a backlog: the poll ends after its current read, commits
// where it stopped and says that more is waiting; the next polls read the rest, nothing twice.
TEST_CASE("APollStopsWhenAskedAndCommitsWhereItStopped", "[ingest]") {
  TempDir dir;
  {
    std::ofstream log(dir / "audit.log");
    for (int i = 0; i < 3000; ++i) log << listEvent(i) << "\n";
  }
  const uint64_t size = fs::file_size(dir / "audit.log");
  Detector detector(DetectorOptions{});
  AuditPipeline pipeline(PipelineOptions{}, detector, nullptr, nullptr);
  LogIngestOptions lo;
  lo.file.path = dir / "audit.log";
  lo.file.checkpointPath = dir / "checkpoint.json";
  lo.file.readChunkBytes = 16 * 1024;
  LogIngest ingest(lo, pipeline, nullptr);
  ingest.start();
  std::string error;
  ingest.poll(&error, [] { return true; });
  CHECK(error.empty());
  CHECK(ingest.backlog());
  CHECK(pipeline.events() > 0);
  CHECK(pipeline.events() < 40);  // one read of 16 KiB
  const uint64_t stoppedAt = committedOffset(dir / "checkpoint.json");
  CHECK(stoppedAt > 0);
  CHECK(stoppedAt <= 16 * 1024);
  int polls = 0;
  while (ingest.backlog() && ++polls < 100) ingest.poll();
  CHECK_FALSE(ingest.backlog());
  CHECK(pipeline.events() == 3000);
  CHECK(pipeline.duplicates() == 0);
  CHECK(committedOffset(dir / "checkpoint.json") == size);
}

// The follower's own counters (read errors above all: a log that cannot be read is silence
// the alerts must see) are exported.
TEST_CASE("TheFollowersCountersAreExported", "[ingest]") {
  TempDir dir;
  const std::string log = dir / "audit.log";
  fs::create_directory(log);  // the path briefly a directory (a FIFO is refused the same way)
  prometheus::Registry registry;
  AuditMetrics metrics(registry);
  Detector detector(DetectorOptions{});
  AuditPipeline pipeline(PipelineOptions{}, detector, &metrics, nullptr);
  LogIngestOptions lo;
  lo.file.path = log;
  lo.file.checkpointPath = dir / "checkpoint.json";
  LogIngest ingest(lo, pipeline, &metrics);
  ingest.start();
  ingest.poll();
  auto counter = [&](const std::string& name) {
    return kc::testing::seriesValue(registry, "kube_customs_audit_log_" + name + "_total", {});
  };
  CHECK(counter("read_errors") == static_cast<double>(ingest.fileStats().readErrors));
  CHECK(counter("read_errors") >= 1);
  CHECK(ingest.lastReadError() == "open " + log + ": not a regular file");
  fs::remove(log);
  { std::ofstream(log) << listEvent(1) << "\n" << std::string(3, '\0') << listEvent(2) << "\n"; }
  ingest.poll();
  CHECK(pipeline.events() == 2);
  CHECK(counter("bytes_read") == static_cast<double>(fs::file_size(log)));
  CHECK(counter("nul_bytes") == 3);
  fs::rename(log, dir / "audit-2026-11-30T10-00-00.000.log");
  { std::ofstream(log) << listEvent(3) << "\n"; }
  ingest.poll();
  CHECK(pipeline.events() == 3);
  CHECK(counter("rotations") == 1);
  CHECK(counter("truncations") == 0);
  CHECK(counter("checkpoint_resets") == 0);
  CHECK(counter("unterminated_lines") == 0);
  CHECK(counter("read_errors") == static_cast<double>(ingest.fileStats().readErrors));
}

}  // namespace
}  // namespace kc::audit