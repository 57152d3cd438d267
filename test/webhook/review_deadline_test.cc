#include "webhook/review_deadline.h"

#include <catch2/catch.hpp>
#include <cstdlib>
#include <string>

namespace {

using kc::webhook::parseGoDuration;
using kc::webhook::reviewTimeout;
using kc::webhook::TimeoutSource;
using namespace std::chrono_literals;

TEST_CASE("GoDurationsParseAsTimeParseDurationDoes", "[deadline]") {
  struct Case {
    const char* text;
    std::chrono::nanoseconds want;
  };
  const Case valid[] = {
      {"10s", 10s},
      {"1s", 1s},
      {"30s", 30s},
      {"1m0s", 60s},
      {"1.5s", 1500ms},
      {"250ms", 250ms},
      {"1h2m3s", 3723s},
      {"2h45m", 165min},
      {"0", 0ns},
      {"+5s", 5s},
      {"-5s", -5s},
      {".5s", 500ms},
      {"5.s", 5s},
      {"1.000000001s", 1'000'000'001ns},
      {"100us", 100us},
      {"100\xC2\xB5s", 100us},  // µs, U+00B5
      {"100\xCE\xBCs", 100us},  // μs, U+03BC
      {"7ns", 7ns},
      {"9223372036854775807ns", std::chrono::nanoseconds(9223372036854775807LL)},
      {"2562047h47m16.854775807s", std::chrono::nanoseconds(9223372036854775807LL)},
  };
  for (const auto& c : valid) {
    INFO(c.text);
    const auto d = parseGoDuration(c.text);
    REQUIRE(d.has_value());
    CHECK(d->count() == c.want.count());
  }
  // Fraction digits past what 64 bits hold are read and ignored (the rest is float rounding).
  const auto longFraction = parseGoDuration("0.1000000000000000000000000s");
  REQUIRE(longFraction.has_value());
  CHECK(std::abs(longFraction->count() - 100'000'000) <= 1);
  const char* invalid[] = {"",
                           "s",
                           "10",
                           "1x",
                           ".s",
                           "-",
                           "+",
                           "10 s",
                           "10S",
                           "1.2.3s",
                           "1d",
                           "--1s",
                           "1s ",
                           " 1s",
                           "ms1",
                           "0x10s",
                           "9223372036854775808ns",
                           "2562047h47m16.854775808s",
                           "99999999999999999999s",
                           "1e3s"};
  for (const char* text : invalid) {
    INFO(text);
    CHECK_FALSE(parseGoDuration(text).has_value());
  }
}

TEST_CASE("TheTimeoutParameterIsReadClampedOrDefaulted", "[deadline]") {
  struct Case {
    std::string target;
    std::chrono::milliseconds want;
    TimeoutSource source;
  };
  const std::string longQuery = "/validate?pad=" + std::string(2000, 'a') + "&timeout=5s";
  const std::string longValue = "/validate?timeout=" + std::string(40, '1') + "s";
  const Case cases[] = {
      {"/validate?timeout=10s", 10s, TimeoutSource::kRead},
      {"/validate?timeout=5s", 5s, TimeoutSource::kRead},
      {"/validate?timeout=30s", 30s, TimeoutSource::kRead},
      {"/validate?timeout=1s", 1s, TimeoutSource::kRead},
      {"/validate?timeout=1.5s", 1500ms, TimeoutSource::kRead},
      {"/validate?timeout=1m0s", 30s, TimeoutSource::kClamped},
      {"/validate?timeout=500ms", 1s, TimeoutSource::kClamped},
      {"/validate?timeout=1ns", 1s, TimeoutSource::kClamped},
      {"/validate?timeout=2562047h", 30s, TimeoutSource::kClamped},
      {"/validate?x=1&timeout=7s&y=2", 7s, TimeoutSource::kRead},
      {"/validate?timeout=7s&timeout=2s", 7s, TimeoutSource::kRead},  // the first, as Go's Get
      {"/validate?timeout=%31%30s", 10s, TimeoutSource::kRead},       // percent-encoded "10s"
      {"/validate?timeout=7s#frag", 7s, TimeoutSource::kRead},
      {"/validate", 10s, TimeoutSource::kAbsent},
      {"/validate?", 10s, TimeoutSource::kAbsent},
      {"/validate?timeouts=5s&xtimeout=5s", 10s, TimeoutSource::kAbsent},
      {"/validate?timeout=", 10s, TimeoutSource::kInvalid},
      {"/validate?timeout", 10s, TimeoutSource::kInvalid},
      {"/validate?timeout=0", 10s, TimeoutSource::kInvalid},
      {"/validate?timeout=0s", 10s, TimeoutSource::kInvalid},
      {"/validate?timeout=-5s", 10s, TimeoutSource::kInvalid},
      {"/validate?timeout=10", 10s, TimeoutSource::kInvalid},
      {"/validate?timeout=ten", 10s, TimeoutSource::kInvalid},
      {"/validate?timeout=%zz", 10s, TimeoutSource::kInvalid},
      {"/validate?timeout=5s%", 10s, TimeoutSource::kInvalid},
      {"/validate?timeout=+5s", 10s, TimeoutSource::kInvalid},  // '+' is a space in a query
      {"/validate?timeout=\xff\xfe", 10s, TimeoutSource::kInvalid},
      {"/validate?timeout=99999999999999999999s", 10s, TimeoutSource::kInvalid},
      {longValue, 10s, TimeoutSource::kInvalid},
      {longQuery, 10s, TimeoutSource::kInvalid},
  };
  for (const auto& c : cases) {
    INFO(c.target.substr(0, 80));
    const auto t = reviewTimeout(c.target);
    CHECK(t.timeout == c.want);
    CHECK(t.source == c.source);
  }
}

TEST_CASE("TheMarginIsATenthOfTheTimeoutAndAtLeast250ms", "[deadline]") {
  CHECK(kc::webhook::answerMargin(1s) == 250ms);
  CHECK(kc::webhook::answerMargin(2s) == 250ms);
  CHECK(kc::webhook::answerMargin(10s) == 1s);
  CHECK(kc::webhook::answerMargin(30s) == 3s);
  CHECK(kc::webhook::formatTimeout(10s) == "10s");
  CHECK(kc::webhook::formatTimeout(1500ms) == "1.5s");
  CHECK(kc::webhook::formatTimeout(1250ms) == "1.25s");
}

}  // namespace
