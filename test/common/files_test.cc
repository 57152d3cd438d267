// files::readFile: whole files up to a cap, refused past it before anything of their size is
// allocated, whatever kind of file (regular, sparse, endless device). files::PidLock: one
// holder at a time, the others told its pid. files::moveAside: a damaged file kept aside.
#include "common/files.h"

#include <fcntl.h>
#include <sys/wait.h>
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

TEST_CASE("PidLockHasOneHolderThatTheOthersCanName", "[files][lock]") {
  TempDir dir;
  const std::string path = dir.file("kube-customs.lock");
  std::string error;
  auto first = kc::files::PidLock::tryLock(path, error);
  REQUIRE(first != nullptr);
  CHECK(kc::testing::readFile(path) == std::to_string(::getpid()) + "\n");
  // Another process (a lock of its own file description: flock conflicts across them) is
  // refused at once and told who holds it.
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    std::string err;
    auto second = kc::files::PidLock::tryLock(path, err);
    const bool named =
        second == nullptr && err == path + " is held by pid " + std::to_string(::getppid());
    ::_exit(named ? 0 : 1);
  }
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  CHECK((WIFEXITED(status) && WEXITSTATUS(status) == 0));
  // Released with its holder: the next one takes it.
  first.reset();
  error.clear();
  auto next = kc::files::PidLock::tryLock(path, error);
  CHECK(next != nullptr);
  CHECK(error.empty());
}

TEST_CASE("PidLockNamesTheFileItCannotCreate", "[files][lock]") {
  TempDir dir;
  std::string error;
  CHECK(kc::files::PidLock::tryLock(dir.file("missing/kube-customs.lock"), error) == nullptr);
  CHECK(error.find(dir.file("missing/kube-customs.lock")) != std::string::npos);
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
