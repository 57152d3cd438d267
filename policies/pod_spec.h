#pragma once
// A compact, read-only model of the pod inside any pod-carrying object (Pod, the template of
// Deployment/ReplicaSet/StatefulSet/DaemonSet/Job/ReplicationController/PodTemplate, CronJob's
// jobTemplate), holding exactly what the rules read. Strings are views into the simdjson
// document, which must outlive the model. A security-relevant field with the wrong JSON type is
// kept as "invalid" and listed in PodModel::unreadable, so rules fail closed instead of
// skipping it. Thread-safe: plain data; extractPod has no shared state.

#include <simdjson.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace kc::policy {

// A JSON boolean that may be absent or of the wrong type.
enum class Tri : uint8_t { kUnset, kFalse, kTrue, kInvalid };

struct OptString {
  bool set = false;      // present and not null
  bool invalid = false;  // present with a non-string type
  std::string_view value;
};

struct OptInt {
  bool set = false;
  bool invalid = false;
  int64_t value = 0;
};

struct SeLinuxModel {
  bool set = false;  // the seLinuxOptions object is present
  OptString type, user, role;
};

struct StringList {
  bool set = false;
  bool invalid = false;  // not an array, or an element is not a string
  std::vector<std::string_view> items;
};

// One entry of the pod's securityContext.sysctls.
struct SysctlModel {
  std::string_view name;
  OptString value;
};

// Fields shared by PodSecurityContext and SecurityContext; container-only ones are unused at pod
// level and vice versa.
struct SecurityContextModel {
  bool set = false;
  bool invalid = false;  // present but not an object
  Tri privileged = Tri::kUnset;
  Tri allowPrivilegeEscalation = Tri::kUnset;
  Tri runAsNonRoot = Tri::kUnset;
  OptInt runAsUser;
  OptString procMount;
  bool seccompSet = false;  // seccompProfile object present
  OptString seccompType;
  OptString seccompLocalhost;  // seccompProfile.localhostProfile (opt-in rules only)
  bool appArmorSet = false;    // appArmorProfile object present
  OptString appArmorType;
  OptString appArmorLocalhost;  // appArmorProfile.localhostProfile (opt-in rules only)
  bool capabilitiesSet = false;
  StringList capAdd, capDrop;
  SeLinuxModel seLinux;
  Tri windowsHostProcess = Tri::kUnset;
  StringList sysctlNames;            // pod level only
  std::vector<SysctlModel> sysctls;  // pod level only; those with a readable name, in order
  // Read for the opt-in DeploymentPolicy rules only: a wrong type there is judged by those rules
  // and does not make the pod unreadable for the Pod Security Standards.
  Tri readOnlyRootFilesystem = Tri::kUnset;
  OptInt runAsGroup;
  OptInt fsGroup;                          // pod level only
  bool supplementalGroupsInvalid = false;  // pod level only
  std::vector<int64_t> supplementalGroups;
};

enum class ContainerKind : uint8_t { kInit, kRegular, kEphemeral };

// One entry of a container's volumeMounts, read for the opt-in hostPath rules only (a wrong type
// there is judged by them, not listed as unreadable).
struct VolumeMountModel {
  std::string_view name;
  std::string_view subPath;  // "" when unset; subPathExpr is kept as `expanded`
  bool expanded = false;     // subPathExpr: the path is only known on the node
  Tri readOnly = Tri::kUnset;
  bool invalid = false;  // the entry or one of its fields has the wrong type
};

struct ContainerModel {
  ContainerKind kind = ContainerKind::kRegular;
  int index = 0;  // position within its own list
  std::string_view name;
  OptString image;
  OptString imagePullPolicy;  // not listed in PodModel::unreadable when of the wrong type
  SecurityContextModel sc;
  std::vector<int64_t> hostPorts;  // non-zero hostPort values, in order; -1 when unreadable
  std::vector<std::string_view> probeHosts;  // non-empty probe/lifecycle httpGet/tcpSocket hosts
  std::vector<VolumeMountModel> mounts;
};

struct VolumeModel {
  std::string_view name;
  std::string_view type;      // the source key, e.g. "hostPath", "configMap"; "" when none is given
  std::string_view hostPath;  // spec path of a hostPath volume
  OptString flexDriver;       // flexVolume.driver (opt-in rules only)
  bool invalid = false;
};

struct Unreadable {
  std::string field;     // JSON path, e.g. "spec.containers[0].securityContext.privileged"
  std::string expected;  // "boolean", "object", ...
};

struct PodModel {
  std::string_view kind;
  std::string specPath;  // "spec", "spec.template.spec", "spec.jobTemplate.spec.template.spec"
  std::string_view name, namespace_;
  std::vector<std::pair<std::string_view, std::string_view>> labels, annotations;  // of the pod
  Tri hostNetwork = Tri::kUnset, hostPID = Tri::kUnset, hostIPC = Tri::kUnset;
  Tri hostUsers = Tri::kUnset;
  OptString osName, serviceAccountName, runtimeClassName, nodeName;
  SecurityContextModel sc;
  std::vector<ContainerModel> containers;  // init, regular, then ephemeral containers
  std::vector<VolumeModel> volumes;
  std::vector<Unreadable> unreadable;

  // "spec.initContainers[2]" style path of a container, with the template prefix.
  std::string containerPath(const ContainerModel& c) const;
  bool isWindows() const { return osName.set && osName.value == "windows"; }
  // spec.hostUsers == false: the pod runs in a user namespace.
  bool userNamespace() const { return hostUsers == Tri::kFalse; }
  std::string_view annotation(std::string_view key, bool* found = nullptr) const;
};

// True for kinds that carry a pod spec (see header comment).
bool isPodCarryingKind(std::string_view kind);

enum class ExtractStatus { kOk, kNotPodCarrying, kNoPodSpec };

// Fills `out` from `object`. `kind` may be empty, then object.kind is used. kNoPodSpec means
// the kind carries a pod but the spec is missing or not an object (out.unreadable says which).
ExtractStatus extractPod(simdjson::dom::element object, std::string_view kind, PodModel& out);

}  // namespace kc::policy
