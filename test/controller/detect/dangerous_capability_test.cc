// Tests of the dangerous-capability rule and of its classification (capabilitySeverity).
#include <catch2/catch.hpp>
#include <cctype>

#include "controller/detect/detections.h"
#include "test/controller/detect/detect_test_util.h"

namespace kc::audit {
namespace {

using namespace detect_test;

TEST_CASE("CapabilityClassification", "[detections]") {
  CHECK(capabilitySeverity("SYS_ADMIN") == Severity::kCritical);
  CHECK(capabilitySeverity("cap_sys_ptrace") == Severity::kHigh);
  CHECK(capabilitySeverity("NET_ADMIN") == Severity::kMedium);
  CHECK(capabilitySeverity("NET_BIND_SERVICE") == Severity::kInfo);
}

// Added capabilities by severity (SYS_ADMIN critical, SYS_PTRACE high, NET_ADMIN medium, CAP_
// prefixes and lower case accepted); the look-alikes (dropping ALL, adding a harmless
// capability) are not reported; the identity that deploys the eBPF agent can be trusted.
TEST_CASE("DangerousCapabilitiesAndTheirLookAlikes", "[detections]") {
  auto create = [](Detector& d, const std::string& name, const std::string& user,
                   json capabilities) {
    return createPod(d, "shop", name, user, "docker.io/library/alpine:3.19", json::object(),
                     {{"securityContext", {{"capabilities", capabilities}}}});
  };
  Detector d(DetectorOptions{});
  auto fs = create(d, "escape", "bob@example.com", {{"add", {"SYS_ADMIN"}}});
  REQUIRE(rules(fs) == std::vector<std::string>{"dangerous-capability"});
  CHECK(fs[0].severity == Severity::kCritical);
  CHECK(fs[0].technique == "T1611");
  CHECK(fs[0].details.at("what") == "app +SYS_ADMIN");
  CHECK(fs[0].containers == std::vector<std::string>{"app"});

  fs = create(d, "tracer", "bob@example.com", {{"add", {"cap_sys_ptrace"}}});
  REQUIRE(rules(fs) == std::vector<std::string>{"dangerous-capability"});
  CHECK(fs[0].severity == Severity::kHigh);
  fs = create(d, "router", "bob@example.com", {{"add", {"NET_ADMIN"}}});
  REQUIRE(rules(fs) == std::vector<std::string>{"dangerous-capability"});
  CHECK(fs[0].severity == Severity::kMedium);

  CHECK(create(d, "hardened", "bob@example.com", {{"drop", {"ALL"}}, {"add", {"NET_BIND_SERVICE"}}})
            .empty());
  CHECK(create(d, "dropping", "bob@example.com", {{"drop", {"SYS_ADMIN", "NET_RAW"}}}).empty());

  DetectorOptions o;
  o.trustedIdentities["dangerous-capability"] = {"system:serviceaccount:kube-system:cilium-*"};
  Detector trusting(o);
  const json ebpf = {{"add", {"BPF", "PERFMON", "SYS_ADMIN", "NET_ADMIN"}}};
  CHECK(
      create(trusting, "agent", "system:serviceaccount:kube-system:cilium-operator", ebpf).empty());
  fs = create(trusting, "agent-2", "bob@example.com", ebpf);
  REQUIRE(rules(fs) == std::vector<std::string>{"dangerous-capability"});
  CHECK(fs[0].severity == Severity::kCritical);
}

// Every capability docs/detections.md names, at the severity it states, with and without the
// CAP_ prefix and in lower case.
TEST_CASE("CapabilitySeveritiesAsDocumented", "[detections]") {
  const std::vector<std::pair<std::string, Severity>> documented = {
      {"ALL", Severity::kCritical},
      {"SYS_ADMIN", Severity::kCritical},
      {"SYS_MODULE", Severity::kCritical},
      {"SYS_PTRACE", Severity::kHigh},
      {"DAC_READ_SEARCH", Severity::kHigh},
      {"DAC_OVERRIDE", Severity::kHigh},
      {"BPF", Severity::kHigh},
      {"PERFMON", Severity::kHigh},
      {"SYS_RAWIO", Severity::kHigh},
      {"SYS_BOOT", Severity::kHigh},
      {"MAC_ADMIN", Severity::kHigh},
      {"MAC_OVERRIDE", Severity::kHigh},
      {"SYSLOG", Severity::kHigh},
      {"NET_ADMIN", Severity::kMedium},
      {"NET_RAW", Severity::kMedium},
      {"SYS_TIME", Severity::kMedium},
      {"SYS_RESOURCE", Severity::kMedium},
      {"CHOWN", Severity::kInfo},
      {"NET_BIND_SERVICE", Severity::kInfo},
      {"KILL", Severity::kInfo},
  };
  for (const auto& [cap, severity] : documented) {
    INFO(cap);
    CHECK(capabilitySeverity(cap) == severity);
    CHECK(capabilitySeverity("CAP_" + cap) == severity);
    std::string lower = cap;
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    CHECK(capabilitySeverity(lower) == severity);
  }
}

}  // namespace
}  // namespace kc::audit
