// host-namespace: a pod sharing the node's process, IPC or network namespace.
#include "controller/detect/rules/units.h"

namespace kc::audit::detect {
namespace {

class HostNamespace final : public RuleUnit {
 public:
  void onPod(PodWrite& w, Findings& out) override {
    if (w.ephemeralSub) return;
    std::vector<Hit> hits;
    if (w.pod.hostPID == policy::Tri::kTrue)
      hits.push_back({"host-namespace/hostPID", "", "hostPID", Severity::kHigh});
    if (w.pod.hostIPC == policy::Tri::kTrue)
      hits.push_back({"host-namespace/hostIPC", "", "hostIPC", Severity::kMedium});
    if (w.pod.hostNetwork == policy::Tri::kTrue)
      hits.push_back({"host-namespace/hostNetwork", "", "hostNetwork", Severity::kMedium});
    w.emit(
        "host-namespace", std::move(hits), [&] { return w.what() + " shares host namespace(s)"; },
        out);
  }
};

}  // namespace

std::unique_ptr<RuleUnit> makeHostNamespace(const RuleContext&) {
  return std::make_unique<HostNamespace>();
}

}  // namespace kc::audit::detect
