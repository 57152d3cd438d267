#pragma once
// The time an admission review must be answered by. The API server says how long it waits in
// the `timeout` query parameter of the webhook URL (a Go duration, "10s"); the answer is due
// that long after the request arrived, less a margin for writing it and for the time it spent
// in the network and the kernel's socket buffer before the server read it.
// Pure functions. Thread-safe.

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace kc::webhook {

// What the API server allows: timeoutSeconds is 1 to 30, 10 when unset.
inline constexpr std::chrono::milliseconds kDefaultReviewTimeout{10'000};
inline constexpr std::chrono::milliseconds kMinReviewTimeout{1'000};
inline constexpr std::chrono::milliseconds kMaxReviewTimeout{30'000};
// A query string longer than this is not read (the API server's is "timeout=30s").
inline constexpr std::size_t kMaxQueryBytes = 1024;
// A timeout value longer than this is not a duration the API server writes.
inline constexpr std::size_t kMaxDurationBytes = 32;
// The least margin kept before the API server's deadline, for writing the answer.
inline constexpr std::chrono::milliseconds kMinAnswerMargin{250};

// How the timeout in force was found. Values are metric labels.
enum class TimeoutSource {
  kRead,     // the parameter, within 1 s to 30 s
  kAbsent,   // no parameter: the API server's default
  kInvalid,  // not a positive Go duration, or a query string too long to read: the default
  kClamped,  // a duration outside 1 s to 30 s, brought to the nearest bound
};
inline constexpr std::size_t kTimeoutSources = 4;
std::string_view timeoutSourceName(TimeoutSource s);

struct ReviewTimeout {
  std::chrono::milliseconds timeout = kDefaultReviewTimeout;
  TimeoutSource source = TimeoutSource::kAbsent;
};

// Parses a duration as Go's time.ParseDuration does: an optional sign, then one or more
// decimal numbers with a unit (ns, us, µs, ms, s, m, h), e.g. "10s", "1m0s", "1.5s", "-2h45m";
// "0" alone. Nullopt for anything else or a value beyond what 64-bit nanoseconds hold.
std::optional<std::chrono::nanoseconds> parseGoDuration(std::string_view text);

// The timeout of a request target ("/validate?timeout=10s"): the first `timeout` parameter,
// percent-decoded, read as a Go duration and clamped to 1 s..30 s; absent or invalid (not a
// duration, zero or negative, longer than kMaxDurationBytes, or a query string over
// kMaxQueryBytes): the API server's default of 10 s.
ReviewTimeout reviewTimeout(std::string_view target);

// The margin kept before the API server's deadline: a tenth of the timeout, at least
// kMinAnswerMargin (250 ms of 1 s, 1 s of 10 s, 3 s of 30 s).
std::chrono::milliseconds answerMargin(std::chrono::milliseconds timeout);

// The timeout as a person reads it and the API server writes it: "10s", "1.5s".
std::string formatTimeout(std::chrono::milliseconds timeout);

}  // namespace kc::webhook
