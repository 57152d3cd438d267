// policy-violation: the admission policies re-applied to what got in (pods and workloads,
// ephemeral containers, Services, exec/attach/portforward sessions), so that what the webhook
// would have refused is reported when it failed open, was bypassed or was down.
#include <chrono>

#include "controller/detect/detections.h"
#include "controller/detect/policy_finding.h"
#include "controller/detect/rules/units.h"

namespace kc::audit::detect {
namespace {

constexpr std::string_view kWebhookDidNotStopIt =
    "the admission webhook failed open, was bypassed or was down";

// The details and summary of a policy-violation finding on `what` ("Pod ns/name").
void complete(Finding& f, const Event& e, const std::string& what,
              const std::vector<std::string>& rules, const std::vector<std::string>& policies,
              bool enforced, std::string_view why) {
  f.details["rules"] = joinList(rules);
  f.details["policies"] = joinList(policies);
  f.summary = what +
              (enforced ? " was admitted despite enforced policy violations ("
                        : " violates audited policies (") +
              joinList(rules) + ")";
  if (enforced) f.summary += ": " + std::string(why);
  const std::vector<std::string> failedOpen = failedOpenWebhooks(e);
  if (!failedOpen.empty()) f.details["failedOpenWebhooks"] = joinList(failedOpen);
}

class PolicyViolation final : public RuleUnit {
 public:
  explicit PolicyViolation(const RuleContext& ctx) : ctx_(ctx) {}

  void onPod(PodWrite& w, Findings& out) override {
    const std::shared_ptr<const policy::PolicySet> set = policies();
    if (!set) return;
    const Event& e = w.e;
    policy::EvalInput in;
    in.operation = w.create ? "CREATE" : "UPDATE";
    in.group = e.objectRef.apiGroup;
    in.version = e.objectRef.apiVersion;
    in.kind = w.kind;
    in.subResource = w.ephemeralSub ? "ephemeralcontainers" : "";
    in.namespace_ = w.ns;
    in.name = w.name;
    in.object = w.obj;
    in.pod = &w.pod;  // extracted from the same object
    const policy::Verdict v = evaluate(*set, e, in);
    std::vector<Hit> hits;
    for (const auto& viol : v.violations) {
      if (viol.mode == policy::Mode::kWarn && !ctx_.options().reportWarnViolations) continue;
      const Severity s = violationSeverity(viol.mode);
      auto hit = [&](const std::string& container) {
        hits.push_back({"policy/" + viol.policy + "/" + viol.rule + "/" + container, container,
                        violationLine(viol, container), s, viol.policy, viol.rule});
      };
      if (!w.ephemeralSub) {
        hit(viol.container);
        continue;
      }
      // Through the subresource only ephemeral containers are judged: one hit for each the
      // violation names (a Pod Security check failing for several containers names them all,
      // one of them perhaps added earlier and reported then).
      if (w.isEphemeral(viol.container)) {
        hit(viol.container);
        continue;
      }
      if (!viol.container.empty()) continue;
      for (const auto& c : viol.containers) {
        if (w.isEphemeral(c)) hit(c);
      }
    }
    // Not PodWrite::emit: the summary stays short and the violations are listed.
    const std::vector<Hit> kept = w.fresh(std::move(hits));
    if (kept.empty() || ctx_.trusted("policy-violation", w.actor)) return;
    Finding f = w.finding("policy-violation");
    f.severity = Severity::kLow;
    std::vector<std::string> rules, policiesHit;
    bool enforced = false;
    for (const Hit& h : kept) {
      f.severity = maxSeverity(f.severity, h.severity);
      if (h.severity == Severity::kHigh) enforced = true;
      if (!h.container.empty() && f.containers.size() < kMaxListed)
        addUnique(f.containers, h.container);
      if (f.violations.size() < 2 * kMaxListed) f.violations.push_back(h.detail);
      addUnique(policiesHit, h.policy);
      addUnique(rules, h.policyRule);
    }
    complete(f, e, w.what(), rules, policiesHit, enforced, kWebhookDidNotStopIt);
    out.push_back(std::move(f));
  }

