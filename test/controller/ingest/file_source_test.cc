#include "controller/ingest/file_source.h"

#include <fcntl.h>
#include <signal.h>
#include <simdjson.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "controller/events/audit_event.h"
#include "controller/events/dedupe.h"

namespace kc::audit {
namespace {

namespace fs = std::filesystem;

struct TempDir {
  fs::path path;
  explicit TempDir(const std::string& name) {
    path =
        fs::temp_directory_path() / ("kc-file-source-" + std::to_string(::getpid()) + "-" + name);
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  std::string operator/(const std::string& f) const { return (path / f).string(); }
};

void append(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::app);
  out << text;
}

std::string eventLine(const std::string& id) {
  return R"({"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":")" + id +
         R"(","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/default/pods","verb":"list","user":{"username":"system:kube-scheduler"},"sourceIPs":["10.0.0.1"],"responseStatus":{"code":200},"requestReceivedTimestamp":"2024-05-01T10:00:00.000000Z","stageTimestamp":"2024-05-01T10:00:00.001000Z"})"
         "\n";
}

static_assert(kReadPadding >= simdjson::SIMDJSON_PADDING);

// Reads everything available, committing after each batch, and returns the lines.
std::vector<std::string> drain(FileSource& src, bool commit = true) {
  std::vector<std::string> lines;
  src.readAvailable([&](const LineBatch& b) {
    // The text block holds exactly the batch's lines.
    std::string joined;
    for (auto l : b.lines) joined += std::string(l) + "\n";
    std::string text(b.text);
    text.erase(std::remove(text.begin(), text.end(), '\n'), text.end());
    std::string flat = joined;
    flat.erase(std::remove(flat.begin(), flat.end(), '\n'), flat.end());
    CHECK(text == flat);
    for (auto l : b.lines) lines.emplace_back(l);
    if (commit) REQUIRE(src.commit(b.end));
  });
  return lines;
}

TEST_CASE("DeliversCompleteLinesAndHoldsAPartialLastLine") {
  TempDir dir("partial");
  std::string log = dir / "audit.log";
  append(log, "one\ntwo\n\nthr");
  FileSource src({.path = log});
  REQUIRE(src.start());
  CHECK(drain(src) == std::vector<std::string>{"one", "two"});
  CHECK(drain(src).empty());
  append(log, "ee\nfour");
  CHECK(drain(src) == std::vector<std::string>{"three"});
  append(log, "\n");
  CHECK(drain(src) == std::vector<std::string>{"four"});
  CHECK(src.stats().linesDelivered == 4);
}

TEST_CASE("WaitsForALogFileThatDoesNotExistYet") {
  TempDir dir("missing");
  std::string log = dir / "audit.log";
  FileSource src({.path = log});
  REQUIRE(src.start());
  CHECK(drain(src).empty());
  append(log, "a\n");
  CHECK(drain(src) == std::vector<std::string>{"a"});
}

TEST_CASE("SkipsAnOverLongLineToItsNewlineAndCountsIt") {
  TempDir dir("long");
  std::string log = dir / "audit.log";
  // The long line arrives across several small reads and several polls.
  append(log, "before\n" + std::string(100, 'x'));
  FileSource src({.path = log, .maxLineBytes = 64, .readChunkBytes = 16});
  REQUIRE(src.start());
  CHECK(drain(src) == std::vector<std::string>{"before"});
  append(log, std::string(300, 'y'));
  CHECK(drain(src).empty());
  append(log, "zzz\nafter\n" + std::string(80, 'w') + "\nlast\n");
  CHECK(drain(src) == std::vector<std::string>{"after", "last"});
  CHECK(src.stats().linesTooLong == 2);
}

