// workload-image-changed: the image or command of a known workload's container changed by an
// identity that never changed it before (the "served workload" defacement: a running app swapped
// for a miner under its own name). The object's memory keeps who changed it and its containers.
#include <algorithm>
#include <array>
#include <span>

#include "common/utf8.h"
#include "controller/detect/rules/units.h"

namespace kc::audit::detect {
namespace {

// The pod spec element of a pod-carrying object, or a null element.
element podSpec(element obj, std::string_view kind) {
  static constexpr std::string_view kPod[] = {"spec"};
  static constexpr std::string_view kCronJob[] = {"spec", "jobTemplate", "spec", "template",
                                                  "spec"};
  static constexpr std::string_view kPodTemplate[] = {"template", "spec"};
  static constexpr std::string_view kWorkload[] = {"spec", "template", "spec"};
  using Path = std::span<const std::string_view>;
  const Path path = kind == "Pod"           ? Path(kPod)
                    : kind == "CronJob"     ? Path(kCronJob)
                    : kind == "PodTemplate" ? Path(kPodTemplate)
                                            : Path(kWorkload);
  element e = obj;
  for (auto p : path) {
    if (!e.is_object() || e[p].get(e) != simdjson::SUCCESS) return policy::nullElement();
  }
  return e.is_object() ? e : policy::nullElement();
}

std::string joinStrings(element arr) {
  std::string out;
  simdjson::dom::array a;
  if (arr.get_array().get(a) != simdjson::SUCCESS) return out;
  for (element v : a) {
    std::string_view s;
    if (v.get_string().get(s) != simdjson::SUCCESS) continue;
    if (!out.empty()) out.push_back(' ');
    out.append(utf8::prefix(s, 512));
    if (out.size() > 2048) break;
  }
  return out;
}

// The container lists of a pod spec, with the prefix ContainerState puts before the names of
// their containers ("init:migrate").
constexpr std::array<std::pair<std::string_view, std::string_view>, 3> kLists = {
    {{"initContainers", "init:"}, {"containers", ""}, {"ephemeralContainers", "ephemeral:"}}};

// A container's own name, from the name ContainerState gives it.
std::string plainContainerName(std::string_view stateName) {
  for (const auto& [list, prefix] : kLists) {
    if (!prefix.empty() && startsWith(stateName, prefix))
      return std::string(stateName.substr(prefix.size()));
  }
  return std::string(stateName);
}

std::vector<ContainerState> readContainers(element obj, std::string_view kind) {
  std::vector<ContainerState> out;
  element spec = podSpec(obj, kind);
  if (!spec.is_object()) return out;
  // The three lists are found in one pass over the spec, each container in one pass over its
  // fields (a lookup by key scans the object).
  // A key given twice counts the first time, as a lookup by key would.
  simdjson::dom::array lists[kLists.size()];
  bool seen[kLists.size()] = {}, has[kLists.size()] = {};
  for (simdjson::dom::key_value_pair kv : simdjson::dom::object(spec.get_object().value_unsafe())) {
    for (size_t i = 0; i < kLists.size(); ++i) {
      if (seen[i] || kv.key != kLists[i].first) continue;
      seen[i] = true;
      has[i] = kv.value.get_array().get(lists[i]) == simdjson::SUCCESS;
    }
  }
  for (size_t i = 0; i < kLists.size(); ++i) {
    if (!has[i]) continue;
    for (element c : lists[i]) {
      if (out.size() >= 64) return out;
      simdjson::dom::object co;
      std::string_view name, image;
      element command, args;
      bool hasName = false, hasImage = false, hasCommand = false, hasArgs = false;
      if (c.get_object().get(co) == simdjson::SUCCESS) {
        for (simdjson::dom::key_value_pair kv : co) {
          if (kv.key == "name" && !hasName) {
            hasName = true;
            if (kv.value.get_string().get(name) != simdjson::SUCCESS) name = {};
          } else if (kv.key == "image" && !hasImage) {
            hasImage = true;
            if (kv.value.get_string().get(image) != simdjson::SUCCESS) image = {};
          } else if (kv.key == "command" && !hasCommand) {
            command = kv.value;
            hasCommand = true;
          } else if (kv.key == "args" && !hasArgs) {
            args = kv.value;
            hasArgs = true;
          }
        }
      }
      ContainerState s;
      s.name.reserve(kLists[i].second.size() + std::min<size_t>(name.size(), 253));
      s.name.append(kLists[i].second).append(utf8::prefix(name, 253));
      s.image.assign(utf8::prefix(image, 512));
      if (hasCommand) s.command = joinStrings(command);
      if (hasArgs) {
        std::string joined = joinStrings(args);
        if (!joined.empty()) s.command += (s.command.empty() ? "" : " ") + joined;
      }
      out.push_back(std::move(s));
    }
  }
  return out;
}

class WorkloadImageChanged final : public RuleUnit {
 public:
  explicit WorkloadImageChanged(const RuleContext& ctx) : ctx_(ctx) {}