  // A Service whose type, externalIPs, ports or externalName changed (or that is new here),
  // judged whole as the webhook judges it.
  void onService(const ServiceWrite& w, Findings& out) override {
    if (!w.judgedChanged()) return;
    const Event& e = w.e;
    policy::EvalInput in;
    in.operation = e.verb == "create" ? "CREATE" : "UPDATE";
    in.version = "v1";
    in.kind = "Service";
    in.namespace_ = e.objectRef.namespace_;
    in.name = e.objectRef.name;
    in.object = w.obj;
    reapply(
        e, in, "Service",
        [&] { return "Service " + objectPath(e.objectRef.namespace_, e.objectRef.name); },
        kWebhookDidNotStopIt, out);
  }

  // The podConnect rules, re-applied to an exec, attach or port-forward.
  void onSession(const Session& s, Findings& out) override {
    const Event& e = s.e;
    policy::EvalInput in;
    in.operation = "CONNECT";
    in.version = "v1";
    in.kind = policy::podSessionOptionsKind(s.subresource);
    in.subResource = s.subresource;
    in.namespace_ = s.ns;
    in.name = s.pod;
    auto what = [&] {
      return std::string(policy::podSessionPhrase(s.subresource)) + " " + objectPath(s.ns, s.pod) +
             " by " + std::string(e.user.username);
    };
    // The webhook only judges sessions when the chart sends it CONNECT requests.
    reapply(e, in, "Pod", what,
            "the admission webhook did not judge it (webhook.judgePodConnect off, or it "
            "failed open, was bypassed or was down)",
            out);
  }

 private:
  // The policies in force, or nullptr when none are (the rule is off).
  std::shared_ptr<const policy::PolicySet> policies() const {
    if (!ctx_.options().policies) return nullptr;
    std::shared_ptr<const policy::PolicySet> set = ctx_.options().policies();
    if (!set || set->isEmpty()) return nullptr;
    return set;
  }

  policy::Verdict evaluate(const policy::PolicySet& set, const Event& e,
                           policy::EvalInput& in) const {
    in.user.username = e.user.username;
    in.user.groups = e.user.groups;
    in.skipWarnMode = !ctx_.options().reportWarnViolations;
    in.now = std::chrono::sys_seconds(std::chrono::seconds(e.timeMicros / 1'000'000));
    return set.evaluate(in);
  }

  // `in` (a Service or a session) judged whole, the requester and the time from `e`: a finding
  // on what() (built only for a finding), of `kind`, whose summary gives `why` the webhook let
  // it through when a policy enforces.
  template <typename What>
  void reapply(const Event& e, policy::EvalInput in, std::string_view kind, What&& what,
               std::string_view why, Findings& out) {
    const std::shared_ptr<const policy::PolicySet> set = policies();
    if (!set) return;
    const policy::Verdict v = evaluate(*set, e, in);
    if (v.violations.empty() || ctx_.trusted("policy-violation", e.user.username)) return;
    Finding f = ctx_.finding(e, "policy-violation");
    f.kind = std::string(kind);
    f.severity = Severity::kLow;
    std::vector<std::string> rules, policiesHit;
    bool enforced = false;
    for (const auto& viol : v.violations) {
      if (viol.mode == policy::Mode::kWarn && !ctx_.options().reportWarnViolations) continue;
      const Severity s = violationSeverity(viol.mode);
      f.severity = maxSeverity(f.severity, s);
      enforced |= s == Severity::kHigh;
      if (f.violations.size() < 2 * kMaxListed) f.violations.push_back(violationLine(viol, ""));
      addUnique(rules, viol.rule);
      addUnique(policiesHit, viol.policy);
    }
    if (rules.empty()) return;
    complete(f, e, what(), rules, policiesHit, enforced, why);
    out.push_back(std::move(f));
  }

  const RuleContext& ctx_;
};

}  // namespace

std::unique_ptr<RuleUnit> makePolicyViolation(const RuleContext& ctx) {
  return std::make_unique<PolicyViolation>(ctx);
}

}  // namespace kc::audit::detect
