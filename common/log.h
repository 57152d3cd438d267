#pragma once
// Structured JSON-lines logging to stdout. Field names and event types are contracts kept here,
// in one place; lines that other tools read carry a stable `event_type`.
// Thread-safe: each line is formatted first and written with one call under a mutex.

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace kc::log {

namespace field {
inline constexpr const char* kTime = "ts";
inline constexpr const char* kLevel = "level";
inline constexpr const char* kMessage = "msg";
inline constexpr const char* kEventType = "event_type";
inline constexpr const char* kComponent = "component";
inline constexpr const char* kError = "error";
inline constexpr const char* kUid = "uid";
inline constexpr const char* kKind = "kind";
inline constexpr const char* kNamespace = "namespace";
inline constexpr const char* kName = "name";
inline constexpr const char* kOperation = "operation";
inline constexpr const char* kUser = "user";
inline constexpr const char* kAllowed = "allowed";
inline constexpr const char* kReason = "reason";
inline constexpr const char* kPath = "path";
inline constexpr const char* kAddress = "address";
inline constexpr const char* kDurationSeconds = "duration_seconds";
inline constexpr const char* kVersion = "version";
inline constexpr const char* kRoles = "roles";
inline constexpr const char* kRule = "rule";
inline constexpr const char* kSeverity = "severity";
inline constexpr const char* kViolations = "violations";
inline constexpr const char* kViolationsOmitted = "violations_omitted";
inline constexpr const char* kWarnings = "warnings";
inline constexpr const char* kDryRun = "dry_run";
inline constexpr const char* kNotAfter = "not_after";
inline constexpr const char* kQuery = "query";
inline constexpr const char* kTimeoutSeconds = "timeout_seconds";
}  // namespace field

// Values of `event_type`. Each is a contract: renaming one is a breaking change.
namespace event {
inline constexpr const char* kStartup = "startup";
inline constexpr const char* kShutdown = "shutdown";
inline constexpr const char* kConfig = "config";
inline constexpr const char* kTlsReload = "tls_reload";
inline constexpr const char* kTlsReloadFailed = "tls_reload_failed";
inline constexpr const char* kListening = "listening";
inline constexpr const char* kBadRequest = "bad_request";
inline constexpr const char* kAdmissionAllowed = "admission_allowed";
inline constexpr const char* kAdmissionDenied = "admission_denied";
inline constexpr const char* kAdmissionWarned = "admission_warned";
inline constexpr const char* kAdmissionDeadlineExceeded = "admission_deadline_exceeded";
inline constexpr const char* kPolicyLoad = "policy_load";
inline constexpr const char* kPolicyLoadFailed = "policy_load_failed";
inline constexpr const char* kAuditFinding = "audit_finding";
inline constexpr const char* kNodeFinding = "node_finding";
inline constexpr const char* kNodeRuntime = "node_runtime";
inline constexpr const char* kNodeResponse = "node_response";
}  // namespace event

enum class Level { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

// Parses "debug", "info", "warn", "error"; returns false for anything else.
bool parseLevel(std::string_view s, Level& out);
void setLevel(Level level);
bool enabled(Level level);

// Redirects output (tests). nullptr restores stdout.
void setSink(std::FILE* sink);

// Writes one line: {"ts":..., "level":..., "msg":..., <fields>}.
void write(Level level, std::string_view message,
           const nlohmann::json& fields = nlohmann::json::object());

inline void debug(std::string_view m, const nlohmann::json& f = nlohmann::json::object()) {
  if (enabled(Level::kDebug)) write(Level::kDebug, m, f);
}
inline void info(std::string_view m, const nlohmann::json& f = nlohmann::json::object()) {
  write(Level::kInfo, m, f);
}
inline void warn(std::string_view m, const nlohmann::json& f = nlohmann::json::object()) {
  write(Level::kWarn, m, f);
}
inline void error(std::string_view m, const nlohmann::json& f = nlohmann::json::object()) {
  write(Level::kError, m, f);
}

}  // namespace kc::log