TEST_CASE("A100MegabyteLineInTheLogIsSkippedWithBoundedMemory") {
  TempDir dir("huge");
  std::string log = dir / "audit.log";
  {
    std::ofstream out(log, std::ios::binary);
    out << eventLine("before");
    std::string block(1 << 20, 'a');
    out << R"({"auditID":"huge","requestObject":")";
    for (int i = 0; i < 100; ++i) out << block;
    out << "\"}\n" << eventLine("after");
  }
  FileSource src({.path = log, .checkpointPath = dir / "checkpoint"});
  REQUIRE(src.start());
  EventParser parser;
  std::vector<std::string> ids;
  size_t maxText = 0;
  do {  // over several calls: one reads at most maxBytesPerPoll
    src.readAvailable([&](const LineBatch& b) {
      maxText = std::max(maxText, b.text.size());
      parser.parseLines(
          b.text, [&](const Event& e) { ids.emplace_back(e.auditID); }, true);
      REQUIRE(src.commit(b.end));
    });
  } while (src.backlog());
  CHECK(ids == std::vector<std::string>{"before", "after"});
  CHECK(src.stats().linesTooLong == 1);
  CHECK(maxText < (4u << 20));
  // The checkpoint is past the huge line: a restart does not read it again.
  FileSource again({.path = log, .checkpointPath = dir / "checkpoint"});
  REQUIRE(again.start());
  CHECK(drain(again).empty());
  CHECK(again.stats().linesTooLong == 0);
}

TEST_CASE("FinishesARenamedFileBeforeSwitchingToTheNewOne") {
  TempDir dir("rename");
  std::string log = dir / "audit.log";
  append(log, "a1\na2\n");
  FileSource src({.path = log, .checkpointPath = dir / "checkpoint"});
  REQUIRE(src.start());
  CHECK(drain(src) == std::vector<std::string>{"a1", "a2"});
  // The writer appends, then rotates like lumberjack: rename, new file.
  append(log, "a3\na4");
  fs::rename(log, dir / "audit-2024-05-01T10-00-00.000.log");
  append(log, "b1\n");
  CHECK(drain(src) == std::vector<std::string>{"a3", "a4", "b1"});
  CHECK(src.stats().rotations == 1);
  CHECK(src.stats().unterminatedLines == 1);
  append(log, "b2\n");
  CHECK(drain(src) == std::vector<std::string>{"b2"});
}

TEST_CASE("AReaderBehindSeveralRotationsReadsEveryRotatedFileInOrder") {
  TempDir dir("lagging");
  std::string log = dir / "audit.log";
  append(log, "a1\n");
  FileSource src({.path = log});
  REQUIRE(src.start());
  CHECK(drain(src) == std::vector<std::string>{"a1"});
  append(log, "a2\n");
  fs::rename(log, dir / "audit-2024-05-01T10-00-00.000.log");
  append(log, "b1\n");
  fs::rename(log, dir / "audit-2024-05-01T10-05-00.000.log");
  append(log, "c1\n");
  fs::rename(log, dir / "audit-2024-05-01T10-10-00.000.log");
  append(log, "d1\n");
  CHECK(drain(src) == std::vector<std::string>{"a2", "b1", "c1", "d1"});
  CHECK(src.stats().rotations == 3);
}

TEST_CASE("StateFilesNextToTheLogAreNotTakenForRotatedLogs") {
  // The consumer's state can live in the log's directory, under names sharing the log's stem.
  TempDir dir("state-next-to-log");
  std::string log = dir / "audit.log";
  append(log, "a1\n");
  FileSource src({.path = log, .checkpointPath = dir / "audit-checkpoint.json"});
  REQUIRE(src.start());
  CHECK(drain(src) == std::vector<std::string>{"a1"});
  append(log, "a2\n");
  fs::rename(log, dir / "audit-2024-05-01T10-00-00.000.log");
  // Written after the rename, so newer than the rotated log: the first candidates by time.
  append(dir / "audit-checkpoint.json.journal", "journal\n");
  append(dir / "audit-memory.jsonl", "memory\n");
  append(dir / "audit-checkpoint.json.tmp", "tmp\n");
  append(dir / "audit.log.1.gz", "gz\n");
  CHECK(drain(src) == std::vector<std::string>{"a2"});
  append(log, "b1\n");
  CHECK(drain(src) == std::vector<std::string>{"b1"});
  // logrotate's names are rotated logs.
  append(log, "b2\n");
  fs::rename(log, dir / "audit.log.1");
  append(dir / "audit.log.1", "b3\n");
  append(log, "c1\n");
  CHECK(drain(src) == std::vector<std::string>{"b2", "b3", "c1"});
}

