#pragma once
// The catalogue of detection rules: one row per rule, the single source of rule ids (config
// validation, metric and Alertmanager label values, docs checks), their severities, ATT&CK
// techniques, the classes of events they need (the detector dispatches by class) and their
// entries in docs/detections.md. Header-only and free of dependencies, so that settings can be
// checked against it anywhere.
//
// Adding a rule: docs/architecture.md, "Adding a detection rule".

#include <array>
#include <cstdint>
#include <initializer_list>
#include <string_view>

#include "controller/detect/severity.h"

namespace kc::audit {

// What an audit event is, as far as the rules care, decided from its envelope (stage, verb,
// resource, subresource, user, response code): Detector::plan.
enum class EventClass : uint8_t {
  // Request-level classes, decided once per request (its first of ResponseStarted and
  // ResponseComplete).
  kSession,        // exec, attach or portforward into a pod
  kNodeProxy,      // the kubelet API through nodes/proxy
  kAnonymous,      // a request by system:anonymous
  kImpersonation,  // a request made while impersonating
  // Object classes, decided on a successful ResponseComplete.
  kPodWrite,              // a pod-carrying object written (or ephemeral containers added) with
                          // a body to judge
  kEphemeralUnrecorded,   // ephemeral containers added, the body not recorded
  kUnjudgedWrite,         // a pod-carrying write whose event lost its bodies (truncated)
  kPodCreateUnrecorded,   // a pod-carrying object created, its body not logged (audit level
                          // Metadata): the request line and the identity only
  kServiceWrite,          // a core Service written
  kAdmissionConfigWrite,  // an admission webhook configuration or admission policy written
  kEventDeletion,         // Kubernetes events deleted
  kRbacWrite,             // a Role, ClusterRole, RoleBinding or ClusterRoleBinding written or
                          // deleted
  kServiceAccountWrite,   // a ServiceAccount created, or a token requested for one
  kCsrWrite,              // a CertificateSigningRequest created, or its approval written
  kNamespaceCreate,       // a Namespace created
  // Decided on every ResponseComplete (any verb, any code) of a bound service account token or
  // a system identity, and of a status write of a pod or a node (their addresses).
  kCredentialUse,
  // Told by the pipeline.
  kAuditIdReuse,  // a request sent with the auditID of an earlier, different request
  // Told by the node door (node/): what a container runtime on a node reports. The audit
  // detector never dispatches these; the node door's rules read them.
  kContainerStart,   // a container started (or found running) on a node
  kContainerExec,    // a process started in a running container through its runtime
  kContainerSample,  // a container's resource use sampled
  kCount
};

// A set of event classes.
struct EventClasses {
  uint32_t bits = 0;
  constexpr EventClasses() = default;
  constexpr EventClasses(std::initializer_list<EventClass> list) {
    for (EventClass c : list) bits |= 1u << static_cast<unsigned>(c);
  }
  constexpr bool has(EventClass c) const { return (bits >> static_cast<unsigned>(c)) & 1u; }
  constexpr bool empty() const { return bits == 0; }
};

struct RuleInfo {
  std::string_view id;  // kebab-case, stable: a metric and Alertmanager label value
  std::string_view technique;
  std::string_view techniqueName;
  std::string_view title;
  Severity lowest, highest;  // the severities its findings take
  EventClasses classes;      // the events it reads
  std::string_view anchor;   // its section in docs/detections.md
};

namespace catalogue_detail {
using C = EventClass;
using S = Severity;
}  // namespace catalogue_detail

// In the order of docs/detections.md.
inline constexpr auto kRuleCatalogue = [] {
  using namespace catalogue_detail;
  return std::array<RuleInfo, 44>{{
      {"policy-violation",
       "T1610",
       "Deploy Container",
       "Admitted object violates an admission policy",
       S::kLow,
       S::kHigh,
       {C::kPodWrite, C::kServiceWrite, C::kSession, C::kContainerStart},
       "policy-violation"},
      {"privileged-container",
       "T1611",
       "Escape to Host",
       "Privileged container",
       S::kHigh,
       S::kHigh,
       {C::kPodWrite},
       "privileged-container"},
      {"host-namespace",
       "T1611",
       "Escape to Host",
       "Pod shares a host namespace",
       S::kMedium,
       S::kHigh,
       {C::kPodWrite},
       "host-namespace"},
      {"host-port",
       "T1610",
       "Deploy Container",
       "Container binds a host port",
       S::kMedium,
       S::kMedium,
       {C::kPodWrite},
       "host-port"},
      {"sensitive-host-path",
       "T1611",
       "Escape to Host",
       "Sensitive host path mounted",
       S::kMedium,
       S::kCritical,
       {C::kPodWrite},
       "sensitive-host-path"},
      {"dangerous-capability",
       "T1611",
       "Escape to Host",
       "Dangerous Linux capability added",
       S::kMedium,
       S::kCritical,
       {C::kPodWrite},
       "dangerous-capability"},
      {"pod-exec",
       "T1609",
       "Container Administration Command",
       "Command executed in a pod",
       S::kLow,
       S::kCritical,
       {C::kSession},
       "pod-exec"},
      {"pod-attach",
       "T1609",
       "Container Administration Command",
       "Attached to a running container",
       S::kMedium,
       S::kMedium,
       {C::kSession},
       "pod-attach"},
      {"pod-portforward",
       "T1572",
       "Protocol Tunneling",
       "Port forwarded into a pod",
       S::kMedium,
       S::kMedium,
       {C::kSession},
       "pod-portforward"},
      {"ephemeral-container",
       "T1610",
       "Deploy Container",
       "Ephemeral container added to a pod",
       S::kHigh,
       S::kHigh,
       {C::kPodWrite, C::kEphemeralUnrecorded},
       "ephemeral-container"},
      {"node-debug-pod",
       "T1611",
       "Escape to Host",
       "Node debugging pod",
       S::kHigh,
       S::kHigh,
       {C::kPodWrite},
       "node-debug-pod"},
      {"mirror-pod",
       "T1610",
       "Deploy Container",
       "Static (mirror) pod created by a node",
       S::kHigh,
       S::kHigh,
       {C::kPodWrite},
       "mirror-pod"},
      {"system-namespace-workload",
       "T1610",
       "Deploy Container",
       "Workload in a system namespace from a non-system identity",
       S::kHigh,
       S::kHigh,
       {C::kPodWrite, C::kPodCreateUnrecorded},
       "system-namespace-workload"},
      {"system-component-name",
       "T1036.005",
       "Masquerading: Match Legitimate Name or Location",
       "Workload named like a system component",
       S::kMedium,
       S::kHigh,
       {C::kPodWrite},
       "system-component-name"},
      {"daemonset-created",
       "T1610",
       "Deploy Container",
       "New DaemonSet",
       S::kMedium,
       S::kMedium,
       {C::kPodWrite, C::kPodCreateUnrecorded},
       "daemonset-created"},
      {"cronjob-created",
       "T1053.007",
       "Scheduled Task/Job: Container Orchestration Job",
       "New CronJob",
       S::kMedium,
       S::kMedium,
       {C::kPodWrite, C::kPodCreateUnrecorded},
       "cronjob-created"},
      {"job-created",
       "T1610",
       "Deploy Container",
       "New Job created by a person or an unexpected identity",
       S::kLow,
       S::kMedium,
       {C::kPodWrite, C::kPodCreateUnrecorded},
       "job-created"},
      {"webhook-config-changed",
       "T1562.001",
       "Impair Defenses: Disable or Modify Tools",
       "Admission webhook or policy configuration changed",
       S::kLow,
       S::kCritical,
       {C::kAdmissionConfigWrite},
       "webhook-config-changed"},
      {"nodes-proxy-access",
       "T1609",
       "Container Administration Command",
       "Kubelet API reached through nodes/proxy",
       S::kLow,
       S::kCritical,
       {C::kNodeProxy},
       "nodes-proxy-access"},
      {"events-deleted",
       "T1070",
       "Indicator Removal",
       "Kubernetes events deleted",
       S::kMedium,
       S::kHigh,
       {C::kEventDeletion},
       "events-deleted"},
      {"service-exposed",
       "T1133",
       "External Remote Services",
       "Service exposed outside the cluster network (NodePort, LoadBalancer)",
       S::kMedium,
       S::kMedium,
       {C::kServiceWrite},
       "service-exposed"},
      {"service-external-ips",
       "T1557",
       "Adversary-in-the-Middle",
       "Service given externalIPs (captures in-cluster traffic to those addresses)",
       S::kHigh,
       S::kHigh,
       {C::kServiceWrite},
       "service-external-ips"},
      {"audit-id-reused",
       "T1562",
       "Impair Defenses",
       "Request sent with the auditID of an earlier request",
       S::kHigh,
       S::kHigh,
       {C::kAuditIdReuse},
       "audit-id-reused"},
      {"unjudged-object",
       "T1562",
       "Impair Defenses",
       "Pod or workload written with no body in the audit log",
       S::kMedium,
       S::kHigh,
       {C::kUnjudgedWrite},
       "unjudged-object"},
      {"anonymous-request-allowed",
       "T1078.001",
       "Valid Accounts: Default Accounts",
       "Anonymous request allowed",
       S::kHigh,
       S::kHigh,
       {C::kAnonymous},
       "anonymous-request-allowed"},
      {"privileged-impersonation",
       "T1078",
       "Valid Accounts",
       "Impersonation of a privileged identity",
       S::kMedium,
       S::kHigh,
       {C::kImpersonation},
       "privileged-impersonation"},
      {"workload-image-changed",
       "T1491.001",
       "Defacement: Internal Defacement",
       "Workload image or command changed by a new identity",
       S::kHigh,
       S::kHigh,
       {C::kPodWrite},
       "workload-image-changed"},
      {"rbac-dangerous-grant",
       "T1098.006",
       "Account Manipulation: Additional Container Cluster Roles",
       "Role or ClusterRole granting a way into pods, nodes or other identities",
       S::kMedium,
       S::kCritical,
       {C::kRbacWrite},
       "rbac-dangerous-grant"},
      {"rbac-privileged-binding",
       "T1098.006",
       "Account Manipulation: Additional Container Cluster Roles",
       "Binding to cluster-admin, system:masters or a role granting a way in",
       S::kMedium,
       S::kCritical,
       {C::kRbacWrite},
       "rbac-privileged-binding"},
      {"system-rbac-changed",
       "T1098.006",
       "Account Manipulation: Additional Container Cluster Roles",
       "Built-in system: ClusterRole or ClusterRoleBinding changed",
       S::kMedium,
       S::kHigh,
       {C::kRbacWrite},
       "system-rbac-changed"},
      {"serviceaccount-token-requested",
       "T1528",
       "Steal Application Access Token",
       "Service account token requested by another identity than the kubelet",
       S::kMedium,
       S::kHigh,
       {C::kServiceAccountWrite},
       "serviceaccount-token-requested"},
      {"serviceaccount-token-stolen",
       "T1550.001",
       "Use Alternate Authentication Material: Application Access Token",
       "Bound service account token or system identity used from another address",
       S::kHigh,
       S::kHigh,
       {C::kCredentialUse},
       "serviceaccount-token-stolen"},
      {"system-serviceaccount-created",
       "T1136",
       "Create Account",
       "Service account created in a system namespace by a non-system identity",
       S::kHigh,
       S::kHigh,
       {C::kServiceAccountWrite},
       "system-serviceaccount-created"},
      {"csr-created",
       "T1649",
       "Steal or Forge Authentication Certificates",
       "Client certificate requested from the cluster's signer",
       S::kMedium,
       S::kCritical,
       {C::kCsrWrite},
       "csr-created-csr-approved"},
      {"csr-approved",
       "T1649",
       "Steal or Forge Authentication Certificates",
       "Certificate signing request approved by hand",
       S::kMedium,
       S::kCritical,
       {C::kCsrWrite},
       "csr-created-csr-approved"},
      {"unexpected-namespace-creator",
       "T1078",
       "Valid Accounts",
       "Namespace created by an identity never seen creating one",
       S::kMedium,
       S::kMedium,
       {C::kNamespaceCreate},
       "unexpected-namespace-creator"},
      {"unexpected-creator",
       "T1078",
       "Valid Accounts",
       "Creator never seen for this kind in this namespace",
       S::kMedium,
       S::kMedium,
       {C::kPodWrite},
       "unexpected-creator-unexpected-image-source-unexpected-user-agent"},
      {"unexpected-image-source",
       "T1610",
       "Deploy Container",
       "Image source never seen for this kind in this namespace",
       S::kMedium,
       S::kMedium,
       {C::kPodWrite},
       "unexpected-creator-unexpected-image-source-unexpected-user-agent"},
      {"unexpected-user-agent",
       "T1078",
       "Valid Accounts",
       "Client never seen creating this kind in this namespace",
       S::kMedium,
       S::kMedium,
       {C::kPodWrite},
       "unexpected-creator-unexpected-image-source-unexpected-user-agent"},
      {"container-outside-kubernetes",
       "T1610",
       "Deploy Container",
       "Container started on a node outside Kubernetes",
       S::kHigh,
       S::kHigh,
       {C::kContainerStart},
       "container-outside-kubernetes"},
      {"container-exec",
       "T1609",
       "Container Administration Command",
       "Command run in a container through its runtime",
       S::kLow,
       S::kCritical,
       {C::kContainerExec},
       "container-exec"},
      {"container-cpu-anomaly",
       "T1496",
       "Resource Hijacking",
       "Container using far more CPU than its workload's learned normal",
       S::kMedium,
       S::kMedium,
       {C::kContainerSample},
       "container-cpu-anomaly-container-memory-anomaly-container-network-anomaly"},
      {"container-memory-anomaly",
       "T1496",
       "Resource Hijacking",
       "Container using far more memory than its workload's learned normal",
       S::kMedium,
       S::kMedium,
       {C::kContainerSample},
       "container-cpu-anomaly-container-memory-anomaly-container-network-anomaly"},
      {"container-network-anomaly",
       "T1048",
       "Exfiltration Over Alternative Protocol",
       "Container moving far more network traffic than its workload's learned normal",
       S::kMedium,
       S::kHigh,
       {C::kContainerSample},
       "container-cpu-anomaly-container-memory-anomaly-container-network-anomaly"},
  }};
}();

static_assert(
    [] {
      for (const RuleInfo& r : kRuleCatalogue) {
        if (r.id.empty() || r.technique.empty() || r.anchor.empty() || r.classes.empty() ||
            r.lowest > r.highest)
          return false;
      }
      return true;
    }(),
    "every row of the catalogue is complete: check the array's size");

// Whether rule `r` reads audit events (the audit door's rules; policy-violation is at both
// doors). The others are the node door's: no requesting identity to trust, no audit setting.
constexpr bool readsAuditEvents(const RuleInfo& r) {
  return (r.classes.bits & ~(EventClasses{EventClass::kContainerStart, EventClass::kContainerExec,
                                          EventClass::kContainerSample}
                                 .bits)) != 0;
}

// The row of rule `id`; nullptr when there is none.
constexpr const RuleInfo* findRule(std::string_view id) {
  for (const RuleInfo& r : kRuleCatalogue) {
    if (r.id == id) return &r;
  }
  return nullptr;
}

}  // namespace kc::audit
