// nodes-proxy-access: the kubelet API reached through the API server's nodes/proxy, graded by
// what the path can do (run commands, read pods, or only metrics).
#include "common/utf8.h"
#include "controller/detect/rules/units.h"

namespace kc::audit::detect {
namespace {

class NodesProxyAccess final : public RuleUnit {
 public:
  explicit NodesProxyAccess(const RuleContext& ctx) : ctx_(ctx) {}

  void onEvent(EventClass, const Event& e, Findings& out) override {
    if (!sessionOk(e.responseCode)) return;
    if (ctx_.trusted("nodes-proxy-access", e.user.username)) return;
    Finding f = ctx_.finding(e, "nodes-proxy-access");
    f.kind = "Node";
    std::string_view uri = e.requestURI;
    uri = uri.substr(0, uri.find('?'));
    const size_t p = uri.find("/proxy");
    std::string_view path = p == std::string_view::npos ? std::string_view() : uri.substr(p + 6);
    if (path.empty()) path = "/";
    auto under = [&](std::initializer_list<std::string_view> list) {
      for (auto l : list) {
        if (path == l || startsWith(path, std::string(l) + "/")) return true;
      }
      return false;
    };
    if (under({"/run", "/exec", "/attach", "/portForward", "/cri"})) {
      f.severity = Severity::kCritical;
    } else if (under({"/pods", "/runningpods", "/configz", "/debug", "/checkpoint",
                      "/containerLogs", "/logs"})) {
      f.severity = Severity::kHigh;
    } else if (under({"/metrics", "/stats", "/healthz", "/spec"})) {
      f.severity = Severity::kLow;
    } else {
      f.severity = Severity::kMedium;
    }
    f.details["kubeletPath"] = std::string(utf8::prefix(path, 256));
    f.summary = f.user + " reached the kubelet API of node " + f.name + " at " +
                std::string(utf8::prefix(path, 128)) + " through nodes/proxy (" + f.verb + ")";
    out.push_back(std::move(f));
  }

 private:
  const RuleContext& ctx_;
};

}  // namespace

std::unique_ptr<RuleUnit> makeNodesProxyAccess(const RuleContext& ctx) {
  return std::make_unique<NodesProxyAccess>(ctx);
}

}  // namespace kc::audit::detect