TEST_CASE("WaitsWhenTheLogWasRenamedAndNotYetRecreated") {
  TempDir dir("rename-gap");
  std::string log = dir / "audit.log";
  append(log, "a1\n");
  FileSource src({.path = log});
  REQUIRE(src.start());
  CHECK(drain(src).size() == 1);
  append(log, "a2\n");
  fs::rename(log, dir / "audit-1.log");
  CHECK(drain(src) == std::vector<std::string>{"a2"});  // still reading the renamed file
  append(log, "b1\n");
  CHECK(drain(src) == std::vector<std::string>{"b1"});
}

TEST_CASE("DetectsCopytruncateAndRereadsFromTheStart") {
  TempDir dir("copytruncate");
  std::string log = dir / "audit.log";
  append(log, eventLine("old-1") + eventLine("old-2"));
  FileSource src({.path = log});
  REQUIRE(src.start());
  CHECK(drain(src).size() == 2);
  uint64_t inode = src.currentInode();

  SECTION("file shrank") {
    fs::resize_file(log, 0);
    append(log, "new-1\n");
    CHECK(drain(src) == std::vector<std::string>{"new-1"});
  }
  SECTION("file truncated and regrown past the old offset before the next poll") {
    fs::resize_file(log, 0);
    append(log, eventLine("new-1") + eventLine("new-2") + eventLine("new-3"));
    auto lines = drain(src);
    REQUIRE(lines.size() == 3);
    CHECK(lines[0].find("new-1") != std::string::npos);
  }
  CHECK(src.stats().truncations == 1);
  CHECK(src.currentInode() == inode);
}

TEST_CASE("RestartsFromTheCommittedCheckpoint") {
  TempDir dir("restart");
  std::string log = dir / "audit.log";
  std::string cp = dir / "checkpoint";
  append(log, "l1\nl2\nl3\n");
  {
    FileSource src({.path = log, .checkpointPath = cp});
    REQUIRE(src.start());
    CHECK(drain(src).size() == 3);
  }
  append(log, "l4\n");
  {
    FileSource src({.path = log, .checkpointPath = cp});
    REQUIRE(src.start());
    CHECK(drain(src) == std::vector<std::string>{"l4"});
    append(log, "l5\n");
    CHECK(drain(src, /*commit=*/false) == std::vector<std::string>{"l5"});
  }
  // l5 was delivered but not committed: it comes again (at-least-once).
  FileSource src({.path = log, .checkpointPath = cp});
  REQUIRE(src.start());
  CHECK(drain(src) == std::vector<std::string>{"l5"});
  CHECK(src.stats().checkpointResets == 0);
}

TEST_CASE("ARestartBeforeTheFirstCommitStillFindsTheRotatedFile") {
  TempDir dir("restart-uncommitted");
  std::string log = dir / "audit.log";
  std::string cp = dir / "checkpoint";
  append(log, "a1\n");
  {
    FileSource src({.path = log, .checkpointPath = cp});
    REQUIRE(src.start());
    CHECK(drain(src, /*commit=*/false) == std::vector<std::string>{"a1"});
  }  // killed before committing anything
  append(log, "a2\n");
  fs::rename(log, dir / "audit-2024-05-01T10-00-00.000.log");
  append(log, "b1\n");
  FileSource src({.path = log, .checkpointPath = cp});
  REQUIRE(src.start());
  CHECK(drain(src) == std::vector<std::string>{"a1", "a2", "b1"});  // a1 again: never lost
}

