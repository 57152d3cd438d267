#pragma once
// The rules behind ImagePolicy and DeploymentPolicy: each turns one PodModel into Violations
// with a stable rule id, the container, the JSON path of the field and a message that says what
// would be accepted. Pure functions, no I/O. Thread-safe.
//
// Rule ids:
//   image.invalidReference  image missing or not a valid reference
//   image.notAllowed        image outside spec.allowedImages
//   image.denied            image matches spec.deniedImages (or the default tool list)
//   image.latestTag         tag "latest" without a digest
//   image.untagged          neither tag nor digest (the runtime pulls "latest")
//   image.digestRequired    no digest (sha256 or sha512)
//   pss.<check>             a Pod Security Standards check, e.g. pss.privileged
//   namespace.system        workload in a system namespace from a non-system identity
//   serviceAccount.notAllowed
//   hostPath.notAllowed
//   hostPath.notReadOnly         a host path allowed read-only, mounted writable
//   hostPath.runtimeSocket       a hostPath volume that is or holds a container runtime socket
//   service.typeNotAllowed       Service type outside spec.services.allowedTypes
//   service.externalIPNotAllowed external IP outside spec.services.allowedExternalIPs
//   service.portNotAllowed       a Service port outside spec.services.allowedPorts
//   service.nodePortNotAllowed   a nodePort outside spec.services.allowedNodePorts
//   service.externalNameNotAllowed  an ExternalName to localhost, loopback, link-local or a
//                                cluster-internal name
//   podConnect.notAllowed        exec, attach or port-forward by an identity not allowed
//   readOnlyRootFilesystem.required  a container without readOnlyRootFilesystem: true
//   imagePullPolicy.notAlways    a container whose image has no digest and is not pulled Always
//   ephemeralContainers.notAllowed   an ephemeral container where spec.ephemeralContainers forbids
//   capabilities.dropRequired    a container not dropping spec.capabilities.requiredDrop
//   capabilities.addNotAllowed   a container adding a capability outside allowedAdd
//   hostPort.notAllowed          a hostPort outside spec.hostPorts.allowed
//   sysctl.notAllowed            a sysctl forbidden or outside spec.sysctls.allowed
//   sysctl.invalidValue          a sysctl value that would set more than its own sysctl
//   runAsUser.notAllowed, runAsGroup.notAllowed  a container's effective id unset or outside
//                                the allowed ranges (the container's own over the pod's)
//   fsGroup.notAllowed, supplementalGroups.notAllowed  the pod's groups unset or outside
//   seccomp.profileNotAllowed    a Localhost seccomp profile outside the allow-list
//   appArmor.profileNotAllowed   a Localhost AppArmor profile outside the allow-list
//   flexVolume.driverNotAllowed  a flexVolume driver outside the allow-list

#include <string>
#include <string_view>
#include <vector>

#include "policies/image_ref.h"
#include "policies/pod_spec.h"
#include "policies/policy.h"
#include "policies/types.h"

