// Replays the fuzzing corpus (test/controller/events/audit_event_corpus/) as a normal test, with
// the outcome expected for each seed.

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <string>

#include "controller/events/audit_event.h"
#include "controller/events/exec_command.h"

namespace kc::audit {
namespace {

struct Expected {
  uint64_t events;
  uint64_t rejected;
};

TEST_CASE("CorpusSeedsParseToTheExpectedEventsAndRejects") {
  const std::map<std::string, Expected> expected = {
      {"event_v1.json", {1, 0}},  {"event_list.json", {2, 0}},   {"aks_records.json", {2, 0}},
      {"gke_entry.json", {1, 0}}, {"mixed_lines.jsonl", {1, 4}}, {"invalid_utf8.jsonl", {0, 1}},
  };
  std::filesystem::path dir =
      std::filesystem::path(KC_SOURCE_DIR) / "test/controller/events/audit_event_corpus";
  size_t files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    std::ifstream in(entry.path(), std::ios::binary);
    std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::string name = entry.path().filename().string();
    INFO(name);
    EventParser parser;
    uint64_t scored = 0;
    auto stats = parser.parseLines(data, [&](const Event& e) {
      if (auto req = parseExecRequestUri(e.requestURI)) {
        scoreCommand(req->command);
        ++scored;
      }
    });
    auto it = expected.find(name);
    REQUIRE(it != expected.end());  // every seed states its outcome
    CHECK(stats.events == it->second.events);
    CHECK(stats.rejectedTotal() == it->second.rejected);
    if (name == "event_list.json") CHECK(scored == 1);
    ++files;
  }
  CHECK(files == expected.size());
}

}  // namespace
}  // namespace kc::audit
