// unjudged-object: a pod or workload written whose audit event lost its bodies (truncated), so
// that nothing here could judge it; worse when the admission webhook failed open for it.
#include "controller/detect/rules/units.h"

namespace kc::audit::detect {
namespace {

class UnjudgedObject final : public RuleUnit {
 public:
  explicit UnjudgedObject(const RuleContext& ctx) : ctx_(ctx) {}

  void onEvent(EventClass, const Event& e, Findings& out) override {
    if (ctx_.trusted("unjudged-object", e.user.username)) return;
    Finding f = ctx_.finding(e, "unjudged-object");
    f.kind = std::string(kindForResource(e.objectRef.resource));
    const std::vector<std::string> failedOpen = failedOpenWebhooks(e);
    f.severity = failedOpen.empty() ? Severity::kMedium : Severity::kHigh;
    if (!failedOpen.empty()) f.details["failedOpenWebhooks"] = joinList(failedOpen);
    f.summary = f.user + " " + (e.verb == "create" ? "created " : "changed ") + f.kind + " " +
                objectPath(f.namespace_, f.name) +
                " but its audit event was truncated: the object was not judged" +
                (failedOpen.empty() ? "" : ", and the admission webhook failed open for it");
    out.push_back(std::move(f));
  }

 private:
  const RuleContext& ctx_;
};

}  // namespace

std::unique_ptr<RuleUnit> makeUnjudgedObject(const RuleContext& ctx) {
  return std::make_unique<UnjudgedObject>(ctx);
}

}  // namespace kc::audit::detect
