#include "webhook/review_deadline.h"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <string>

namespace kc::webhook {
namespace {

constexpr std::uint64_t kMaxNanos = std::uint64_t{1} << 63;

// Nanoseconds per unit, as Go's time package names them; 0 for an unknown unit.
std::uint64_t unitNanos(std::string_view u) {
  if (u == "ns") return 1;
  if (u == "us" || u == "\xC2\xB5s" || u == "\xCE\xBCs") return 1'000;  // us, µs (U+00B5, U+03BC)
  if (u == "ms") return 1'000'000;
  if (u == "s") return 1'000'000'000;
  if (u == "m") return 60'000'000'000;
  if (u == "h") return 3'600'000'000'000;
  return 0;
}

bool isDigit(char c) { return c >= '0' && c <= '9'; }

int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Decodes a query value as Go's url.ParseQuery does ('+' is a space, %XX a byte); false on a
// malformed escape or when the result would exceed `cap` bytes.
bool queryUnescape(std::string_view in, std::size_t cap, std::string& out) {
  out.clear();
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (out.size() == cap) return false;
    char c = in[i];
    if (c == '+') {
      c = ' ';
    } else if (c == '%') {
      if (i + 2 >= in.size()) return false;
      const int hi = hexValue(in[i + 1]), lo = hexValue(in[i + 2]);
      if (hi < 0 || lo < 0) return false;
      c = static_cast<char>(hi * 16 + lo);
      i += 2;
    }
    out.push_back(c);
  }
  return true;
}

}  // namespace

std::string_view timeoutSourceName(TimeoutSource s) {
  switch (s) {
    case TimeoutSource::kRead:
      return "read";
    case TimeoutSource::kAbsent:
      return "absent";
    case TimeoutSource::kInvalid:
      return "invalid";
    case TimeoutSource::kClamped:
      return "clamped";
  }
  return "invalid";
}

std::optional<std::chrono::nanoseconds> parseGoDuration(std::string_view s) {
  bool negative = false;
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) {
    negative = s[0] == '-';
    s.remove_prefix(1);
  }
  if (s == "0") return std::chrono::nanoseconds(0);
  if (s.empty()) return std::nullopt;
  std::uint64_t total = 0;
  while (!s.empty()) {
    if (!(s[0] == '.' || isDigit(s[0]))) return std::nullopt;
    // The integer part: [0-9]*, refused when it overflows.
    std::uint64_t whole = 0;
    std::size_t i = 0;
    for (; i < s.size() && isDigit(s[i]); ++i) {
      if (whole > (kMaxNanos - 1) / 10) return std::nullopt;
      whole = whole * 10 + static_cast<std::uint64_t>(s[i] - '0');
      if (whole > kMaxNanos) return std::nullopt;
    }
    const bool pre = i > 0;
    s.remove_prefix(i);
    // The fraction: (\.[0-9]*)?, digits past what 64 bits hold are read and ignored.
    std::uint64_t fraction = 0;
    double scale = 1;
    bool post = false;
    if (!s.empty() && s[0] == '.') {
      s.remove_prefix(1);
      bool overflow = false;
      std::size_t j = 0;
      for (; j < s.size() && isDigit(s[j]); ++j) {
        if (overflow) continue;
        if (fraction > (kMaxNanos - 1) / 10) {
          overflow = true;
          continue;
        }
        const std::uint64_t next = fraction * 10 + static_cast<std::uint64_t>(s[j] - '0');
        if (next > kMaxNanos) {
          overflow = true;
          continue;
        }
        fraction = next;
        scale *= 10;
      }
      post = j > 0;
      s.remove_prefix(j);
    }
    if (!pre && !post) return std::nullopt;  // ".s"
    // The unit: everything up to the next number.
    std::size_t u = 0;
    while (u < s.size() && s[u] != '.' && !isDigit(s[u])) ++u;
    if (u == 0) return std::nullopt;  // no unit
    const std::uint64_t unit = unitNanos(s.substr(0, u));
    s.remove_prefix(u);
    if (unit == 0) return std::nullopt;
    if (whole > kMaxNanos / unit) return std::nullopt;
    std::uint64_t value = whole * unit;
    if (fraction > 0) {
      value += static_cast<std::uint64_t>(static_cast<double>(fraction) *
                                          (static_cast<double>(unit) / scale));
      if (value > kMaxNanos) return std::nullopt;
    }
    total += value;
    if (total > kMaxNanos) return std::nullopt;
  }
  if (negative) {
    // -2^63 is the one value whose magnitude has no positive counterpart.
    if (total == kMaxNanos)
      return std::chrono::nanoseconds(std::numeric_limits<std::int64_t>::min());
    return std::chrono::nanoseconds(-static_cast<std::int64_t>(total));
  }
  if (total > kMaxNanos - 1) return std::nullopt;
  return std::chrono::nanoseconds(static_cast<std::int64_t>(total));
}

ReviewTimeout reviewTimeout(std::string_view target) {
  ReviewTimeout out;
  const auto q = target.find('?');
  if (q == std::string_view::npos) return out;
  std::string_view query = target.substr(q + 1);
  if (const auto hash = query.find('#'); hash != std::string_view::npos)
    query = query.substr(0, hash);
  if (query.size() > kMaxQueryBytes) {
    out.source = TimeoutSource::kInvalid;
    return out;
  }
  while (!query.empty()) {
    const auto amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    const auto eq = pair.find('=');
    if (pair.substr(0, eq) != "timeout") continue;
    // The first `timeout` decides, as Go's url.Values.Get does.
    out.source = TimeoutSource::kInvalid;
    const std::string_view raw = eq == std::string_view::npos ? "" : pair.substr(eq + 1);
    std::string text;
    if (!queryUnescape(raw, kMaxDurationBytes, text)) return out;
    const auto d = parseGoDuration(text);
    if (!d || d->count() <= 0) return out;
    if (*d < kMinReviewTimeout) {
      out.timeout = kMinReviewTimeout;
      out.source = TimeoutSource::kClamped;
    } else if (*d > kMaxReviewTimeout) {
      out.timeout = kMaxReviewTimeout;
      out.source = TimeoutSource::kClamped;
    } else {
      out.timeout = std::chrono::duration_cast<std::chrono::milliseconds>(*d);
      out.source = TimeoutSource::kRead;
    }
    return out;
  }
  return out;
}

std::chrono::milliseconds answerMargin(std::chrono::milliseconds timeout) {
  return std::max(timeout / 10, kMinAnswerMargin);
}

std::string formatTimeout(std::chrono::milliseconds timeout) {
  const auto ms = timeout.count();
  std::string out = std::to_string(ms / 1000);
  if (ms % 1000 != 0) {
    std::string frac = std::to_string(1000 + ms % 1000).substr(1);
    while (!frac.empty() && frac.back() == '0') frac.pop_back();
    out += "." + frac;
  }
  return out + "s";
}

}  // namespace kc::webhook