TEST_CASE("AFirstRunWaitingForTheLogRecordsItOnceItAppears") {
  TempDir dir("first-run-missing");
  std::string log = dir / "audit.log";
  std::string cp = dir / "checkpoint";
  {
    FileSource src({.path = log, .checkpointPath = cp});
    REQUIRE(src.start());
    CHECK_FALSE(fs::exists(cp));
    append(log, "a1\n");
    CHECK(drain(src, /*commit=*/false) == std::vector<std::string>{"a1"});
    CHECK(fs::exists(cp));
  }
  fs::rename(log, dir / "audit-1.log");
  append(log, "b1\n");
  FileSource src({.path = log, .checkpointPath = cp});
  REQUIRE(src.start());
  CHECK(drain(src) == std::vector<std::string>{"a1", "b1"});
}

TEST_CASE("RestartFindsTheFileRenamedWhileDown") {
  TempDir dir("restart-renamed");
  std::string log = dir / "audit.log";
  std::string cp = dir / "checkpoint";
  append(log, "a1\n");
  {
    FileSource src({.path = log, .checkpointPath = cp});
    REQUIRE(src.start());
    CHECK(drain(src).size() == 1);
  }
  append(log, "a2\n");
  fs::rename(log, dir / "audit-2024-05-01T10-00-00.000.log");
  append(log, "b1\n");
  FileSource src({.path = log, .checkpointPath = cp});
  REQUIRE(src.start());
  CHECK(drain(src) == std::vector<std::string>{"a2", "b1"});
  CHECK(src.stats().rotations == 1);
  CHECK(src.stats().checkpointResets == 0);
}

TEST_CASE("RestartAfterCopytruncateWhileDownReadsFromTheStart") {
  TempDir dir("restart-truncated");
  std::string log = dir / "audit.log";
  std::string cp = dir / "checkpoint";
  append(log, eventLine("a1") + eventLine("a2"));
  {
    FileSource src({.path = log, .checkpointPath = cp});
    REQUIRE(src.start());
    CHECK(drain(src).size() == 2);
  }
  fs::resize_file(log, 0);
  append(log, eventLine("b1") + eventLine("b2") + eventLine("b3"));
  FileSource src({.path = log, .checkpointPath = cp});
  REQUIRE(src.start());
  CHECK(drain(src).size() == 3);
  CHECK(src.stats().truncations == 1);
}

TEST_CASE("AMissingRotatedFileIsCountedAndTheNewFileReadFromTheStart") {
  TempDir dir("restart-gone");
  std::string log = dir / "audit.log";
  std::string cp = dir / "checkpoint";
  append(log, "a1\n");
  {
    FileSource src({.path = log, .checkpointPath = cp});
    REQUIRE(src.start());
    drain(src);
  }
  fs::remove(log);
  append(dir / "filler", std::string(4096, 'f'));  // keep the inode from being reused at once
  append(log, "b1\n");
  FileSource src({.path = log, .checkpointPath = cp});
  REQUIRE(src.start());
  CHECK(drain(src) == std::vector<std::string>{"b1"});
  // The file system may hand the freed inode to the new file despite the filler; then the
  // checkpoint's identity matches a file with other content, which is counted as a truncation.
  // Either way the change is counted once and the new file is read from its start.
  CHECK(src.stats().checkpointResets + src.stats().truncations == 1);
}