  void onPod(PodWrite& w, Findings& out) override {
    if (w.ephemeralSub) return;
    TrackedObject& rec = w.rec();
    const TrackedObject& prev = w.prev();  // may be rec itself: read before rec changes
    std::vector<ContainerState> now = readContainers(w.obj, w.kind);
    if (!w.create && !w.controller && w.seenBefore && prev.hasContainers &&
        now != prev.containers) {
      // The change text names containers as ContainerState does ("init:migrate"); the
      // finding's container list by their own names.
      std::vector<std::string> changed, changedNames, oldImages, newImages;
      for (const auto& c : now) {
        auto it = std::find_if(prev.containers.begin(), prev.containers.end(),
                               [&](const ContainerState& o) { return o.name == c.name; });
        const bool added = it == prev.containers.end();
        if (!added && it->image == c.image && it->command == c.command) continue;
        if (changedNames.size() < kMaxListed) addUnique(changedNames, plainContainerName(c.name));
        if (added) {
          changed.push_back(c.name + " added (" + c.image + ")");
          newImages.push_back(c.image);
        } else if (it->image != c.image) {
          changed.push_back(c.name + ": " + it->image + " -> " + c.image);
          oldImages.push_back(it->image);
          newImages.push_back(c.image);
        } else {
          changed.push_back(c.name + ": command changed");
        }
      }
      const bool newIdentity = !prev.changers.empty() && !prev.isChanger(w.requestUser);
      if (!changed.empty() && newIdentity &&
          !ctx_.trusted("workload-image-changed", w.requestUser)) {
        Finding f = w.finding("workload-image-changed");
        f.user = w.requestUser;
        f.requestUser.clear();
        f.severity = Severity::kHigh;
        f.details["change"] = joinList(changed, "; ");
        if (!oldImages.empty()) f.details["oldImages"] = joinList(oldImages);
        if (!newImages.empty()) f.details["newImages"] = joinList(newImages);
        f.details["previousChangers"] = joinList(prev.changers);
        f.containers = std::move(changedNames);  // the changed ones, by their own names
        f.summary = w.requestUser + ", who never changed " + w.what() + " before, changed " +
                    joinList(changed, "; ");
        out.push_back(std::move(f));
      }
      rec.addChanger(w.requestUser);
    }
    if (w.create) rec.addChanger(w.actor);
    if (!w.seenBefore && !w.create && !w.controller) rec.addChanger(w.requestUser);
    rec.containers = std::move(now);
    rec.hasContainers = true;
  }

 private:
  const RuleContext& ctx_;
};

}  // namespace

std::unique_ptr<RuleUnit> makeWorkloadImageChanged(const RuleContext& ctx) {
  return std::make_unique<WorkloadImageChanged>(ctx);
}

}  // namespace kc::audit::detect
