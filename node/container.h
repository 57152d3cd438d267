#pragma once
// The runtime-neutral model of one container on a node (Docker Engine or containerd), its
// Kubernetes classification, and its judgement by the policy engine as the pod it amounts to.
// A Container holds owned strings, each clamped on a UTF-8 boundary where it entered (the
// runtime client), and lists and labels capped in number. Thread-safe: plain data and pure
// functions.

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "policies/engine.h"

namespace kc::node {

enum class Runtime : std::uint8_t { kDocker, kContainerd };
std::string_view runtimeName(Runtime r);  // "docker", "containerd"

// A host path seen inside the container: a bind mount, or a device node passed in.
struct BindMount {
  std::string hostPath;
  std::string containerPath;
  bool readOnly = false;
};

struct Container {
  Runtime runtime = Runtime::kDocker;
  std::string namespace_;  // containerd namespace ("k8s.io" for the kubelet's); "" for Docker
  std::string id;
  std::string name;     // without Docker's leading '/'
  std::string image;    // as the container was created from it, e.g. "ngrok/ngrok:latest"
  std::string imageId;  // content digest, when the runtime gives it
  std::vector<std::string> command;  // entrypoint and arguments, as the process starts
  std::vector<std::pair<std::string, std::string>> labels;  // sorted by key
  std::string user;                                         // "", "1000", "1000:1000", "nobody"
  bool privileged = false;
  std::vector<std::string> capAdd;  // as the runtime gives them ("NET_ADMIN" or "CAP_NET_ADMIN")
  bool hostNetwork = false, hostPID = false, hostIPC = false;
  std::vector<BindMount> binds;    // bind mounts of host paths
  std::vector<BindMount> devices;  // device nodes of the host passed in
  bool readOnlyRootfs = false;
  bool seccompUnconfined = false;
  bool apparmorUnconfined = false;
  bool running = false;
  std::int64_t pid = 0;   // the init process in the host's PID namespace; 0 when not running
  std::string startedAt;  // RFC 3339 as the runtime gives it; "" when never started
  // A string was cut or a list, label set or command was capped on the way in.
  bool clamped = false;

  // The command as one line: the pieces joined with spaces (not quoted), capped at `maxBytes`.
  std::string commandLine(std::size_t maxBytes = 4096) const;
  // The value of `key`, or nullptr.
  const std::string* label(std::string_view key) const;
};

// Labels the kubelet's runtimes put on the containers they make.
inline constexpr std::string_view kLabelPodName = "io.kubernetes.pod.name";
inline constexpr std::string_view kLabelPodNamespace = "io.kubernetes.pod.namespace";
inline constexpr std::string_view kLabelPodUid = "io.kubernetes.pod.uid";
inline constexpr std::string_view kLabelContainerName = "io.kubernetes.container.name";
inline constexpr std::string_view kLabelDockerType = "io.kubernetes.docker.type";  // podsandbox
inline constexpr std::string_view kLabelCriKind = "io.cri-containerd.kind";  // sandbox|container
inline constexpr std::string_view kContainerdKubernetesNamespace = "k8s.io";

// Whether the kubelet made the container, and for which pod. The labels are the runtime's
// word, so anyone who may start a container can claim them: a later check against the API
// server's pods is what tells a real pod from a claimed one.
struct KubernetesInfo {
  bool kubernetes = false;
  bool sandbox = false;       // the pod's sandbox ("pause") container
  std::string podName;        // "" when unknown
  std::string podNamespace;   // "" when unknown
  std::string podUid;         // "" when unknown
  std::string containerName;  // the name in the pod spec; "POD" for Docker sandboxes
};

// Docker: io.kubernetes.pod.name and io.kubernetes.pod.namespace both set (the dockershim and
// cri-dockerd label every container they make, sandboxes included). containerd: the k8s.io
// namespace with those labels or an io.cri-containerd.* label.
KubernetesInfo classify(const Container& c);
// The same from the labels alone (an inventory row, an event's attributes), sorted by key or not.
KubernetesInfo classifyLabels(Runtime runtime, std::string_view containerdNamespace,
                              const std::vector<std::pair<std::string, std::string>>& labels);

// The namespace an outside container is judged in: not a valid Kubernetes namespace name, so no
// policy's namespace exemption ever applies to it by accident.
inline constexpr std::string_view kOutsideNamespace = "<node>";

// The container as a Pod object (JSON text) that the policy engine reads as it reads a pod at
// the admission door: metadata.name (the pod's, else the container's), metadata.namespace (the
// pod's, else `outsideNamespace`), one container named after the pod spec's container (else the
// container's name) with its image, securityContext (privileged, capabilities.add without the
// "CAP_" prefix, runAsUser/runAsGroup when numeric or "root", readOnlyRootFilesystem when set,
// seccompProfile and appArmorProfile "Unconfined" when so), hostNetwork/hostPID/hostIPC, and
// each bind mount and device as a hostPath volume ("host-0", "host-1", ...) mounted at its path
// in the container. Labels are not carried over: the runtime's labels are not the pod's.
std::string podDocument(const Container& c, const KubernetesInfo& k,
                        std::string_view outsideNamespace = kOutsideNamespace);

// The policy engine's verdict on the container, as a CREATE of that Pod with no requesting
// identity (nobody asked the API server). `error` is set, and the verdict empty, only when the
// document could not be read back (never expected).
struct ContainerVerdict {
  policy::Verdict verdict;
  std::string namespace_;  // the namespace it was judged in
  std::string error;
};
ContainerVerdict judge(const policy::PolicySet& policies, const Container& c,
                       const KubernetesInfo& k, std::chrono::sys_seconds now,
                       std::string_view outsideNamespace = kOutsideNamespace);

}  // namespace kc::node
