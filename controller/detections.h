#pragma once
// Detections over API server audit events: what got into the cluster, who did it (through the
// controllers that act for them), and whether it looks like someone hiding from monitoring.
// docs/detections.md describes every rule: what it sees, why it matters, its ATT&CK technique,
// known false positives and how to tune it.
//
// The Detector expects deduplicated events (the pipeline drops repeated (auditID, stage)) in
// arrival order. Creation and change rules decide on ResponseComplete with a 2xx code (or none);
// exec, attach, portforward, nodes/proxy, anonymous and impersonation rules decide on the first
// of ResponseStarted / ResponseComplete seen for an auditID. Bodies: responseObject when
// present, else requestObject, never the body of a patch; truncated events are body-less.
//
// Thread-safety: a Detector is not thread-safe (it remembers objects); feed it from one thread.
// The Baseline it may hold is thread-safe on its own.

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "controller/audit_event.h"
#include "controller/baseline.h"
#include "controller/dedupe.h"
#include "controller/exec_command.h"
#include "controller/ownership.h"
#include "policies/engine.h"

namespace kc::audit {

// One rule of the bounded catalog (safe as a metric label and an Alertmanager label).
struct RuleInfo {
  std::string_view id;  // kebab-case, stable
  std::string_view technique;
  std::string_view techniqueName;
  std::string_view title;
};
const std::vector<RuleInfo>& detectionRules();
const RuleInfo* findRule(std::string_view id);

struct Finding {
  std::string rule;
  Severity severity = Severity::kLow;  // never kInfo
  std::string technique;               // ATT&CK id, e.g. "T1610"
  std::string techniqueName;           // "Deploy Container"
  std::string summary;                 // one line, for people

  // Where it happened and who did it.
  std::string auditID;
  std::string stage;
  std::string verb;
  std::string kind;  // object kind, or the resource when the kind is unknown
  std::string resource;
  std::string subresource;
  std::string namespace_;
  std::string name;
  std::string user;         // the identity responsible (attributed through controllers)
  std::string requestUser;  // the identity that made this request, when different from user
  std::string impersonatedUser;
  std::string userAgent;
  std::string sourceIP;
  int responseCode = 0;
  int64_t timeMicros = 0;

  // What it is about.
  std::vector<std::string> images;
  std::vector<std::string> containers;
  std::string command;
  std::vector<std::string> indicators;         // exec scoring: "sa_token_read (T1528): <evidence>"
  std::vector<std::string> violations;         // "[policy] rule (container): message"
  std::map<std::string, std::string> details;  // rule-specific, e.g. hostPaths, oldImages

  std::string container() const { return containers.empty() ? std::string() : containers[0]; }
};

// JSON for logs, the CLI and Alertmanager annotations. Always has rule, severity, technique,
// techniqueName, summary, auditID, namespace, user; other fields when non-empty.
nlohmann::json toJson(const Finding& f);
// Appends the same JSON as toJson(f).dump(-1, ' ', false, error_handler_t::replace), byte for
// byte, without building a JSON value: for high-volume output (audit replay -o json).
void appendJson(std::string& out, const Finding& f);

struct DetectorOptions {
  using PolicySource = std::function<std::shared_ptr<const policy::PolicySet>()>;
  // Snapshot of the admission policies, re-applied to created and updated objects. Unset: the
  // policy-violation rule is off.
  PolicySource policies;
  // Report violations of policies in warn mode too (enforce and audit modes always are).
  bool reportWarnViolations = false;
  // The learned baseline of creations; nullptr turns the unexpected-* rules off. Not owned.
  Baseline* baseline = nullptr;
  // Objects remembered for attribution, image changes and repeat suppression.
  size_t maxTrackedObjects = 100'000;
  // auditIDs remembered for once-per-request rules (exec, nodes/proxy, anonymous, ...).
  size_t maxTrackedRequests = 16'384;
  // Identities (globs, '*' matches any run of characters) whose requests a rule ignores, by
  // rule id; key "*" applies to every rule. E.g. {"webhook-config-changed",
  // {"system:serviceaccount:cert-manager:cert-manager-cainjector"}}.
  std::map<std::string, std::vector<std::string>> trustedIdentities;
  // Mirror pods of the control plane (kube-apiserver-<node>, etcd-<node>, ... in kube-system)
  // are expected on static-pod control planes; report them anyway when true.
  bool reportControlPlaneMirrorPods = false;
  // Extra identities considered privileged targets of impersonation (exact usernames).
  std::vector<std::string> privilegedIdentities;
};

class Detector {
 public:
  explicit Detector(DetectorOptions options);

