#include "controller/ingest/mapped_lines.h"

#include <fcntl.h>
#include <signal.h>
#include <simdjson.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "test/test_util.h"

namespace kc::audit {
namespace {

struct Read {
  MappedReadResult result;
  std::vector<std::string> chunks;
  std::string text;  // every chunk, in order
};

// Reads `path` through readMappedLines, checking each chunk's promises as it goes: whole lines,
// and simdjson's padding readable after it. `during` runs on the first chunk.
Read readAll(const std::string& path, const std::function<void(int fd)>& during = {}) {
  Read r;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  REQUIRE(fd >= 0);
  struct stat st {};
  REQUIRE(::fstat(fd, &st) == 0);
  r.result = readMappedLines(fd, static_cast<uint64_t>(st.st_size), [&](std::string_view c) {
    if (r.chunks.empty() && during) during(fd);
    volatile char sink = 0;
    for (size_t i = 0; i < c.size() + simdjson::SIMDJSON_PADDING; i += 61)
      sink = sink + c.data()[i];
    sink = sink + c.data()[c.size() + simdjson::SIMDJSON_PADDING - 1];
    r.chunks.emplace_back(c);
    r.text.append(c);
  });
  ::close(fd);
  return r;
}

std::string line(size_t i, size_t width) {
  std::string s = "{\"n\":" + std::to_string(i) + ",\"pad\":\"";
  s.append(width > s.size() + 3 ? width - s.size() - 3 : 0, 'x');
  return s + "\"}\n";
}

TEST_CASE("MappedLinesHandsOverEveryLineWholeAcrossWindows", "[mapped]") {
  kc::testing::TempDir dir;
  const std::string path = dir.file("audit.log");
  std::string content;
  // ~80 MiB: three windows, lines of varied widths so that boundaries fall anywhere.
  for (size_t i = 0; content.size() < 80u << 20; ++i) content += line(i, 200 + (i * 7919) % 3000);
  kc::testing::writeFile(path, content);
  Read r = readAll(path);
  CHECK(r.result.ok);
  CHECK_FALSE(r.result.truncated);
  CHECK(r.result.tooLong == 0);
  CHECK(r.result.bytes == content.size());
  CHECK(r.chunks.size() >= 3);
  for (const auto& c : r.chunks) CHECK(c.back() == '\n');
  CHECK(r.text == content);
}

TEST_CASE("MappedLinesHandsOverAnUnterminatedLastLine", "[mapped]") {
  kc::testing::TempDir dir;
  const std::string path = dir.file("audit.log");
  // A last line that ends within simdjson's padding of the end, and one that is longer.
  for (const std::string& last : {std::string("{\"n\":1}"), line(2, 500).substr(0, 499)}) {
    const std::string content = line(0, 300) + line(1, 4096) + last;
    kc::testing::writeFile(path, content);
    Read r = readAll(path);
    CHECK(r.result.ok);
    CHECK(r.text == content);
    CHECK(r.chunks.back().substr(r.chunks.back().size() - last.size()) == last);
  }
}

TEST_CASE("MappedLinesSkipsALineLongerThanAWindow", "[mapped]") {
  kc::testing::TempDir dir;
  const std::string path = dir.file("audit.log");
  const std::string huge(kMappedWindowBytes + 12345, 'a');
  const std::string before = line(0, 100) + line(1, 100);
  const std::string after = line(2, 100) + line(3, 100);
  SECTION("between lines") {
    kc::testing::writeFile(path, before + huge + "\n" + after);
    Read r = readAll(path);
    CHECK(r.result.ok);
    CHECK(r.result.tooLong == 1);
    CHECK(r.text == before + after);
  }
  SECTION("at the end, unterminated") {
    kc::testing::writeFile(path, before + huge);
    Read r = readAll(path);
    CHECK(r.result.ok);
    CHECK(r.result.tooLong == 1);
    CHECK(r.text == before);
  }
}

// A crash of the writer leaves a torn event and NUL bytes: they end lines, so the event after
// them is a line of its own (and is parsed) instead of the end of a line of zeros.
TEST_CASE("MappedLinesReadNulBytesAsLineEnds", "[mapped]") {
  kc::testing::TempDir dir;
  const std::string path = dir.file("audit.log");
  const std::string torn = line(1, 300).substr(0, 100);
  const std::string content = line(0, 300) + torn + std::string(5000, '\0') + line(2, 300) +
                              std::string(3, '\0') + line(3, 300).substr(0, 299);
  kc::testing::writeFile(path, content);
  Read r = readAll(path);
  CHECK(r.result.ok);
  CHECK(r.result.nulBytes == 5003);
  std::string expected = content;
  std::replace(expected.begin(), expected.end(), '\0', '\n');
  CHECK(r.text == expected);
  CHECK(r.text.find(std::string("\n") + line(2, 300)) != std::string::npos);
}

TEST_CASE("MappedLinesEmptyFile", "[mapped]") {
  kc::testing::TempDir dir;
  const std::string path = dir.file("audit.log");
  kc::testing::writeFile(path, "");
  Read r = readAll(path);
  CHECK(r.result.ok);
  CHECK(r.chunks.empty());
}

TEST_CASE("MappedLinesSurvivesTheFileShrinkingWhileMapped", "[mapped]") {
  kc::testing::TempDir dir;
  const std::string path = dir.file("audit.log");
  std::string content;
  for (size_t i = 0; content.size() < 40u << 20; ++i) content += line(i, 1000);
  kc::testing::writeFile(path, content);
  struct sigaction before {};
  REQUIRE(sigaction(SIGBUS, nullptr, &before) == 0);
  // copytruncate while the first window is being parsed: its pages past the new end are gone,
  // and reading them would raise SIGBUS.
  Read r = readAll(path, [&](int) { REQUIRE(::truncate(path.c_str(), 4096) == 0); });
  CHECK_FALSE(r.result.ok);
  CHECK(r.result.truncated);
  CHECK_FALSE(r.result.error.empty());
  REQUIRE_FALSE(r.chunks.empty());
  // What was read before the truncation is intact; the rest of the window reads as zeros.
  CHECK(r.chunks[0].substr(0, 4096) == content.substr(0, 4096));
  CHECK(r.chunks[0].find_first_not_of('\0', 8192) == std::string::npos);
  // The previous SIGBUS disposition is back.
  struct sigaction after {};
  REQUIRE(sigaction(SIGBUS, nullptr, &after) == 0);
  CHECK(after.sa_handler == before.sa_handler);
}

}  // namespace
}  // namespace kc::audit
