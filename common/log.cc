#include "common/log.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>

namespace kc::log {
namespace {

std::atomic<int> gLevel{static_cast<int>(Level::kInfo)};
std::atomic<std::FILE*> gSink{nullptr};
std::mutex gMutex;

const char* levelName(Level l) {
  switch (l) {
    case Level::kDebug:
      return "debug";
    case Level::kInfo:
      return "info";
    case Level::kWarn:
      return "warn";
    case Level::kError:
      return "error";
  }
  return "info";
}

std::string nowRfc3339() {
  using namespace std::chrono;
  const auto now = system_clock::now();
  const auto secs = time_point_cast<seconds>(now);
  const auto micros = duration_cast<microseconds>(now - secs).count();
  const std::time_t t = system_clock::to_time_t(secs);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  const size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  std::snprintf(buf + n, sizeof buf - n, ".%06lldZ", static_cast<long long>(micros));
  return buf;
}

}  // namespace

bool parseLevel(std::string_view s, Level& out) {
  if (s == "debug")
    out = Level::kDebug;
  else if (s == "info")
    out = Level::kInfo;
  else if (s == "warn" || s == "warning")
    out = Level::kWarn;
  else if (s == "error")
    out = Level::kError;
  else
    return false;
  return true;
}

void setLevel(Level level) { gLevel.store(static_cast<int>(level)); }
bool enabled(Level level) {
  return static_cast<int>(level) >= gLevel.load(std::memory_order_relaxed);
}
void setSink(std::FILE* sink) { gSink.store(sink); }

void write(Level level, std::string_view message, const nlohmann::json& fields) {
  if (!enabled(level)) return;
  nlohmann::ordered_json line = nlohmann::ordered_json::object();
  line[field::kTime] = nowRfc3339();
  line[field::kLevel] = levelName(level);
  line[field::kMessage] = message;
  if (fields.is_object()) {
    for (auto it = fields.begin(); it != fields.end(); ++it) line[it.key()] = it.value();
  }
  // Replace invalid UTF-8 instead of throwing: log fields may carry attacker-chosen bytes.
  std::string text = line.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
  text.push_back('\n');
  std::FILE* out = gSink.load();
  if (out == nullptr) out = stdout;
  std::lock_guard<std::mutex> lock(gMutex);
  std::fwrite(text.data(), 1, text.size(), out);
  std::fflush(out);
}

}  // namespace kc::log
