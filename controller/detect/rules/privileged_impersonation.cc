// privileged-impersonation: a request impersonating an administrator, a node, a control-plane
// identity or the system:masters group.
#include <algorithm>
#include <array>

#include "common/utf8.h"
#include "controller/detect/detections.h"
#include "controller/detect/rules/units.h"

namespace kc::audit::detect {
namespace {

class PrivilegedImpersonation final : public RuleUnit {
 public:
  explicit PrivilegedImpersonation(const RuleContext& ctx) : ctx_(ctx) {}

  void onEvent(EventClass, const Event& e, Findings& out) override {
    const auto& target = e.impersonatedUser;
    const auto& extra = ctx_.options().privilegedIdentities;
    std::string why;
    static constexpr std::array<std::string_view, 4> kAdmins = {"system:admin", "kubernetes-admin",
                                                                "admin", "cluster-admin"};
    if (std::find(kAdmins.begin(), kAdmins.end(), target.username) != kAdmins.end() ||
        std::find(extra.begin(), extra.end(), target.username) != extra.end()) {
      why = "administrator " + std::string(target.username);
    } else if (startsWith(target.username, "system:node:")) {
      why = "node identity " + std::string(target.username);
    } else if (startsWith(target.username, "system:serviceaccount:kube-system:") ||
               target.username == "system:kube-controller-manager" ||
               target.username == "system:kube-scheduler" ||
               target.username == "system:apiserver") {
      why = "control-plane identity " + std::string(target.username);
    }
    for (auto g : target.groups) {
      if (g == "system:masters") {
        why = why.empty() ? "group system:masters" : why + " in group system:masters";
        break;
      }
    }
    if (why.empty() || ctx_.trusted("privileged-impersonation", e.user.username)) return;
    Finding f = ctx_.finding(e, "privileged-impersonation");
    const bool allowed = sessionOk(e.responseCode);
    f.severity = allowed ? Severity::kHigh : Severity::kMedium;
    f.summary = std::string(e.user.username) +
                (allowed ? " impersonated " : " tried to impersonate ") + why + ": " +
                std::string(e.verb) + " " + std::string(utf8::prefix(e.requestURI, 160));
    if (!allowed) f.details["outcome"] = "denied";
    out.push_back(std::move(f));
  }

 private:
  const RuleContext& ctx_;
};

}  // namespace

std::unique_ptr<RuleUnit> makePrivilegedImpersonation(const RuleContext& ctx) {
  return std::make_unique<PrivilegedImpersonation>(ctx);
}

}  // namespace kc::audit::detect
