// sensitive-host-path: a hostPath volume on a sensitive location of the node (the container
// runtime's socket, the kubelet's credentials, /proc, /etc, ...), graded by the location.
#include <array>

#include "controller/detect/detections.h"
#include "controller/detect/rules/units.h"

namespace kc::audit {

using detect::startsWith;
using detect::upper;

std::string normalizeHostPath(std::string_view path) {
  std::vector<std::string_view> parts;
  size_t i = 0;
  while (i <= path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    std::string_view seg = path.substr(i, j - i);
    if (seg == "..") {
      if (!parts.empty()) parts.pop_back();
    } else if (!seg.empty() && seg != ".") {
      parts.push_back(seg);
    }
    i = j + 1;
  }
  std::string out;
  for (auto p : parts) {
    out.push_back('/');
    out.append(p);
  }
  return out.empty() ? "/" : out;
}

namespace {

// hostPathSeverity of a path already normalized.
Severity normalizedHostPathSeverity(std::string_view p) {
  struct Entry {
    std::string_view path;
    Severity severity;
  };
  static constexpr std::array<Entry, 33> kSensitive = {{
      {"/", Severity::kCritical},
      {"/var/run/docker.sock", Severity::kCritical},
      {"/run/docker.sock", Severity::kCritical},
      {"/var/run/containerd", Severity::kCritical},
      {"/run/containerd", Severity::kCritical},
      {"/var/run/crio", Severity::kCritical},
      {"/run/crio", Severity::kCritical},
      {"/var/run/cri-dockerd.sock", Severity::kCritical},
      {"/run/cri-dockerd.sock", Severity::kCritical},
      {"/run/k3s", Severity::kCritical},
      {"/var/run/dockershim.sock", Severity::kCritical},
      {"/run/podman", Severity::kCritical},
      {"/proc", Severity::kCritical},
      {"/root", Severity::kCritical},
      {"/var/lib/kubelet", Severity::kCritical},
      {"/etc/kubernetes", Severity::kCritical},
      {"/var/lib/etcd", Severity::kCritical},
      {"/var/lib/rancher", Severity::kCritical},
      {"/etc", Severity::kHigh},
      {"/sys", Severity::kHigh},
      {"/dev", Severity::kHigh},
      {"/boot", Severity::kHigh},
      {"/home", Severity::kHigh},
      {"/var/lib/docker", Severity::kHigh},
      {"/var/lib/containerd", Severity::kHigh},
      {"/var/lib/containers", Severity::kHigh},
      {"/lib/modules", Severity::kHigh},
      {"/usr/lib/modules", Severity::kHigh},
      {"/var/run/secrets", Severity::kHigh},
      {"/run/secrets", Severity::kHigh},
      {"/var/log", Severity::kMedium},
      {"/var/run", Severity::kHigh},
      {"/run", Severity::kHigh},
  }};
  Severity worst = Severity::kInfo;
  for (const auto& e : kSensitive) {
    bool hit = false;
    if (p == e.path) {
      hit = true;
    } else if (e.path == "/") {
      hit = false;  // only "/" itself; everything is below it
    } else if (startsWith(p, e.path) && p[e.path.size()] == '/') {
      hit = true;  // inside a sensitive location
    } else if (p == "/" || (startsWith(e.path, p) && e.path[p.size()] == '/')) {
      hit = true;  // contains a sensitive location
    }
    if (hit) worst = maxSeverity(worst, e.severity);
  }
  return worst;
}

}  // namespace

Severity hostPathSeverity(std::string_view rawPath) {
  return normalizedHostPathSeverity(normalizeHostPath(rawPath));
}

namespace detect {
namespace {

class SensitiveHostPath final : public RuleUnit {
 public:
  void onPod(PodWrite& w, Findings& out) override {
    if (w.ephemeralSub) return;
    std::vector<Hit> hits;
    for (const std::string& p : w.hostPaths()) {
      const Severity s = normalizedHostPathSeverity(p);
      if (s == Severity::kInfo) continue;
      hits.push_back({"sensitive-host-path/" + p, "", p, s});
    }
    w.emit(
        "sensitive-host-path", std::move(hits),
        [&] { return w.what() + " mounts sensitive host path(s)"; }, out);
  }
};

}  // namespace

std::unique_ptr<RuleUnit> makeSensitiveHostPath(const RuleContext&) {
  return std::make_unique<SensitiveHostPath>();
}

}  // namespace detect
}  // namespace kc::audit