TEST_CASE("CheckpointRoundTripsAndAMalformedOneIsReported") {
  TempDir dir("checkpoint");
  std::string cp = dir / "checkpoint";
  Checkpoint c{.dev = 2049,
               .ino = 123456789,
               .offset = 1ull << 40,
               .headLength = 1024,
               .headHash = 0xfedcba9876543210ull};
  REQUIRE(saveCheckpoint(cp, c));
  CHECK_FALSE(fs::exists(cp + ".tmp"));
  auto loaded = loadCheckpoint(cp);
  REQUIRE(loaded);
  CHECK(*loaded == c);

  std::string err;
  CHECK_FALSE(loadCheckpoint(dir / "absent", &err));
  CHECK(err.empty());

  { std::ofstream(cp, std::ios::trunc) << "garbage\n"; }
  CHECK_FALSE(loadCheckpoint(cp, &err));
  CHECK(err.find("malformed") != std::string::npos);

  std::string log = dir / "audit.log";
  append(log, "x\n");
  FileSource src({.path = log, .checkpointPath = cp});
  CHECK_FALSE(src.start(&err));
  CHECK(src.stats().checkpointResets == 1);
  CHECK(drain(src) == std::vector<std::string>{"x"});  // positioned as without a checkpoint
}

TEST_CASE("StartAtEndSkipsExistingContent") {
  TempDir dir("start-end");
  std::string log = dir / "audit.log";
  append(log, "old1\nold2\npart");
  FileSource src({.path = log, .startAtEnd = true});
  REQUIRE(src.start());
  CHECK(drain(src).empty());
  append(log, "ial\nnew\n");
  CHECK(drain(src) == std::vector<std::string>{"partial", "new"});
}

