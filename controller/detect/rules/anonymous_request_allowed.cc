// anonymous-request-allowed: a request by system:anonymous that was allowed, other than the
// health, version and discovery endpoints anonymous clients are meant to reach.
#include "common/utf8.h"
#include "controller/detect/rules/units.h"

namespace kc::audit::detect {
namespace {

class AnonymousRequestAllowed final : public RuleUnit {
 public:
  explicit AnonymousRequestAllowed(const RuleContext& ctx) : ctx_(ctx) {}

  void onEvent(EventClass, const Event& e, Findings& out) override {
    const bool allowed =
        e.authorizationDecision == "allow" ||
        (e.authorizationDecision.empty() && sessionOk(e.responseCode) && e.responseCode != 0);
    if (!allowed || e.responseCode == 401 || e.responseCode == 403) return;
    const std::string_view path = e.requestURI.substr(0, e.requestURI.find('?'));
    for (std::string_view ok : {"/healthz", "/livez", "/readyz", "/version",
                                "/.well-known/openid-configuration", "/openid/v1/jwks"}) {
      if (path == ok || startsWith(path, std::string(ok) + "/")) return;
    }
    if (ctx_.trusted("anonymous-request-allowed", e.user.username)) return;
    Finding f = ctx_.finding(e, "anonymous-request-allowed");
    f.severity = Severity::kHigh;
    f.summary = "anonymous request allowed: " + std::string(e.verb) + " " +
                std::string(utf8::prefix(path, 200)) +
                (f.sourceIP.empty() ? "" : " from " + f.sourceIP);
    out.push_back(std::move(f));
  }

 private:
  const RuleContext& ctx_;
};

}  // namespace

std::unique_ptr<RuleUnit> makeAnonymousRequestAllowed(const RuleContext& ctx) {
  return std::make_unique<AnonymousRequestAllowed>(ctx);
}

}  // namespace kc::audit::detect
