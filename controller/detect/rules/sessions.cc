// pod-exec, pod-attach, pod-portforward: sessions into running containers. An exec is scored by
// its command (controller/events/exec_command.h: reverse shells, token reads, downloads, ...).
#include "controller/detect/rules/units.h"

namespace kc::audit::detect {
namespace {

class Sessions final : public RuleUnit {
 public:
  explicit Sessions(const RuleContext& ctx) : ctx_(ctx) {}

  void onSession(const Session& s, Findings& out) override {
    const Event& e = s.e;
    const std::string rule = "pod-" + std::string(s.subresource);
    if (ctx_.trusted(rule, e.user.username)) return;
    Finding f = ctx_.finding(e, rule);
    f.kind = "Pod";
    const auto& req = s.request;
    if (req) {
      if (f.namespace_.empty()) f.namespace_ = req->namespace_;
      if (f.name.empty()) f.name = req->pod;
      if (!req->container.empty()) f.containers.push_back(req->container);
    }
    const std::string where = "pod " + objectPath(f.namespace_, f.name) +
                              (f.containers.empty() ? "" : " (container " + f.containers[0] + ")");
    if (s.subresource == "exec") {
      const CommandScore score = req ? scoreCommand(req->command) : CommandScore{};
      f.severity = maxSeverity(Severity::kLow, score.severity);
      f.command = score.commandLine;
      std::vector<std::string> ids;
      for (const auto& ind : score.indicators) {
        f.indicators.push_back(ind.id + " (" + ind.technique + "): " + ind.evidence);
        ids.push_back(ind.id);
      }
      f.summary = f.user + " ran `" + (f.command.empty() ? "?" : f.command) + "` in " + where;
      if (!ids.empty()) f.summary += " [" + joinList(ids) + "]";
      if (req && req->tty && req->stdin) f.details["interactive"] = "true";
    } else if (s.subresource == "attach") {
      f.severity = Severity::kMedium;
      f.summary = f.user + " attached to " + where;
    } else {
      f.severity = Severity::kMedium;
      if (req) f.details["ports"] = joinList(req->ports);
      f.summary =
          f.user + " forwarded port(s) " + (req ? joinList(req->ports) : "?") + " into " + where;
    }
    out.push_back(std::move(f));
  }

 private:
  const RuleContext& ctx_;
};

}  // namespace

std::unique_ptr<RuleUnit> makeSessions(const RuleContext& ctx) {
  return std::make_unique<Sessions>(ctx);
}

}  // namespace kc::audit::detect