// An ingest loop over FileSource and a journal alone (the consumer's own loop, LogIngest, is
// tested in log_ingest_test.cc), run in a child process: at-least-once reading from the
// checkpoint, dedupe seeded from the journal, keys journaled as each batch is handed off,
// checkpoint committed every few batches. Exits when it has seen the END event.
[[noreturn]] void runIngestChild(const std::string& log, const std::string& cp,
                                 const std::string& journalPath) {
  FileSource src({.path = log, .checkpointPath = cp, .readChunkBytes = 2048});
  src.start();
  Deduper deduper;
  // Keys from the previous child mean something under its secret only: adopt it.
  std::optional<DedupeSecret> secret;
  const std::vector<DedupeKey> keys =
      DedupeJournal(journalPath, DedupeSecret::random()).load(nullptr, &secret);
  const DedupeSecret journalSecret = secret.value_or(DedupeSecret::random());
  DedupeJournal journal(journalPath, journalSecret);
  for (const auto& k : keys) deduper.firstSeen(k, 0);
  EventParser parser;
  bool sawEnd = false;
  int uncommitted = 0;
  int suppressed = 0;
  std::string suppressedPath = journalPath + ".suppressed";
  Checkpoint last;
  while (!sawEnd) {
    size_t n = src.readAvailable([&](const LineBatch& batch) {
      std::vector<DedupeKey> handedOff;
      parser.parseLines(
          batch.text,
          [&](const Event& e) {
            DedupeKey k = dedupeKey(journalSecret, e.auditID, e.stage);
            if (deduper.firstSeen(k, 0)) {
              handedOff.push_back(k);
            } else {
              ++suppressed;
            }
            if (e.auditID == "END") sawEnd = true;
          },
          /*padded=*/true);
      if (!journal.append(handedOff)) _exit(3);
      if (suppressed > 0) {
        // Tell the test that a re-read after a restart was suppressed (one write, O_APPEND).
        std::string note = std::to_string(suppressed) + "\n";
        int fd = ::open(suppressedPath.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (fd < 0 || ::write(fd, note.data(), note.size()) < 0) _exit(5);
        ::close(fd);
        suppressed = 0;
      }
      last = batch.end;
      if (++uncommitted >= 3) {
        if (!src.commit(last)) _exit(4);
        uncommitted = 0;
      }
    });
    if (n == 0) {
      if (uncommitted > 0 && !src.commit(last)) _exit(4);
      uncommitted = 0;
      ::usleep(500);
    }
  }
  src.commit(last);
  _exit(0);
}

TEST_CASE("Kill9DuringIngestNeitherLosesNorRepeatsEvents") {
  TempDir dir("kill9");
  std::string log = dir / "audit.log";
  std::string cp = dir / "checkpoint";
  std::string journal = dir / "journal";
  auto spawn = [&] {
    pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) runIngestChild(log, cp, journal);
    return pid;
  };

  std::mt19937 rng(12345);
  constexpr int kAppends = 60;
  constexpr int kPerAppend = 50;
  int kills = 0;
  pid_t child = spawn();
  for (int a = 0; a < kAppends; ++a) {
    std::string chunk;
    for (int i = 0; i < kPerAppend; ++i)
      chunk += eventLine("ev-" + std::to_string(a * kPerAppend + i));
    // Write in two pieces so the reader sees partial lines.
    size_t cut = rng() % chunk.size();
    append(log, chunk.substr(0, cut));
    std::this_thread::sleep_for(std::chrono::microseconds(rng() % 2000));
    append(log, chunk.substr(cut));
    if (a == 20 || a == 40) {  // rotation by rename, as the apiserver does
      fs::rename(log, dir / ("audit-rotated-" + std::to_string(a) + ".log"));
    }
    std::this_thread::sleep_for(std::chrono::microseconds(rng() % 3000));
    if (rng() % 3 == 0) {
      ::kill(child, SIGKILL);
      int status = 0;
      REQUIRE(::waitpid(child, &status, 0) == child);
      REQUIRE(WIFSIGNALED(status));
      ++kills;
      child = spawn();
    }
  }
  append(log, eventLine("END"));
  int status = -1;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (::waitpid(child, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(child, SIGKILL);
      ::waitpid(child, &status, 0);
      FAIL("ingest child did not finish");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);
  CHECK(kills >= 5);
  uint64_t suppressedTotal = 0;
  {
    std::ifstream in(journal + ".suppressed");
    for (uint64_t n; in >> n;) suppressedTotal += n;
  }
  // The restarts did re-read handed-off lines, so the dedupe path was exercised.
  CHECK(suppressedTotal > 0);

  // Every event was handed off exactly once across all the restarts.
  std::map<std::pair<uint64_t, uint64_t>, int> seen;
  size_t damaged = 0;
  std::optional<DedupeSecret> secret;
  for (const auto& k : DedupeJournal(journal, DedupeSecret::random()).load(&damaged, &secret))
    ++seen[{k.hi, k.lo}];
  CHECK(damaged == 0);
  REQUIRE(secret);  // the children's keys, computed here again under it
  int missing = 0, repeated = 0;
  for (int i = 0; i <= kAppends * kPerAppend; ++i) {
    std::string id = i == kAppends * kPerAppend ? "END" : "ev-" + std::to_string(i);
    DedupeKey k = dedupeKey(*secret, id, "ResponseComplete");
    int n = seen[{k.hi, k.lo}];
    if (n == 0 && missing++ < 3) UNSCOPED_INFO("missing " << id);
    if (n > 1) ++repeated;
  }
  CHECK(missing == 0);
  CHECK(repeated == 0);
  CHECK(seen.size() == static_cast<size_t>(kAppends * kPerAppend + 1));
}

// Runs `body` in a child process and returns what it wrote to its pipe; empty when it did not
// finish within `timeout` (it is then killed): a follower that blocks or spins cannot hang the
// test run.
std::string inChild(const std::function<std::string()>& body,
                    std::chrono::seconds timeout = std::chrono::seconds(20)) {
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::close(fds[0]);
    const std::string out = body();
    const bool written =
        ::write(fds[1], out.data(), out.size()) == static_cast<ssize_t>(out.size());
    _exit(written ? 0 : 1);
  }
  ::close(fds[1]);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  int status = 0;
  while (::waitpid(pid, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      ::close(fds[0]);
      return {};
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  std::string out;
  char buf[4096];
  for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) > 0;)
    out.append(buf, static_cast<size_t>(n));
  ::close(fds[0]);
  return out;
}

