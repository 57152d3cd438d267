// Tests of the sensitive-host-path rule and of its path classification (hostPathSeverity,
// normalizeHostPath).
#include <catch2/catch.hpp>

#include "controller/detect/detections.h"
#include "test/controller/detect/detect_test_util.h"

namespace kc::audit {
namespace {

using namespace detect_test;

TEST_CASE("HostPathClassification", "[detections]") {
  CHECK(normalizeHostPath("/var/run/../lib//kubelet/") == "/var/lib/kubelet");
  CHECK(normalizeHostPath("") == "/");
  CHECK(hostPathSeverity("/") == Severity::kCritical);
  CHECK(hostPathSeverity("/var/run/docker.sock") == Severity::kCritical);
  CHECK(hostPathSeverity("/run/containerd/containerd.sock") == Severity::kCritical);
  CHECK(hostPathSeverity("/var/lib/kubelet/pods") == Severity::kCritical);
  CHECK(hostPathSeverity("/var") == Severity::kCritical);  // contains the kubelet's state
  CHECK(hostPathSeverity("/etc/ssl/certs") == Severity::kHigh);
  // The parents of critical locations are critical, as docs/detections.md says.
  CHECK(hostPathSeverity("/etc") == Severity::kCritical);      // holds /etc/kubernetes
  CHECK(hostPathSeverity("/run") == Severity::kCritical);      // holds /run/containerd
  CHECK(hostPathSeverity("/var/run") == Severity::kCritical);  // holds docker.sock
  CHECK(hostPathSeverity("/run/user/1000") == Severity::kHigh);
  CHECK(hostPathSeverity("/var/log") == Severity::kMedium);
  CHECK(hostPathSeverity("/data/shop") == Severity::kInfo);
  CHECK(hostPathSeverity("/etcetera") == Severity::kInfo);
  CHECK(hostPathSeverity("/tmp/../etc/kubernetes") == Severity::kCritical);
}

// A pod mounting the container runtime's socket is critical, the kubelet's directory written
// with dots and doubled slashes is recognised after normalization, a log shipper's /var/log is
// medium; the look-alikes (a data directory, a name that only starts like /etc, an emptyDir)
// are not reported; the identity that deploys the agent can be trusted.
TEST_CASE("SensitiveHostPathsAndTheirLookAlikes", "[detections]") {
  auto create = [](Detector& d, const std::string& name, const std::string& user, json volumes) {
    return createPod(d, "logging", name, user, "docker.io/library/alpine:3.19",
                     {{"volumes", volumes}});
  };
  auto hostPath = [](const std::string& name, const std::string& path) {
    return json{{"name", name}, {"hostPath", {{"path", path}, {"type", ""}}}};
  };
  Detector d(DetectorOptions{});
  auto fs = create(d, "runtime", "bob@example.com", {hostPath("sock", "/var/run/docker.sock")});
  REQUIRE(rules(fs) == std::vector<std::string>{"sensitive-host-path"});
  CHECK(fs[0].severity == Severity::kCritical);
  CHECK(fs[0].technique == "T1611");
  CHECK(fs[0].details.at("what") == "/var/run/docker.sock");

  fs = create(d, "tokens", "bob@example.com", {hostPath("kubelet", "/var/run/../lib//kubelet/")});
  REQUIRE(rules(fs) == std::vector<std::string>{"sensitive-host-path"});
  CHECK(fs[0].severity == Severity::kCritical);
  CHECK(fs[0].details.at("what") == "/var/lib/kubelet");

  fs = create(d, "shipper", "bob@example.com", {hostPath("logs", "/var/log")});
  REQUIRE(rules(fs) == std::vector<std::string>{"sensitive-host-path"});
  CHECK(fs[0].severity == Severity::kMedium);

  CHECK(create(d, "data", "bob@example.com",
               {hostPath("data", "/data/shop"),
                hostPath("cfg", "/etcetera/app"),
                {{"name", "scratch"}, {"emptyDir", json::object()}}})
            .empty());

  DetectorOptions o;
  o.trustedIdentities["sensitive-host-path"] = {
      "system:serviceaccount:logging:fluent-bit-deployer"};
  Detector trusting(o);
  const json volumes = {hostPath("logs", "/var/log"),
                        hostPath("containers", "/var/lib/docker/containers")};
  CHECK(create(trusting, "fluent-bit", "system:serviceaccount:logging:fluent-bit-deployer", volumes)
            .empty());
  fs = create(trusting, "fluent-bit-2", "bob@example.com", volumes);
  REQUIRE(rules(fs) == std::vector<std::string>{"sensitive-host-path"});
  CHECK(fs[0].severity == Severity::kHigh);  // /var/lib/docker
}

// Every location docs/detections.md names, at the severity it states for it.
TEST_CASE("HostPathSeveritiesAsDocumented", "[detections]") {
  const std::vector<std::pair<std::string, Severity>> documented = {
      {"/", Severity::kCritical},
      {"/var/run/docker.sock", Severity::kCritical},
      {"/run/containerd", Severity::kCritical},
      {"/run/crio", Severity::kCritical},
      {"/run/k3s", Severity::kCritical},
      {"/run/cri-dockerd.sock", Severity::kCritical},
      {"/run/podman/podman.sock", Severity::kCritical},
      {"/proc", Severity::kCritical},
      {"/root", Severity::kCritical},
      {"/var/lib/kubelet", Severity::kCritical},
      {"/etc/kubernetes", Severity::kCritical},
      {"/etc/kubernetes/pki", Severity::kCritical},
      {"/var/lib/etcd", Severity::kCritical},
      {"/var", Severity::kCritical},
      {"/etc", Severity::kCritical},
      {"/run", Severity::kCritical},
      {"/var/run", Severity::kCritical},
      {"/var/lib", Severity::kCritical},
      {"/etc/ssl", Severity::kHigh},
      {"/run/user", Severity::kHigh},
      {"/sys", Severity::kHigh},
      {"/sys/fs/cgroup", Severity::kHigh},
      {"/dev", Severity::kHigh},
      {"/boot", Severity::kHigh},
      {"/home", Severity::kHigh},
      {"/var/lib/docker", Severity::kHigh},
      {"/var/lib/docker/containers", Severity::kHigh},
      {"/var/lib/containerd", Severity::kHigh},
      {"/lib/modules", Severity::kHigh},
      {"/var/run/secrets", Severity::kHigh},
      {"/var/log", Severity::kMedium},
      {"/var/log/pods", Severity::kMedium},
      {"/opt/data", Severity::kInfo},
      {"/srv/www", Severity::kInfo},
      {"/mnt/disks/ssd0", Severity::kInfo},
  };
  for (const auto& [path, severity] : documented) {
    INFO(path);
    CHECK(hostPathSeverity(path) == severity);
  }
}

}  // namespace
}  // namespace kc::audit
