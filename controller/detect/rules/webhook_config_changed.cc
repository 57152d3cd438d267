// webhook-config-changed: admission webhook configurations and admission policies created,
// changed or deleted: the control path that decides what gets in. A change is compared with
// the last state seen of the same configuration, so that what it changed is said (a webhook
// removed, failurePolicy Fail -> Ignore, rules or selectors narrowed) and routine changes (a CA
// bundle rotated) are told apart.
#include <algorithm>
#include <array>

#include "common/utf8.h"
#include "controller/detect/bounded_map.h"
#include "controller/detect/rules/units.h"

namespace kc::audit::detect {
namespace {

// Hash of a JSON value as simdjson minifies it (the API server writes objects in a fixed field
// order, so equal settings give equal text).
uint64_t jsonHash(element v) {
  const std::string text = simdjson::to_string(v);
  return std::hash<std::string_view>{}(text) | 1;  // 0 stays "absent"
}

// "what old -> new", an absent value written "unset".
std::string transition(std::string_view what, const std::string& was, const std::string& now) {
  return std::string(what) + " " + (was.empty() ? "unset" : was) + " -> " +
         (now.empty() ? "unset" : now);
}

uint64_t fieldHash(element obj, std::string_view key) {
  element v;
  if (!obj.is_object() || obj.get_object().value_unsafe().at_key(key).get(v) != simdjson::SUCCESS)
    return 0;
  return jsonHash(v);
}

class WebhookConfigChanged final : public RuleUnit {
 public:
  explicit WebhookConfigChanged(const RuleContext& ctx) : ctx_(ctx) {}

  void onEvent(EventClass, const Event& e, Findings& out) override {
    static constexpr std::array<std::string_view, 6> kResources = {
        "validatingwebhookconfigurations", "mutatingwebhookconfigurations",
        "validatingadmissionpolicies",     "validatingadmissionpolicybindings",
        "mutatingadmissionpolicies",       "mutatingadmissionpolicybindings"};
    const std::string_view res = e.objectRef.resource;
    if (std::find(kResources.begin(), kResources.end(), res) == kResources.end()) return;
    const bool del = e.verb == "delete" || e.verb == "deletecollection";
    const std::string key =
        std::string(res) + "/" + std::string(utf8::prefix(e.objectRef.name, 253));
    const element obj = judgedObject(e);

    // What the change changed, against the last state seen (kept even for trusted identities,
    // so that the next change by someone else is compared with the right state).
    std::vector<std::string> changes;
    bool weakened = false;  // anything but a CA bundle rotation or a metadata-only change
    bool known = false;
    if (del) {
      configs_.erase(key);
    } else if (obj.is_object() && (e.responseCode == 0 || success(e.responseCode))) {
      AdmissionState now = readAdmissionState(obj);
      AdmissionState* seen = configs_.find(key);
      if (seen != nullptr && e.verb != "create") {
        known = true;
        const AdmissionState& was = *seen;
        auto change = [&](std::string text, bool weakens) {
          if (changes.size() < kMaxListed) changes.push_back(std::move(text));
          weakened = weakened || weakens;
        };
        for (const AdmissionHook& old : was.hooks) {
          auto n = std::find_if(now.hooks.begin(), now.hooks.end(),
                                [&](const AdmissionHook& h) { return h.name == old.name; });
          if (n == now.hooks.end()) {
            change("webhook " + old.name + " removed", true);
            continue;
          }
          const std::string w = "webhook " + old.name + ": ";
          if (n->failurePolicy != old.failurePolicy)
            change(w + transition("failurePolicy", old.failurePolicy, n->failurePolicy), true);
          if (n->rules != old.rules) change(w + "rules changed", true);
          if (n->namespaceSelector != old.namespaceSelector)
            change(w + "namespaceSelector changed", true);
          if (n->objectSelector != old.objectSelector) change(w + "objectSelector changed", true);
          if (n->matchConditions != old.matchConditions)
            change(w + "matchConditions changed", true);
          if (n->endpoint != old.endpoint) change(w + "clientConfig endpoint changed", true);
          if (n->other != old.other) change(w + "settings changed", true);
          if (n->caBundle != old.caBundle) change(w + "caBundle rotated", false);
        }
        for (const AdmissionHook& h : now.hooks) {
          if (std::none_of(was.hooks.begin(), was.hooks.end(),
                           [&](const AdmissionHook& o) { return o.name == h.name; })) {
            change("webhook " + h.name + " added", true);
          }
        }
        if (now.failurePolicy != was.failurePolicy)
          change(transition("failurePolicy", was.failurePolicy, now.failurePolicy), true);
        if (now.validationActions != was.validationActions)
          change(transition("validationActions", was.validationActions, now.validationActions),
                 true);
        if (now.spec != was.spec && now.failurePolicy == was.failurePolicy &&
            now.validationActions == was.validationActions) {
          change("spec changed", true);
        }
        *seen = std::move(now);
      } else {
        configs_.put(key, std::move(now));
      }
    }

    if (ctx_.trusted("webhook-config-changed", e.user.username)) return;
    Finding f = ctx_.finding(e, "webhook-config-changed");
    f.severity = del ? Severity::kCritical : Severity::kHigh;
    // Compared with the last state seen: a CA bundle rotation or a metadata-only change is
    // routine (certificate managers do it daily); it is still reported, at low severity.
    if (known && !weakened) f.severity = Severity::kLow;
    f.kind = std::string(res);
    // Webhooks that fail open after the change are worth naming.
    if (obj.is_object() && !del) {
      f.kind = std::string(str(obj, "kind"));
      std::vector<std::string> failOpen;
      simdjson::dom::array hooks;
      if (obj["webhooks"].get_array().get(hooks) == simdjson::SUCCESS) {
        for (element h : hooks) {
          if (str(h, "failurePolicy") == "Ignore")
            failOpen.emplace_back(utf8::prefix(str(h, "name"), 253));
          if (failOpen.size() >= 16) break;
        }
      }
      if (!failOpen.empty()) f.details["failOpenWebhooks"] = joinList(failOpen);
    }
    if (known) f.details["changes"] = changes.empty() ? "metadata only" : joinList(changes, "; ");
    std::string what = std::string(res) + (f.name.empty() ? "" : " " + f.name);
    static constexpr std::array<std::pair<std::string_view, std::string_view>, 5> kVerbs = {
        {{"create", "created"},
         {"update", "updated"},
         {"patch", "patched"},
         {"delete", "deleted"},
         {"deletecollection", "deleted all"}}};
    std::string_view did = e.verb;
    for (const auto& [v, past] : kVerbs) {
      if (v == e.verb) did = past;
    }
    f.summary = f.user + " " + std::string(did) + " " + what;
    if (del) f.summary += ": admission control no longer sees what it covered";
    if (known) f.summary += ": " + f.details["changes"];
    out.push_back(std::move(f));
  }