// What a follower in a child saw: lines, read errors, whether the last error names the path
// and says what is wrong with it.
std::string outcome(const std::vector<std::string>& lines, const FileSource& src) {
  std::string out = "lines:";
  for (const auto& l : lines) out += " " + l;
  out += src.stats().readErrors > 0 ? "; read errors" : "; no read error";
  out += "; " + src.lastError();
  return out;
}

TEST_CASE("AFifoAtTheLogPathIsRefusedWithoutBlockingAndTheFileThatReplacesItIsRead") {
  TempDir dir("fifo");
  const std::string log = dir / "audit.log";
  REQUIRE(::mkfifo(log.c_str(), 0600) == 0);
  const std::string out = inChild([&] {
    // Opening a FIFO for reading waits for a writer: without O_NONBLOCK, for ever.
    FileSource src({.path = log, .checkpointPath = dir / "checkpoint"});
    src.start();
    std::vector<std::string> lines = drain(src);
    std::string first = outcome(lines, src);
    fs::remove(log);
    append(log, "a1\n");
    lines = drain(src);
    return first + " | " + outcome(lines, src);
  });
  if (out.empty()) {
    // Let a child blocked in open() go (it was killed already; this is for a survivor).
    const int w = ::open(log.c_str(), O_WRONLY | O_NONBLOCK);
    if (w >= 0) ::close(w);
    FAIL("the follower blocked on the FIFO");
  }
  const std::string refused = "open " + log + ": not a regular file";
  CHECK(out == "lines:; read errors; " + refused + " | lines: a1; read errors; " + refused);
}

TEST_CASE("ALinkToDevZeroIsRefusedInsteadOfReadForEver") {
  TempDir dir("dev-zero");
  const std::string log = dir / "audit.log";
  fs::create_symlink("/dev/zero", log);
  const std::string out = inChild([&] {
    FileSource src({.path = log, .checkpointPath = dir / "checkpoint"});
    src.start();
    std::vector<std::string> lines = drain(src);
    lines = drain(src);
    return outcome(lines, src);
  });
  REQUIRE_FALSE(out.empty());  // else it spun on /dev/zero until killed
  CHECK(out == "lines:; read errors; open " + log + ": not a regular file");
}

// The path is briefly a directory after a rotation: the follower must not stay on it.
TEST_CASE("ADirectoryAtTheLogPathDoesNotStopIngestion") {
  TempDir dir("directory");
  const std::string log = dir / "audit.log";
  append(log, "a1\n");
  FileSource src({.path = log, .checkpointPath = dir / "checkpoint"});
  REQUIRE(src.start());
  CHECK(drain(src) == std::vector<std::string>{"a1"});
  append(log, "a2\n");
  fs::rename(log, dir / "audit-2024-05-01T10-00-00.000.log");
  fs::create_directory(log);
  CHECK(drain(src) == std::vector<std::string>{"a2"});
  CHECK(drain(src).empty());
  CHECK(src.stats().readErrors > 0);
  fs::remove(log);
  append(log, "b1\n");
  CHECK(drain(src) == std::vector<std::string>{"b1"});
  append(log, "b2\n");
  CHECK(drain(src) == std::vector<std::string>{"b2"});
}

// A read error (here EIO: /proc/self/mem is a regular file whose first page is not mapped)
// closes the file; the path is opened again at each poll, and read once it is a log again.
TEST_CASE("AReadErrorIsCountedAndThePathOpenedAgain") {
  TempDir dir("read-error");
  const std::string log = dir / "audit.log";
  fs::create_symlink("/proc/self/mem", log);
  FileSource src({.path = log, .checkpointPath = dir / "checkpoint"});
  src.start();
  CHECK(drain(src).empty());
  const uint64_t errors = src.stats().readErrors;
  CHECK(errors >= 1);
  CHECK(src.lastError().find("read " + log + ": ") == 0);
  CHECK(drain(src).empty());
  CHECK(src.stats().readErrors > errors);  // tried again, not given up or stuck
  fs::remove(log);
  append(log, "a1\n");
  CHECK(drain(src) == std::vector<std::string>{"a1"});
}

