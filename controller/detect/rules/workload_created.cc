// daemonset-created, cronjob-created, job-created: new DaemonSets (a pod on every node),
// CronJobs (a pod on a schedule) and Jobs made by hand (a pod that runs once and is gone), the
// shapes persistence and one-off payloads take; from the request line and the identity when the
// audit policy logs them without their bodies.
#include "controller/detect/rules/units.h"

namespace kc::audit::detect {
namespace {

// The identities that make Jobs for CronJobs: their Jobs are the CronJob's, reported with it.
bool makesJobsForCronJobs(std::string_view user) {
  return user == "system:serviceaccount:kube-system:cronjob-controller" ||
         user == "system:kube-controller-manager";
}

// The rule for a new object of `kind`; empty when none.
std::string_view ruleFor(std::string_view kind) {
  if (kind == "DaemonSet") return "daemonset-created";
  if (kind == "CronJob") return "cronjob-created";
  if (kind == "Job") return "job-created";
  return {};
}

// A Job by a person (no "system:" identity) is medium: `kubectl create job` is a way to run a
// payload once; by a service account or another component, low (operators and pipelines make
// Jobs all day).
Severity severityFor(std::string_view rule, std::string_view user) {
  if (rule != "job-created") return Severity::kMedium;
  return startsWith(user, "system:") ? Severity::kLow : Severity::kMedium;
}

std::string_view note(std::string_view kind) {
  if (kind == "DaemonSet") return " (runs on every node)";
  if (kind == "Job") return " (runs once)";
  return {};
}

class WorkloadCreated final : public RuleUnit {
 public:
  explicit WorkloadCreated(const RuleContext& ctx) : ctx_(ctx) {}

  void onPod(PodWrite& w, Findings& out) override {
    const std::string_view rule = ruleFor(w.kind);
    if (!w.create || rule.empty()) return;
    if (rule == "job-created" && makesJobsForCronJobs(w.requestUser)) return;
    if (ctx_.trusted(rule, w.actor)) return;
    Finding f = w.finding(rule);
    f.severity = severityFor(rule, w.actor);
    f.summary = w.actor + " created " + w.what() + std::string(note(w.kind)) +
                (w.images.empty() ? "" : " with image(s) " + joinList(w.images));
    out.push_back(std::move(f));
  }

  // Created, the body not logged: who and what, without the images.
  void onEvent(EventClass, const Event& e, Findings& out) override {
    const std::string_view kind = kindForResource(e.objectRef.resource);
    const std::string_view rule = ruleFor(kind);
    const std::string_view user = e.user.username;
    if (rule.empty() || (rule == "job-created" && makesJobsForCronJobs(user)) ||
        ctx_.trusted(rule, user))
      return;
    Finding f = ctx_.finding(e, rule);
    f.severity = severityFor(rule, user);
    f.details["body"] = "not logged";
    f.summary = f.user + " created " + f.kind + " " + objectPath(f.namespace_, f.name) +
                std::string(note(kind)) +
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