 private:
  // The last seen state of an admission configuration, to say what a change changed: per
  // webhook its failurePolicy and a hash of each setting; for admission policies and
  // bindings the spec's hash, failurePolicy and validationActions.
  struct AdmissionHook {
    std::string name;
    std::string failurePolicy;
    uint64_t rules = 0, namespaceSelector = 0, objectSelector = 0, matchConditions = 0;
    uint64_t endpoint = 0;  // clientConfig without caBundle
    uint64_t caBundle = 0;
    uint64_t other = 0;  // sideEffects, timeoutSeconds, matchPolicy, reinvocationPolicy, ...
  };
  struct AdmissionState {
    std::vector<AdmissionHook> hooks;
    uint64_t spec = 0;
    std::string failurePolicy;
    std::string validationActions;
  };
  static AdmissionState readAdmissionState(element obj) {
    AdmissionState st;
    simdjson::dom::array hooks;
    if (obj["webhooks"].get_array().get(hooks) == simdjson::SUCCESS) {
      for (element h : hooks) {
        if (!h.is_object() || st.hooks.size() >= 64) continue;
        AdmissionHook hook;
        hook.name = std::string(utf8::prefix(str(h, "name"), 253));
        hook.failurePolicy = std::string(utf8::prefix(str(h, "failurePolicy"), 32));
        hook.rules = fieldHash(h, "rules");
        hook.namespaceSelector = fieldHash(h, "namespaceSelector");
        hook.objectSelector = fieldHash(h, "objectSelector");
        hook.matchConditions = fieldHash(h, "matchConditions");
        uint64_t endpoint = 0, other = 0;
        const simdjson::dom::object fields = h.get_object().value_unsafe();
        for (simdjson::dom::key_value_pair kv : fields) {
          const std::string_view k = kv.key;
          const element v = kv.value;
          if (k == "clientConfig" && v.is_object()) {
            const simdjson::dom::object client = v.get_object().value_unsafe();
            for (simdjson::dom::key_value_pair ckv : client) {
              const std::string_view ck = ckv.key;
              const element cv = ckv.value;
              if (ck == "caBundle") {
                hook.caBundle = jsonHash(cv);
              } else {
                endpoint = endpoint * 31 + std::hash<std::string_view>{}(ck) + jsonHash(cv);
              }
            }
          } else if (k != "name" && k != "failurePolicy" && k != "rules" &&
                     k != "namespaceSelector" && k != "objectSelector" && k != "matchConditions") {
            other = other * 31 + std::hash<std::string_view>{}(k) + jsonHash(v);
          }
        }
        hook.endpoint = endpoint;
        hook.other = other;
        st.hooks.push_back(std::move(hook));
      }
    }
    element spec;
    if (obj["spec"].get(spec) == simdjson::SUCCESS && spec.is_object()) {
      st.spec = jsonHash(spec);
      st.failurePolicy = std::string(utf8::prefix(str(spec, "failurePolicy"), 32));
      simdjson::dom::array actions;
      if (spec["validationActions"].get_array().get(actions) == simdjson::SUCCESS) {
        std::vector<std::string> names;
        for (element a : actions) {
          std::string_view n;
          if (a.get_string().get(n) == simdjson::SUCCESS && names.size() < 8)
            names.emplace_back(utf8::prefix(n, 32));
        }
        st.validationActions = joinList(names, "+");
      }
    }
    return st;
  }

  const RuleContext& ctx_;
  static constexpr size_t kMaxConfigs = 1024;
  BoundedMap<AdmissionState> configs_{kMaxConfigs};  // "resource/name", the oldest forgotten first
};

}  // namespace

std::unique_ptr<RuleUnit> makeWebhookConfigChanged(const RuleContext& ctx) {
  return std::make_unique<WebhookConfigChanged>(ctx);
}

}  // namespace kc::audit::detect
