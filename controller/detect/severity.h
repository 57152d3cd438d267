#pragma once
// How bad a finding is. Shared by every door's findings, the catalogue and the outputs.

#include <string_view>

namespace kc::audit {

// Ordered so that comparisons and max() mean "more severe".
enum class Severity { kInfo = 0, kLow, kMedium, kHigh, kCritical };

constexpr std::string_view severityName(Severity s) {
  switch (s) {
    case Severity::kInfo:
      return "info";
    case Severity::kLow:
      return "low";
    case Severity::kMedium:
      return "medium";
    case Severity::kHigh:
      return "high";
    case Severity::kCritical:
      return "critical";
  }
  return "info";
}

constexpr Severity maxSeverity(Severity a, Severity b) { return a > b ? a : b; }

}  // namespace kc::audit
