#include "policies/engine.h"

#include <algorithm>
#include <atomic>

#include "common/utf8.h"
#include "policies/pod_spec.h"
#include "policies/rules.h"

namespace kc::policy {
namespace {

// Caps on the verdict's text. It goes back to the API server, into logs and into findings: a
// pod with thousands of containers, or container names of 50 kB, must not make an answer of
// megabytes (answers are held in memory until the client reads them). With these caps an
// answer stays under 128 KiB whatever the object; what is left out is counted ("and N more").
constexpr size_t kMaxAuditAnnotationBytes = 8192;
constexpr size_t kMaxDenyMessageBytes = 32 * 1024;
constexpr size_t kMaxPolicyDenyBytes = 8 * 1024;  // one policy's part of the deny message
constexpr size_t kMaxWarningBytes = 4 * 1024;
constexpr size_t kMaxWarnings = 16;

bool contains(const std::vector<std::string>& v, std::string_view s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

struct Target {
  std::string_view ns;
  std::string_view name;
  Seconds now;
  const PodModel* pod = nullptr;  // for exceptions scoped by image
};

// The image of the pod's container `container`, or "" (pod-level findings, other objects).
std::string_view imageOf(const Target& t, std::string_view container) {
  if (t.pod == nullptr || container.empty()) return {};
  for (const ContainerModel& c : t.pod->containers) {
    if (c.name == container) return c.image.set ? c.image.value : std::string_view();
  }
  return {};
}

// An exception with `image` covers only containers running a matching image, tag included when
// it names one: a waiver for a debugging image is no waiver for the pod's other containers.
bool imageCovered(const PolicyException& e, std::string_view image) {
  if (!e.image) return true;
  ImageRef ref;
  if (image.empty() || !parseImageRef(image, ref) || !e.image->matches(ref)) return false;
  return e.imageTag.empty() || wildcardMatch(e.imageTag, ref.tag);
}

bool covers(const PolicyException& e, std::string_view rule, std::string_view container,
            const Target& t) {
  return e.activeAt(t.now) && e.rule == rule && (e.namespace_.empty() || e.namespace_ == t.ns) &&
         (e.name.empty() || wildcardMatch(e.name, t.name)) &&
         (e.container.empty() || e.container == container) &&
         imageCovered(e, imageOf(t, container));
}

bool excepted(const Policy& p, std::string_view rule, std::string_view container, const Target& t) {
  return std::any_of(p.exceptions.begin(), p.exceptions.end(),
                     [&](const PolicyException& e) { return covers(e, rule, container, t); });
}

// The exemptions that concern the request, whatever the object.
bool exemptRequest(const Policy& p, const EvalInput& in, std::string_view ns) {
  const Exemptions& e = p.exemptions;
  if (contains(e.namespaces, ns)) return true;
  if (!in.user.username.empty() && contains(e.usernames, in.user.username)) return true;
  for (auto g : in.user.groups) {
    if (contains(e.groups, g)) return true;
  }
  return false;
}

bool exempt(const Policy& p, const EvalInput& in, const PodModel& pod, std::string_view ns) {
  const Exemptions& e = p.exemptions;
  if (exemptRequest(p, in, ns)) return true;
  if (pod.runtimeClassName.set && contains(e.runtimeClasses, pod.runtimeClassName.value))
    return true;
  if (!e.serviceAccounts.empty()) {
    std::string_view sa = pod.serviceAccountName.set && !pod.serviceAccountName.value.empty()
                              ? pod.serviceAccountName.value
                              : std::string_view("default");
    std::string qualified = std::string(ns) + "/" + std::string(sa);
    for (const auto& pattern : e.serviceAccounts) {
      if (wildcardMatch(pattern, qualified)) return true;
    }
  }
  return false;
}

// PSA re-evaluates a pod UPDATE only when it can change what runs: images or ephemeral
// containers. Everything else in a pod spec is immutable.
bool sameRunningSet(const PodModel& a, const PodModel& b) {
  if (a.containers.size() != b.containers.size()) return false;
  for (size_t i = 0; i < a.containers.size(); ++i) {
    const auto& x = a.containers[i];
    const auto& y = b.containers[i];
    if (x.kind != y.kind || x.name != y.name || x.image.value != y.image.value ||
        x.image.invalid != y.image.invalid) {
      return false;
    }
  }
  return true;
}

bool isContainerField(const std::string& field) {
  return field.find("ontainers[") != std::string::npos;
}

// What the policies found, gathered into the verdict's deny message, warnings, violations and
// audit annotation, each within its cap.
struct Composer {
  Verdict& verdict;
  utf8::CappedText deny{kMaxDenyMessageBytes}, audit{kMaxAuditAnnotationBytes};
  bool denied = false;
  std::size_t warningsLeftOut = 0;

  // One policy's violations (PSS ones already filtered by their exceptions, and summed up in
  // pssText); the others are filtered here.
  void add(const Policy& p, Mode mode, std::vector<Violation>& found, const std::string& pssText,
           const Target& target) {
    std::vector<std::string_view> messages;
    if (!pssText.empty()) messages.push_back(pssText);
    const std::size_t first = verdict.violations.size();
    for (auto& v : found) {
      bool isPss = v.rule.rfind("pss.", 0) == 0;
      if (!isPss && excepted(p, v.rule, v.container, target)) continue;
      v.mode = mode;
      verdict.violations.push_back(std::move(v));
    }
    if (verdict.violations.size() == first) return;
    for (std::size_t i = first; i < verdict.violations.size(); ++i) {
      const Violation& v = verdict.violations[i];
      if (v.rule.rfind("pss.", 0) != 0) messages.push_back(v.message);
      audit.add("; ", "[" + p.name + "] " + v.rule + ": " + v.message);
    }
    if (mode == Mode::kEnforce) {
      denied = true;
      // Each policy has its share, so one with thousands of violations does not crowd out why
      // the others deny.
      deny.add("; ", policyText(p, messages, kMaxPolicyDenyBytes));
    } else if (mode == Mode::kWarn) {
      if (verdict.warnings.size() == kMaxWarnings) {
        ++warningsLeftOut;
        return;
      }
      verdict.warnings.push_back(policyText(p, messages, kMaxWarningBytes));
    }
  }

  // "[policy] message; message; ..." within `cap`.
  static std::string policyText(const Policy& p, const std::vector<std::string_view>& messages,
                                std::size_t cap) {
    utf8::CappedText text(cap);
    for (std::size_t i = 0; i < messages.size(); ++i) {
      if (i == 0)
        text.add("; ", "[" + p.name + "] " + std::string(messages[0]));
      else
        text.add("; ", messages[i]);
    }
    return std::move(text).finish("violations");
  }

  void finish() {
    if (denied) {
      verdict.allowed = false;
      verdict.message = std::move(deny).finish("violations");
    }
    if (warningsLeftOut > 0)
      verdict.warnings.back() +=
          " (and " + std::to_string(warningsLeftOut) + " more policies with warnings)";
    if (!audit.empty())
      verdict.auditAnnotations[std::string(kAuditAnnotationViolations)] =
          std::move(audit).finish("violations");
  }
};

std::string_view stringAt(simdjson::dom::element obj, const char* a, const char* b = nullptr) {
  simdjson::dom::element v;
  if (obj[a].get(v) != simdjson::SUCCESS) return {};
  if (b != nullptr && v[b].get(v) != simdjson::SUCCESS) return {};
  std::string_view s;
  if (v.get_string().get(s) != simdjson::SUCCESS) return {};
  return s;
}

bool isService(const EvalInput& in) {
  if (!in.group.empty()) return false;
  return (!in.kind.empty() ? in.kind : stringAt(in.object, "kind")) == "Service";
}

// Judges `in` by the DeploymentPolicies `applies` selects, each through `check(policy, found)`:
// the loop of the Service and session paths.
template <typename Applies, typename Check>
Verdict evaluateDeploymentRules(const std::vector<Policy>& policies, const EvalInput& in,
                                const Target& target, Applies applies, Check check) {
  Verdict verdict;
  Composer composer{verdict};
  DeadlineCheck deadline(in.deadline);
  for (const Policy& p : policies) {
    if (p.kind != PolicyKind::kDeployment || !applies(p.deployment)) continue;
    if (deadline.passed()) {
      verdict.deadlineExceeded = true;
      break;
    }
    deadline.add(1);
    if (exemptRequest(p, in, target.ns)) continue;
    const Mode mode = p.modeFor(target.ns);
    if (mode == Mode::kWarn && in.skipWarnMode) continue;
    std::vector<Violation> found;
    check(p, found);
    composer.add(p, mode, found, "", target);
  }
  composer.finish();
  return verdict;
}

// Services: only DeploymentPolicies with spec.services look at them. Like a Pod's running set,
// an update is judged only when it changes what the Service exposes (its type or externalIPs),
// so a label change on a Service admitted before the policy is not refused.
Verdict evaluateService(const std::vector<Policy>& policies, const EvalInput& in) {
  const ServiceExposureModel svc = readServiceExposure(in.object);
  if (in.operation == "UPDATE" && in.oldObject.is_object()) {
    const ServiceExposureModel old = readServiceExposure(in.oldObject);
    if (old == svc && !svc.invalidExternalIPs) return Verdict{};
  }
  const Target target{
      !in.namespace_.empty() ? in.namespace_ : stringAt(in.object, "metadata", "namespace"),
      !in.name.empty() ? in.name : stringAt(in.object, "metadata", "name"), in.now};
  return evaluateDeploymentRules(
      policies, in, target, [](const DeploymentRules& d) { return d.services.any(); },
      [&](const Policy& p, std::vector<Violation>& found) { checkServiceRules(p, svc, found); });
}

// exec, attach and port-forward (CONNECT on pods/exec, pods/attach, pods/portforward): only
// DeploymentPolicies with spec.podConnect look at them.
bool isPodSession(const EvalInput& in) {
  return in.operation == "CONNECT" && in.group.empty() &&
         (in.subResource == "exec" || in.subResource == "attach" ||
          in.subResource == "portforward");
}

Verdict evaluatePodConnect(const std::vector<Policy>& policies, const EvalInput& in) {
  return evaluateDeploymentRules(
      policies, in, Target{in.namespace_, in.name, in.now},
      [](const DeploymentRules& d) { return d.podConnect.enabled; },
      [&](const Policy& p, std::vector<Violation>& found) { checkPodConnectRules(p, in, found); });
}

}  // namespace

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

PolicySet::PolicySet(std::vector<Policy> policies)
    : empty_(policies.empty()), policies_(std::move(policies)) {}

std::uint64_t PolicySet::nextId() {
  static std::atomic<std::uint64_t> next{1};
  return next.fetch_add(1, std::memory_order_relaxed);
}

std::shared_ptr<const PolicySet> PolicySet::empty() {
  static const auto kEmpty = std::make_shared<const PolicySet>();
  return kEmpty;
}

int PolicySet::exceptionsExpiringWithin(Seconds now, std::chrono::seconds window) const {
  int n = 0;
  for (const auto& p : policies_) {
    for (const auto& e : p.exceptions) {
      if (e.activeAt(now) && e.expires <= now + window) ++n;
    }
  }
  return n;
}

Verdict PolicySet::evaluate(const EvalInput& in) const {
  Verdict verdict;
  if (policies_.empty()) return verdict;
  if (in.operation == "CONNECT")
    return isPodSession(in) ? evaluatePodConnect(policies_, in) : verdict;
  if (!in.object.is_object()) return verdict;
  if (!in.subResource.empty() && in.subResource != "ephemeralcontainers") return verdict;
  if (isService(in)) return in.subResource.empty() ? evaluateService(policies_, in) : verdict;

  PodModel extracted;
  if (in.pod == nullptr &&
      extractPod(in.object, in.kind, extracted) == ExtractStatus::kNotPodCarrying)
    return verdict;
  const PodModel& pod = in.pod != nullptr ? *in.pod : extracted;
  if (in.operation == "UPDATE" && in.subResource.empty() && pod.kind == "Pod" &&
      in.oldObject.is_object()) {
    PodModel old;
    if (extractPod(in.oldObject, in.kind, old) == ExtractStatus::kOk && sameRunningSet(pod, old) &&
        pod.unreadable.empty()) {
      return verdict;
    }
  }
  const bool isTemplate = pod.kind != "Pod";
  const Target target{!in.namespace_.empty() ? in.namespace_ : pod.namespace_,
                      !in.name.empty() ? in.name : pod.name, in.now, &pod};

  Composer composer{verdict};
  // Parsed on first use and shared by the image policies; the per-thread vector keeps its
  // strings' storage from one evaluation to the next (evaluate is not re-entered).
  thread_local std::vector<ParsedImage> images;
  bool imagesParsed = false;
  // The deadline is asked before each policy and between its rule groups (it reads the clock
  // at the first look and then once enough work is done); a policy cut short still gives the
  // violations it found (each one is real), and no later policy runs.
  DeadlineCheck deadline(in.deadline);
  bool stopped = false;
  for (const Policy& p : policies_) {
    if (p.kind == PolicyKind::kDeployment && !p.deployment.judgesPods()) continue;
    if (deadline.passed()) {
      stopped = true;
      break;
    }
    deadline.add(1);
    if (exempt(p, in, pod, target.ns)) continue;
    Mode mode = p.modeFor(target.ns);
    if (isTemplate && mode == Mode::kEnforce && !p.enforceTemplates) mode = Mode::kWarn;
    if (mode == Mode::kWarn && in.skipWarnMode) continue;

    std::vector<Violation> found;
    std::string pssText;
    if (p.kind == PolicyKind::kImage) {
      if (!imagesParsed) {
        stopped = !parseImages(pod, images, &deadline);
        imagesParsed = true;
      }
      stopped = stopped || !checkImages(p, pod, images, found, &deadline);
    } else {
      PssResult pss = checkPodSecurity(p, pod);
      deadline.add(16 * pod.containers.size());  // Pod Security: some 16 checks a container
      PssResult kept;
      for (auto& f : pss.failures) {
        std::string rule = "pss." + std::string(f.checkId);
        bool covered =
            !f.containers.empty() && isContainerField(f.field)
                ? std::all_of(f.containers.begin(), f.containers.end(),
                              [&](std::string_view c) { return excepted(p, rule, c, target); })
                : excepted(p, rule, "", target);
        if (covered) continue;
        Violation v;
        v.policy = p.name;
        v.rule = std::move(rule);
        if (f.containers.size() == 1) v.container = std::string(f.containers[0]);
        v.containers.assign(f.containers.begin(), f.containers.end());
        v.field = f.field;
        v.message = f.reason + (f.detail.empty() ? "" : " (" + f.detail + ")");
        found.push_back(std::move(v));
        kept.failures.push_back(std::move(f));
      }
      if (!kept.failures.empty()) {
        kept.allowed = false;
        const auto& lv = *p.deployment.podSecurity;
        pssText = mode == Mode::kEnforce ? pssDenyMessage(lv, kept) : pssWarningMessage(lv, kept);
      }
      stopped = stopped || deadline.passed() || !checkDeploymentRules(p, pod, in, found, &deadline);
    }

    composer.add(p, mode, found, pssText, target);
    if (stopped) break;
  }
  composer.finish();
  verdict.deadlineExceeded = stopped;
  return verdict;
}

}  // namespace kc::policy
