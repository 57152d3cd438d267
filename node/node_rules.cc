#include "node/node_rules.h"

#include <algorithm>

#include "controller/detect/catalogue.h"
#include "controller/detect/policy_finding.h"
#include "controller/detect/rule.h"
#include "controller/events/exec_command.h"
#include "policies/rules.h"

namespace kc::node {

using audit::Finding;
using audit::Severity;

namespace {

// Lists in a finding are capped, and listed, as the audit door's are.
using audit::detect::addUnique;
using audit::detect::joinList;
using audit::detect::kMaxListed;

// "container tunnel (ngrok/ngrok:latest)" or "pod shop/web (container app, image ...)".
std::string describe(const Container& c, const KubernetesInfo& k) {
  if (k.kubernetes && !k.podName.empty())
    return "pod " + k.podNamespace + "/" + k.podName + " (container " + k.containerName +
           ", image " + c.image + ")";
  return "container " + (c.name.empty() ? c.id.substr(0, 12) : c.name) + " (" + c.image + ")";
}

}  // namespace

Finding containerFinding(std::string_view rule, const Container& c, const KubernetesInfo& k,
                         const NodeRuleOptions& o, std::chrono::system_clock::time_point now) {
  Finding f;
  f.rule = std::string(rule);
  if (const audit::RuleInfo* r = audit::findRule(rule)) {
    f.technique = std::string(r->technique);
    f.techniqueName = std::string(r->techniqueName);
    f.severity = r->lowest;
  }
  f.runtime = std::string(runtimeName(c.runtime));
  f.containerID = c.id;
  f.containerName = c.name;
  f.image = c.image;
  f.node = o.nodeName;
  f.timeMicros =
      std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch()).count();
  if (!c.imageId.empty()) f.details["imageID"] = c.imageId;
  if (!c.namespace_.empty()) f.details["runtimeNamespace"] = c.namespace_;
  if (k.kubernetes) {
    f.kind = "Pod";
    f.namespace_ = k.podNamespace;
    f.name = k.podName;
    if (!k.containerName.empty()) f.containers.push_back(k.containerName);
  } else {
    f.kind = "Container";
    f.name = c.name;
  }
  return f;
}

std::vector<Finding> judgeContainer(const Container& c, const policy::PolicySet* policies,
                                    const NodeRuleOptions& o,
                                    std::chrono::system_clock::time_point now, bool gone) {
  std::vector<Finding> out;
  const KubernetesInfo k = classify(c);
  if (k.sandbox) return out;
  const std::string allowedBy = k.kubernetes ? std::string() : o.allowed.allows(c);
  const bool outside = !k.kubernetes && allowedBy.empty();
  const std::string what = describe(c, k);
  const std::string command = c.commandLine(1024);

  if (outside) {
    Finding f = containerFinding("container-outside-kubernetes", c, k, o, now);
    f.severity = Severity::kHigh;
    f.command = command;
    if (!c.startedAt.empty()) f.details["startedAt"] = c.startedAt;
    if (!c.user.empty()) f.details["user"] = c.user;
    if (gone) f.details["inspected"] = "false: gone before it could be inspected";
    if (c.clamped) f.details["clamped"] = "true";
    f.summary = what + " started on node " + (o.nodeName.empty() ? "?" : o.nodeName) +
                " outside Kubernetes" + (command.empty() ? "" : ": `" + command + "`");
    out.push_back(std::move(f));
  }

  // The policies: always for what is outside Kubernetes (allow-listed or not: the allow-list
  // says who may start containers there, not what they may run), as a re-check for the
  // kubelet's containers.
  if (!policies || (k.kubernetes && !o.recheckKubernetes)) return out;
  const auto at = std::chrono::floor<std::chrono::seconds>(now);
  const ContainerVerdict v = judge(*policies, c, k, at);
  if (!v.error.empty()) return out;
  Finding f = containerFinding("policy-violation", c, k, o, now);
  std::vector<std::string> rules, policyNames;
  bool enforced = false;
  f.severity = Severity::kLow;
  for (const auto& viol : v.verdict.violations) {
    if (viol.mode == policy::Mode::kWarn && !o.reportWarnViolations) continue;
    const Severity s = audit::violationSeverity(viol.mode);
    f.severity = audit::maxSeverity(f.severity, s);
    enforced |= s == Severity::kHigh;
    if (f.violations.size() < 2 * kMaxListed)
      f.violations.push_back(audit::violationLine(viol, ""));
    addUnique(rules, viol.rule);
    addUnique(policyNames, viol.policy);
  }
  if (rules.empty()) return out;
  f.details["rules"] = joinList(rules);
  f.details["policies"] = joinList(policyNames);
  f.details["judgedNamespace"] = v.namespace_;
  if (gone) f.details["inspected"] = "false: judged from its image and name only";
  f.command = command;
  f.summary =
      what + " on node " + (o.nodeName.empty() ? "?" : o.nodeName) +
      (enforced ? " runs despite enforced policy violations (" : " violates audited policies (") +
      joinList(rules) + ")";
  if (enforced)
    f.summary += k.kubernetes
                     ? ": the admission webhook failed open, was bypassed or was down, or it is a "
                       "static pod"
                     : ": started beside the kubelet, where no admission webhook sees it";
  if (!allowedBy.empty()) f.details["allowedOutsideKubernetesBy"] = allowedBy;
  out.push_back(std::move(f));
  return out;
}

std::optional<Finding> judgeExec(const Container& c, const ExecSeen& exec, const NodeRuleOptions& o,
                                 std::chrono::system_clock::time_point now) {
  const KubernetesInfo k = classify(c);
  const audit::CommandScore score = audit::scoreCommand(exec.command);
  if (k.kubernetes && score.indicators.empty()) return std::nullopt;
  Finding f = containerFinding("container-exec", c, k, o, now);
  f.severity = audit::maxSeverity(Severity::kLow, score.severity);
  if (exec.privileged) {
    f.severity = audit::maxSeverity(f.severity, Severity::kMedium);
    f.details["privileged"] = "true";
  }
  f.command = score.commandLine;
  std::vector<std::string> ids;
  for (const auto& ind : score.indicators) {
    if (f.indicators.size() < kMaxListed)
      f.indicators.push_back(ind.id + " (" + ind.technique + "): " + ind.evidence);
    ids.push_back(ind.id);
  }
  if (!exec.user.empty()) f.details["user"] = exec.user;
  if (!exec.execId.empty()) f.details["execID"] = exec.execId;
  f.summary = "`" + (f.command.empty() ? std::string("?") : f.command) + "` run in " +
              describe(c, k) + " on node " + (o.nodeName.empty() ? "?" : o.nodeName) +
              (k.kubernetes ? "" : ", outside Kubernetes");
  if (!ids.empty()) f.summary += " [" + joinList(ids) + "]";
  return f;
}

}  // namespace kc::node
