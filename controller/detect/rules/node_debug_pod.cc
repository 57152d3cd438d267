// node-debug-pod: a pod with the node's namespaces and root file system (kubectl debug node/...),
// or named as kubectl names those.
#include "controller/detect/detections.h"
#include "controller/detect/rules/units.h"

namespace kc::audit::detect {
namespace {

class NodeDebugPod final : public RuleUnit {
 public:
  void onPod(PodWrite& w, Findings& out) override {
    if (w.kind != "Pod" || w.ephemeralSub) return;
    const bool debugName = startsWith(w.name, "node-debugger-");
    const bool hostAll = w.pod.hostPID == policy::Tri::kTrue &&
                         w.pod.hostNetwork == policy::Tri::kTrue && w.mountsHostRoot();
    if (!debugName && !hostAll) return;
    const std::string node(w.pod.nodeName.value);
    w.emit(
        "node-debug-pod",
        {{"node-debug-pod", "", node.empty() ? std::string() : "node " + node, Severity::kHigh}},
        [&] {
          return w.actor + " started node debugging pod " + objectPath(w.ns, w.name) +
                 " with the node's namespaces and root filesystem";
        },
        out);
  }
};

}  // namespace

std::unique_ptr<RuleUnit> makeNodeDebugPod(const RuleContext&) {
  return std::make_unique<NodeDebugPod>();
}

}  // namespace kc::audit::detect
