// daemonset-created, cronjob-created: new DaemonSets (a pod on every node) and CronJobs (a pod
// on a schedule), the shapes persistence takes; from the request line and the identity when
// the audit policy logs them without their bodies.
#include "controller/detect/rules/units.h"

namespace kc::audit::detect {
namespace {

class WorkloadCreated final : public RuleUnit {
 public:
  explicit WorkloadCreated(const RuleContext& ctx) : ctx_(ctx) {}

  void onPod(PodWrite& w, Findings& out) override {
    if (!w.create || (w.kind != "DaemonSet" && w.kind != "CronJob")) return;
    const bool daemonSet = w.kind == "DaemonSet";
    const std::string_view rule = daemonSet ? "daemonset-created" : "cronjob-created";
    if (ctx_.trusted(rule, w.actor)) return;
    Finding f = w.finding(rule);
    f.severity = Severity::kMedium;
    f.summary = w.actor + " created " + w.what() + (daemonSet ? " (runs on every node)" : "") +
                (w.images.empty() ? "" : " with image(s) " + joinList(w.images));
    out.push_back(std::move(f));
  }

  // Created, the body not logged: who and what, without the images.
  void onEvent(EventClass, const Event& e, Findings& out) override {
    const std::string_view kind = kindForResource(e.objectRef.resource);
    if (kind != "DaemonSet" && kind != "CronJob") return;
    const bool daemonSet = kind == "DaemonSet";
    const std::string_view rule = daemonSet ? "daemonset-created" : "cronjob-created";
    if (ctx_.trusted(rule, e.user.username)) return;
    Finding f = ctx_.finding(e, rule);
    f.severity = Severity::kMedium;
    f.details["body"] = "not logged";
    f.summary = f.user + " created " + f.kind + " " + objectPath(f.namespace_, f.name) +
                (daemonSet ? " (runs on every node)" : "") +
                "; the audit policy did not log its body, so its images are not known";
    out.push_back(std::move(f));
  }

 private:
  const RuleContext& ctx_;
};

}  // namespace

std::unique_ptr<RuleUnit> makeWorkloadCreated(const RuleContext& ctx) {
  return std::make_unique<WorkloadCreated>(ctx);
}

}  // namespace kc::audit::detect
