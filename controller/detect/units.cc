// The unit table: every rule unit, the rules it reports, its maker. A unit's name is the name
// of its file in rules/ and of its test file in test/controller/detect/.
//
// The order is the order in which the units see an event, and so the order of the findings of
// one event: a re-applied policy is reported before what the same write adds (a Service's new
// exposure, a session), and the image-change and baseline units, which update the object's
// memory, come after every rule that compares against it.
#include "controller/detect/rules/units.h"

namespace kc::audit::detect {

const std::vector<UnitInfo>& ruleUnits() {
  static const std::vector<UnitInfo> kUnits = {
      {"ephemeral_container", {"ephemeral-container"}, makeEphemeralContainer},
      {"privileged_container", {"privileged-container"}, makePrivilegedContainer},
      {"host_namespace", {"host-namespace"}, makeHostNamespace},
      {"host_port", {"host-port"}, makeHostPort},
      {"sensitive_host_path", {"sensitive-host-path"}, makeSensitiveHostPath},
      {"dangerous_capability", {"dangerous-capability"}, makeDangerousCapability},
      {"node_debug_pod", {"node-debug-pod"}, makeNodeDebugPod},
      {"mirror_pod", {"mirror-pod"}, makeMirrorPod},
      {"system_namespace_workload", {"system-namespace-workload"}, makeSystemNamespaceWorkload},
      {"system_component_name", {"system-component-name"}, makeSystemComponentName},
      {"policy_violation", {"policy-violation"}, makePolicyViolation},
      {"services", {"service-external-ips", "service-exposed"}, makeServices},
      {"sessions", {"pod-exec", "pod-attach", "pod-portforward"}, makeSessions},
      {"nodes_proxy_access", {"nodes-proxy-access"}, makeNodesProxyAccess},
      {"anonymous_request_allowed", {"anonymous-request-allowed"}, makeAnonymousRequestAllowed},
      {"privileged_impersonation", {"privileged-impersonation"}, makePrivilegedImpersonation},
      {"workload_created",
       {"daemonset-created", "cronjob-created", "job-created"},
       makeWorkloadCreated},
      {"workload_image_changed", {"workload-image-changed"}, makeWorkloadImageChanged},
      {"baseline_rules",
       {"unexpected-creator", "unexpected-image-source", "unexpected-user-agent",
        "unexpected-namespace-creator"},
       makeBaselineRules},
      {"rbac",
       {"rbac-dangerous-grant", "rbac-privileged-binding", "system-rbac-changed"},
       makeRbac},
      {"service_accounts",
       {"serviceaccount-token-requested", "system-serviceaccount-created"},
       makeServiceAccounts},
      {"serviceaccount_token_stolen",
       {"serviceaccount-token-stolen"},
       makeServiceAccountTokenStolen},
      {"certificates", {"csr-created", "csr-approved"}, makeCertificates},
      {"webhook_config_changed", {"webhook-config-changed"}, makeWebhookConfigChanged},
      {"events_deleted", {"events-deleted"}, makeEventsDeleted},
      {"unjudged_object", {"unjudged-object"}, makeUnjudgedObject},
      {"audit_id_reused", {"audit-id-reused"}, makeAuditIdReused},
  };
  return kUnits;
}

}  // namespace kc::audit::detect
