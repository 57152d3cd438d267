#include "policies/engine.h"

namespace kc::policy {

std::string_view modeName(Mode m) {
  switch (m) {
    case Mode::kEnforce:
      return "enforce";
    case Mode::kWarn:
      return "warn";
    case Mode::kAudit:
      return "audit";
  }
  return "unknown";
}

std::shared_ptr<const PolicySet> PolicySet::empty() {
  static const auto kEmpty = std::make_shared<const PolicySet>();
  return kEmpty;
}

Verdict PolicySet::evaluate(const EvalInput&) const { return Verdict{}; }

}  // namespace kc::policy
