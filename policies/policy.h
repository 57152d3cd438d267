#pragma once
// The in-memory form of one policy document (ImagePolicy or DeploymentPolicy), as the loader
// builds it and the engine evaluates it. See docs/policies.md for the YAML form.
// Thread-safe: plain data, immutable once loaded.

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "policies/image_ref.h"
#include "policies/pss.h"
#include "policies/types.h"

namespace kc::policy {

using Seconds = std::chrono::sys_seconds;

// Where a setting came from, for messages.
struct SourceRef {
  std::string file;
  int line = 0;
};

// Requests or objects a policy does not look at at all.
struct Exemptions {
  std::vector<std::string> namespaces;
  std::vector<std::string> usernames;        // exact, e.g. "system:serviceaccount:ci:deployer"
  std::vector<std::string> groups;           // exact
  std::vector<std::string> serviceAccounts;  // the pod's, "namespace/name"; '*' globs per part
  std::vector<std::string> runtimeClasses;   // the pod's spec.runtimeClassName
  std::vector<ImageGlob> images;             // containers with these images skip image rules
};

// A time-limited waiver of one rule, optionally for one namespace, object name and container.
struct PolicyException {
  std::string rule;        // rule id, e.g. "pss.privileged" or "image.latestTag"
  std::string namespace_;  // "" = any
  std::string name;        // object name glob, "" = any
  std::string container;   // "" = any container (and pod-level findings)
  // Only containers whose image matches (any kind of container); then never pod-level findings.
  std::optional<ImageGlob> image;
  std::string imageTag;  // '*'/'?' glob over the tag, "" = any tag (from "repo:tag" in `image`)
  std::string owner;
  std::string reason;
  Seconds expires{};  // stops applying at this instant
  SourceRef source;

  bool activeAt(Seconds now) const { return now < expires; }
};

struct DeniedImage {
  ImageGlob glob;
  std::string category;  // "tunneling tool", "cryptocurrency miner", ...; empty for user entries
};

struct ImageRules {
  std::vector<ImageGlob> allowed;  // empty: any registry is allowed
  std::vector<DeniedImage> denied;
  // Index over `denied`, built by buildIndex(): "**/<literal>" patterns by literal (sorted), and
  // the positions of every other pattern.
  std::vector<std::pair<std::string, size_t>> deniedBySegment;
  std::vector<size_t> deniedOther;
  bool disallowLatestTag = false;
  bool requireTag = false;  // untagged images (implying "latest") are violations
  bool requireDigest = false;

