// libFuzzer target for the audit detections (built with -DKC_BUILD_FUZZERS=ON and clang): the
// events parsed from the input run through one AuditPipeline (dedupe, deferred lookups,
// auditID reuse) and its Detector with the built-in policies, a baseline past its learning
// period and small bounds, so that state carried from input to input (seen events, tracked
// objects, admission configurations, request ids) and its eviction are exercised too.
// Findings are serialized as the replay prints them. Seeds: test/controller/detections_corpus/,
// which detections_corpus_test also replays in the normal test run.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "controller/detect/baseline.h"
#include "controller/detect/detections.h"
#include "controller/detect/pipeline.h"
#include "controller/events/audit_event.h"
#include "policies/loader.h"
#include "policies/store/policy_store.h"

namespace {

kc::audit::Detector& detector() {
  static const std::shared_ptr<const kc::policy::PolicySet> policies =
      kc::policy::loadPolicies(kc::policy::embeddedDefaultPolicies()).policies;
  static kc::audit::Baseline baseline(kc::audit::BaselineOptions{0, 64, 1000});
  static kc::audit::Detector d([] {
    kc::audit::DetectorOptions o;
    o.policies = [] { return policies; };
    o.baseline = &baseline;
    o.maxTrackedObjects = 128;
    o.maxTrackedRequests = 128;
    return o;
  }());
  return d;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static std::string json;
  static kc::audit::AuditPipeline pipeline(
      [] {
        kc::audit::PipelineOptions o;
        o.dedupe.maxEntries = 256;
        return o;
      }(),
      detector(), nullptr,
      [](const kc::audit::Finding& f) {
        json.clear();
        kc::audit::appendJson(json, f);
        if (f.rule.empty() || f.summary.empty()) __builtin_trap();
      });
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  pipeline.processLines(input, "fuzz", false);
  // Every event parsed is settled, counted new or repeated, by the end of the buffer.
  if (pipeline.events() + pipeline.duplicates() != pipeline.parseStats().events) __builtin_trap();
  return 0;
}
