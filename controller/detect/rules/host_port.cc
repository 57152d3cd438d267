// host-port: a container binding a port of the node.
#include "controller/detect/rules/units.h"

namespace kc::audit::detect {
namespace {

class HostPort final : public RuleUnit {
 public:
  void onPod(PodWrite& w, Findings& out) override {
    if (w.ephemeralSub) return;
    std::vector<Hit> hits;
    for (const auto& c : w.pod.containers) {
      for (int64_t port : c.hostPorts) {
        const std::string p = port < 0 ? "invalid" : std::to_string(port);
        hits.push_back({"host-port/" + std::string(c.name) + "/" + p, std::string(c.name),
                        std::string(c.name) + ":" + p, Severity::kMedium});
      }
    }
    w.emit(
        "host-port", std::move(hits), [&] { return w.what() + " binds host port(s)"; }, out);
  }
};

}  // namespace

std::unique_ptr<RuleUnit> makeHostPort(const RuleContext&) { return std::make_unique<HostPort>(); }

}  // namespace kc::audit::detect
