#include "common/json_writer.h"

#include <array>
#include <charconv>
#include <cstdint>
#include <cstring>

namespace kc::json {
namespace {

constexpr char kHex[] = "0123456789abcdef";
constexpr std::string_view kReplacement = "\xEF\xBF\xBD";

// Escape for ASCII byte c, or nullptr when it is copied as is. Control characters without a
// short form are handled by the caller.
inline const char* shortEscape(unsigned char c) {
  switch (c) {
    case '"':
      return "\\\"";
    case '\\':
      return "\\\\";
    case '\b':
      return "\\b";
    case '\f':
      return "\\f";
    case '\n':
      return "\\n";
    case '\r':
      return "\\r";
    case '\t':
      return "\\t";
    default:
      return nullptr;
  }
}

// Bytes copied as they are: printable ASCII other than '"' and '\\'.
constexpr auto kPlain = [] {
  std::array<bool, 256> t{};
  for (int c = 0x20; c < 0x80; ++c) t[static_cast<size_t>(c)] = c != '"' && c != '\\';
  return t;
}();

constexpr uint64_t kOnes = 0x0101010101010101ULL;
constexpr uint64_t kHighs = 0x8080808080808080ULL;

// Whether any of the eight bytes in w is not plain: below 0x20, '"', '\\' or 0x80 and above.
// (The zero-byte test is exact as a yes/no answer; bytes >= 0x80 are caught by kHighs first.)
inline bool anyNotPlain(uint64_t w) {
  auto hasZero = [](uint64_t v) { return (v - kOnes) & ~v & kHighs; };
  const uint64_t below20 = (w - kOnes * 0x20) & ~w & kHighs;
  return ((w & kHighs) | below20 | hasZero(w ^ (kOnes * '"')) | hasZero(w ^ (kOnes * '\\'))) != 0;
}

}  // namespace

void appendJsonString(std::string& out, std::string_view s) {
  out.push_back('"');
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  size_t i = 0;
  while (i < n) {
    // Runs of plain ASCII are appended at once; eight bytes are checked at a time, the bytes
    // after the last plain word one by one.
    size_t j = i;
    while (j + 8 <= n) {
      uint64_t w;
      std::memcpy(&w, p + j, 8);
      if (anyNotPlain(w)) break;
      j += 8;
    }
    while (j < n && kPlain[p[j]]) ++j;
    if (j > i) {
      out.append(s.data() + i, j - i);
      i = j;
      if (i == n) break;
    }
    const unsigned char c = p[i];
    if (c < 0x80) {
      if (const char* esc = shortEscape(c)) {
        out.append(esc, 2);
      } else {  // other control character
        const char u[6] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 0xf]};
        out.append(u, 6);
      }
      ++i;
      continue;
    }
    // A multi-byte sequence (Unicode Table 3-7, as nlohmann's UTF-8 automaton checks it).
    size_t need;
    unsigned char lo = 0x80, hi = 0xBF;  // range of the second byte
    if (c >= 0xC2 && c <= 0xDF) {
      need = 1;
    } else if (c >= 0xE0 && c <= 0xEF) {
      need = 2;
      if (c == 0xE0) lo = 0xA0;
      if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      need = 3;
      if (c == 0xF0) lo = 0x90;
      if (c == 0xF4) hi = 0x8F;
    } else {  // not a lead byte: one replacement, go on with the next byte
      out.append(kReplacement);
      ++i;
      continue;
    }
    size_t k = 1;
    for (; k <= need; ++k) {
      if (i + k >= n) break;
      const unsigned char b = p[i + k];
      const bool ok = k == 1 ? (b >= lo && b <= hi) : (b >= 0x80 && b <= 0xBF);
      if (!ok) break;
    }
    if (k > need) {
      out.append(s.data() + i, need + 1);
      i += need + 1;
    } else if (i + k >= n) {
      // Truncated at the end of the string: one replacement for the lot.
      out.append(kReplacement);
      i = n;
    } else {
      // The sequence broke off at byte k: one replacement, and that byte starts afresh.
      out.append(kReplacement);
      i += k;
    }
  }
  out.push_back('"');
}

void appendJsonInt(std::string& out, int64_t v) {
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, static_cast<size_t>(r.ptr - buf));
}

}  // namespace kc::json