namespace kc::policy {

struct DefaultDeniedImage {
  std::string_view pattern;
  std::string_view category;
  std::string_view tool;
};

// The documented default list of tunneling tools, miners and attack kits (docs/policies.md).
const std::vector<DefaultDeniedImage>& defaultDeniedImages();

// One container's image reference, parsed once per evaluation and shared by every image policy.
struct ParsedImage {
  bool ok = false;
  ImageRef ref;
  std::string error;                             // why it is invalid, when !ok and set
  std::string storage;                           // backs `name` and `familiar`
  std::vector<std::string_view> name, familiar;  // from imageNameSegments()
};

// Parses the image of every container of `pod`, in order (out[i] is pod.containers[i]). Past
// the deadline it stops: false, and `out` holds the containers parsed until then.
bool parseImages(const PodModel& pod, std::vector<ParsedImage>& out,
                 DeadlineCheck* deadline = nullptr);

// Appends the image rule violations of `policy` for every container of `pod`; `images` from
// parseImages(pod, ...). Past the deadline it stops: false, with the violations found until then.
bool checkImages(const Policy& policy, const PodModel& pod, const std::vector<ParsedImage>& images,
                 std::vector<Violation>& out, DeadlineCheck* deadline = nullptr);

// PSS part of a DeploymentPolicy; returns the failures (exceptions not yet applied).
PssResult checkPodSecurity(const Policy& policy, const PodModel& pod);

// Non-PSS deployment rules (system namespaces, service accounts, hostPath allow-list). Past
// the deadline it stops between rules: false, with the violations found until then.
bool checkDeploymentRules(const Policy& policy, const PodModel& pod, const EvalInput& in,
                          std::vector<Violation>& out, DeadlineCheck* deadline = nullptr);

// The opt-in container rules (read-only root file system, pull policy, ephemeral containers,
// capabilities, hostPorts, sysctls, user and group ids); called by checkDeploymentRules. Past
// the deadline it stops between rules: false.
bool checkContainerRules(const Policy& policy, const PodModel& pod, std::vector<Violation>& out,
                         DeadlineCheck* deadline = nullptr);

// A sysctl name in the kernel's dotted form ("net/ipv4/ip_forward" is "net.ipv4.ip_forward").
std::string sysctlKernelName(std::string_view name);
// `pattern` is a dotted name, or a prefix ending in "*".
bool sysctlMatches(std::string_view pattern, std::string_view name);
// True when a sysctl value could set a second sysctl or more than its own (CVE-2022-0811).
bool sysctlValueSmuggles(std::string_view value);

// The Service types Kubernetes knows.
inline constexpr std::string_view kServiceTypes[] = {"ClusterIP", "NodePort", "LoadBalancer",
                                                     "ExternalName"};

// A Service's type (ClusterIP when unset) and its externalIPs as written. A type that is not a
// string reads as ""; externalIPs that are not a list of strings set invalidExternalIPs. The
// rules judge both as not allowed.
struct ServiceExposureModel {
  std::string_view type = "ClusterIP";
  std::vector<std::string_view> externalIPs;
  bool invalidExternalIPs = false;
  // spec.ports[].port and .nodePort (0 when unset), in order; a port that is not an integer is
  // -1, a list that cannot be read sets invalidPorts.
  std::vector<std::pair<int64_t, int64_t>> ports;
  bool invalidPorts = false;
  std::string_view externalName;  // "<unreadable>" when not a string
  bool operator==(const ServiceExposureModel&) const = default;
};
ServiceExposureModel readServiceExposure(simdjson::dom::element service);

// The spec.services rules of a DeploymentPolicy against one Service.
void checkServiceRules(const Policy& policy, const ServiceExposureModel& service,
                       std::vector<Violation>& out);

// spec.podConnect of a DeploymentPolicy against an exec, attach or port-forward request
// (in.subResource) into pod in.name; in.object is the request's PodExecOptions,
// PodAttachOptions or PodPortForwardOptions, read only for the message (null is fine).
void checkPodConnectRules(const Policy& policy, const EvalInput& in, std::vector<Violation>& out);

// Why an ExternalName `name` points inside the node or the cluster, or "" when it does not.
std::string internalExternalName(std::string_view name);

// "192.0.2.7", "10.0.0.0/8", "2001:db8::/32" (no zone, no leading zeros in the prefix length).
bool parseIpBlock(std::string_view s, IpBlock& out);
// True when `ip` is an address inside `block` (same family).
bool ipInBlock(std::string_view ip, const IpBlock& block);

// `*` (any run of characters) and `?` over the whole string; for user names, service accounts
// and object names.
bool wildcardMatch(std::string_view pattern, std::string_view s);

// True when `path` equals `prefix` or lies below it on a '/' boundary; ".." never matches.
bool hostPathUnder(std::string_view path, std::string_view prefix);

}  // namespace kc::policy
