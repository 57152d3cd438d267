// events-deleted: Kubernetes events deleted, one or all of a namespace's: the traces of what
// happened there.
#include "controller/detect/rules/units.h"

namespace kc::audit::detect {
namespace {

class EventsDeleted final : public RuleUnit {
 public:
  explicit EventsDeleted(const RuleContext& ctx) : ctx_(ctx) {}

  void onEvent(EventClass, const Event& e, Findings& out) override {
    if (ctx_.trusted("events-deleted", e.user.username)) return;
    Finding f = ctx_.finding(e, "events-deleted");
    const bool all = e.verb == "deletecollection";
    f.severity = all ? Severity::kHigh : Severity::kMedium;
    f.kind = "Event";
    f.summary = f.user + (all ? " deleted all events" : " deleted event " + f.name) +
                (f.namespace_.empty() ? "" : " in namespace " + f.namespace_);
    out.push_back(std::move(f));
  }

 private:
  const RuleContext& ctx_;
};

}  // namespace

std::unique_ptr<RuleUnit> makeEventsDeleted(const RuleContext& ctx) {
  return std::make_unique<EventsDeleted>(ctx);
}

}  // namespace kc::audit::detect
