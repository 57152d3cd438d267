// dangerous-capability: Linux capabilities added to a container that open the way to the node
// (SYS_ADMIN, SYS_MODULE, SYS_PTRACE, BPF, ...), graded by the capability.
#include <algorithm>
#include <array>

#include "controller/detect/detections.h"
#include "controller/detect/rules/units.h"

namespace kc::audit {

using detect::startsWith;
using detect::upper;

Severity capabilitySeverity(std::string_view capability) {
  std::string c = upper(capability);
  if (startsWith(c, "CAP_")) c = c.substr(4);
  static constexpr std::array<std::string_view, 3> kCritical = {"ALL", "SYS_ADMIN", "SYS_MODULE"};
  static constexpr std::array<std::string_view, 10> kHigh = {
      "SYS_PTRACE", "DAC_READ_SEARCH", "BPF",          "PERFMON", "SYS_RAWIO",
      "SYS_BOOT",   "MAC_ADMIN",       "MAC_OVERRIDE", "SYSLOG",  "DAC_OVERRIDE"};
  static constexpr std::array<std::string_view, 4> kMedium = {"NET_ADMIN", "NET_RAW", "SYS_TIME",
                                                              "SYS_RESOURCE"};
  auto in = [&](const auto& list) { return std::find(list.begin(), list.end(), c) != list.end(); };
  if (in(kCritical)) return Severity::kCritical;
  if (in(kHigh)) return Severity::kHigh;
  if (in(kMedium)) return Severity::kMedium;
  return Severity::kInfo;
}

namespace detect {
namespace {

class DangerousCapability final : public RuleUnit {
 public:
  void onPod(PodWrite& w, Findings& out) override {
    std::vector<Hit> hits;
    for (const auto& c : w.pod.containers) {
      if (!w.inScope(c)) continue;
      for (auto cap : c.sc.capAdd.items) {
        const Severity s = capabilitySeverity(cap);
        if (s == Severity::kInfo) continue;
        const std::string capName = upper(cap);
        hits.push_back({"dangerous-capability/" + std::string(c.name) + "/" + capName,
                        std::string(c.name), std::string(c.name) + " +" + capName, s});
      }
    }
    w.emit(
        "dangerous-capability", std::move(hits),
        [&] { return w.what() + " adds dangerous capabilities"; }, out);
  }
};

}  // namespace

std::unique_ptr<RuleUnit> makeDangerousCapability(const RuleContext&) {
  return std::make_unique<DangerousCapability>();
}

}  // namespace detect
}  // namespace kc::audit