  void buildIndex();
  // Position in `denied` of the first pattern matching the image, or -1.
  long firstDenied(const std::vector<std::string_view>& name,
                   const std::vector<std::string_view>& familiar) const;
};

struct SystemNamespaceRule {
  bool enabled = false;
  std::vector<std::string> namespaces;        // default kube-system, kube-public, kube-node-lease
  std::vector<std::string> allowedUsernames;  // globs, default kSystemUsernames (loader.h)
  std::vector<std::string> allowedGroups;     // exact, default system:masters, system:nodes
};

// An IP address or a CIDR block ("203.0.113.7", "10.0.0.0/8", "2001:db8::/32").
struct IpBlock {
  int family = 0;  // 4 or 6
  unsigned char bytes[16] = {};
  int prefixBits = 0;
  std::string text;  // as written, for messages
};

// Who may exec into, attach to or port-forward to pods (spec.podConnect of a DeploymentPolicy):
// the API server's CONNECT requests on pods/exec, pods/attach and pods/portforward.
struct PodConnectRules {
  bool enabled = false;
  std::vector<std::string> allowedUsernames;  // '*' globs
  std::vector<std::string> allowedGroups;     // exact
};

// A closed range of ports or ids, as written ("8080" or "9000-9100") for messages.
struct IntRange {
  int64_t min = 0, max = 0;
  std::string text;
  bool contains(int64_t v) const { return v >= min && v <= max; }
};

// What Services may expose (spec.services of a DeploymentPolicy). Absent lists allow anything.
struct ServiceRules {
  std::optional<std::vector<std::string>> allowedTypes;    // ClusterIP, NodePort, ...
  std::optional<std::vector<IpBlock>> allowedExternalIPs;  // empty: no external IPs at all
  std::optional<std::vector<IntRange>> allowedPorts;       // spec.ports[].port
  std::optional<std::vector<IntRange>> allowedNodePorts;   // spec.ports[].nodePort, when set
  bool denyInternalExternalNames = false;  // ExternalName to localhost, link-local, in-cluster
  bool any() const {
    return allowedTypes.has_value() || allowedExternalIPs.has_value() || allowedPorts.has_value() ||
           allowedNodePorts.has_value() || denyInternalExternalNames;
  }
};

// spec.capabilities of a DeploymentPolicy, independent of the PSS levels. Names are kept as the
// runtime reads them: upper case, without the "CAP_" prefix; "ALL" stands for every one.
struct CapabilityRules {
  std::optional<std::vector<std::string>> requiredDrop;  // each must be dropped ("ALL" covers all)
  std::optional<std::vector<std::string>> allowedAdd;    // empty: nothing may be added
  bool any() const { return requiredDrop.has_value() || allowedAdd.has_value(); }
};

// spec.sysctls of a DeploymentPolicy: names in the kernel's dotted form; an entry ending in "*"
// is a prefix.
struct SysctlRules {
  bool enabled = false;                             // the block is present: values are checked too
  std::optional<std::vector<std::string>> allowed;  // absent: any name not forbidden
  std::vector<std::string> forbidden;
};

// spec.runAsUser, runAsGroup, fsGroup or supplementalGroups of a DeploymentPolicy.
struct IdRule {
  bool enabled = false;
  bool required = true;           // unset is a violation
  std::vector<IntRange> allowed;  // empty: any value, once set
};

struct DeploymentRules {
  std::optional<PssLevelVersion> podSecurity;
  SystemNamespaceRule systemNamespaces;
  std::vector<std::string> allowedServiceAccounts;  // "name" or "namespace/name", '*' globs
  std::optional<std::vector<std::string>> allowedHostPaths;  // path prefixes
  // Parallel to allowedHostPaths: true where that prefix allows read-only mounts only.
  std::vector<bool> allowedHostPathReadOnly;
  bool denyRuntimeSockets = false;  // hostPath volumes that reach a container runtime's socket
  ServiceRules services;
  PodConnectRules podConnect;
  bool requireReadOnlyRootFilesystem = false;
  bool requireImagePullPolicyAlways = false;  // for images without a digest
  bool forbidEphemeralContainers = false;
  CapabilityRules capabilities;
  std::optional<std::vector<IntRange>> allowedHostPorts;  // empty: no hostPort at all
  SysctlRules sysctls;
  IdRule runAsUser, runAsGroup, fsGroup, supplementalGroups;
  // Localhost profiles allowed ('*' '?' globs); absent: any. Only Localhost profiles are judged.
  std::optional<std::vector<std::string>> allowedSeccompProfiles, allowedAppArmorProfiles;
  std::optional<std::vector<std::string>> allowedFlexVolumeDrivers;  // exact driver names

  // Whether any rule looks at pods (a policy may hold Service rules only).
  bool judgesPods() const {
    return podSecurity.has_value() || systemNamespaces.enabled || !allowedServiceAccounts.empty() ||
           allowedHostPaths.has_value() || denyRuntimeSockets || requireReadOnlyRootFilesystem ||
           requireImagePullPolicyAlways || forbidEphemeralContainers || capabilities.any() ||
           allowedHostPorts.has_value() || sysctls.enabled || runAsUser.enabled ||
           runAsGroup.enabled || fsGroup.enabled || supplementalGroups.enabled ||
           allowedSeccompProfiles.has_value() || allowedAppArmorProfiles.has_value() ||
           allowedFlexVolumeDrivers.has_value();
  }
};

enum class PolicyKind { kImage, kDeployment };

struct Policy {
  std::string name;
  PolicyKind kind = PolicyKind::kImage;
  Mode mode = Mode::kEnforce;
  std::map<std::string, Mode> namespaceModes;
  bool enforceTemplates = false;  // deny workload templates too, not only warn
  Exemptions exemptions;
  std::vector<PolicyException> exceptions;
  ImageRules images;           // kImage
  DeploymentRules deployment;  // kDeployment
  SourceRef source;

  Mode modeFor(std::string_view ns) const {
    auto it = namespaceModes.find(std::string(ns));
    return it == namespaceModes.end() ? mode : it->second;
  }
};

}  // namespace kc::policy
