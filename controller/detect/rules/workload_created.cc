// daemonset-created, cronjob-created: new DaemonSets (a pod on every node) and CronJobs (a pod
// on a schedule), the shapes persistence takes.
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

 private:
  const RuleContext& ctx_;
};

}  // namespace

std::unique_ptr<RuleUnit> makeWorkloadCreated(const RuleContext& ctx) {
  return std::make_unique<WorkloadCreated>(ctx);
}

}  // namespace kc::audit::detect
