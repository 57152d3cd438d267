#pragma once
// Detections over API server audit events: what got into the cluster, who did it (through the
// controllers that act for them), and whether it looks like someone hiding from monitoring.
// docs/detections.md describes every rule: what it sees, why it matters, its ATT&CK technique,
// known false positives and how to tune it.
//
// The Detector is a dispatcher: the rules live in units (controller/detect/rules/, one file per
// rule or family of rules sharing state), listed in the unit table (controller/detect/units.cc)
// and described by the catalogue (controller/detect/catalogue.h). It reads each event's classes
// from its envelope (plan) and hands the event to the units that asked for those classes.
//
// The Detector expects deduplicated events (the pipeline drops repeated (auditID, stage)) in
// arrival order. Creation and change rules decide on ResponseComplete with a 2xx code (or none);
// exec, attach, portforward, nodes/proxy, anonymous and impersonation rules decide on the first
// of ResponseStarted / ResponseComplete seen for an auditID. Bodies: responseObject when
// present, else requestObject, never the body of a patch; truncated events are body-less.
//
// Thread-safety: a Detector is not thread-safe (it remembers objects); feed it from one thread.
// The Baseline it may hold is thread-safe on its own.

#include <array>
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

#include "controller/detect/baseline.h"
#include "controller/detect/catalogue.h"
#include "controller/detect/finding.h"
#include "controller/detect/ownership.h"
#include "controller/detect/rule.h"
#include "controller/events/audit_event.h"
#include "controller/events/dedupe.h"
#include "controller/events/exec_command.h"
#include "policies/engine.h"
#include "policies/system_scope.h"

namespace kc::audit {

// The catalogue (controller/detect/catalogue.h), in the order of docs/detections.md.
constexpr const auto& detectionRules() { return kRuleCatalogue; }

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
  // The cluster's own networks (nodes, pods, services, the control plane): a bound service
  // account token or a system identity used from outside them is reported
  // (serviceaccount-token-stolen). Empty: that check is off. Loopback is always inside.
  std::vector<policy::IpBlock> clusterNetworks;
  // The system namespaces and identities (globs): the built-in scope, shared with the policies'
  // defaults, with the presets of managed clusters and the settings added
  // (audit.preset, audit.systemNamespaces, audit.systemIdentities).
  policy::SystemScope system;
};

class Detector {
 public:
  explicit Detector(DetectorOptions options);
  ~Detector();
  Detector(const Detector&) = delete;  // the units hold references into it
  Detector& operator=(const Detector&) = delete;

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
    kUnjudged,        // a pod-carrying write whose event has no bodies (truncated)
    kService,         // a write of a core Service (exposure: NodePort, LoadBalancer, externalIPs)
    kRbac,            // a Role, ClusterRole or binding written or deleted
    kServiceAccount,  // a ServiceAccount created, or a token requested for one
    kCsr,             // a CertificateSigningRequest created, or its approval written
    kNamespace        // a Namespace created
  };
  struct Plan {
    bool started = false;  // stage ResponseStarted (else ResponseComplete)
    bool session = false, nodeProxy = false, anonymous = false, impersonation = false;
    ObjectRule object = ObjectRule::kNone;
    // A credential whose use is checked against where it may come from, or an event that tells
    // a pod's or a node's addresses (EventClass::kCredentialUse).
    bool credential = false;
    bool requestLevel() const { return session || nodeProxy || anonymous || impersonation; }
    bool empty() const { return !requestLevel() && object == ObjectRule::kNone && !credential; }
  };
  // From the envelope alone; `credential` is set for every request of a system identity (the
  // detector's own planFor keeps it only for the checks its options turn on).
  static Plan plan(const Event& event);
  // plan(), for this detector's options: what the pipeline asks.
  Plan planFor(const Event& event) const;

  // Applies every rule to one event and appends findings to `out`.
  void onEvent(const Event& event, std::vector<Finding>& out);
  // The same, with the event's plan(event) already made.
  void onEvent(const Event& event, const Plan& plan, std::vector<Finding>& out);

  // Reports `event` as sent with the auditID of an earlier, different request (rule
  // audit-id-reused; the pipeline tells, see AuditIdMemory).
  void reportAuditIdReuse(const Event& event, std::vector<Finding>& out);

  ObjectTracker& objects() { return objects_; }
  // The secret of the request keys below (reportedRequests): the pipeline's, which it hands
  // over when built. DedupeSecret::processDefault() until then.
  void setRequestSecret(const DedupeSecret& secret) { secret_ = secret; }
  // Requests reported on their ResponseStarted (exec, attach, portforward sessions and other
  // long-running requests), oldest first: their ResponseComplete is not reported again. Saved
  // and restored across restarts with the secret they were made with (setRequestSecret).
  std::vector<DedupeKey> reportedRequests() const;
  void restoreReportedRequests(const std::vector<DedupeKey>& keys);
  // Called with each request key as it joins reportedRequests(), before onEvent returns: the
  // audit role appends it to a journal at once, so that a kill -9 between two saves of the set
  // does not let the session's ResponseComplete be reported again after the restart.
  using DecidedHook = std::function<void(const DedupeKey&)>;
  void setDecidedHook(DecidedHook hook) { decidedHook_ = std::move(hook); }

 private:
  // Calls the units of class `c` with the event itself.
  void dispatch(EventClass c, const Event& e, std::vector<Finding>& out);
  void dispatchSession(const Event& e, std::vector<Finding>& out);
  void dispatchPod(const Event& e, simdjson::dom::element obj, std::string_view kind,
                   std::vector<Finding>& out);
  void dispatchService(const Event& e, std::vector<Finding>& out);

  DetectorOptions options_;
  ObjectTracker objects_;
  detect::RuleContext context_;
  std::vector<std::unique_ptr<detect::RuleUnit>> units_;  // in the unit table's order
  // The units each class of events goes to, in the unit table's order.
  std::array<std::vector<detect::RuleUnit*>, static_cast<size_t>(EventClass::kCount)> byClass_;
  detect::ServiceMemory services_;
  // Keys (requestKey under secret_) of requests reported on ResponseStarted; bounded FIFO.
  DedupeSecret secret_ = DedupeSecret::processDefault();
  KeyFifoSet decided_;
  DecidedHook decidedHook_;
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
