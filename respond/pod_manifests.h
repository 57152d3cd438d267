#pragma once
// The manifests that isolate a suspicious pod, and stop its owner, for an operator to apply:
// kube-customs holds no Kubernetes API credentials, so `respond isolate-pod` and
// `respond release-pod` print YAML that is piped into `kubectl apply --server-side`.
// Pure functions of their arguments: no I/O, no shared state (thread-safe).

#include <optional>
#include <string>
#include <string_view>

namespace kc::respond {

// The label that puts a pod in quarantine (selected by the deny-all NetworkPolicy) and the
// nodeSelector entry that takes a DaemonSet's pods off every node.
inline constexpr std::string_view kQuarantineLabel = "kube-customs.io/quarantine";
inline constexpr std::string_view kQuarantineValue = "true";
// The deny-all NetworkPolicy, one per namespace, shared by the quarantined pods there.
inline constexpr std::string_view kQuarantinePolicy = "kube-customs-quarantine";
// The server-side apply field manager of every printed document: release-pod must be applied
// with the same one for server-side apply to remove what isolate-pod added.
inline constexpr std::string_view kFieldManager = "kube-customs-respond";

// The workloads that may own the pod (--owner KIND/NAME).
enum class OwnerKind {
  kDeployment,
  kStatefulSet,
  kReplicaSet,
  kReplicationController,
  kDaemonSet,
  kJob,
  kCronJob,
};

// What to isolate or release. `ownerKind` is as the user wrote it ("deploy", "StatefulSet",
// ...; empty without an owner); `replicas` is the count release-pod restores on a scalable
// owner (-1: not given).
struct PodQuarantine {
  std::string namespace_, pod, ownerKind, ownerName;
  int replicas = -1;
};

// A Kubernetes DNS-1123 label (namespaces): at most 63 of [a-z0-9-], alphanumeric at both ends.
bool isDnsLabel(std::string_view s);
// A DNS-1123 subdomain (pod and workload names): at most 253, dot-separated DNS-1123 labels.
bool isDnsSubdomain(std::string_view s);

// The kind for a name, case-insensitive: singular, plural or kubectl's short name ("deploy",
// "sts", "rs", "rc", "ds", "cj"). nullopt for anything else.
std::optional<OwnerKind> ownerKindFromName(std::string_view name);
// "Deployment", "StatefulSet", ...: the Kubernetes kind.
std::string_view kindName(OwnerKind kind);
// True for the kinds with spec.replicas (scaled to 0 by isolate-pod).
bool isScalable(OwnerKind kind);
// The kinds --owner accepts, for usage and error messages.
inline constexpr std::string_view kOwnerKinds =
    "deployment (deploy), statefulset (sts), replicaset (rs), replicationcontroller (rc), "
    "daemonset (ds), job, cronjob (cj)";

// Splits "KIND/NAME" into q.ownerKind and q.ownerName. False and `error` when there is no '/'.
bool parseOwner(std::string_view kindSlashName, PodQuarantine& q, std::string& error);

// Checks every field for isolate-pod (`release` false) or release-pod (`release` true): the
// namespace a DNS-1123 label, the pod and owner names DNS-1123 subdomains, a known owner kind,
// replicas given for a scalable owner on release and nowhere else. False and `error` otherwise.
bool validate(const PodQuarantine& q, bool release, std::string& error);

// The documents of isolate-pod, after a comment header saying what they do and how to apply
// them: the namespace's deny-all NetworkPolicy, the pod's quarantine label, and the owner
// stopped. False and `error` (yaml left empty) when validate() refuses q.
bool isolatePodManifests(const PodQuarantine& q, std::string& yaml, std::string& error);

// The reverse, for the same field manager: the pod without the label, the owner started again.
// The NetworkPolicy is left (its delete command is in the header).
bool releasePodManifests(const PodQuarantine& q, std::string& yaml, std::string& error);

}  // namespace kc::respond
