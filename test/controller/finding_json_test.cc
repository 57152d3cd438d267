// The Finding serializer (appendJson) writes what nlohmann would: its keys in nlohmann's order
// and its text escaped the same way, so that toJson (built from it) dumps the same bytes.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <random>
#include <string>

#include "common/json_writer.h"
#include "controller/detect/detections.h"

namespace kc::audit {
namespace {

using nlohmann::json;

std::string viaNlohmann(const Finding& f) {
  return toJson(f).dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string direct(const Finding& f) {
  std::string out;
  appendJson(out, f);
  return out;
}

std::string jsonQuoted(std::string_view s) {
  std::string out;
  kc::json::appendJsonString(out, s);
  return out;
}

TEST_CASE("JsonStringsAreEscapedLikeNlohmann") {
  const std::vector<std::string> cases = {
      "",
      "plain",
      "quote \" backslash \\ slash /",
      std::string("nul \0 end", 9),
      "\b\f\n\r\t\x01\x1f\x7f",
      "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",  // valid 2, 3 and 4-byte sequences
      "\xff\xfe",                                   // never valid
      "\xc0\xaf",                                   // overlong
      "\xe0\x80\xaf",                               // overlong 3-byte
      "\xed\xa0\x80",                               // surrogate
      "\xf4\x90\x80\x80",                           // above U+10FFFF
      "\xf5\x80",                                   // lead byte out of range
      "\xe2\x82",                                   // truncated at the end
      "\xe2\x82(",                                  // broken off by ASCII
      "\xc3\xc3\xa9",                               // broken off by another lead byte
      "\x80\x80 lone continuations",
      "\xf0\x9f\x98",  // truncated 4-byte at the end
  };
  for (const auto& s : cases) {
    INFO("case: " << json(s).dump(-1, ' ', true, json::error_handler_t::replace));
    CHECK(jsonQuoted(s) == json(s).dump(-1, ' ', false, json::error_handler_t::replace));
  }
}

TEST_CASE("JsonStringsMatchNlohmannOnRandomBytes") {
  std::mt19937 rng(7);
  // Bytes biased towards the interesting ranges: ASCII, controls, continuation and lead bytes.
  const std::string alphabet =
      std::string("aZ09 \"\\/\b\f\n\r\t\x01\x1f\x7f", 15) +
      "\x80\x8f\x90\x9f\xa0\xbf\xc0\xc1\xc2\xdf\xe0\xe1\xec\xed\xee\xef\xf0\xf1\xf3\xf4\xf5\xff";
  for (int round = 0; round < 20000; ++round) {
    std::string s(rng() % 12, '\0');
    for (char& c : s) c = alphabet[rng() % alphabet.size()];
    const std::string want = json(s).dump(-1, ' ', false, json::error_handler_t::replace);
    const std::string got = jsonQuoted(s);
    if (got != want) {
      FAIL_CHECK("input " << json(s).dump(-1, ' ', true, json::error_handler_t::replace)
                          << " direct " << got << " nlohmann " << want);
      break;
    }
    // Always valid JSON (and valid UTF-8).
    REQUIRE_FALSE(json::parse(got, nullptr, false).is_discarded());
  }
}

TEST_CASE("JsonStringsMatchNlohmannWithASpecialByteAtEveryPosition") {
  // Plain text is checked eight bytes at a time: put each kind of byte in every lane of those
  // words, and at the tail after them. 0x20, 0x21, '[', ']' and 0x7f are plain (boundaries of
  // the word test); the rest are not.
  const std::vector<std::string> specials = {
      std::string(1, '\0'), "\x1f",         " ",    "!", "\"", "\\", "[", "]", "\x7f", "\x80",
      "\xc3\xa9",           "\xe2\x82\xac", "\xff", "\n"};
  for (const auto& special : specials) {
    for (size_t len : {7u, 8u, 9u, 16u, 23u, 48u}) {
      for (size_t pos = 0; pos < len; ++pos) {
        std::string s(len, 'a');
        s.replace(pos, 1, special);
        const std::string want = json(s).dump(-1, ' ', false, json::error_handler_t::replace);
        if (jsonQuoted(s) != want) {
          FAIL_CHECK("special " << json(special).dump(-1, ' ', true, json::error_handler_t::replace)
                                << " length " << len << " at " << pos);
        }
      }
    }
  }
}

TEST_CASE("IntegersAreWrittenLikeNlohmann") {
  for (int64_t v : {int64_t{0}, int64_t{-1}, int64_t{101}, int64_t{1767935400123456},
                    std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max()}) {
    std::string out;
    kc::json::appendJsonInt(out, v);
    CHECK(out == json(v).dump());
  }
}

TEST_CASE("FindingJsonIsByteForByteTheNlohmannDump") {
  Finding f;
  f.rule = "pod-exec";
  f.severity = Severity::kHigh;
  f.technique = "T1609";
  f.techniqueName = "Container Administration Command";
  f.summary =
      "mallory ran `cat \"/var/run/secrets\\token\"\n\tx` in pod shop/web \xe2\x82\xac \xff";
  f.auditID = "6a1f0b63-3a1e-4d0c-9b52-0c5f2e0f9b11";
  f.namespace_ = "shop";
  f.user = "mallory@example.com\x01";

  SECTION("only the fields that are always there") {
    Finding g;
    CHECK(direct(g) == viaNlohmann(g));
    CHECK(json::parse(direct(g)) == toJson(g));
  }
  SECTION("every field, odd characters everywhere") {
    f.stage = "ResponseStarted";
    f.verb = "create";
    f.kind = "Pod";
    f.resource = "pods";
    f.subresource = "exec";
    f.name = "web-\xc3\xa9\xe2\x82";
    f.requestUser = "system:serviceaccount:kube-system:replicaset-controller";
    f.impersonatedUser = "admin\"";
    f.userAgent = "kubectl/v1.30.1 (linux/amd64) \\ kubernetes/7c48c2b";
    f.sourceIP = "203.0.113.50";
    f.responseCode = 101;
    f.timeMicros = 1767935400123456;
    f.images = {"nginx:1.25", "evil\"/img:\xf0\x9f\x98\x80", ""};
    f.containers = {"app", "side\tcar"};
    f.command = "sh -c 'echo \x7f \x1b[31m'";
    f.indicators = {"sa_token_read (T1528): /var/run/secrets/kubernetes.io/serviceaccount/token"};
    f.violations = {"[restricted] privileged (app): \"privileged\": true", "\xed\xa0\x80"};
    f.details = {{"z-last", "1"}, {"a\"first", "\xc0"}, {"ports", "8080, 9090"}, {"", ""}};
    CHECK(direct(f) == viaNlohmann(f));
    CHECK(json::parse(direct(f)) == json::parse(viaNlohmann(f)));
  }
  SECTION("a node finding: container fields, no auditID or user when empty") {
    Finding g = f;
    g.auditID.clear();
    g.user.clear();
    g.runtime = "docker";
    g.containerID = "4f2a9c";
    g.containerName = "tunnel\xff";
    g.image = "ngrok/ngrok:latest";
    g.node = "worker-1";
    CHECK(direct(g) == viaNlohmann(g));
    const json j = json::parse(direct(g));
    CHECK(j.count("auditID") == 0);
    CHECK(j.count("user") == 0);
    CHECK(j["runtime"] == "docker");
    CHECK(j["containerName"] == "tunnel\xef\xbf\xbd");
    CHECK(j["node"] == "worker-1");
  }
  SECTION("empty first container is left out like toJson does") {
    f.containers = {"", "app"};
    CHECK(direct(f) == viaNlohmann(f));
    CHECK(json::parse(direct(f)).count("container") == 0);
  }
  SECTION("negative and zero numbers") {
    f.responseCode = -1;
    f.timeMicros = 0;
    CHECK(direct(f) == viaNlohmann(f));
  }
  SECTION("appends to what is there") {
    std::string out = "prefix";
    appendJson(out, f);
    CHECK(out == "prefix" + viaNlohmann(f));
  }
}

}  // namespace
}  // namespace kc::audit
