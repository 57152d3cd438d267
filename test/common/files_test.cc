// files::readFile: whole files up to a cap, refused past it before anything of their size is
// allocated, whatever kind of file (regular, sparse, endless device). files::moveAside: a
// damaged file kept aside.
#include "common/files.h"

#include <fcntl.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cerrno>
#include <filesystem>
#include <string>

#include "test/test_util.h"

namespace {

using kc::testing::TempDir;

TEST_CASE("ReadFileReadsUpToTheCapAndRefusesOneBytePast", "[files]") {
  TempDir dir;
  const std::string text(100'000, 'x');
  kc::testing::writeFile(dir.file("f"), text);
  std::string out = "untouched";
  REQUIRE(kc::files::readFile(dir.file("f"), out, text.size()));
  CHECK(out == text);
  out = "untouched";
  errno = 0;
  CHECK_FALSE(kc::files::readFile(dir.file("f"), out, text.size() - 1));
  CHECK(errno == EFBIG);
  CHECK(out == "untouched");
  CHECK(kc::files::readError(dir.file("f")) == dir.file("f") + ": File too large");
  // An empty file, and one missing.
  kc::testing::writeFile(dir.file("empty"), "");
  REQUIRE(kc::files::readFile(dir.file("empty"), out, 0));
  CHECK(out.empty());
  errno = 0;
  CHECK_FALSE(kc::files::readFile(dir.file("missing"), out));
  CHECK(errno == ENOENT);
}

TEST_CASE("ReadFileRefusesAHugeSparseFileWithoutAllocatingIt", "[files]") {
  // 64 GiB of holes: reserving its size would throw; the default cap refuses it at once.
  TempDir dir;
  const int fd = ::open(dir.file("sparse").c_str(), O_WRONLY | O_CREAT, 0600);
  REQUIRE(fd >= 0);
  REQUIRE(::ftruncate(fd, off_t{64} << 30) == 0);
  ::close(fd);
  std::string out;
  errno = 0;
  CHECK_FALSE(kc::files::readFile(dir.file("sparse"), out));
  CHECK(errno == EFBIG);
}

TEST_CASE("ReadFileStopsAnEndlessStreamAtTheCap", "[files]") {
  // A character device never ends: without the cap this read would run until memory is gone.
  std::string out;
  errno = 0;
  CHECK_FALSE(kc::files::readFile("/dev/zero", out, 1u << 20));
  CHECK(errno == EFBIG);
  CHECK(out.empty());
}

TEST_CASE("MoveAsideKeepsTheContentsUnderANewNameBesideIt", "[files]") {
  TempDir dir;
  kc::testing::writeFile(dir.file("baseline.json"), "{\"trunc");
  std::string error;
  const std::string aside = kc::files::moveAside(dir.file("baseline.json"), error);
  REQUIRE_FALSE(aside.empty());
  CHECK(aside.rfind(dir.file("baseline.json.damaged-"), 0) == 0);
  CHECK(kc::testing::readFile(aside) == "{\"trunc");
  CHECK_FALSE(std::filesystem::exists(dir.file("baseline.json")));
  CHECK(kc::files::moveAside(dir.file("baseline.json"), error).empty());
  CHECK(error.find("No such file") != std::string::npos);
}

}  // namespace
