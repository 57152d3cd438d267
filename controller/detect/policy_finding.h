#pragma once
// How a policy violation reads in a finding, the same at every door that re-applies the
// admission policies (the audit door's policy-violation rule, the node door's): its severity
// from the policy's mode, and its line "[policy] rule (container): message".

#include <string>

#include "controller/detect/severity.h"
#include "policies/types.h"

namespace kc::audit {

// Enforced high, audited medium, warned low.
inline Severity violationSeverity(policy::Mode mode) {
  return mode == policy::Mode::kEnforce ? Severity::kHigh
         : mode == policy::Mode::kAudit ? Severity::kMedium
                                        : Severity::kLow;
}

// "[policy] rule (container): message"; without the parenthesis when `container` is empty.
inline std::string violationLine(const policy::Violation& v, const std::string& container) {
  return "[" + v.policy + "] " + v.rule + (container.empty() ? "" : " (" + container + ")") + ": " +
         v.message;
}

}  // namespace kc::audit
