#include "common/utf8.h"

#include <catch2/catch.hpp>

namespace {

using kc::utf8::CappedText;
using kc::utf8::prefix;

TEST_CASE("PrefixNeverSplitsACharacter", "[utf8]") {
  const std::string e = "\xC3\xA9";             // é, two bytes
  const std::string euro = "\xE2\x82\xAC";      // €, three bytes
  const std::string face = "\xF0\x9F\x98\x80";  // 😀, four bytes
  CHECK(prefix("abc", 5) == "abc");
  CHECK(prefix("abc", 2) == "ab");
  CHECK(prefix("a" + e, 2) == "a");
  CHECK(prefix("a" + e, 3) == "a" + e);
  CHECK(prefix(euro + euro, 5) == euro);
  CHECK(prefix(face, 3).empty());
  CHECK(prefix("a" + face, 4) == "a");
  CHECK(prefix("a" + face, 5) == "a" + face);
  // Bytes that are not UTF-8 are not this function's business: cut where the cap is.
  CHECK(prefix("\xFF\xFF\xFF", 2) == "\xFF\xFF");
  // A run of stray continuation bytes: at most three are stepped over.
  CHECK(prefix("\x80\x80\x80\x80\x80\x80", 5).size() == 2);
}

TEST_CASE("CappedTextKeepsWhatFitsAndCountsTheRest", "[utf8]") {
  CappedText small(CappedText::kSuffixRoom + 20);
  small.add("; ", "first");
  small.add("; ", "second");
  CHECK(std::move(small).finish("violations") == "first; second");

  CappedText t(CappedText::kSuffixRoom + 20);
  t.add("; ", "0123456789");
  t.add("; ", "abcdefghijklmnop");  // 8 bytes of it fit after the separator
  t.add("; ", "lost");
  t.add("; ", "lost too");
  CHECK(t.omitted() == 2);
  CHECK(std::move(t).finish("violations") ==
        "0123456789; abcdefgh\xE2\x80\xA6 (and 2 more violations)");

  // A cut inside a multi-byte character backs off to its start.
  CappedText u(CappedText::kSuffixRoom + 4);
  u.add("", "ab\xC3\xA9\xC3\xA9");
  CHECK(std::move(u).finish("x") == "ab\xC3\xA9\xE2\x80\xA6");

  // The whole text stays within its cap, suffix included, however many pieces come.
  CappedText many(1024);
  for (int i = 0; i < 100'000; ++i) many.add("; ", "container \"c" + std::to_string(i) + "\"");
  const std::string out = std::move(many).finish("violations");
  CHECK(out.size() <= 1024);
  CHECK(out.find(" more violations)") != std::string::npos);
}

}  // namespace
