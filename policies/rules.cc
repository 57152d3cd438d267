#include "policies/rules.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <cstring>

#include "common/utf8.h"

namespace kc::policy {
namespace {

std::string quote(std::string_view s) { return "\"" + std::string(s) + "\""; }

// `"a", "b", "c"`: each item's text (through `text`) quoted, for messages.
template <typename T, typename Text>
std::string quotedList(const std::vector<T>& items, Text text) {
  std::string list;
  for (size_t i = 0; i < items.size(); ++i) list += (i ? ", " : "") + quote(text(items[i]));
  return list;
}
std::string quotedList(const std::vector<std::string>& items) {
  return quotedList(items, [](const std::string& s) -> std::string_view { return s; });
}

// True when the requester is one of `usernames` (globs) or in one of `groups` (exact).
bool identityListed(const UserRef& user, const std::vector<std::string>& usernames,
                    const std::vector<std::string>& groups) {
  return (!user.username.empty() &&
          std::any_of(usernames.begin(), usernames.end(),
                      [&](const std::string& g) { return wildcardMatch(g, user.username); })) ||
         std::any_of(user.groups.begin(), user.groups.end(), [&](std::string_view g) {
           return std::find(groups.begin(), groups.end(), g) != groups.end();
         });
}

}  // namespace

bool wildcardMatch(std::string_view pattern, std::string_view s) {
  size_t pi = 0, si = 0, star = std::string_view::npos, mark = 0;
  while (si < s.size()) {
    if (pi < pattern.size() && (pattern[pi] == s[si] || pattern[pi] == '?')) {
      ++pi, ++si;
    } else if (pi < pattern.size() && pattern[pi] == '*') {
      star = pi++;
      mark = si;
    } else if (star != std::string_view::npos) {
      pi = star + 1;
      si = ++mark;
    } else {
      return false;
    }
  }
  while (pi < pattern.size() && pattern[pi] == '*') ++pi;
  return pi == pattern.size();
}

namespace {

std::string containerLabel(const ContainerModel& c) {
  switch (c.kind) {
    case ContainerKind::kInit:
      return "init container " + quote(c.name);
    case ContainerKind::kEphemeral:
      return "ephemeral container " + quote(c.name);
    case ContainerKind::kRegular:
      break;
  }
  return "container " + quote(c.name);
}

Violation make(const Policy& p, std::string rule, std::string container, std::string field,
               std::string message) {
  Violation v;
  v.policy = p.name;
  v.rule = std::move(rule);
  v.container = std::move(container);
  v.field = std::move(field);
  v.message = std::move(message);
  v.mode = p.mode;
  return v;
}

std::string allowedList(const std::vector<ImageGlob>& allowed) {
  std::string s;
  for (size_t i = 0; i < allowed.size() && i < 5; ++i) {
    if (i) s += ", ";
    s += quote(allowed[i].pattern());
  }
  if (allowed.size() > 5) s += ", ...";
  return s;
}

}  // namespace

const std::vector<DefaultDeniedImage>& defaultDeniedImages() {
  static const std::vector<DefaultDeniedImage> kList = {
      // Tunneling and reverse-proxy tools that open a channel out of the cluster network.
      {"**/ngrok", "tunneling tool", "ngrok"},
      {"ngrok/**", "tunneling tool", "ngrok"},
      {"**/chisel", "tunneling tool", "chisel"},
      {"**/frp", "tunneling tool", "frp"},
      {"**/frpc", "tunneling tool", "frp client"},
      {"**/frps", "tunneling tool", "frp server"},
      {"**/cloudflared", "tunneling tool", "cloudflared"},
      {"**/gost", "tunneling tool", "gost"},
      {"**/bore", "tunneling tool", "bore"},
      {"**/inlets", "tunneling tool", "inlets"},
      {"**/inlets-pro", "tunneling tool", "inlets"},
      {"inlets/**", "tunneling tool", "inlets"},
      {"**/rathole", "tunneling tool", "rathole"},
      {"**/ligolo-ng", "tunneling tool", "ligolo-ng"},
      {"**/localtunnel", "tunneling tool", "localtunnel"},
      {"**/zrok", "tunneling tool", "zrok"},
      {"**/iodine", "tunneling tool", "iodine (DNS tunnel)"},
      {"**/dnscat2", "tunneling tool", "dnscat2 (DNS tunnel)"},
      {"**/ptunnel", "tunneling tool", "ptunnel (ICMP tunnel)"},
      // Cryptocurrency miners.
      {"**/xmrig", "cryptocurrency miner", "XMRig"},
      {"**/xmrig-*", "cryptocurrency miner", "XMRig"},
      {"**/xmr-stak", "cryptocurrency miner", "xmr-stak"},
      {"**/cpuminer", "cryptocurrency miner", "cpuminer"},
      {"**/cpuminer-opt", "cryptocurrency miner", "cpuminer-opt"},
      {"**/minerd", "cryptocurrency miner", "minerd"},
      {"**/ethminer", "cryptocurrency miner", "ethminer"},
      {"**/nbminer", "cryptocurrency miner", "NBMiner"},
      {"**/t-rex", "cryptocurrency miner", "T-Rex"},
      {"**/lolminer", "cryptocurrency miner", "lolMiner"},
      {"**/phoenixminer", "cryptocurrency miner", "PhoenixMiner"},
      {"**/teamredminer", "cryptocurrency miner", "TeamRedMiner"},
      {"**/nanominer", "cryptocurrency miner", "nanominer"},
      {"**/srbminer-multi", "cryptocurrency miner", "SRBMiner"},
      // Offensive security distributions and frameworks.
      {"kalilinux/**", "attack toolkit", "Kali Linux"},
      {"**/kali-rolling", "attack toolkit", "Kali Linux"},
      {"**/kali-linux", "attack toolkit", "Kali Linux"},
      {"parrotsec/**", "attack toolkit", "Parrot Security"},
      {"metasploitframework/**", "attack toolkit", "Metasploit"},
      {"**/metasploit", "attack toolkit", "Metasploit"},
      {"**/metasploit-framework", "attack toolkit", "Metasploit"},
      {"bcsecurity/empire", "attack toolkit", "Empire"},
      {"**/sliver", "attack toolkit", "Sliver C2"},
      {"**/cobaltstrike", "attack toolkit", "Cobalt Strike"},
  };
  return kList;
}

bool parseImages(const PodModel& pod, std::vector<ParsedImage>& out, DeadlineCheck* deadline) {
  out.resize(pod.containers.size());
  for (size_t i = 0; i < pod.containers.size(); ++i) {
    if (deadline != nullptr && i % kDeadlineStride == kDeadlineStride - 1) {
      deadline->add(kDeadlineStride);
      if (deadline->passed()) {
        out.resize(i);
        return false;
      }
    }
    const ContainerModel& c = pod.containers[i];
    ParsedImage& img = out[i];
    img.ok = false;
    img.error.clear();
    if (!c.image.set || c.image.value.empty()) continue;
    img.ok = parseImageRef(c.image.value, img.ref, &img.error);
    if (img.ok) imageNameSegments(img.ref, img.storage, img.name, img.familiar);
  }
  return true;
}

bool checkImages(const Policy& p, const PodModel& pod, const std::vector<ParsedImage>& images,
                 std::vector<Violation>& out, DeadlineCheck* deadline) {
  const ImageRules& r = p.images;
  // A container's cost grows with the patterns it is matched against one by one.
  const std::size_t work =
      kDeadlineStride * (1 + (r.allowed.size() + p.exemptions.images.size()) / 16);
  for (size_t ci = 0; ci < pod.containers.size() && ci < images.size(); ++ci) {
    if (deadline != nullptr && ci % kDeadlineStride == kDeadlineStride - 1) {
      deadline->add(work);
      if (deadline->passed()) return false;
    }
    const ContainerModel& c = pod.containers[ci];
    auto field = [&] { return pod.containerPath(c) + ".image"; };
    auto who = [&] { return containerLabel(c); };
    if (!c.image.set || c.image.value.empty()) {
      out.push_back(
          make(p, "image.invalidReference", std::string(c.name), field(),
               who() + (c.image.invalid ? " has an image that is not a string" : " has no image") +
                   "; set an image reference such as \"registry.example.com/team/app:1.2.3\""));
      continue;
    }
    const ParsedImage& parsed = images[ci];
    if (!parsed.ok) {
      out.push_back(
          make(p, "image.invalidReference", std::string(c.name), field(),
               who() + " has invalid image " + quote(c.image.value) + ": " + parsed.error));
      continue;
    }
    const ImageRef& ref = parsed.ref;
    const auto& name = parsed.name;
    auto matches = [&](const ImageGlob& g) { return g.matches(name, parsed.familiar); };
    if (std::any_of(p.exemptions.images.begin(), p.exemptions.images.end(), matches)) continue;
    auto img = [&] { return quote(c.image.value); };
    if (long di = r.firstDenied(name, parsed.familiar); di >= 0) {
      const DeniedImage& d = r.denied[static_cast<size_t>(di)];
      std::string why = d.category.empty() ? std::string() : " (" + d.category + ")";
      out.push_back(make(p, "image.denied", std::string(c.name), field(),
                         who() + " uses denied image " + img() + ", matched by " +
                             quote(d.glob.pattern()) + why +
                             "; use an image that is not on the denied list" +
                             (r.allowed.empty() ? "" : " from " + allowedList(r.allowed))));
    }
    if (!r.allowed.empty() && std::none_of(r.allowed.begin(), r.allowed.end(), matches)) {
      out.push_back(
          make(p, "image.notAllowed", std::string(c.name), field(),
               who() + " uses image " + img() + " (" + ref.name() +
                   ") which is not in the allowed images; allowed: " + allowedList(r.allowed)));
    }
    if (r.disallowLatestTag && ref.tag == "latest" && !ref.hasDigest()) {
      out.push_back(make(p, "image.latestTag", std::string(c.name), field(),
                         who() + " uses image " + img() +
                             " with tag \"latest\"; pin a version tag (e.g. \"" + ref.name() +
                             ":1.2.3\") or a digest (\"@sha256:<64 hex>\")"));
    }
    if (r.requireTag && !ref.hasTag() && !ref.hasDigest()) {
      out.push_back(make(p, "image.untagged", std::string(c.name), field(),
                         who() + " uses image " + img() +
                             " without a tag, which pulls \"latest\"; add a version tag (e.g. \"" +
                             std::string(c.image.value) + ":1.2.3\") or a digest"));
    }
    if (r.requireDigest && !ref.hasDigest()) {
      out.push_back(make(p, "image.digestRequired", std::string(c.name), field(),
                         who() + " uses image " + img() + " without a digest; pin it as \"" +
                             ref.name() + (ref.hasTag() ? ":" + ref.tag : std::string()) +
                             "@sha256:<64 lowercase hex>\""));
    }
  }
  return true;
}

void ImageRules::buildIndex() {
  deniedBySegment.clear();
  deniedOther.clear();
  for (size_t i = 0; i < denied.size(); ++i) {
    const std::string& seg = denied[i].glob.anySegment();
    if (seg.empty())
      deniedOther.push_back(i);
    else
      deniedBySegment.emplace_back(seg, i);
  }
  std::stable_sort(deniedBySegment.begin(), deniedBySegment.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
}

long ImageRules::firstDenied(const std::vector<std::string_view>& name,
                             const std::vector<std::string_view>& familiar) const {
  size_t best = denied.size();
  if (deniedBySegment.size() + deniedOther.size() != denied.size()) {  // no index: linear scan
    for (size_t i = 0; i < denied.size(); ++i) {
      if (denied[i].glob.matches(name, familiar)) return static_cast<long>(i);
    }
    return -1;
  }
  for (auto seg : name) {
    auto it = std::lower_bound(deniedBySegment.begin(), deniedBySegment.end(), seg,
                               [](const auto& e, std::string_view s) { return e.first < s; });
    for (; it != deniedBySegment.end() && it->first == seg; ++it) best = std::min(best, it->second);
  }
  for (size_t i : deniedOther) {
    if (i >= best) break;
    if (denied[i].glob.matches(name, familiar)) {
      best = i;
      break;
    }
  }
  return best == denied.size() ? -1 : static_cast<long>(best);
}

PssResult checkPodSecurity(const Policy& p, const PodModel& pod) {
  if (!p.deployment.podSecurity) return PssResult{};
  return evaluatePss(pod, *p.deployment.podSecurity);
}

bool hostPathUnder(std::string_view path, std::string_view prefix) {
  if (path.empty() || path.front() != '/') return false;
  if (path.find("/../") != std::string_view::npos ||
      (path.size() >= 3 && path.substr(path.size() - 3) == "/..")) {
    return false;
  }
  while (prefix.size() > 1 && prefix.back() == '/') prefix.remove_suffix(1);
  while (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  if (prefix == "/") return true;
  if (path.substr(0, prefix.size()) != prefix) return false;
  return path.size() == prefix.size() || path[prefix.size()] == '/';
}

namespace {

// The names container runtimes give their API sockets, and where they put them: whoever reaches
// one starts containers of their own on the node, privileged ones included.
constexpr std::string_view kRuntimeSocketNames[] = {"docker.sock", "containerd.sock", "crio.sock",
                                                    "cri-dockerd.sock"};
constexpr std::string_view kRuntimeSocketPaths[] = {
    "/run/docker.sock",
    "/var/run/docker.sock",
    "/run/containerd/containerd.sock",
    "/var/run/containerd/containerd.sock",
    "/run/crio/crio.sock",
    "/var/run/crio/crio.sock",
    "/run/cri-dockerd.sock",
    "/var/run/cri-dockerd.sock",
    "/run/k3s/containerd/containerd.sock",
    "/var/snap/microk8s/common/run/containerd.sock"};

// `path` with "//", "/./" and "dir/.." folded as the kernel resolves them (symbolic links
// aside), so that "/var//run/./docker.sock" is seen as the socket it is.
std::string lexicalPath(std::string_view path) {
  std::vector<std::string_view> parts;
  size_t at = 0;
  while (at <= path.size()) {
    size_t next = path.find('/', at);
    if (next == std::string_view::npos) next = path.size();
    const std::string_view part = path.substr(at, next - at);
    if (part == "..") {
      if (!parts.empty()) parts.pop_back();
    } else if (!part.empty() && part != ".") {
      parts.push_back(part);
    }
    at = next + 1;
  }
  std::string out;
  for (auto part : parts) out += "/" + std::string(part);
  return out.empty() ? "/" : out;
}

// Why `path` (lexical) reaches a runtime socket, or "" when it does not: it is one by name, or
// it is a directory above one of the usual places.
std::string runtimeSocketReached(const std::string& path) {
  const std::string_view base = std::string_view(path).substr(path.rfind('/') + 1);
  for (auto name : kRuntimeSocketNames) {
    if (base == name) return "a container runtime socket";
  }
  for (auto socket : kRuntimeSocketPaths) {
    if (hostPathUnder(socket, path)) return "which holds the runtime socket " + quote(socket);
  }
  return "";
}

// hostPath.runtimeSocket: a hostPath volume that is, or holds, a runtime socket, or that a
// container mounts with a subPath reaching one.
void checkRuntimeSockets(const Policy& p, const PodModel& pod, size_t vi,
                         std::vector<Violation>& out) {
  const VolumeModel& v = pod.volumes[vi];
  const std::string field = pod.specPath + ".volumes[" + std::to_string(vi) + "].hostPath.path";
  const std::string advice =
      "; remove the volume: whoever reaches the socket runs containers of "
      "their own on the node)";
  if (v.invalid) {
    out.push_back(make(p, "hostPath.runtimeSocket", "", field,
                       "runtime socket (volume " + quote(utf8::prefix(v.name, 128)) +
                           " has a hostPath that cannot be read and may reach a runtime socket" +
                           advice));
    return;
  }
  const std::string path = lexicalPath(v.hostPath);
  const std::string shown = quote(utf8::prefix(v.hostPath, 256));
  if (std::string why = runtimeSocketReached(path); !why.empty()) {
    out.push_back(make(p, "hostPath.runtimeSocket", "", field,
                       "runtime socket (volume " + quote(utf8::prefix(v.name, 128)) +
                           " mounts host path " + shown + ", " + why + advice));
    return;
  }
  for (const ContainerModel& c : pod.containers) {
    for (size_t mi = 0; mi < c.mounts.size(); ++mi) {
      const VolumeMountModel& m = c.mounts[mi];
      if (m.name != v.name || m.subPath.empty()) continue;
      const std::string reached = lexicalPath(path + "/" + std::string(m.subPath));
      if (std::string why = runtimeSocketReached(reached); !why.empty()) {
        out.push_back(
            make(p, "hostPath.runtimeSocket", std::string(c.name),
                 pod.containerPath(c) + ".volumeMounts[" + std::to_string(mi) + "].subPath",
                 "runtime socket (" + containerLabel(c) + " mounts volume " +
                     quote(utf8::prefix(v.name, 128)) + " at subPath " +
                     quote(utf8::prefix(m.subPath, 256)) + ", host path " +
                     quote(utf8::prefix(reached, 256)) + ", " + why + advice));
      }
    }
  }
}

// hostPath.notReadOnly: a volume under a prefix allowed read-only (and under no prefix allowed
// read-write) must be mounted readOnly by every container that mounts it. A mount whose name
// cannot be read counts as mounting it.
void checkReadOnlyHostPath(const Policy& p, const PodModel& pod, const VolumeModel& v,
                           std::string_view readOnlyPrefix, std::vector<Violation>& out) {
  for (const ContainerModel& c : pod.containers) {
    for (size_t mi = 0; mi < c.mounts.size(); ++mi) {
      const VolumeMountModel& m = c.mounts[mi];
      if ((m.name != v.name && !m.invalid) || m.readOnly == Tri::kTrue) continue;
      out.push_back(
          make(p, "hostPath.notReadOnly", std::string(c.name),
               pod.containerPath(c) + ".volumeMounts[" + std::to_string(mi) + "].readOnly",
               "host path mounted writable (" + containerLabel(c) + " mounts volume " +
                   quote(utf8::prefix(v.name, 128)) + ", host path " +
                   quote(utf8::prefix(v.hostPath, 256)) + ", without readOnly: true; paths under " +
                   quote(readOnlyPrefix) + " must be mounted read-only)"));
    }
  }
}

void checkHostPaths(const Policy& p, const PodModel& pod, std::vector<Violation>& out) {
  const DeploymentRules& d = p.deployment;
  for (size_t i = 0; i < pod.volumes.size(); ++i) {
    const auto& v = pod.volumes[i];
    if (v.type != "hostPath" && !v.invalid) continue;
    if (d.denyRuntimeSockets) checkRuntimeSockets(p, pod, i, out);
    if (!d.allowedHostPaths) continue;
    const auto& prefixes = *d.allowedHostPaths;
    std::string_view readOnlyPrefix;
    bool writable = false, allowed = false;
    for (size_t k = 0; k < prefixes.size() && !v.invalid; ++k) {
      if (!hostPathUnder(v.hostPath, prefixes[k])) continue;
      allowed = true;
      if (k < d.allowedHostPathReadOnly.size() && d.allowedHostPathReadOnly[k])
        readOnlyPrefix = prefixes[k];
      else
        writable = true;
    }
    if (allowed) {
      if (!writable) checkReadOnlyHostPath(p, pod, v, readOnlyPrefix, out);
      continue;
    }
    const std::string list = quotedList(prefixes);
    out.push_back(make(p, "hostPath.notAllowed", "",
                       pod.specPath + ".volumes[" + std::to_string(i) + "].hostPath.path",
                       "volume " + quote(v.name) + " mounts host path " + quote(v.hostPath) +
                           (list.empty() ? std::string("; no host paths are allowed")
                                         : "; allowed host path prefixes: " + list)));
  }
}

}  // namespace

bool checkDeploymentRules(const Policy& p, const PodModel& pod, const EvalInput& in,
                          std::vector<Violation>& out, DeadlineCheck* deadline) {
  const DeploymentRules& d = p.deployment;
  std::string_view ns = !in.namespace_.empty() ? in.namespace_ : pod.namespace_;

  if (d.systemNamespaces.enabled && !in.user.username.empty()) {
    const auto& s = d.systemNamespaces;
    bool systemNs = std::find(s.namespaces.begin(), s.namespaces.end(), ns) != s.namespaces.end();
    bool systemUser = identityListed(in.user, s.allowedUsernames, s.allowedGroups);
    if (systemNs && !systemUser) {
      out.push_back(make(p, "namespace.system", "", "metadata.namespace",
                         std::string(pod.kind) + " in system namespace " + quote(ns) + " by " +
                             quote(in.user.username) +
                             ", which is not a system identity; deploy workloads to an application "
                             "namespace"));
    }
  }

  if (!d.allowedServiceAccounts.empty()) {
    std::string_view sa = pod.serviceAccountName.set && !pod.serviceAccountName.value.empty()
                              ? pod.serviceAccountName.value
                              : std::string_view("default");
    std::string qualified = std::string(ns) + "/" + std::string(sa);
    bool ok = !pod.serviceAccountName.invalid &&
              std::any_of(d.allowedServiceAccounts.begin(), d.allowedServiceAccounts.end(),
                          [&](const std::string& g) {
                            return g.find('/') == std::string::npos ? wildcardMatch(g, sa)
                                                                    : wildcardMatch(g, qualified);
                          });
    if (!ok) {
      const std::string list = quotedList(d.allowedServiceAccounts);
      out.push_back(
          make(p, "serviceAccount.notAllowed", "", pod.specPath + ".serviceAccountName",
               "service account " + quote(qualified) + " is not allowed; use one of " + list));
    }
  }

  checkHostPaths(p, pod, out);
  if (deadline != nullptr) {
    deadline->add(pod.containers.size() + pod.volumes.size());
    if (deadline->passed()) return false;
  }
  return checkContainerRules(p, pod, out, deadline);
}

namespace {

// The opt-in container rules below judge every container, init and ephemeral ones included:
// each kind runs with the node's kernel and the pod's credentials.

// spec.readOnlyRootFilesystem: a writable root file system is where a compromised process
// drops its tools and persists; Windows containers cannot set the field, so Windows pods are
// not judged.
void checkReadOnlyRootFilesystem(const Policy& p, const PodModel& pod,
                                 std::vector<Violation>& out) {
  if (!p.deployment.requireReadOnlyRootFilesystem || pod.isWindows()) return;
  for (const ContainerModel& c : pod.containers) {
    const Tri ro = c.sc.invalid ? Tri::kInvalid : c.sc.readOnlyRootFilesystem;
    if (ro == Tri::kTrue) continue;
    out.push_back(
        make(p, "readOnlyRootFilesystem.required", std::string(c.name),
             pod.containerPath(c) + ".securityContext.readOnlyRootFilesystem",
             "readOnlyRootFilesystem != true (" + containerLabel(c) +
                 (ro == Tri::kInvalid ? " has a securityContext that cannot be read; it" : "") +
                 " must set securityContext.readOnlyRootFilesystem=true)"));
  }
}

// The pull policy the kubelet applies: the one written, else Always for an image without a
// tag or with "latest" (and no digest), else IfNotPresent (the API server's defaulting).
std::string_view effectivePullPolicy(const ContainerModel& c, const ImageRef* ref) {
  if (c.imagePullPolicy.set) return c.imagePullPolicy.value;
  if (c.imagePullPolicy.invalid) return "";
  if (ref != nullptr && !ref->hasDigest() && (!ref->hasTag() || ref->tag == "latest"))
    return "Always";
  return "IfNotPresent";
}

// spec.imagePullPolicy.requireAlways: with IfNotPresent or Never a pod may run a private image
// some other pod already pulled onto the node, without the pull secret that guards it, and a
// moved tag is not followed. An image pinned by digest is the same image either way.
void checkImagePullPolicy(const Policy& p, const PodModel& pod, std::vector<Violation>& out) {
  if (!p.deployment.requireImagePullPolicyAlways) return;
  for (const ContainerModel& c : pod.containers) {
    ImageRef ref;
    const bool parsed = c.image.set && parseImageRef(c.image.value, ref);
    if (parsed && ref.hasDigest()) continue;
    const std::string_view policy = effectivePullPolicy(c, parsed ? &ref : nullptr);
    if (policy == "Always") continue;
    std::string has;
    if (c.imagePullPolicy.invalid)
      has = " has an imagePullPolicy that is not a string";
    else if (c.imagePullPolicy.set)
      has = " has imagePullPolicy " + quote(utf8::prefix(policy, 64));
    else
      has = " has no imagePullPolicy, which defaults to IfNotPresent for a tagged image";
    out.push_back(make(p, "imagePullPolicy.notAlways", std::string(c.name),
                       pod.containerPath(c) + ".imagePullPolicy",
                       "imagePullPolicy != Always (" + containerLabel(c) + has +
                           "; set imagePullPolicy: Always, or pin the image by digest)"));
  }
}

// spec.ephemeralContainers.allowed: false. Ephemeral containers (kubectl debug) are added to a
// running pod, often with another image and more privileges than the pod was admitted with.
void checkEphemeralContainers(const Policy& p, const PodModel& pod, std::vector<Violation>& out) {
  if (!p.deployment.forbidEphemeralContainers) return;
  for (const ContainerModel& c : pod.containers) {
    if (c.kind != ContainerKind::kEphemeral) continue;
    out.push_back(make(p, "ephemeralContainers.notAllowed", std::string(c.name),
                       pod.containerPath(c),
                       "ephemeral containers are not allowed (" + containerLabel(c) +
                           " must not be added; debug a copy of the pod instead: kubectl debug "
                           "--copy-to)"));
  }
}

// A capability name as the container runtime reads it: upper case, without "CAP_".
std::string capabilityKey(std::string_view name) {
  std::string s(name);
  for (char& ch : s) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  if (s.rfind("CAP_", 0) == 0) s.erase(0, 4);
  return s;
}

bool listsCapability(const StringList& l, std::string_view key) {
  return std::any_of(l.items.begin(), l.items.end(),
                     [&](std::string_view c) { return capabilityKey(c) == key; });
}

// spec.capabilities: what every container drops and may add, whatever the PSS level. Windows
// containers have no Linux capabilities.
void checkCapabilities(const Policy& p, const PodModel& pod, std::vector<Violation>& out) {
  const CapabilityRules& r = p.deployment.capabilities;
  if (!r.any() || pod.isWindows()) return;
  for (const ContainerModel& c : pod.containers) {
    const std::string path = pod.containerPath(c) + ".securityContext.capabilities";
    if (r.requiredDrop) {
      const StringList& drop = c.sc.capDrop;
      std::vector<std::string> missing;
      if (c.sc.invalid || drop.invalid) {
        missing = *r.requiredDrop;
      } else if (!listsCapability(drop, "ALL")) {
        for (const auto& need : *r.requiredDrop)
          if (!listsCapability(drop, need)) missing.push_back(need);
      }
      if (!missing.empty()) {
        const bool all = std::find(missing.begin(), missing.end(), "ALL") != missing.end();
        out.push_back(make(
            p, "capabilities.dropRequired", std::string(c.name), path + ".drop",
            "capabilities not dropped (" + containerLabel(c) +
                (drop.invalid || c.sc.invalid ? " has capabilities that cannot be read; it" : "") +
                (all ? " must set securityContext.capabilities.drop=[\"ALL\"])"
                     : " must include " + quotedList(missing) +
                           " in securityContext.capabilities.drop, or drop \"ALL\")")));
      }
    }
    if (r.allowedAdd) {
      const StringList& add = c.sc.capAdd;
      std::vector<std::string> refused;
      if (c.sc.invalid || add.invalid) refused.push_back("<unreadable>");
      for (auto cap : add.items) {
        if (std::find(r.allowedAdd->begin(), r.allowedAdd->end(), capabilityKey(cap)) ==
            r.allowedAdd->end())
          refused.emplace_back(utf8::prefix(cap, 64));
        if (refused.size() > 8) break;  // a hostile list does not blow the message up
      }
      if (!refused.empty()) {
        out.push_back(
            make(p, "capabilities.addNotAllowed", std::string(c.name), path + ".add",
                 "non-allowed capabilities (" + containerLabel(c) + " must not include " +
                     quotedList(refused) + " in securityContext.capabilities.add" +
                     (r.allowedAdd->empty() ? std::string("; no capability may be added)")
                                            : "; allowed: " + quotedList(*r.allowedAdd) + ")")));
      }
    }
  }
}

// spec.hostPorts.allowed: a hostPort binds the node's address, outside the pod network and its
// network policies.
void checkHostPorts(const Policy& p, const PodModel& pod, std::vector<Violation>& out) {
  const auto& allowed = p.deployment.allowedHostPorts;
  if (!allowed) return;
  const std::string list =
      quotedList(*allowed, [](const IntRange& r) -> std::string_view { return r.text; });
  for (const ContainerModel& c : pod.containers) {
    std::vector<std::string> refused;
    for (int64_t port : c.hostPorts) {
      if (port >= 0 && std::any_of(allowed->begin(), allowed->end(),
                                   [&](const IntRange& r) { return r.contains(port); }))
        continue;
      refused.push_back(port < 0 ? "<unreadable>" : std::to_string(port));
      if (refused.size() > 8) break;
    }
    if (refused.empty()) continue;
    std::string ports;
    for (size_t i = 0; i < refused.size(); ++i) ports += (i ? ", " : "") + refused[i];
    out.push_back(make(
        p, "hostPort.notAllowed", std::string(c.name), pod.containerPath(c) + ".ports",
        "hostPort outside the allowed ranges (" + containerLabel(c) + " uses hostPort " + ports +
            (list.empty() ? std::string("; no hostPort is allowed)")
                          : "; allowed: " + list + ")")));
  }
}

}  // namespace

std::string sysctlKernelName(std::string_view name) {
  std::string s(name);
  // Kubernetes accepts "/" as the separator ("net/ipv4/conf/eth0.100/rp_filter"); the dots
  // inside such a name are part of a component, so the two swap.
  if (s.find('/') != std::string::npos) {
    for (char& ch : s) ch = ch == '/' ? '.' : ch == '.' ? '/' : ch;
  }
  return s;
}

bool sysctlMatches(std::string_view pattern, std::string_view name) {
  if (!pattern.empty() && pattern.back() == '*') {
    pattern.remove_suffix(1);
    return name.substr(0, pattern.size()) == pattern;
  }
  return pattern == name;
}

bool sysctlValueSmuggles(std::string_view value) {
  // CRI-O joined the pod's sysctls as "name=value+name=value" (CVE-2022-0811), so a "+" and a
  // "=" in a value set a second sysctl of the attacker's choosing; runtimes that write the
  // value to /proc/sys stop at a line break, after which the kernel may read more.
  return value.find_first_of("+=\n\r") != std::string_view::npos ||
         value.find('\0') != std::string_view::npos;
}

namespace {

// spec.sysctls: names against the allowed and forbidden lists, and every value as the runtime
// will hand it to the kernel.
void checkSysctls(const Policy& p, const PodModel& pod, std::vector<Violation>& out) {
  const SysctlRules& r = p.deployment.sysctls;
  if (!r.enabled) return;
  const std::string field = pod.specPath + ".securityContext.sysctls";
  if (pod.sc.invalid || pod.sc.sysctlNames.invalid) {
    out.push_back(make(p, "sysctl.notAllowed", "", field,
                       "sysctls cannot be read (the pod's securityContext.sysctls must be a list "
                       "of name and value)"));
  }
  const std::string allowed = r.allowed ? quotedList(*r.allowed) : std::string();
  size_t listed = 0;
  for (size_t i = 0; i < pod.sc.sysctls.size() && listed < 16; ++i) {
    const SysctlModel& s = pod.sc.sysctls[i];
    const std::string name = sysctlKernelName(s.name);
    const std::string shown = quote(utf8::prefix(s.name, 128));
    const std::string at = field + "[" + std::to_string(i) + "]";
    auto match = [&](const std::string& pattern) { return sysctlMatches(pattern, name); };
    const bool forbidden = std::any_of(r.forbidden.begin(), r.forbidden.end(), match);
    if (forbidden || (r.allowed && std::none_of(r.allowed->begin(), r.allowed->end(), match))) {
      ++listed;
      out.push_back(make(p, "sysctl.notAllowed", "", at + ".name",
                         "forbidden sysctls (pod must not set " + shown +
                             (forbidden ? std::string(", a forbidden sysctl") : std::string()) +
                             (!r.allowed        ? std::string(")")
                              : allowed.empty() ? std::string("; no sysctl is allowed)")
                                                : "; allowed: " + allowed + ")")));
    }
    if (s.value.invalid || sysctlValueSmuggles(s.value.value)) {
      ++listed;
      out.push_back(
          make(p, "sysctl.invalidValue", "", at + ".value",
               "sysctl value would set more than " + shown + " (" +
                   (s.value.invalid ? std::string("the value is not a string")
                                    : "value " + quote(utf8::prefix(s.value.value, 128))) +
                   "; a value must not contain \"+\", \"=\" or a line break, "
                   "CVE-2022-0811)"));
    }
  }
}

// "0, 10" of the values outside `allowed` (at most a few), or "" when all are inside.
std::string idsOutside(const std::vector<int64_t>& ids, const std::vector<IntRange>& allowed) {
  std::string out;
  size_t n = 0;
  for (int64_t id : ids) {
    if (allowed.empty() || std::any_of(allowed.begin(), allowed.end(),
                                       [&](const IntRange& r) { return r.contains(id); }))
      continue;
    if (++n > 8) return out + ", ...";
    out += (out.empty() ? "" : ", ") + std::to_string(id);
  }
  return out;
}

std::string allowedIds(const IdRule& r) {
  return r.allowed.empty()
             ? std::string("any value")
             : quotedList(r.allowed, [](const IntRange& x) -> std::string_view { return x.text; });
}

// runAsUser and runAsGroup: the value each container runs with, its own over the pod's.
void checkContainerId(const Policy& p, const PodModel& pod, const IdRule& rule,
                      std::string_view key, OptInt SecurityContextModel::*field,
                      std::vector<Violation>& out) {
  if (!rule.enabled || pod.isWindows()) return;
  const std::string ruleId = std::string(key) + ".notAllowed";
  const OptInt& podValue = pod.sc.*field;
  for (const ContainerModel& c : pod.containers) {
    const OptInt& own = c.sc.*field;
    const bool fromPod = !own.set && !own.invalid;
    const OptInt& v = fromPod ? podValue : own;
    const std::string path =
        (fromPod && (v.set || v.invalid) ? pod.specPath : pod.containerPath(c)) +
        ".securityContext." + std::string(key);
    std::string problem;
    if (v.invalid || c.sc.invalid) {
      problem = std::string(key) + " unreadable (" + containerLabel(c) + " has a " +
                std::string(key) + " that is not an integer;";
    } else if (!v.set) {
      if (!rule.required) continue;
      problem = std::string(key) + " unset (" + containerLabel(c) + " must set securityContext." +
                std::string(key) + ", or the pod must;";
    } else if (std::string bad = idsOutside({v.value}, rule.allowed); !bad.empty()) {
      problem = std::string(key) + " outside the allowed ranges (" + containerLabel(c) +
                " runs with " + std::string(key) + " " + bad +
                (fromPod ? std::string(", from the pod's securityContext;") : std::string(";"));
    } else {
      continue;
    }
    out.push_back(make(p, ruleId, std::string(c.name), path,
                       problem + " allowed: " + allowedIds(rule) + ")"));
  }
}

// fsGroup and supplementalGroups: pod level only.
void checkPodGroups(const Policy& p, const PodModel& pod, std::vector<Violation>& out) {
  const DeploymentRules& d = p.deployment;
  if (pod.isWindows()) return;
  const std::string base = pod.specPath + ".securityContext.";
  if (d.fsGroup.enabled) {
    const OptInt& v = pod.sc.fsGroup;
    std::string problem;
    if (v.invalid || pod.sc.invalid)
      problem = "fsGroup unreadable (the pod's securityContext.fsGroup is not an integer;";
    else if (!v.set && d.fsGroup.required)
      problem = "fsGroup unset (pod must set securityContext.fsGroup;";
    else if (std::string bad = v.set ? idsOutside({v.value}, d.fsGroup.allowed) : ""; !bad.empty())
      problem = "fsGroup outside the allowed ranges (pod has securityContext.fsGroup " + bad + ";";
    if (!problem.empty())
      out.push_back(make(p, "fsGroup.notAllowed", "", base + "fsGroup",
                         problem + " allowed: " + allowedIds(d.fsGroup) + ")"));
  }
  if (d.supplementalGroups.enabled) {
    const auto& groups = pod.sc.supplementalGroups;
    std::string problem;
    if (pod.sc.supplementalGroupsInvalid || pod.sc.invalid)
      problem =
          "supplementalGroups unreadable (the pod's securityContext.supplementalGroups is "
          "not a list of integers;";
    else if (groups.empty() && d.supplementalGroups.required)
      problem = "supplementalGroups unset (pod must set securityContext.supplementalGroups;";
    else if (std::string bad = idsOutside(groups, d.supplementalGroups.allowed); !bad.empty())
      problem =
          "supplementalGroups outside the allowed ranges (pod has securityContext."
          "supplementalGroups " +
          bad + ";";
    if (!problem.empty())
      out.push_back(make(p, "supplementalGroups.notAllowed", "", base + "supplementalGroups",
                         problem + " allowed: " + allowedIds(d.supplementalGroups) + ")"));
  }
}

// The Localhost profile of a profile field, "" when the type is not Localhost; "<unreadable>"
// when the type or the profile cannot be read.
std::string_view localhostProfile(bool set, const OptString& type, const OptString& profile) {
  if (!set) return {};
  if (type.invalid || profile.invalid) return "<unreadable>";
  if (!type.set || type.value != "Localhost") return {};
  return profile.set ? profile.value : std::string_view("<unset>");
}

// spec.seccomp.allowedLocalhostProfiles and spec.appArmor.allowedLocalhostProfiles: a profile
// from the node's disk is whatever the node holds under that name; only reviewed ones may run.
// The effective profile of each container is judged, its own over the pod's; AppArmor's
// container annotations (localhost/<name>) too.
void checkLocalhostProfiles(const Policy& p, const PodModel& pod, std::vector<Violation>& out) {
  const DeploymentRules& d = p.deployment;
  auto judge = [&](const std::optional<std::vector<std::string>>& allowed, std::string_view rule,
                   std::string_view what, const ContainerModel* c, std::string_view profile,
                   const std::string& field) {
    if (!allowed || profile.empty()) return;
    if (profile != "<unreadable>" && profile != "<unset>" &&
        std::any_of(allowed->begin(), allowed->end(),
                    [&](const std::string& g) { return wildcardMatch(g, profile); }))
      return;
    const std::string list = quotedList(*allowed);
    out.push_back(make(p, std::string(rule), c ? std::string(c->name) : std::string(), field,
                       "forbidden " + std::string(what) + " profile (" +
                           (c ? containerLabel(*c) : std::string("pod")) +
                           " uses Localhost profile " + quote(utf8::prefix(profile, 256)) +
                           (list.empty() ? std::string("; no Localhost profile is allowed)")
                                         : "; allowed: " + list + ")")));
  };
  const std::string podSc = pod.specPath + ".securityContext.";
  const std::string_view podSeccomp =
      localhostProfile(pod.sc.seccompSet, pod.sc.seccompType, pod.sc.seccompLocalhost);
  const std::string_view podAppArmor =
      localhostProfile(pod.sc.appArmorSet, pod.sc.appArmorType, pod.sc.appArmorLocalhost);
  for (const ContainerModel& c : pod.containers) {
    const std::string sc = pod.containerPath(c) + ".securityContext.";
    // The container's own profile when it sets one, else the pod's (and the pod's field).
    const bool ownSeccomp = c.sc.seccompSet, ownAppArmor = c.sc.appArmorSet;
    judge(d.allowedSeccompProfiles, "seccomp.profileNotAllowed", "seccomp", &c,
          ownSeccomp ? localhostProfile(true, c.sc.seccompType, c.sc.seccompLocalhost) : podSeccomp,
          (ownSeccomp ? sc : podSc) + "seccompProfile.localhostProfile");
    judge(d.allowedAppArmorProfiles, "appArmor.profileNotAllowed", "AppArmor", &c,
          ownAppArmor ? localhostProfile(true, c.sc.appArmorType, c.sc.appArmorLocalhost)
                      : podAppArmor,
          (ownAppArmor ? sc : podSc) + "appArmorProfile.localhostProfile");
  }
  constexpr std::string_view kAppArmorAnnotation =
      "container.apparmor.security.beta.kubernetes.io/";
  for (const auto& [key, value] : pod.annotations) {
    if (key.rfind(kAppArmorAnnotation, 0) != 0 || value.rfind("localhost/", 0) != 0) continue;
    judge(d.allowedAppArmorProfiles, "appArmor.profileNotAllowed", "AppArmor", nullptr,
          value.substr(10), "metadata.annotations");
  }
}

// spec.flexVolumes.allowedDrivers: a flexVolume runs its driver binary on the node as root.
void checkFlexVolumes(const Policy& p, const PodModel& pod, std::vector<Violation>& out) {
  const auto& allowed = p.deployment.allowedFlexVolumeDrivers;
  if (!allowed) return;
  for (size_t i = 0; i < pod.volumes.size(); ++i) {
    const VolumeModel& v = pod.volumes[i];
    if (v.type != "flexVolume") continue;
    const std::string_view driver = v.flexDriver.invalid ? "<unreadable>" : v.flexDriver.value;
    if (!v.flexDriver.invalid &&
        std::find(allowed->begin(), allowed->end(), driver) != allowed->end())
      continue;
    const std::string list = quotedList(*allowed);
    out.push_back(make(p, "flexVolume.driverNotAllowed", "",
                       pod.specPath + ".volumes[" + std::to_string(i) + "].flexVolume.driver",
                       "flexVolume driver not allowed (volume " + quote(utf8::prefix(v.name, 128)) +
                           " uses driver " + quote(utf8::prefix(driver, 256)) +
                           (list.empty() ? std::string("; no flexVolume driver is allowed)")
                                         : "; allowed: " + list + ")")));
  }
}

}  // namespace

bool checkContainerRules(const Policy& p, const PodModel& pod, std::vector<Violation>& out,
                         DeadlineCheck* deadline) {
  // Each rule walks every container: the deadline is looked at between them.
  bool stopped = false;
  auto run = [&](auto rule) {
    if (stopped) return;
    if (deadline != nullptr) {
      if ((stopped = deadline->passed())) return;
      deadline->add(pod.containers.size());
    }
    rule();
  };
  run([&] { checkReadOnlyRootFilesystem(p, pod, out); });
  run([&] { checkImagePullPolicy(p, pod, out); });
  run([&] { checkEphemeralContainers(p, pod, out); });
  run([&] { checkCapabilities(p, pod, out); });
  run([&] { checkHostPorts(p, pod, out); });
  run([&] { checkSysctls(p, pod, out); });
  run([&] {
    checkContainerId(p, pod, p.deployment.runAsUser, "runAsUser", &SecurityContextModel::runAsUser,
                     out);
  });
  run([&] {
    checkContainerId(p, pod, p.deployment.runAsGroup, "runAsGroup",
                     &SecurityContextModel::runAsGroup, out);
  });
  run([&] { checkPodGroups(p, pod, out); });
  run([&] { checkLocalhostProfiles(p, pod, out); });
  run([&] { checkFlexVolumes(p, pod, out); });
  return !stopped;
}

namespace {

// The address part of `s` in network byte order; 4 or 6, 0 when it is not an address.
int parseAddress(std::string_view s, unsigned char* bytes) {
  if (s.empty() || s.size() > 45) return 0;
  char buf[46];
  std::memcpy(buf, s.data(), s.size());
  buf[s.size()] = '\0';
  if (s.find(':') == std::string_view::npos) return inet_pton(AF_INET, buf, bytes) == 1 ? 4 : 0;
  return inet_pton(AF_INET6, buf, bytes) == 1 ? 6 : 0;
}

}  // namespace

bool parseIpBlock(std::string_view s, IpBlock& out) {
  IpBlock b;
  const size_t slash = s.find('/');
  b.family = parseAddress(s.substr(0, slash), b.bytes);
  if (b.family == 0) return false;
  const int maxBits = b.family == 4 ? 32 : 128;
  b.prefixBits = maxBits;
  if (slash != std::string_view::npos) {
    const std::string_view bits = s.substr(slash + 1);
    if (bits.empty() || bits.size() > 3 || (bits.size() > 1 && bits[0] == '0')) return false;
    int n = 0;
    for (char c : bits) {
      if (c < '0' || c > '9') return false;
      n = n * 10 + (c - '0');
    }
    if (n > maxBits) return false;
    b.prefixBits = n;
  }
  b.text = std::string(s);
  out = std::move(b);
  return true;
}

bool ipInBlock(std::string_view ip, const IpBlock& block) {
  unsigned char bytes[16] = {};
  if (parseAddress(ip, bytes) != block.family) return false;
  const int full = block.prefixBits / 8, rest = block.prefixBits % 8;
  if (std::memcmp(bytes, block.bytes, static_cast<size_t>(full)) != 0) return false;
  if (rest == 0) return true;
  const unsigned char mask = static_cast<unsigned char>(0xff00 >> rest);
  return (bytes[full] & mask) == (block.bytes[full] & mask);
}

namespace {

// spec.ports[].port and nodePort; at most 256 entries are kept (the API server allows fewer).
void readServicePorts(simdjson::dom::element spec, ServiceExposureModel& m) {
  simdjson::dom::element ports;
  if (spec["ports"].get(ports) != simdjson::SUCCESS || ports.is_null()) return;
  simdjson::dom::array a;
  if (ports.get_array().get(a) != simdjson::SUCCESS) {
    m.invalidPorts = true;
    return;
  }
  for (simdjson::dom::element p : a) {
    if (m.ports.size() == 256) break;
    if (!p.is_object()) {
      m.invalidPorts = true;
      continue;
    }
    auto number = [&](const char* key) -> int64_t {
      simdjson::dom::element v;
      if (p[key].get(v) != simdjson::SUCCESS || v.is_null()) return 0;
      int64_t x;
      return v.get_int64().get(x) == simdjson::SUCCESS ? x : -1;
    };
    m.ports.emplace_back(number("port"), number("nodePort"));
  }
}

}  // namespace

std::string internalExternalName(std::string_view raw) {
  std::string name(raw.substr(0, 253));
  for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  while (!name.empty() && name.back() == '.') name.pop_back();
  if (name == "<unreadable>") return "is not a string";
  if (name.empty()) return "";
  if (name == "localhost" || (name.size() > 10 && name.ends_with(".localhost")))
    return "names the node itself";
  unsigned char b[16] = {};
  switch (parseAddress(name, b)) {
    case 4:
      if (b[0] == 127 || b[0] == 0) return "is a loopback address";
      if (b[0] == 169 && b[1] == 254) return "is a link-local address (cloud metadata among them)";
      return "";
    case 6: {
      static const unsigned char kLoopback[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
      if (std::memcmp(b, kLoopback, 16) == 0) return "is a loopback address";
      if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) return "is a link-local address";
      return "";
    }
    default:
      break;
  }
  // Names the cluster's DNS answers: any "svc" label (service.namespace.svc[.cluster.local]),
  // the cluster domain, and the API server's own names.
  const std::string dotted = "." + name + ".";
  if (dotted.find(".svc.") != std::string::npos || name.ends_with("cluster.local") ||
      name == "kubernetes" || name == "kubernetes.default")
    return "is a cluster-internal name";
  if (name == "metadata.google.internal" || name == "metadata")
    return "is the cloud metadata service";
  return "";
}

ServiceExposureModel readServiceExposure(simdjson::dom::element service) {
  ServiceExposureModel m;
  simdjson::dom::element spec;
  // No spec (or a null one) is a ClusterIP without external IPs.
  if (service["spec"].get(spec) != simdjson::SUCCESS || !spec.is_object()) return m;
  simdjson::dom::element type;
  if (spec["type"].get(type) == simdjson::SUCCESS && !type.is_null()) {
    std::string_view t;
    if (type.get_string().get(t) != simdjson::SUCCESS)
      m.type = "";
    else if (!t.empty())
      m.type = t;
  }
  readServicePorts(spec, m);
  simdjson::dom::element name;
  if (spec["externalName"].get(name) == simdjson::SUCCESS && !name.is_null()) {
    if (name.get_string().get(m.externalName) != simdjson::SUCCESS) m.externalName = "<unreadable>";
  }
  simdjson::dom::element ips;
  if (spec["externalIPs"].get(ips) == simdjson::SUCCESS && !ips.is_null()) {
    simdjson::dom::array a;
    if (ips.get_array().get(a) != simdjson::SUCCESS) {
      m.invalidExternalIPs = true;
      return m;
    }
    for (simdjson::dom::element v : a) {
      std::string_view ip;
      if (v.get_string().get(ip) != simdjson::SUCCESS)
        m.invalidExternalIPs = true;
      else
        m.externalIPs.push_back(ip);
    }
  }
  return m;
}

namespace {

// spec.services.allowedPorts and allowedNodePorts; one violation per Service and field, naming
// the ports refused.
void checkServicePorts(const Policy& p, const ServiceExposureModel& svc,
                       std::vector<Violation>& out) {
  const ServiceRules& r = p.deployment.services;
  auto judge = [&](const std::optional<std::vector<IntRange>>& allowed, bool node,
                   std::string_view rule, std::string_view what) {
    if (!allowed) return;
    std::string refused;
    size_t n = 0;
    if (svc.invalidPorts) refused = "<unreadable>", n = 1;
    for (const auto& [port, nodePort] : svc.ports) {
      const int64_t v = node ? nodePort : port;
      // An unset nodePort of a NodePort or LoadBalancer Service is one the API server picks
      // from its whole range.
      const bool picked = node && v == 0;
      if (picked && svc.type != "NodePort" && svc.type != "LoadBalancer") continue;
      if (v > 0 && std::any_of(allowed->begin(), allowed->end(),
                               [&](const IntRange& x) { return x.contains(v); }))
        continue;
      if (++n > 8) continue;
      refused +=
          (refused.empty() ? "" : ", ") + (picked  ? std::string("unset (any the API server picks)")
                                           : v < 0 ? std::string("<unreadable>")
                                                   : std::to_string(v));
    }
    if (n == 0) return;
    if (n > 8) refused += " and " + std::to_string(n - 8) + " more";
    const std::string list =
        quotedList(*allowed, [](const IntRange& x) -> std::string_view { return x.text; });
    out.push_back(
        make(p, std::string(rule), "", "spec.ports",
             std::string(what) + " outside the allowed ranges (Service uses " + std::string(what) +
                 " " + refused +
                 (list.empty() ? std::string("; none is allowed)") : "; allowed: " + list + ")")));
  };
  judge(r.allowedPorts, false, "service.portNotAllowed", "port");
  judge(r.allowedNodePorts, true, "service.nodePortNotAllowed", "nodePort");
}

}  // namespace

void checkServiceRules(const Policy& p, const ServiceExposureModel& svc,
                       std::vector<Violation>& out) {
  const ServiceRules& r = p.deployment.services;
  if (r.allowedTypes && std::find(r.allowedTypes->begin(), r.allowedTypes->end(), svc.type) ==
                            r.allowedTypes->end()) {
    const std::string list = quotedList(*r.allowedTypes);
    out.push_back(make(p, "service.typeNotAllowed", "", "spec.type",
                       (svc.type.empty() ? std::string("a Service type that is not a string")
                                         : "Service type " + quote(svc.type.substr(0, 64))) +
                           " is not allowed" +
                           (list.empty() ? std::string("; no Service type is allowed")
                                         : "; allowed types: " + list)));
  }
  checkServicePorts(p, svc, out);
  if (r.denyInternalExternalNames && svc.type == "ExternalName") {
    if (std::string why = internalExternalName(svc.externalName); !why.empty()) {
      out.push_back(make(p, "service.externalNameNotAllowed", "", "spec.externalName",
                         "externalName " + quote(utf8::prefix(svc.externalName, 253)) + " " + why +
                             ": an ingress or gateway that follows the Service reaches it with "
                             "its own rights; point spec.externalName at an external DNS name"));
    }
  }
  if (!r.allowedExternalIPs) return;
  const std::string list = quotedList(*r.allowedExternalIPs,
                                      [](const IpBlock& b) -> std::string_view { return b.text; });
  const std::string advice =
      list.empty() ? std::string("; remove spec.externalIPs") : "; allowed addresses: " + list;
  // One violation per address, up to a few; a Service listing more gets one for the rest, so a
  // hostile object cannot blow the answer up.
  constexpr size_t kMaxListed = 8;
  size_t refused = 0;
  for (size_t i = 0; i < svc.externalIPs.size(); ++i) {
    const std::string_view ip = svc.externalIPs[i];
    if (std::any_of(r.allowedExternalIPs->begin(), r.allowedExternalIPs->end(),
                    [&](const IpBlock& b) { return ipInBlock(ip, b); }))
      continue;
    if (++refused > kMaxListed) continue;
    out.push_back(make(p, "service.externalIPNotAllowed", "",
                       "spec.externalIPs[" + std::to_string(i) + "]",
                       "external IP " + quote(ip.substr(0, 64)) +
                           " is not allowed: a Service's externalIPs redirect the cluster's "
                           "traffic for that address to the Service's pods (CVE-2020-8554)" +
                           advice));
  }
  if (refused > kMaxListed) {
    out.push_back(
        make(p, "service.externalIPNotAllowed", "", "spec.externalIPs",
             std::to_string(refused - kMaxListed) + " more external IPs are not allowed" + advice));
  }
  if (svc.invalidExternalIPs) {
    out.push_back(make(p, "service.externalIPNotAllowed", "", "spec.externalIPs",
                       "spec.externalIPs is not a list of addresses" + advice));
  }
}

void checkPodConnectRules(const Policy& p, const EvalInput& in, std::vector<Violation>& out) {
  const PodConnectRules& r = p.deployment.podConnect;
  if (!r.enabled) return;
  if (identityListed(in.user, r.allowedUsernames, r.allowedGroups)) return;

  std::string what = std::string(podSessionPhrase(in.subResource)) + " ";
  what +=
      quote(std::string(in.namespace_.substr(0, 253)) + "/" + std::string(in.name.substr(0, 253)));
  // What was asked, from the options object: the container and, for exec, the command.
  std::vector<std::string> asked;
  std::string_view container;
  if (in.object["container"].get_string().get(container) == simdjson::SUCCESS && !container.empty())
    asked.push_back("container " + quote(container.substr(0, 63)));
  simdjson::dom::array command;
  if (in.object["command"].get_array().get(command) == simdjson::SUCCESS) {
    std::string cmd;
    for (simdjson::dom::element part : command) {
      std::string_view a;
      if (part.get_string().get(a) != simdjson::SUCCESS) continue;
      if (!cmd.empty()) cmd += ' ';
      cmd += a.substr(0, 256);
      if (cmd.size() > 256) {
        cmd.resize(256);
        cmd += "...";
        break;
      }
    }
    if (!cmd.empty()) asked.push_back("command " + quote(cmd));
  }
  for (size_t i = 0; i < asked.size(); ++i) what += (i == 0 ? " (" : ", ") + asked[i];
  if (!asked.empty()) what += ")";
  std::string allowed;
  for (const auto& u : r.allowedUsernames)
    allowed += (allowed.empty() ? "user " : ", user ") + quote(u);
  for (const auto& g : r.allowedGroups)
    allowed += (allowed.empty() ? "group " : ", group ") + quote(g);
  out.push_back(make(
      p, "podConnect.notAllowed", std::string(container), "",
      what + " by " + quote(in.user.username.substr(0, 253)) + " is not allowed" +
          (allowed.empty() ? std::string("; no identity is allowed outside the policy's exemptions")
                           : "; allowed: " + allowed)));
}

}  // namespace kc::policy
