// system-component-name: a workload named like a component of the control plane or of
// kube-system (kube-proxy, coredns, etcd, ...) outside kube-system, or imitating one's name.
#include <algorithm>
#include <array>

#include "controller/detect/detections.h"
#include "controller/detect/rules/units.h"

namespace kc::audit {

using detect::startsWith;
namespace {

// Levenshtein distance of a and b when it is at most t, else t + 1. b is at most 63
// characters. Only the diagonal band |i - j| <= t is computed (cells outside it are over t),
// and the computation stops at the first row whose minimum is over t: row minima never
// decrease.
size_t boundedLevenshtein(std::string_view a, std::string_view b, size_t t) {
  const size_t n = a.size(), m = b.size();
  const size_t over = t + 1;
  if ((n > m ? n - m : m - n) > t) return over;
  size_t prev[65], cur[65];
  for (size_t j = 0; j <= m; ++j) prev[j] = std::min(j, over);
  for (size_t i = 1; i <= n; ++i) {
    const size_t lo = i > t ? i - t : 1;
    const size_t hi = std::min(m, i + t);
    cur[lo - 1] = lo == 1 ? std::min(i, over) : over;
    size_t rowMin = cur[lo - 1];
    for (size_t j = lo; j <= hi; ++j) {
      const size_t sub = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, sub, over});
      rowMin = std::min(rowMin, cur[j]);
    }
    if (hi < m) cur[hi + 1] = over;  // the next row reads it as its upper neighbour
    if (rowMin > t) return over;
    std::copy(cur + lo - 1, cur + std::min(m, hi + 1) + 1, prev + lo - 1);
  }
  return std::min(prev[m], over);
}

}  // namespace

ComponentMatch matchSystemComponent(std::string_view name) {
  static constexpr std::array<std::string_view, 10> kComponents = {"kube-apiserver",
                                                                   "kube-controller-manager",
                                                                   "kube-scheduler",
                                                                   "kube-proxy",
                                                                   "coredns",
                                                                   "kube-dns",
                                                                   "etcd",
                                                                   "cloud-controller-manager",
                                                                   "konnectivity-agent",
                                                                   "kube-addon-manager"};
  // Candidate prefixes end at '-' boundaries: "kube-proxy-x7k2p" -> "kube", "kube-proxy", ...
  // A prefix equal to a component is the name itself or a start followed by '-'.
  for (auto c : kComponents) {
    if (startsWith(name, c) && (name.size() == c.size() || name[c.size()] == '-'))
      return ComponentMatch{std::string(c), true};
  }
  // Imitations: the first component (in catalog order) within a small edit distance of some
  // prefix. No prefix equals a component here, so every distance is above 0. Prefixes whose
  // length is too far from the component's are skipped before any distance is computed.
  for (auto c : kComponents) {
    if (c.size() < 6) continue;  // too short to tell imitation from coincidence
    const size_t threshold = c.size() <= 8 ? 1 : 2;
    const size_t minLen = c.size() - threshold, maxLen = c.size() + threshold;
    for (size_t i = minLen; i <= name.size() && i <= maxLen; ++i) {
      if (i != name.size() && name[i] != '-') continue;
      if (boundedLevenshtein(name.substr(0, i), c, threshold) <= threshold)
        return ComponentMatch{std::string(c), false};
    }
  }
  return ComponentMatch{};
}

namespace detect {
namespace {

class SystemComponentName final : public RuleUnit {
 public:
  void onPod(PodWrite& w, Findings& out) override {
    if (w.ephemeralSub) return;
    const ComponentMatch m = matchSystemComponent(w.name);
    if (m.component.empty() || (m.exact && w.ns == "kube-system")) return;
    w.emit(
        "system-component-name",
        {{"system-component-name", "", m.component, m.exact ? Severity::kMedium : Severity::kHigh}},
        [&] {
          return w.what() + (m.exact ? " is named like system component outside kube-system"
                                     : " imitates the name of system component");
        },
        out);
  }
};

}  // namespace

std::unique_ptr<RuleUnit> makeSystemComponentName(const RuleContext&) {
  return std::make_unique<SystemComponentName>();
}

}  // namespace detect
}  // namespace kc::audit
