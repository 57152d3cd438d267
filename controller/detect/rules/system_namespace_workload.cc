// system-namespace-workload: a workload created or changed in a system namespace by an identity
// that is not part of the system (the namespaces nobody watches); a creation also when the
// audit policy logs it without its body.
#include "controller/detect/rules/units.h"

namespace kc::audit::detect {
namespace {

class SystemNamespaceWorkload final : public RuleUnit {
 public:
  explicit SystemNamespaceWorkload(const RuleContext& ctx) : ctx_(ctx) {}

  void onPod(PodWrite& w, Findings& out) override {
    if (w.ephemeralSub || !ctx_.systemNamespace(w.ns) || ctx_.systemIdentity(w.actor)) return;
    w.emit(
        "system-namespace-workload",
        {{"system-namespace-workload/" + w.actor, "", "", Severity::kHigh}},
        [&] {
          return w.actor + " " + (w.create ? "created " : "changed ") + w.what() +
                 " in a system namespace";
        },
        out);
  }

  // Created, the body not logged: the requester is the one responsible (no owner to follow).
  void onEvent(EventClass, const Event& e, Findings& out) override {
    const std::string_view user = e.user.username;
    if (!ctx_.systemNamespace(e.objectRef.namespace_) || ctx_.systemIdentity(user) ||
        ctx_.trusted("system-namespace-workload", user))
      return;
    Finding f = ctx_.finding(e, "system-namespace-workload");
    f.severity = Severity::kHigh;
    f.details["body"] = "not logged";
    f.summary = f.user + " created " + f.kind + " " + objectPath(f.namespace_, f.name) +
                " in a system namespace (the audit policy did not log its body)";
    out.push_back(std::move(f));
  }

 private:
  const RuleContext& ctx_;
};

}  // namespace

std::unique_ptr<RuleUnit> makeSystemNamespaceWorkload(const RuleContext& ctx) {
  return std::make_unique<SystemNamespaceWorkload>(ctx);
}

}  // namespace kc::audit::detect
