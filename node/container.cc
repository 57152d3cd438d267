#include "node/container.h"

#include <simdjson.h>

#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>

#include "common/utf8.h"

namespace kc::node {

std::string_view runtimeName(Runtime r) {
  return r == Runtime::kContainerd ? "containerd" : "docker";
}

std::string Container::commandLine(std::size_t maxBytes) const {
  utf8::CappedText text(maxBytes);
  for (const auto& piece : command) text.add(" ", piece);
  return std::move(text).finish("arguments");
}

const std::string* Container::label(std::string_view key) const {
  auto it = std::lower_bound(labels.begin(), labels.end(), key,
                             [](const auto& kv, std::string_view k) { return kv.first < k; });
  if (it != labels.end() && it->first == key) return &it->second;
  // Labels from elsewhere may not be sorted: fall back to a scan.
  for (const auto& [k, v] : labels)
    if (k == key) return &v;
  return nullptr;
}

namespace {

const std::string* findLabel(const std::vector<std::pair<std::string, std::string>>& labels,
                             std::string_view key) {
  for (const auto& [k, v] : labels)
    if (k == key) return &v;
  return nullptr;
}

}  // namespace

KubernetesInfo classifyLabels(Runtime runtime, std::string_view containerdNamespace,
                              const std::vector<std::pair<std::string, std::string>>& labels) {
  KubernetesInfo k;
  const std::string* podName = findLabel(labels, kLabelPodName);
  const std::string* podNamespace = findLabel(labels, kLabelPodNamespace);
  const std::string* criKind = findLabel(labels, kLabelCriKind);
  const std::string* dockerType = findLabel(labels, kLabelDockerType);
  const std::string* containerName = findLabel(labels, kLabelContainerName);
  const bool labelled =
      podName != nullptr && podNamespace != nullptr && !podName->empty() && !podNamespace->empty();
  if (runtime == Runtime::kDocker) {
    k.kubernetes = labelled;
  } else {
    bool criLabel = false;
    for (const auto& [key, value] : labels)
      if (key.rfind("io.cri-containerd.", 0) == 0) criLabel = true;
    k.kubernetes = containerdNamespace == kContainerdKubernetesNamespace && (labelled || criLabel);
  }
  if (!k.kubernetes) return k;
  if (podName) k.podName = *podName;
  if (podNamespace) k.podNamespace = *podNamespace;
  if (const std::string* uid = findLabel(labels, kLabelPodUid)) k.podUid = *uid;
  if (containerName) k.containerName = *containerName;
  k.sandbox = (dockerType && *dockerType == "podsandbox") || (criKind && *criKind == "sandbox") ||
              (containerName && *containerName == "POD");
  return k;
}

KubernetesInfo classify(const Container& c) {
  return classifyLabels(c.runtime, c.namespace_, c.labels);
}

namespace {

bool numeric(std::string_view s) {
  return !s.empty() && s.size() <= 10 &&
         std::all_of(s.begin(), s.end(), [](char ch) { return ch >= '0' && ch <= '9'; });
}

// "CAP_NET_ADMIN" and "net_admin" as Kubernetes writes them: "NET_ADMIN".
std::string kubernetesCapability(std::string cap) {
  std::transform(cap.begin(), cap.end(), cap.begin(),
                 [](unsigned char ch) { return static_cast<char>(std::toupper(ch)); });
  if (cap.rfind("CAP_", 0) == 0) cap.erase(0, 4);
  return cap;
}

}  // namespace

std::string podDocument(const Container& c, const KubernetesInfo& k,
                        std::string_view outsideNamespace) {
  using nlohmann::ordered_json;
  const std::string containerName = !k.containerName.empty() ? k.containerName
                                    : !c.name.empty()        ? c.name
                                                             : c.id.substr(0, 12);
  ordered_json metadata = {
      {"name", !k.podName.empty() ? k.podName : containerName},
      {"namespace", !k.podNamespace.empty() ? k.podNamespace : std::string(outsideNamespace)}};
  ordered_json sc = ordered_json::object();
  if (c.privileged) sc["privileged"] = true;
  if (!c.capAdd.empty()) {
    ordered_json add = ordered_json::array();
    for (const auto& cap : c.capAdd) add.push_back(kubernetesCapability(cap));
    sc["capabilities"] = {{"add", add}};
  }
  // "uid[:gid]": numbers only; a name is resolved inside the image and stays unknown here.
  const std::string_view user = c.user;
  const auto colon = user.find(':');
  const std::string_view uid = user.substr(0, colon);
  const std::string_view gid = colon == std::string_view::npos ? "" : user.substr(colon + 1);
  if (numeric(uid))
    sc["runAsUser"] = std::stoll(std::string(uid));
  else if (uid == "root")
    sc["runAsUser"] = 0;
  if (numeric(gid)) sc["runAsGroup"] = std::stoll(std::string(gid));
  if (c.readOnlyRootfs) sc["readOnlyRootFilesystem"] = true;
  if (c.seccompUnconfined) sc["seccompProfile"] = {{"type", "Unconfined"}};
  if (c.apparmorUnconfined) sc["appArmorProfile"] = {{"type", "Unconfined"}};

  ordered_json container = {{"name", containerName}, {"image", c.image}};
  if (!sc.empty()) container["securityContext"] = sc;
  ordered_json volumes = ordered_json::array();
  ordered_json mounts = ordered_json::array();
  auto addHostPath = [&](const BindMount& m) {
    const std::string name = "host-" + std::to_string(volumes.size());
    volumes.push_back({{"name", name}, {"hostPath", {{"path", m.hostPath}}}});
    ordered_json mount = {{"name", name}, {"mountPath", m.containerPath}};
    if (m.readOnly) mount["readOnly"] = true;
    mounts.push_back(mount);
  };
  for (const auto& b : c.binds) addHostPath(b);
  for (const auto& d : c.devices) addHostPath(d);
  if (!mounts.empty()) container["volumeMounts"] = mounts;

  ordered_json spec = ordered_json::object();
  if (c.hostNetwork) spec["hostNetwork"] = true;
  if (c.hostPID) spec["hostPID"] = true;
  if (c.hostIPC) spec["hostIPC"] = true;
  spec["containers"] = ordered_json::array({container});
  if (!volumes.empty()) spec["volumes"] = volumes;
  const ordered_json pod = {
      {"apiVersion", "v1"}, {"kind", "Pod"}, {"metadata", metadata}, {"spec", spec}};
  return pod.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

ContainerVerdict judge(const policy::PolicySet& policies, const Container& c,
                       const KubernetesInfo& k, std::chrono::sys_seconds now,
                       std::string_view outsideNamespace) {
  ContainerVerdict out;
  const std::string text = podDocument(c, k, outsideNamespace);
  simdjson::dom::parser parser;
  simdjson::dom::element pod;
  if (parser.parse(text).get(pod) != simdjson::SUCCESS) {
    out.error = "the container's pod document could not be read back";
    return out;
  }
  std::string_view name, ns;
  if (pod["metadata"]["name"].get_string().get(name) != simdjson::SUCCESS ||
      pod["metadata"]["namespace"].get_string().get(ns) != simdjson::SUCCESS) {
    out.error = "the container's pod document has no name or namespace";
    return out;
  }
  policy::EvalInput in;
  in.operation = "CREATE";
  in.group = "";
  in.version = "v1";
  in.kind = "Pod";
  in.namespace_ = ns;
  in.name = name;
  in.object = pod;
  in.now = now;
  out.verdict = policies.evaluate(in);
  out.namespace_ = std::string(ns);
  return out;
}

}  // namespace kc::node
