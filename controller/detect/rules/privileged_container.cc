// privileged-container: a container running privileged (or a Windows hostProcess container or
// pod), which is root on the node.
#include "controller/detect/rules/units.h"

namespace kc::audit::detect {
namespace {

class PrivilegedContainer final : public RuleUnit {
 public:
  void onPod(PodWrite& w, Findings& out) override {
    std::vector<Hit> hits;
    for (const auto& c : w.pod.containers) {
      if (!w.inScope(c)) continue;
      if (c.sc.privileged == policy::Tri::kTrue || c.sc.windowsHostProcess == policy::Tri::kTrue) {
        hits.push_back({"privileged-container/" + std::string(c.name), std::string(c.name),
                        std::string(c.name), Severity::kHigh});
      }
    }
    if (!w.ephemeralSub && w.pod.sc.windowsHostProcess == policy::Tri::kTrue) {
      hits.push_back(
          {"privileged-container/<pod>", "", "windows hostProcess pod", Severity::kHigh});
    }
    w.emit(
        "privileged-container", std::move(hits),
        [&] { return w.what() + " runs privileged container(s)"; }, out);
  }
};

}  // namespace

std::unique_ptr<RuleUnit> makePrivilegedContainer(const RuleContext&) {
  return std::make_unique<PrivilegedContainer>();
}

}  // namespace kc::audit::detect