// A crash of the writer leaves NUL bytes where its last blocks were allocated but not written:
// a torn event, then zeros, then the next events. The zeros end lines: the event after them is
// read (the torn one fails to parse, as before).
TEST_CASE("TheEventAfterARunOfNulBytesIsRead") {
  TempDir dir("nul");
  const std::string log = dir / "audit.log";
  const std::string torn = eventLine("torn").substr(0, 80);
  {
    std::ofstream out(log, std::ios::binary);
    out << eventLine("before") << torn << std::string(3000, '\0') << eventLine("after1")
        << std::string(10, '\0') << eventLine("after2");
  }
  FileSource src({.path = log, .maxLineBytes = 1024, .readChunkBytes = 700});
  REQUIRE(src.start());
  EventParser parser;
  std::vector<std::string> ids;
  uint64_t rejected = 0;
  src.readAvailable([&](const LineBatch& b) {
    rejected += parser
                    .parseLines(
                        b.text, [&](const Event& e) { ids.emplace_back(e.auditID); }, true)
                    .rejectedTotal();
  });
  CHECK(ids == std::vector<std::string>{"before", "after1", "after2"});
  CHECK(rejected == 1);  // the torn event
  CHECK(src.stats().nulBytes == 3010);
  CHECK(src.stats().linesTooLong == 0);
}

// A backlog is read over several calls, each within its bounds, in order and without loss.
TEST_CASE("OneCallReadsAtMostItsBytesAndTheRestComesNext") {
  TempDir dir("budget");
  const std::string log = dir / "audit.log";
  std::string text;
  for (int i = 0; i < 200; ++i) text += eventLine("e" + std::to_string(i));
  append(log, text);
  FileSource src({.path = log,
                  .checkpointPath = dir / "checkpoint",
                  .readChunkBytes = 1024,
                  .maxBytesPerPoll = 8192});
  REQUIRE(src.start());
  std::vector<std::string> lines = drain(src);
  CHECK(src.stats().bytesRead == 8192);
  CHECK(src.backlog());
  CHECK_FALSE(lines.empty());
  CHECK(lines.size() < 200);
  int calls = 1;
  while (src.backlog() && calls < 1000) {
    for (auto& l : drain(src)) lines.push_back(std::move(l));
    ++calls;
  }
  CHECK(calls >= static_cast<int>(text.size() / 8192));
  REQUIRE(lines.size() == 200);
  for (int i = 0; i < 200; ++i) CHECK(lines[i] + "\n" == eventLine("e" + std::to_string(i)));
  CHECK(drain(src).empty());
  CHECK_FALSE(src.backlog());
}

TEST_CASE("OneCallStopsAfterItsTimeOrWhenAskedTo") {
  TempDir dir("budget-time");
  const std::string log = dir / "audit.log";
  std::string text;
  for (int i = 0; i < 200; ++i) text += eventLine("e" + std::to_string(i));
  append(log, text);
  SECTION("no time left: one read per call") {
    FileSource src(
        {.path = log, .readChunkBytes = 1024, .maxPollTime = std::chrono::milliseconds(0)});
    REQUIRE(src.start());
    drain(src);
    CHECK(src.stats().bytesRead == 1024);
    CHECK(src.backlog());
  }
  SECTION("asked to stop: one read") {
    FileSource src({.path = log, .readChunkBytes = 1024});
    REQUIRE(src.start());
    src.readAvailable([](const LineBatch&) {}, [] { return true; });
    CHECK(src.stats().bytesRead == 1024);
    CHECK(src.backlog());
    src.readAvailable([](const LineBatch&) {});
    CHECK(src.stats().bytesRead == text.size());
    CHECK_FALSE(src.backlog());
  }
}

}  // namespace
}  // namespace kc::audit