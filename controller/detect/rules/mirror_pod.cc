// mirror-pod: a node's kubelet creating the mirror of a static pod, which started from a file
// on the node without passing admission.
#include <algorithm>
#include <array>

#include "controller/detect/detections.h"
#include "controller/detect/rules/units.h"

namespace kc::audit::detect {
namespace {

class MirrorPod final : public RuleUnit {
 public:
  explicit MirrorPod(const RuleContext& ctx) : ctx_(ctx) {}

  void onPod(PodWrite& w, Findings& out) override {
    if (w.kind != "Pod" || w.ephemeralSub || !startsWith(w.requestUser, "system:node:")) return;
    bool mirror = false;
    w.pod.annotation("kubernetes.io/config.mirror", &mirror);
    if (!mirror) return;
    // Expected on static-pod control planes.
    static constexpr std::array<std::string_view, 4> kControlPlane = {
        "kube-apiserver-", "kube-controller-manager-", "kube-scheduler-", "etcd-"};
    const bool controlPlane =
        w.ns == "kube-system" &&
        std::any_of(kControlPlane.begin(), kControlPlane.end(),
                    [&](std::string_view p) { return startsWith(w.name, p); });
    if (controlPlane && !ctx_.options().reportControlPlaneMirrorPods) return;
    w.emit(
        "mirror-pod", {{"mirror-pod", "", w.requestUser, Severity::kHigh}},
        [&] {
          return w.requestUser + " created mirror pod " + objectPath(w.ns, w.name) +
                 " from a static pod manifest on the node";
        },
        out);
  }

 private:
  const RuleContext& ctx_;
};

}  // namespace

std::unique_ptr<RuleUnit> makeMirrorPod(const RuleContext& ctx) {
  return std::make_unique<MirrorPod>(ctx);
}

}  // namespace kc::audit::detect
