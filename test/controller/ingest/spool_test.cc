#include "controller/ingest/spool.h"

#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "test/test_util.h"

namespace kc::audit {
namespace {

using kc::testing::TempDir;

std::vector<std::string> bodies(const Spool::Recovery& r) {
  std::vector<std::string> out;
  for (const auto& p : r.pending) out.push_back(p.body);
  return out;
}

TEST_CASE("AcknowledgedBatchesNotMarkedDoneComeBackInOrder", "[spool]") {
  TempDir dir;
  const std::string path = dir.file("audit-webhook.spool");
  std::string error;
  std::uint64_t first = 0, second = 0, third = 0;
  {
    Spool s(path);
    Spool::Recovery r;
    REQUIRE(s.open(r, error));
    CHECK(r.pending.empty());
    first = s.append("{\"items\":[1]}", error);
    second = s.append("{\"items\":[2]}", error);
    third = s.append("{\"items\":[3]}", error);
    REQUIRE(first != 0);
    CHECK(second == first + 1);
    CHECK(third == second + 1);
    REQUIRE(s.done(second, error));
    CHECK(s.pendingCount() == 2);
  }
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  Spool again(path);
  Spool::Recovery r;
  REQUIRE(again.open(r, error));
  CHECK(bodies(r) == std::vector<std::string>{"{\"items\":[1]}", "{\"items\":[3]}"});
  CHECK(r.pending[0].seq == first);
  CHECK(r.pending[1].seq == third);
  CHECK(r.damaged == 0);
  // Numbering goes on after the recovered batches.
  CHECK(again.append("x", error) == third + 1);
}

// A crash while a batch is written leaves part of a record: that batch was never acknowledged,
// so it is dropped, the file is cut back, and later records follow whole ones.
TEST_CASE("ARecordCutShortByACrashIsDroppedAndCutOff", "[spool]") {
  TempDir dir;
  const std::string path = dir.file("s");
  std::string error;
  {
    Spool s(path);
    Spool::Recovery r;
    REQUIRE(s.open(r, error));
    REQUIRE(s.append("kept", error) != 0);
    REQUIRE(s.append(std::string(1000, 'y'), error) != 0);
  }
  const auto whole = std::filesystem::file_size(path);
  std::filesystem::resize_file(path, whole - 10);  // the second record loses its end
  {
    Spool s(path);
    Spool::Recovery r;
    REQUIRE(s.open(r, error));
    CHECK(bodies(r) == std::vector<std::string>{"kept"});
    CHECK(r.damaged == 1);
    CHECK(std::filesystem::file_size(path) == 32 + 4);
    REQUIRE(s.append("after", error) != 0);
  }
  // A flipped byte in a body is caught by the checksum.
  {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(32 + 4 + 32);  // the body of "after"
    f.put('A');
  }
  Spool s(path);
  Spool::Recovery r;
  REQUIRE(s.open(r, error));
  CHECK(bodies(r) == std::vector<std::string>{"kept"});
  CHECK(r.damaged == 1);
}

TEST_CASE("TheSpoolIsCompactedToItsPendingBatches", "[spool]") {
  TempDir dir;
  const std::string path = dir.file("s");
  std::string error;
  Spool s(path, 2048);
  Spool::Recovery r;
  REQUIRE(s.open(r, error));
  std::vector<std::uint64_t> seqs;
  for (int i = 0; i < 20; ++i) seqs.push_back(s.append(std::string(200, 'a' + i % 26), error));
  for (int i = 0; i < 20; ++i) {
    if (i != 7) REQUIRE(s.done(seqs[i], error));
  }
  CHECK(s.pendingCount() == 1);
  CHECK(s.fileBytes() < 2048);
  CHECK(std::filesystem::file_size(path) == s.fileBytes());
  CHECK_FALSE(std::filesystem::exists(path + ".tmp"));
  Spool again(path);
  Spool::Recovery back;
  REQUIRE(again.open(back, error));
  REQUIRE(back.pending.size() == 1);
  CHECK(back.pending[0].seq == seqs[7]);
  CHECK(back.pending[0].body == std::string(200, 'a' + 7));
}

TEST_CASE("AnUnwritableSpoolRefusesToAcknowledge", "[spool]") {
  TempDir dir;
  std::string error;
  Spool s(dir.file("missing/s"));
  Spool::Recovery r;
  CHECK_FALSE(s.open(r, error));
  CHECK(error.find("missing/s") != std::string::npos);
  CHECK(s.append("x", error) == 0);
}

}  // namespace
}  // namespace kc::audit