  // Which rules an event is for, from its envelope alone. An event with an empty plan is one
  // onEvent neither reports nor remembers anything for (a read, a lease update, a failed
  // request, a write of a kind no rule follows): the pipeline may then count it without
  // looking it up among the events already seen.
  enum class ObjectRule {
    kNone,
    kAdmissionConfig,
    kEventDeletion,
    kEphemeral,
    kPodCarrying,
    kUnjudged,  // a pod-carrying write whose event has no bodies (truncated)
    kService    // a write of a core Service (exposure: NodePort, LoadBalancer, externalIPs)
  };
  struct Plan {
    bool started = false;  // stage ResponseStarted (else ResponseComplete)
    bool session = false, nodeProxy = false, anonymous = false, impersonation = false;
    ObjectRule object = ObjectRule::kNone;
    bool requestLevel() const { return session || nodeProxy || anonymous || impersonation; }
    bool empty() const { return !requestLevel() && object == ObjectRule::kNone; }
  };
  static Plan plan(const Event& event);

  // Applies every rule to one event and appends findings to `out`.
  void onEvent(const Event& event, std::vector<Finding>& out);
  // The same, with the event's plan(event) already made.
  void onEvent(const Event& event, const Plan& plan, std::vector<Finding>& out);

  // Reports `event` as sent with the auditID of an earlier, different request (rule
  // audit-id-reused; the pipeline tells, see AuditIdMemory).
  void reportAuditIdReuse(const Event& event, std::vector<Finding>& out);

  ObjectTracker& objects() { return objects_; }
  // Requests reported on their ResponseStarted (exec, attach, portforward sessions and other
  // long-running requests), oldest first: their ResponseComplete is not reported again. Saved
  // and restored across restarts with the process's dedupe secret (see reported_requests.h).
  std::vector<DedupeKey> reportedRequests() const;
  void restoreReportedRequests(const std::vector<DedupeKey>& keys);
  // Called with each request key as it joins reportedRequests(), before onEvent returns: the
  // audit role appends it to a journal at once, so that a kill -9 between two saves of the set
  // does not let the session's ResponseComplete be reported again after the restart.
  using DecidedHook = std::function<void(const DedupeKey&)>;
  void setDecidedHook(DecidedHook hook) { decidedHook_ = std::move(hook); }

 private:
  bool trusted(std::string_view rule, std::string_view user) const;
  void handleSessionSubresource(const Event& e, std::vector<Finding>& out);
  void handleNodeProxy(const Event& e, std::vector<Finding>& out);
  void handleAnonymous(const Event& e, std::vector<Finding>& out);
  void handleImpersonation(const Event& e, std::vector<Finding>& out);
  void handleAdmissionConfig(const Event& e, std::vector<Finding>& out);
  void handleEventDeletion(const Event& e, std::vector<Finding>& out);
  void handleEphemeral(const Event& e, std::vector<Finding>& out);
  void handleUnjudged(const Event& e, std::vector<Finding>& out);
  void handleService(const Event& e, std::vector<Finding>& out);
  // The admission policies' Service rules, re-applied to a Service (a policy-violation finding).
  // The admission policies re-applied to `in` (a Service or a session, judged whole; the
  // requester and the time come from `e`): a policy-violation finding on `what()` (built only
  // for a finding), of `kind`, whose summary gives `why` the webhook let it through when a
  // policy enforces. Defined and used in detections.cc only.
  template <typename What>
  void reapplyPolicies(const Event& e, policy::EvalInput in, std::string_view kind, What&& what,
                       std::string_view why, std::vector<Finding>& out);
  // The admission policies' podConnect rules, re-applied to an exec, attach or port-forward.
  void reapplySessionPolicies(const Event& e, std::string_view ns, std::string_view pod,
                              std::vector<Finding>& out);
  void reapplyServicePolicies(const Event& e, simdjson::dom::element obj,
                              std::vector<Finding>& out);
  void handlePodCarrying(const Event& e, simdjson::dom::element obj, std::string_view kind,
                         std::vector<Finding>& out);
  Finding base(const Event& e, std::string_view rule) const;

