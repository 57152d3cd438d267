// files::BackgroundWriter: the latest content reaches the file, flush() waits for it, what is
// pending when the writer is destroyed is still written, and a failing write is reported.

#include "common/background_writer.h"

#include <catch2/catch.hpp>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include "common/internal_errors.h"
#include "test/test_util.h"

namespace {

using kc::testing::TempDir;

TEST_CASE("BackgroundWriterLeavesTheLatestContentAfterFlush") {
  TempDir dir;
  std::vector<std::string> errors;
  kc::files::BackgroundWriter w(dir.file("state.jsonl"), 0600,
                                [&](const std::string& e) { errors.push_back(e); });
  // Big enough that submissions overtake the writer: many are replaced, never mixed.
  const std::string block(1u << 20, 'x');
  for (int i = 0; i < 50; ++i) w.submit(std::to_string(i) + "\n" + block);
  w.flush();
  CHECK(kc::testing::readFile(dir.file("state.jsonl")) == "49\n" + block);
  CHECK(w.writes() >= 1);
  CHECK(w.writes() <= 50);
  CHECK(errors.empty());
  const auto mode =
      std::filesystem::status(dir.file("state.jsonl")).permissions() & std::filesystem::perms::all;
  CHECK((mode == (std::filesystem::perms::owner_read | std::filesystem::perms::owner_write)));
  // A later submission replaces the file again.
  w.submit("again\n");
  w.flush();
  CHECK(kc::testing::readFile(dir.file("state.jsonl")) == "again\n");
}

TEST_CASE("BackgroundWriterWritesWhatIsPendingWhenDestroyed") {
  TempDir dir;
  {
    kc::files::BackgroundWriter w(dir.file("state.jsonl"), 0600, nullptr);
    w.submit("first\n");
    w.submit("last\n");
  }
  CHECK(kc::testing::readFile(dir.file("state.jsonl")) == "last\n");
}

TEST_CASE("BackgroundWriterReportsAFailedWrite") {
  TempDir dir;
  std::vector<std::string> errors;
  kc::files::BackgroundWriter w(dir.file("no-such-dir/state.jsonl"), 0600,
                                [&](const std::string& e) { errors.push_back(e); });
  w.submit("x");
  w.flush();
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].find("no-such-dir") != std::string::npos);
  CHECK(w.writes() == 1);
}

}  // namespace

namespace {

// The writer thread's failure boundary: an error handler that throws costs that report, is
// counted as an internal error, and the thread goes on writing (it used to end the process).
TEST_CASE("BackgroundWriterSurvivesAnErrorHandlerThatThrows") {
  TempDir dir;
  int calls = 0;
  const auto before = kc::internal::errorCount(kc::internal::Component::kBackgroundWriter);
  kc::files::BackgroundWriter bad(dir.file("missing/state.jsonl"), 0600, [&](const std::string&) {
    ++calls;
    throw std::runtime_error("handler failed");
  });
  bad.submit("one");
  bad.flush();
  bad.submit("two");
  bad.flush();
  CHECK(calls == 2);
  CHECK(bad.writes() == 2);
  CHECK(kc::internal::errorCount(kc::internal::Component::kBackgroundWriter) == before + 2);
}

}  // namespace
