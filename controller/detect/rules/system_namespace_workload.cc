// system-namespace-workload: a workload created or changed in a system namespace by an identity
// that is not part of the system (the namespaces nobody watches).
#include "controller/detect/rules/units.h"

namespace kc::audit::detect {
namespace {

class SystemNamespaceWorkload final : public RuleUnit {
 public:
  void onPod(PodWrite& w, Findings& out) override {
    if (w.ephemeralSub || !isSystemNamespace(w.ns) || isSystemIdentity(w.actor)) return;
    w.emit(
        "system-namespace-workload",
        {{"system-namespace-workload/" + w.actor, "", "", Severity::kHigh}},
        [&] {
          return w.actor + " " + (w.create ? "created " : "changed ") + w.what() +
                 " in a system namespace";
        },
        out);
  }
};

}  // namespace

std::unique_ptr<RuleUnit> makeSystemNamespaceWorkload(const RuleContext&) {
  return std::make_unique<SystemNamespaceWorkload>();
}

}  // namespace kc::audit::detect
