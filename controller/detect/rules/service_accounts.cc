// serviceaccount-token-requested, system-serviceaccount-created: credentials minted for later.
// A token requested for a service account (kubectl create token, the TokenRequest API) by
// anyone but a kubelet, which requests its pods' tokens all the time; a service account created
// in a system namespace by an identity that is not part of the system.
#include "common/utf8.h"
#include "controller/detect/rules/units.h"

namespace kc::audit::detect {
namespace {

constexpr std::string_view kTokenRule = "serviceaccount-token-requested";
constexpr std::string_view kCreatedRule = "system-serviceaccount-created";

class ServiceAccounts final : public RuleUnit {
 public:
  explicit ServiceAccounts(const RuleContext& ctx) : ctx_(ctx) {}

  void onEvent(EventClass, const Event& e, Findings& out) override {
    const std::string_view user = e.user.username;
    const std::string_view ns = e.objectRef.namespace_;
    if (e.objectRef.subresource == "token") return tokenRequested(e, out);
    // A ServiceAccount created.
    if (!ctx_.systemNamespace(ns) || ctx_.systemIdentity(user) || ctx_.trusted(kCreatedRule, user))
      return;
    Finding f = ctx_.finding(e, kCreatedRule);
    f.kind = "ServiceAccount";
    f.severity = Severity::kHigh;
    f.summary = f.user + " created service account " + objectPath(f.namespace_, f.name) +
                " in a system namespace: an identity that blends in with the cluster's own";
    out.push_back(std::move(f));
  }

 private:
  void tokenRequested(const Event& e, Findings& out) {
    const std::string_view user = e.user.username;
    // Kubelets request their pods' tokens (projected volumes) all the time.
    if (startsWith(user, "system:node:") || ctx_.trusted(kTokenRule, user)) return;
    const bool system = ctx_.systemNamespace(e.objectRef.namespace_);
    Finding f = ctx_.finding(e, kTokenRule);
    f.kind = "ServiceAccount";
    f.severity = system ? Severity::kHigh : Severity::kMedium;
    // What was asked for: the TokenRequest (the response has the token; it is never read).
    const element req = e.hasRequestObject ? e.requestObject : policy::nullElement();
    element spec;
    std::string lifetime, bound;
    if (req.is_object() && req["spec"].get(spec) == simdjson::SUCCESS && spec.is_object()) {
      int64_t seconds = 0;
      if (spec["expirationSeconds"].get_int64().get(seconds) == simdjson::SUCCESS && seconds > 0) {
        lifetime = std::to_string(seconds) + " s";
        f.details["expirationSeconds"] = std::to_string(seconds);
      }
      element ref;
      if (spec["boundObjectRef"].get(ref) == simdjson::SUCCESS && ref.is_object()) {
        bound = std::string(utf8::prefix(str(ref, "kind"), 32)) + " " +
                std::string(utf8::prefix(str(ref, "name"), 253));
        f.details["boundObject"] = bound;
      }
      simdjson::dom::array auds;
      if (spec["audiences"].get_array().get(auds) == simdjson::SUCCESS) {
        std::vector<std::string> names;
        for (element a : auds) {
          std::string_view s;
          if (a.get_string().get(s) == simdjson::SUCCESS && names.size() < kMaxListed)
            names.emplace_back(utf8::prefix(s, 253));
        }
        if (!names.empty()) f.details["audiences"] = joinList(names);
      }
    }
    // At Metadata level the request is not logged: nothing is said of what it asked for.
    const std::string asked = !req.is_object() ? ""
                              : bound.empty()  ? ", bound to no object (it lives until it expires)"
                                               : ", bound to " + bound;
    f.summary = f.user + " requested a token for service account " +
                objectPath(f.namespace_, f.name) +
                (lifetime.empty() ? "" : " valid for " + lifetime) + asked +
                (system ? ": an account of a system namespace" : "");
    out.push_back(std::move(f));
  }

  const RuleContext& ctx_;
};

}  // namespace

std::unique_ptr<RuleUnit> makeServiceAccounts(const RuleContext& ctx) {
  return std::make_unique<ServiceAccounts>(ctx);
}

}  // namespace kc::audit::detect
