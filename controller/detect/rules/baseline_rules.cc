// unexpected-creator, unexpected-image-source, unexpected-user-agent: creations unlike what the
// learned baseline (controller/detect/baseline.h) saw for their kind in their namespace. Within one
// ownership chain (Deployment -> ReplicaSet -> Pod) a novelty is reported once: the unit keeps,
// bounded, the novelties reported for each chain's root.
// unexpected-namespace-creator: a Namespace created by an identity the baseline never saw
// creating one (learned under namespace "", kind "Namespace"; the creator alone), read from the
// request line and the identity, so a creation logged without its body counts too.
#include <algorithm>

#include "common/utf8.h"
#include "controller/detect/detections.h"
#include "controller/detect/rules/units.h"

namespace kc::audit::detect {
namespace {

// The metadata of the object an event carries (judgedObject); a JSON null when none.
element judgedObjectMeta(const Event& e) {
  element md;
  const element obj = judgedObject(e);
  if (!obj.is_object() || obj["metadata"].get(md) != simdjson::SUCCESS)
    return policy::nullElement();
  return md;
}

class BaselineRules final : public RuleUnit {
 public:
  explicit BaselineRules(const RuleContext& ctx)
      : ctx_(ctx), chains_(std::max<size_t>(ctx.options().maxTrackedObjects / 8, 1024)) {}

  void onEvent(EventClass c, const Event& e, Findings& out) override {
    Baseline* baseline = ctx_.options().baseline;
    if (c != EventClass::kNamespaceCreate || !baseline) return;
    CreationObservation o;
    o.kind = "Namespace";
    o.creator = std::string(e.user.username);
    o.timeMicros = e.timeMicros;
    o.creatorOnly = true;
    for (const Novelty& n : baseline->observe(o)) {
      constexpr std::string_view kRule = "unexpected-namespace-creator";
      if (ctx_.trusted(kRule, o.creator)) continue;
      Finding f = ctx_.finding(e, kRule);
      f.severity = Severity::kMedium;
      f.kind = "Namespace";
      f.namespace_.clear();
      if (f.name.empty()) f.name = std::string(utf8::prefix(str(judgedObjectMeta(e), "name"), 253));
      f.details["dimension"] = std::string(dimensionName(n.dimension));
      f.details["value"] = n.value;
      if (n.newKey) f.details["newKey"] = "true";
      f.summary = o.creator + " created Namespace " +
                  (f.name.empty() ? "(name not logged)" : f.name) +
                  (n.newKey ? ": the first namespace created since learning ended"
                            : ": never seen creating a namespace");
      out.push_back(std::move(f));
    }
  }

  void onPod(PodWrite& w, Findings& out) override {
    Baseline* baseline = ctx_.options().baseline;
    if (!w.create || !baseline) return;
    CreationObservation o;
    o.namespace_ = w.ns;
    o.kind = std::string(w.kind);
    o.creator = w.actor;
    o.userAgent = w.actorUserAgent;
    for (const auto& img : w.images) addUnique(o.imageSources, imageSource(img));
    o.timeMicros = w.e.timeMicros;
    const std::vector<Novelty> novel = baseline->observe(o);
    const std::string_view root =
        w.uid.empty() ? std::string_view() : ctx_.objects().rootUid(w.uid);
    TrackedObject* chain = root.empty() ? nullptr : &chains_.upsert(root, "", "", "");
    const bool inherited = chain && root != w.uid;
    for (const auto& n : novel) {
      const std::string rule(dimensionRule(n.dimension));
      const std::string key = std::string(dimensionName(n.dimension)) + "\x1f" + n.value;
      const bool already = inherited && chain->hasKey(key);
      if (chain) chain->addKey(key);
      if (already || ctx_.trusted(rule, w.actor)) continue;
      Finding f = w.finding(rule);
      f.severity = Severity::kMedium;
      f.details["dimension"] = std::string(dimensionName(n.dimension));
      f.details["value"] = n.value;
      if (n.newKey) f.details["newKey"] = "true";
      const std::string scope = std::string(w.kind) + "s in namespace " + std::string(w.ns);
      switch (n.dimension) {
        case BaselineDimension::kCreator:
          f.summary = w.actor + " created " + w.what() +
                      (n.newKey ? ": first " + scope + " since learning ended"
                                : ": never seen creating " + scope);
          break;
        case BaselineDimension::kImageSource:
          f.summary = w.what() + " runs image source " + n.value + ", never seen for " + scope;
          break;
        case BaselineDimension::kUserAgent:
          f.summary = w.actor + " created " + w.what() + " with client " + n.value +
                      ", never seen creating " + scope;
          break;
      }
      out.push_back(std::move(f));
    }
  }

 private:
  const RuleContext& ctx_;
  ObjectTracker chains_;  // root uid -> novelties reported for its chain ("dimension\x1fvalue")
};

}  // namespace

std::unique_ptr<RuleUnit> makeBaselineRules(const RuleContext& ctx) {
  return std::make_unique<BaselineRules>(ctx);
}

}  // namespace kc::audit::detect