  // The last seen state of an admission configuration, to say what a change changed: per
  // webhook its failurePolicy and a hash of each setting; for admission policies and
  // bindings the spec's hash, failurePolicy and validationActions.
  struct AdmissionHook {
    std::string name;
    std::string failurePolicy;
    uint64_t rules = 0, namespaceSelector = 0, objectSelector = 0, matchConditions = 0;
    uint64_t endpoint = 0;  // clientConfig without caBundle
    uint64_t caBundle = 0;
    uint64_t other = 0;  // sideEffects, timeoutSeconds, matchPolicy, reinvocationPolicy, ...
  };
  struct AdmissionState {
    std::vector<AdmissionHook> hooks;
    uint64_t spec = 0;
    std::string failurePolicy;
    std::string validationActions;
  };
  static AdmissionState readAdmissionState(simdjson::dom::element obj);
  // Bounded: the oldest configuration is forgotten first (kMaxAdmissionConfigs).
  std::map<std::string, AdmissionState> admissionConfigs_;  // "resource/name"
  std::deque<std::string> admissionConfigOrder_;
  static constexpr size_t kMaxAdmissionConfigs = 1024;

  // The last seen exposure of each Service ("namespace/name"), to report only what a change
  // adds. Bounded: the oldest Service is forgotten first (kMaxServices).
  struct ServiceExposure {
    std::string type;                      // "" until seen; ClusterIP when unset; bounded
    bool outside = false;                  // type NodePort or LoadBalancer
    std::vector<std::string> externalIPs;  // sorted, bounded
    // Ports and externalName as the policies read them (policy::readServiceExposure), so that
    // a change of those re-applies the Service policies as the webhook does.
    std::size_t judgedHash = 0;
  };
  std::unordered_map<std::string, ServiceExposure> services_;
  std::deque<std::string> serviceOrder_;
  static constexpr size_t kMaxServices = 16'384;

  DetectorOptions options_;
  ObjectTracker objects_;
  // Keys (requestKey) of requests reported on ResponseStarted; bounded FIFO.
  KeyFifoSet decided_;
  DecidedHook decidedHook_;
  // Root uid -> baseline novelties already reported for that chain ("dimension\x1fvalue").
  ObjectTracker chainNovelties_;
};

// Helpers exposed for tests and docs.
// Lexically normalized absolute path ("/var/run/../lib//kubelet/" -> "/var/lib/kubelet").
std::string normalizeHostPath(std::string_view path);
// Severity of mounting `path` from the host, kInfo when not sensitive. A path is sensitive when
// it is, is inside, or contains a sensitive location.
Severity hostPathSeverity(std::string_view path);
// Severity of adding a Linux capability ("SYS_ADMIN" or "CAP_SYS_ADMIN"), kInfo when harmless.
Severity capabilitySeverity(std::string_view capability);
// The system component `name` is or imitates: {component, exact}; empty component when none.
struct ComponentMatch {
  std::string component;
  bool exact = false;  // the name is the component or starts with "<component>-"
};
ComponentMatch matchSystemComponent(std::string_view name);

}  // namespace kc::audit
