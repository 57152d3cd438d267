// StateDir: the state directory is made for this process alone, each kind of state loads back
// what was saved (real files in a temporary directory), the reported sessions have one format
// (a file of the old replay format is read and replaced), the dedupe secret is adopted from
// the log's journal first, and the baseline is saved under the lock `baseline accept` takes,
// with what was accepted meanwhile taken in.
#include "controller/state_dir.h"

#include <sys/stat.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <thread>

#include "controller/events/reported_requests.h"
#include "test/test_util.h"

namespace kc::audit {
namespace {

namespace fs = std::filesystem;

TEST_CASE("AMissingStateDirectoryIsMadeForThisProcessAlone", "[state_dir]") {
  kc::testing::TempDir dir;
  const std::string state = dir.file("a/b/state");
  std::string error;
  REQUIRE(prepareStateDir(state, error));
  struct stat st {};
  REQUIRE(::stat(state.c_str(), &st) == 0);
  CHECK(S_ISDIR(st.st_mode));
  CHECK((st.st_mode & 0777) == 0700);
  // One that exists is left as it is.
  REQUIRE(::chmod(state.c_str(), 0750) == 0);
  REQUIRE(prepareStateDir(state, error));
  REQUIRE(::stat(state.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0750);
}

TEST_CASE("AStateDirectoryThatCannotBeMadeIsRefused", "[state_dir]") {
  kc::testing::TempDir dir;
  kc::testing::writeFile(dir.file("file"), "x");
  std::string error;
  CHECK_FALSE(prepareStateDir(dir.file("file/state"), error));
  CHECK(error.find("cannot create the state directory") != std::string::npos);
}

TEST_CASE("StatePathsUnderADirectoryAndTheirCompanions", "[state_dir]") {
  const StatePaths p = StatePaths::under("/var/lib/kc");
  CHECK(p.checkpoint == "/var/lib/kc/audit-checkpoint.json");
  CHECK(p.baseline == "/var/lib/kc/baseline.json");
  CHECK(p.memory == "/var/lib/kc/audit-memory.jsonl");
  CHECK(p.spool == "/var/lib/kc/audit-webhook.spool");
  CHECK(p.baselineLock() == "/var/lib/kc/baseline.json.lock");
  CHECK(p.logJournal() == "/var/lib/kc/audit-checkpoint.json.journal");
  CHECK(p.reportedRequests() == "/var/lib/kc/audit-memory.requests.journal");
  CHECK(p.reportedRequestsOld() == "/var/lib/kc/audit-memory.requests.json");
  CHECK(StatePaths{}.reportedRequests().empty());
}

TEST_CASE("ReportedRequestsLoadBackUnderTheirSecret", "[state_dir]") {
  kc::testing::TempDir dir;
  StatePaths paths;
  paths.memory = dir.file("memory.jsonl");
  const StateDir state(paths);
  const ReportedRequestsState none = state.loadReportedRequests();
  CHECK(none.ok);
  CHECK_FALSE(none.found);
  CHECK_FALSE(none.secret);

  const DedupeSecret secret{0x1234, 0x5678};
  const std::vector<DedupeKey> keys = {{1, 2}, {3, 4}, {5, 6}};
  std::string error;
  REQUIRE(state.saveReportedRequests(secret, keys, &error));
  CHECK(fs::exists(dir.file("memory.requests.journal")));
  const ReportedRequestsState r = state.loadReportedRequests();
  CHECK(r.ok);
  CHECK(r.found);
  CHECK_FALSE(r.oldFormat);
  REQUIRE(r.secret);
  CHECK(*r.secret == secret);
  CHECK(r.keys == keys);
  // Appended by the audit role as each session is reported: the same file, the same format.
  auto journal = state.reportedRequestsJournal(secret);
  REQUIRE(journal);
  REQUIRE(journal->append({{7, 8}}));
  CHECK(state.loadReportedRequests().keys.size() == 4);
}

TEST_CASE("ReportedRequestsOfTheOldReplayFormatAreReadThenReplacedByTheJournal", "[state_dir]") {
  kc::testing::TempDir dir;
  StatePaths paths;
  paths.memory = dir.file("memory.jsonl");
  const StateDir state(paths);
  const DedupeSecret secret{0xabc, 0xdef};
  const std::vector<DedupeKey> keys = {{10, 20}, {30, 40}};
  kc::testing::writeFile(dir.file("memory.requests.json"), reportedRequestsText(secret, keys));

  const ReportedRequestsState old = state.loadReportedRequests();
  CHECK(old.ok);
  CHECK(old.found);
  CHECK(old.oldFormat);
  REQUIRE(old.secret);
  CHECK(*old.secret == secret);
  CHECK(old.keys == keys);

  std::string error;
  REQUIRE(state.saveReportedRequests(*old.secret, old.keys, &error));
  CHECK_FALSE(fs::exists(dir.file("memory.requests.json")));
  const ReportedRequestsState now = state.loadReportedRequests();
  CHECK_FALSE(now.oldFormat);
  REQUIRE(now.secret);
  CHECK(*now.secret == secret);
  CHECK(now.keys == keys);

  // A damaged file of the old format is refused with the reason, no keys.
  kc::testing::writeFile(dir.file("other.requests.json"), "{\"kind\":\"Baseline\"}");
  paths.memory = dir.file("other.jsonl");
  const ReportedRequestsState bad = StateDir(paths).loadReportedRequests();
  CHECK_FALSE(bad.ok);
  CHECK(bad.keys.empty());
  CHECK(bad.error.find("not a KubeCustomsReportedRequests") != std::string::npos);
}

TEST_CASE("TheSecretIsTheLogJournalsThenTheReportedRequestsThenANewOne", "[state_dir]") {
  kc::testing::TempDir dir;
  StatePaths paths = StatePaths::under(dir.path());
  const DedupeSecret logSecret{1, 1}, requestsSecret{2, 2};
  ReportedRequestsState requests;
  requests.secret = requestsSecret;

  // Nothing saved: a new random secret each time.
  const StateDir state(paths);
  CHECK_FALSE(state.adoptSecret({}) == state.adoptSecret({}));
  // The reported requests' when the log has no journal.
  CHECK(state.adoptSecret(requests) == requestsSecret);
  // The log's journal wins: its keys must match the events read again after a restart.
  REQUIRE(DedupeJournal(paths.logJournal(), logSecret).rewrite({{9, 9}}));
  CHECK(state.adoptSecret(requests) == logSecret);
  // Without a followed log its journal is not consulted.
  paths.checkpoint.clear();
  CHECK(StateDir(paths).adoptSecret(requests) == requestsSecret);
}

TEST_CASE("ADamagedBaselineIsMovedAsideOrRefused", "[state_dir]") {
  kc::testing::TempDir dir;
  StatePaths paths;
  paths.baseline = dir.file("baseline.json");
  kc::testing::writeFile(paths.baseline, "{not a baseline");
  Baseline strict;
  StateDir refusing(paths);
  const StateDir::BaselineLoad refused = refusing.loadBaseline(strict, false);
  CHECK_FALSE(refused.ok);
  CHECK_FALSE(refused.error.empty());
  CHECK(fs::exists(paths.baseline));

  Baseline lenient;
  StateDir moving(paths);
  const StateDir::BaselineLoad moved = moving.loadBaseline(lenient, true);
  CHECK(moved.ok);
  CHECK(moved.damaged);
  REQUIRE_FALSE(moved.movedTo.empty());
  CHECK(fs::exists(moved.movedTo));
  CHECK_FALSE(fs::exists(paths.baseline));
  CHECK(lenient.keyCount() == 0);
}

TEST_CASE("TheBaselineIsSavedUnderTheAcceptLockWithWhatWasAcceptedMeanwhile", "[state_dir]") {
  kc::testing::TempDir dir;
  StatePaths paths;
  paths.baseline = dir.file("baseline.json");
  Baseline mine(BaselineOptions{0});  // learning over: novelties are flagged
  StateDir state(paths);
  REQUIRE(state.loadBaseline(mine, false).ok);
  // Nothing changed and nothing accepted: not written.
  CHECK_FALSE(state.saveBaseline(mine, false).wrote);
  CHECK_FALSE(fs::exists(paths.baseline));
  REQUIRE(mine.accept("shop", "Deployment", BaselineDimension::kCreator, "alice"));
  REQUIRE(state.saveBaseline(mine, true).ok);

  // `baseline accept` holds the lock while it reads, changes and rewrites the file.
  std::atomic<bool> saved{false};
  std::thread saver;
  {
    files::ExclusiveLock lock(paths.baseline + ".lock");
    REQUIRE(lock.locked());
    saver = std::thread([&] {
      const StateDir::BaselineSave s = state.saveBaseline(mine, true);
      CHECK(s.ok);
      CHECK(s.adopted == 1);
      saved.store(true);
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    CHECK_FALSE(saved.load());  // waits for the lock
    BaselineOptions fromFile;
    fromFile.learningFromFile = true;
    Baseline file(fromFile);
    REQUIRE(file.load(paths.baseline));
    REQUIRE(file.accept("shop", "Deployment", BaselineDimension::kCreator, "bob"));
    REQUIRE(file.save(paths.baseline));
  }
  saver.join();
  CHECK(saved.load());
  Baseline after;
  REQUIRE(after.load(paths.baseline));
  const std::string shown = after.show().dump();
  CHECK(shown.find("alice") != std::string::npos);
  CHECK(shown.find("bob") != std::string::npos);
}

TEST_CASE("StateThatIsNotKeptLoadsEmptyAndSavesNothing", "[state_dir]") {
  const StateDir state{StatePaths{}};
  ObjectTracker tracker;
  const ObjectMemoryLoad m = state.loadMemory(tracker);
  CHECK(m.ok);
  CHECK(m.loaded == 0);
  std::string error;
  CHECK(state.saveMemory(tracker, &error));
  CHECK(state.saveReportedRequests({1, 2}, {{3, 4}}, &error));
  CHECK_FALSE(state.reportedRequestsJournal({1, 2}));
  CHECK_FALSE(state.loadReportedRequests().found);
}

}  // namespace
}  // namespace kc::audit
