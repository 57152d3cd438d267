#pragma once
// Pod Security Standards (baseline, restricted) evaluated exactly as Kubernetes Pod Security
// Admission does, for every policy version from v1.0 to v1.37 and `latest`: same checks, same
// version history, same order and the same message text, so a deny reads like the built-in
// controller's (`violates PodSecurity "restricted:v1.37": ...`). Wrongly typed fields make the
// pod fail (check "unreadableFields"). No I/O. Thread-safe: pure functions over a PodModel.

#include <string>
#include <string_view>
#include <vector>

#include "policies/pod_spec.h"

namespace kc::policy {

enum class PssLevel { kPrivileged, kBaseline, kRestricted };

// The newest policy version whose behaviour is defined; newer versions and `latest` use it.
constexpr int kPssLatestMinor = 37;

struct PssLevelVersion {
  PssLevel level = PssLevel::kRestricted;
  int minor = kPssLatestMinor;  // policy version v1.<minor>
  bool latest = true;           // spelled `latest` (changes only the printed form)

  std::string toString() const;  // "restricted:latest", "baseline:v1.25"
  int effectiveMinor() const { return latest || minor > kPssLatestMinor ? kPssLatestMinor : minor; }
};

// Parses "baseline", "restricted:v1.25", "restricted:latest", "privileged". A missing version
// means latest. Returns false and sets `error` for anything else.
bool parsePssLevelVersion(std::string_view text, PssLevelVersion& out, std::string* error);
// Parses "latest" or "v1.N".
bool parsePssVersion(std::string_view text, int& minor, bool& latest);
std::string_view pssLevelName(PssLevel level);

struct PssCheckFailure {
  std::string_view checkId;                  // upstream check id, e.g. "allowPrivilegeEscalation"
  std::string reason;                        // e.g. "allowPrivilegeEscalation != false"
  std::string detail;                        // e.g. `container "app" must set ...`; may be empty
  std::vector<std::string_view> containers;  // offending containers, when container-level
  std::string field;                         // JSON path of the first offending field
};

struct PssResult {
  bool allowed = true;
  std::vector<PssCheckFailure> failures;  // in upstream's check order
  // "reason (detail), reason2 (detail2)" as PSA aggregates them.
  std::string forbiddenDetail() const;
};

// Every upstream check id, in evaluation order (plus "unreadableFields").
const std::vector<std::string_view>& pssCheckIds();

PssResult evaluatePss(const PodModel& pod, const PssLevelVersion& lv);

// `violates PodSecurity "restricted:v1.37": <forbiddenDetail>` (deny) and
// `would violate PodSecurity "restricted:v1.37": ...` (warning on a workload template).
std::string pssDenyMessage(const PssLevelVersion& lv, const PssResult& result);
std::string pssWarningMessage(const PssLevelVersion& lv, const PssResult& result);

}  // namespace kc::policy
