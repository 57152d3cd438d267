// ephemeral-container: ephemeral containers added to a running pod (kubectl debug), a way to
// run a new image in a pod's namespaces that its spec never named.
#include "controller/detect/rules/units.h"

namespace kc::audit::detect {
namespace {

class EphemeralContainer final : public RuleUnit {
 public:
  explicit EphemeralContainer(const RuleContext& ctx) : ctx_(ctx) {}

  void onPod(PodWrite& w, Findings& out) override {
    if (!w.ephemeralSub) return;
    std::vector<Hit> hits;
    for (const auto& c : w.pod.containers) {
      if (c.kind != policy::ContainerKind::kEphemeral) continue;
      hits.push_back({"ephemeral-container/" + std::string(c.name), std::string(c.name),
                      std::string(c.name) + " (" + std::string(c.image.value) + ")",
                      Severity::kHigh});
    }
    w.emit(
        "ephemeral-container", std::move(hits),
        [&] {
          return w.requestUser + " added ephemeral container(s) to pod " + objectPath(w.ns, w.name);
        },
        out);
  }

  // Added, with the body not recorded (audit level Metadata for the subresource).
  void onEvent(EventClass, const Event& e, Findings& out) override {
    if (ctx_.trusted("ephemeral-container", e.user.username)) return;
    Finding f = ctx_.finding(e, "ephemeral-container");
    f.kind = "Pod";
    f.severity = Severity::kHigh;
    f.summary = f.user + " added an ephemeral container to pod " +
                objectPath(f.namespace_, f.name) + " (body not recorded)";
    out.push_back(std::move(f));
  }

 private:
  const RuleContext& ctx_;
};

}  // namespace

std::unique_ptr<RuleUnit> makeEphemeralContainer(const RuleContext& ctx) {
  return std::make_unique<EphemeralContainer>(ctx);
}

}  // namespace kc::audit::detect
