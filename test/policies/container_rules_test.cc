// The opt-in container rules of a DeploymentPolicy: readOnlyRootFilesystem, imagePullPolicy,
// ephemeralContainers, capabilities, hostPorts, sysctls and the finer hostPath rules, through the
// engine as the webhook, the audit door and `check` use it.

#include <algorithm>
#include <catch2/catch.hpp>

#include "policies/engine.h"
#include "policies/loader.h"
#include "policies/rules.h"
#include "test/policies/test_util.h"

namespace kc::policy {
namespace {

using testing::Doc;
using namespace std::chrono;

std::shared_ptr<const PolicySet> deployment(const std::string& spec) {
  auto r = loadPolicies({{"test.yaml",
                          "apiVersion: policy.kube-customs.io/v1alpha1\n"
                          "kind: DeploymentPolicy\nmetadata: {name: deploy}\nspec:\n" +
                              spec}});
  INFO((r.errors.empty() ? std::string() : r.errors[0].toString()));
  REQUIRE(r.ok());
  return r.policies;
}

LoadResult load(const std::string& spec) {
  return loadPolicies({{"p.yaml",
                        "apiVersion: policy.kube-customs.io/v1alpha1\n"
                        "kind: DeploymentPolicy\nmetadata: {name: deploy}\nspec:\n" +
                            spec}});
}

Verdict judge(const PolicySet& ps, const std::string& pod, std::string_view subResource = "") {
  Doc d(pod);
  EvalInput in;
  in.operation = subResource.empty() ? "CREATE" : "UPDATE";
  in.subResource = subResource;
  in.namespace_ = "apps";
  in.user.username = "alice";
  in.object = d.root();
  in.now = sys_days{year{2026} / 6 / 1};
  return ps.evaluate(in);
}

bool hasViolation(const Verdict& v, std::string_view rule) {
  return std::any_of(v.violations.begin(), v.violations.end(),
                     [&](const Violation& x) { return x.rule == rule; });
}

std::vector<std::string> rulesOf(const Verdict& v) {
  std::vector<std::string> out;
  for (const auto& x : v.violations) out.push_back(x.rule + " " + x.container + " " + x.field);
  return out;
}

// A pod with one container of each kind; `sc` is the securityContext (flow YAML) they share.
std::string podOfEveryKind(const std::string& sc, const std::string& extra = "") {
  return "kind: Pod\nmetadata: {name: web, namespace: apps}\nspec:\n"
         "  initContainers: [{name: setup, image: \"busybox:1.36\", securityContext: " +
         sc + extra +
         "}]\n"
         "  containers: [{name: app, image: \"nginx:1.27\", securityContext: " +
         sc + extra +
         "}]\n"
         "  ephemeralContainers: [{name: debug, image: \"busybox:1.36\", securityContext: " +
         sc + extra + "}]\n";
}

// --- readOnlyRootFilesystem ---

TEST_CASE("ContainerRules.ReadOnlyRootFilesystemOnEveryContainer", "[engine][containerRules]") {
  auto ps = deployment("  readOnlyRootFilesystem: {required: true}\n");
  CHECK(judge(*ps, podOfEveryKind("{readOnlyRootFilesystem: true}")).allowed);

  auto v = judge(*ps, podOfEveryKind("{readOnlyRootFilesystem: false}"));
  CHECK_FALSE(v.allowed);
  REQUIRE(v.violations.size() == 3);
  CHECK(rulesOf(v) == std::vector<std::string>{
                          "readOnlyRootFilesystem.required setup "
                          "spec.initContainers[0].securityContext.readOnlyRootFilesystem",
                          "readOnlyRootFilesystem.required app "
                          "spec.containers[0].securityContext.readOnlyRootFilesystem",
                          "readOnlyRootFilesystem.required debug "
                          "spec.ephemeralContainers[0].securityContext.readOnlyRootFilesystem"});
  CHECK(v.violations[0].message ==
        "readOnlyRootFilesystem != true (init container \"setup\" must set "
        "securityContext.readOnlyRootFilesystem=true)");
  CHECK(v.violations[2].message ==
        "readOnlyRootFilesystem != true (ephemeral container \"debug\" must set "
        "securityContext.readOnlyRootFilesystem=true)");
  // Unset, a wrong type and no securityContext at all are not read-only either.
  CHECK(judge(*ps, podOfEveryKind("{}")).violations.size() == 3);
  CHECK(judge(*ps, podOfEveryKind("{readOnlyRootFilesystem: \"true\"}")).violations.size() == 3);
  CHECK(judge(*ps, podOfEveryKind("oops")).violations.size() == 3);
  // Windows containers cannot set the field.
  CHECK(judge(*ps, "kind: Pod\nspec:\n  os: {name: windows}\n  containers: [{name: a, image: x}]\n")
            .allowed);
}

TEST_CASE("ContainerRules.ReadOnlyRootFilesystemOffByDefaultAndInvisibleToPss",
          "[engine][containerRules]") {
  // A wrong type there does not make the pod unreadable for the Pod Security Standards.
  auto pss = deployment("  podSecurity: {level: baseline}\n");
  CHECK(judge(*pss, podOfEveryKind("{readOnlyRootFilesystem: 1}")).allowed);
  auto off = deployment("  readOnlyRootFilesystem: {required: false}\n");
  CHECK(judge(*off, podOfEveryKind("{}")).allowed);
}

// --- imagePullPolicy ---

std::string podPulling(const std::string& image, const std::string& policy) {
  return "kind: Pod\nmetadata: {name: web}\nspec:\n  containers:\n  - name: app\n    image: \"" +
         image + "\"\n" + (policy.empty() ? "" : "    imagePullPolicy: " + policy + "\n");
}

TEST_CASE("ContainerRules.ImagePullPolicyAlwaysUnlessPinnedByDigest", "[engine][containerRules]") {
  auto ps = deployment("  imagePullPolicy: {requireAlways: true}\n");
  CHECK(judge(*ps, podPulling("nginx:1.27", "Always")).allowed);
  const std::string digest = "nginx@sha256:" + std::string(64, 'a');
  CHECK(judge(*ps, podPulling(digest, "IfNotPresent")).allowed);
  CHECK(judge(*ps, podPulling(digest, "Never")).allowed);
  // Unset: the API server defaults "latest" and untagged images to Always.
  CHECK(judge(*ps, podPulling("nginx", "")).allowed);
  CHECK(judge(*ps, podPulling("nginx:latest", "")).allowed);

  auto v = judge(*ps, podPulling("nginx:1.27", "IfNotPresent"));
  REQUIRE(v.violations.size() == 1);
  CHECK(v.violations[0].rule == "imagePullPolicy.notAlways");
  CHECK(v.violations[0].field == "spec.containers[0].imagePullPolicy");
  CHECK(v.violations[0].message ==
        "imagePullPolicy != Always (container \"app\" has imagePullPolicy \"IfNotPresent\"; set "
        "imagePullPolicy: Always, or pin the image by digest)");
  v = judge(*ps, podPulling("nginx:1.27", ""));
  REQUIRE(v.violations.size() == 1);
  CHECK(
      v.violations[0].message ==
      "imagePullPolicy != Always (container \"app\" has no imagePullPolicy, which defaults to "
      "IfNotPresent for a tagged image; set imagePullPolicy: Always, or pin the image by digest)");
  CHECK_FALSE(judge(*ps, podPulling("nginx:latest", "Never")).allowed);
  CHECK_FALSE(judge(*ps, podPulling("nginx:1.27", "[Always]")).allowed);
}

TEST_CASE("ContainerRules.ImagePullPolicyOnInitAndEphemeralContainers",
          "[engine][containerRules]") {
  auto ps = deployment("  imagePullPolicy: {requireAlways: true}\n");
  auto v = judge(*ps, podOfEveryKind("{}", ", imagePullPolicy: IfNotPresent"));
  CHECK(rulesOf(v) == std::vector<std::string>{
                          "imagePullPolicy.notAlways setup spec.initContainers[0].imagePullPolicy",
                          "imagePullPolicy.notAlways app spec.containers[0].imagePullPolicy",
                          "imagePullPolicy.notAlways debug "
                          "spec.ephemeralContainers[0].imagePullPolicy"});
  CHECK(judge(*ps, podOfEveryKind("{}", ", imagePullPolicy: Always")).allowed);
}

// --- ephemeralContainers ---

TEST_CASE("ContainerRules.EphemeralContainersForbidden", "[engine][containerRules]") {
  auto ps =
      deployment("  ephemeralContainers: {allowed: false}\n  namespaceModes: {staging: warn}\n");
  const std::string withDebug = podOfEveryKind("{}");
  const std::string without =
      "kind: Pod\nmetadata: {name: web}\nspec:\n  initContainers: [{name: setup, image: x}]\n"
      "  containers: [{name: app, image: y}]\n";
  CHECK(judge(*ps, without).allowed);
  // kubectl debug adds them through the pods/ephemeralcontainers subresource.
  auto v = judge(*ps, withDebug, "ephemeralcontainers");
  CHECK_FALSE(v.allowed);
  REQUIRE(v.violations.size() == 1);
  CHECK(v.violations[0].rule == "ephemeralContainers.notAllowed");
  CHECK(v.violations[0].container == "debug");
  CHECK(v.violations[0].field == "spec.ephemeralContainers[0]");
  CHECK(v.message ==
        "[deploy] ephemeral containers are not allowed (ephemeral container \"debug\" must not be "
        "added; debug a copy of the pod instead: kubectl debug --copy-to)");

  // Per namespace through the usual modes.
  Doc d(withDebug);
  EvalInput in;
  in.operation = "UPDATE";
  in.subResource = "ephemeralcontainers";
  in.namespace_ = "staging";
  in.object = d.root();
  in.now = sys_days{year{2026} / 6 / 1};
  v = ps->evaluate(in);
  CHECK(v.allowed);
  CHECK(v.warnings.size() == 1);
  CHECK(deployment("  ephemeralContainers: {allowed: true}\n")
            ->policies()[0]
            .deployment.judgesPods() == false);
}

// --- capabilities ---

TEST_CASE("ContainerRules.CapabilitiesDropAll", "[engine][containerRules]") {
  auto ps = deployment("  capabilities: {requiredDrop: [ALL]}\n");
  CHECK(judge(*ps, podOfEveryKind("{capabilities: {drop: [ALL]}}")).allowed);
  CHECK(judge(*ps, podOfEveryKind("{capabilities: {drop: [all]}}")).allowed);
  auto v = judge(*ps, podOfEveryKind("{capabilities: {drop: [NET_RAW]}}"));
  REQUIRE(v.violations.size() == 3);
  CHECK(rulesOf(v) ==
        std::vector<std::string>{"capabilities.dropRequired setup "
                                 "spec.initContainers[0].securityContext.capabilities.drop",
                                 "capabilities.dropRequired app "
                                 "spec.containers[0].securityContext.capabilities.drop",
                                 "capabilities.dropRequired debug "
                                 "spec.ephemeralContainers[0].securityContext.capabilities.drop"});
  CHECK(v.violations[1].message ==
        "capabilities not dropped (container \"app\" must set "
        "securityContext.capabilities.drop=[\"ALL\"])");
  CHECK(judge(*ps, podOfEveryKind("{}")).violations.size() == 3);
  CHECK(judge(*ps, podOfEveryKind("{capabilities: {drop: ALL}}")).violations.size() == 3);
}

TEST_CASE("ContainerRules.CapabilitiesDropNamedList", "[engine][containerRules]") {
  auto ps = deployment("  capabilities: {requiredDrop: [NET_RAW, CAP_SYS_ADMIN]}\n");
  CHECK(judge(*ps, podOfEveryKind("{capabilities: {drop: [CAP_NET_RAW, SYS_ADMIN]}}")).allowed);
  CHECK(judge(*ps, podOfEveryKind("{capabilities: {drop: [ALL]}}")).allowed);
  auto v = judge(*ps, podPulling("nginx:1.27", "") +
                          "    securityContext: {capabilities: {drop: [SYS_ADMIN]}}\n");
  REQUIRE(v.violations.size() == 1);
  CHECK(v.violations[0].message ==
        "capabilities not dropped (container \"app\" must include \"NET_RAW\" in "
        "securityContext.capabilities.drop, or drop \"ALL\")");
}

TEST_CASE("ContainerRules.CapabilitiesAddAllowList", "[engine][containerRules]") {
  auto ps = deployment("  capabilities: {allowedAdd: [NET_BIND_SERVICE]}\n");
  CHECK(judge(*ps, podOfEveryKind("{capabilities: {add: [NET_BIND_SERVICE]}}")).allowed);
  CHECK(judge(*ps, podOfEveryKind("{capabilities: {add: [cap_net_bind_service]}}")).allowed);
  CHECK(judge(*ps, podOfEveryKind("{}")).allowed);
  auto v = judge(*ps, podOfEveryKind("{capabilities: {add: [NET_BIND_SERVICE, SYS_ADMIN]}}"));
  REQUIRE(v.violations.size() == 3);
  CHECK(v.violations[2].rule == "capabilities.addNotAllowed");
  CHECK(v.violations[2].field == "spec.ephemeralContainers[0].securityContext.capabilities.add");
  CHECK(v.violations[2].message ==
        "non-allowed capabilities (ephemeral container \"debug\" must not include \"SYS_ADMIN\" in "
        "securityContext.capabilities.add; allowed: \"NET_BIND_SERVICE\")");
  CHECK(judge(*ps, podOfEveryKind("{capabilities: {add: [ALL]}}")).violations.size() == 3);
  CHECK(judge(*ps, podOfEveryKind("{capabilities: {add: NET_ADMIN}}")).violations.size() == 3);

  auto none = deployment("  capabilities: {allowedAdd: []}\n");
  v = judge(*none, podPulling("x:1", "") + "    securityContext: {capabilities: {add: [CHOWN]}}\n");
  REQUIRE(v.violations.size() == 1);
  CHECK(v.violations[0].message ==
        "non-allowed capabilities (container \"app\" must not include \"CHOWN\" in "
        "securityContext.capabilities.add; no capability may be added)");
}

TEST_CASE("ContainerRules.CapabilityExceptionForOneContainer", "[engine][containerRules]") {
  auto ps = deployment(R"(  capabilities: {requiredDrop: [ALL]}
  exceptions:
  - {rule: capabilities.dropRequired, container: debug, owner: sre, reason: tcpdump, expires: 2027-01-01}
)");
  auto v = judge(*ps, podOfEveryKind("{capabilities: {drop: [NET_RAW]}}"));
  CHECK(v.violations.size() == 2);
  for (const auto& x : v.violations) CHECK(x.container != "debug");
}

// --- hostPorts ---

std::string podWithHostPorts(const std::string& ports, const std::string& kind = "containers") {
  return "kind: Pod\nmetadata: {name: web}\nspec:\n  " + kind +
         ": [{name: app, image: x, ports: " + ports + "}]\n";
}

TEST_CASE("ContainerRules.HostPortRanges", "[engine][containerRules]") {
  auto ps = deployment("  hostPorts: {allowed: [8080, \"9000-9100\"]}\n");
  CHECK(judge(*ps, podWithHostPorts("[{containerPort: 80}]")).allowed);
  CHECK(judge(*ps, podWithHostPorts("[{containerPort: 80, hostPort: 8080}]")).allowed);
  CHECK(judge(*ps, podWithHostPorts("[{containerPort: 80, hostPort: 9100}]")).allowed);
  auto v = judge(*ps, podWithHostPorts("[{containerPort: 22, hostPort: 22}, {containerPort: 1, "
                                       "hostPort: 9101}]"));
  REQUIRE(v.violations.size() == 1);
  CHECK(v.violations[0].rule == "hostPort.notAllowed");
  CHECK(v.violations[0].field == "spec.containers[0].ports");
  CHECK(v.violations[0].message ==
        "hostPort outside the allowed ranges (container \"app\" uses hostPort 22, 9101; allowed: "
        "\"8080\", \"9000-9100\")");
  CHECK_FALSE(judge(*ps, podWithHostPorts("[{hostPort: 22}]", "initContainers")).allowed);
  CHECK_FALSE(judge(*ps, podWithHostPorts("[{hostPort: 22}]", "ephemeralContainers")).allowed);
  CHECK_FALSE(judge(*ps, podWithHostPorts("[{hostPort: \"8080\"}]")).allowed);

  auto none = deployment("  hostPorts: {allowed: []}\n");
  v = judge(*none, podWithHostPorts("[{hostPort: 8080}]"));
  REQUIRE(v.violations.size() == 1);
  CHECK(v.violations[0].message ==
        "hostPort outside the allowed ranges (container \"app\" uses hostPort 8080; no hostPort "
        "is allowed)");
}

// --- hostPaths: read-only prefixes and runtime sockets ---

std::string podWithHostPath(const std::string& path, const std::string& mount,
                            const std::string& kind = "containers") {
  return "kind: Pod\nmetadata: {name: web}\nspec:\n  " + kind +
         ": [{name: app, image: x, volumeMounts: [" + mount +
         "]}]\n  volumes: [{name: h, hostPath: {path: \"" + path + "\"}}]\n";
}

TEST_CASE("ContainerRules.HostPathPrefixesMountedReadOnly", "[engine][containerRules]") {
  auto ps = deployment(
      "  hostPaths:\n    allowedPrefixes: [{prefix: /var/log, readOnly: true}, /data]\n");
  CHECK(judge(*ps, podWithHostPath("/var/log/pods", "{name: h, mountPath: /l, readOnly: true}"))
            .allowed);
  CHECK(judge(*ps, podWithHostPath("/data/x", "{name: h, mountPath: /d}")).allowed);
  auto v = judge(*ps, podWithHostPath("/var/log/pods", "{name: h, mountPath: /l}"));
  REQUIRE(v.violations.size() == 1);
  CHECK(v.violations[0].rule == "hostPath.notReadOnly");
  CHECK(v.violations[0].container == "app");
  CHECK(v.violations[0].field == "spec.containers[0].volumeMounts[0].readOnly");
  CHECK(v.violations[0].message ==
        "host path mounted writable (container \"app\" mounts volume \"h\", host path "
        "\"/var/log/pods\", without readOnly: true; paths under \"/var/log\" must be mounted "
        "read-only)");
  CHECK_FALSE(
      judge(*ps, podWithHostPath("/var/log", "{name: h, readOnly: false}", "initContainers"))
          .allowed);
  CHECK_FALSE(judge(*ps, podWithHostPath("/var/log", "{name: h, readOnly: \"true\"}",
                                         "ephemeralContainers"))
                  .allowed);
  // Still outside every prefix is hostPath.notAllowed.
  v = judge(*ps, podWithHostPath("/etc", "{name: h, readOnly: true}"));
  REQUIRE(v.violations.size() == 1);
  CHECK(v.violations[0].rule == "hostPath.notAllowed");
}

TEST_CASE("ContainerRules.RuntimeSocketsWhereverMounted", "[engine][containerRules]") {
  auto ps = deployment("  hostPaths: {denyRuntimeSockets: true}\n");
  // The rule alone allows other host paths.
  CHECK(judge(*ps, podWithHostPath("/var/log", "{name: h}")).allowed);
  CHECK(judge(*ps, podWithHostPath("/var/lib/kubelet/pods", "{name: h}")).allowed);
  auto v = judge(*ps, podWithHostPath("/var/run/docker.sock", "{name: h}"));
  REQUIRE(v.violations.size() == 1);
  CHECK(v.violations[0].rule == "hostPath.runtimeSocket");
  CHECK(v.violations[0].field == "spec.volumes[0].hostPath.path");
  CHECK(v.violations[0].message ==
        "runtime socket (volume \"h\" mounts host path \"/var/run/docker.sock\", a container "
        "runtime socket; remove the volume: whoever reaches the socket runs containers of their "
        "own on the node)");
  for (const char* path :
       {"/run/containerd/containerd.sock", "/var/run/crio/crio.sock", "/run/cri-dockerd.sock",
        "/custom/place/docker.sock", "/var//run/./docker.sock", "/var/log/../run/docker.sock"}) {
    INFO(path);
    CHECK(hasViolation(judge(*ps, podWithHostPath(path, "{name: h}")), "hostPath.runtimeSocket"));
  }
  // A directory above one.
  v = judge(*ps, podWithHostPath("/var/run", "{name: h}"));
  REQUIRE(v.violations.size() == 1);
  CHECK(v.violations[0].message.find("mounts host path \"/var/run\", which holds the runtime "
                                     "socket \"/var/run/docker.sock\"") != std::string::npos);
  CHECK_FALSE(judge(*ps, podWithHostPath("/", "{name: h}")).allowed);
  CHECK_FALSE(judge(*ps, podWithHostPath("/run/containerd", "{name: h}")).allowed);
  // A subPath into an innocent-looking directory, from an init container.
  v = judge(*ps, podWithHostPath("/srv", "{name: h, subPath: docker.sock}", "initContainers"));
  REQUIRE(v.violations.size() == 1);
  CHECK(v.violations[0].container == "app");
  CHECK(v.violations[0].field == "spec.initContainers[0].volumeMounts[0].subPath");
}

// --- user and group ids ---

std::string podWithIds(const std::string& podSc, const std::string& containerSc,
                       const std::string& kind = "containers") {
  return "kind: Pod\nmetadata: {name: web}\nspec:\n  securityContext: " + podSc + "\n  " + kind +
         ": [{name: app, image: x, securityContext: " + containerSc + "}]\n";
}

TEST_CASE("ContainerRules.RunAsUserEffectiveValueInRanges", "[engine][containerRules]") {
  auto ps = deployment("  runAsUser: {allowed: [\"1000-65535\"]}\n");
  CHECK(judge(*ps, podWithIds("{runAsUser: 1000}", "{}")).allowed);
  CHECK(judge(*ps, podWithIds("{runAsUser: 0}", "{runAsUser: 2000}")).allowed);  // container wins
  auto v = judge(*ps, podWithIds("{runAsUser: 1000}", "{runAsUser: 0}"));
  REQUIRE(v.violations.size() == 1);
  CHECK(v.violations[0].rule == "runAsUser.notAllowed");
  CHECK(v.violations[0].field == "spec.containers[0].securityContext.runAsUser");
  CHECK(v.violations[0].message ==
        "runAsUser outside the allowed ranges (container \"app\" runs with runAsUser 0; allowed: "
        "\"1000-65535\")");
  v = judge(*ps, podWithIds("{runAsUser: 0}", "{}", "initContainers"));
  REQUIRE(v.violations.size() == 1);
  CHECK(v.violations[0].field == "spec.securityContext.runAsUser");
  CHECK(v.violations[0].message ==
        "runAsUser outside the allowed ranges (init container \"app\" runs with runAsUser 0, from "
        "the pod's securityContext; allowed: \"1000-65535\")");
  // Unset is not allowed unless required: false; a wrong type never is.
  v = judge(*ps, podWithIds("{}", "{}", "ephemeralContainers"));
  REQUIRE(v.violations.size() == 1);
  CHECK(v.violations[0].message ==
        "runAsUser unset (ephemeral container \"app\" must set securityContext.runAsUser, or the "
        "pod must; allowed: \"1000-65535\")");
  CHECK(judge(*deployment("  runAsUser: {allowed: [\"1000-65535\"], required: false}\n"),
              podWithIds("{}", "{}"))
            .allowed);
  CHECK_FALSE(judge(*ps, podWithIds("{}", "{runAsUser: \"1000\"}")).allowed);
  // required alone: any value once set.
  auto set = deployment("  runAsGroup: {required: true}\n");
  CHECK(judge(*set, podWithIds("{runAsGroup: 0}", "{}")).allowed);
  CHECK_FALSE(judge(*set, podWithIds("{}", "{}")).allowed);
}

TEST_CASE("ContainerRules.PodGroupsInRanges", "[engine][containerRules]") {
  auto ps = deployment(
      "  fsGroup: {allowed: [\"1000-2000\"]}\n  supplementalGroups: {allowed: [\"1000-2000\", "
      "\"5000\"], required: false}\n");
  CHECK(judge(*ps, podWithIds("{fsGroup: 1500, supplementalGroups: [1000, 5000]}", "{}")).allowed);
  CHECK(judge(*ps, podWithIds("{fsGroup: 1500}", "{}")).allowed);
  auto v = judge(*ps, podWithIds("{fsGroup: 0, supplementalGroups: [1000, 0, 4]}", "{}"));
  REQUIRE(v.violations.size() == 2);
  CHECK(v.violations[0].rule == "fsGroup.notAllowed");
  CHECK(v.violations[0].field == "spec.securityContext.fsGroup");
  CHECK(v.violations[0].message ==
        "fsGroup outside the allowed ranges (pod has securityContext.fsGroup 0; allowed: "
        "\"1000-2000\")");
  CHECK(v.violations[1].rule == "supplementalGroups.notAllowed");
  CHECK(v.violations[1].message ==
        "supplementalGroups outside the allowed ranges (pod has securityContext.supplementalGroups "
        "0, 4; allowed: \"1000-2000\", \"5000\")");
  v = judge(*ps, podWithIds("{}", "{}"));
  REQUIRE(v.violations.size() == 1);
  CHECK(v.violations[0].message ==
        "fsGroup unset (pod must set securityContext.fsGroup; allowed: \"1000-2000\")");
  CHECK_FALSE(judge(*ps, podWithIds("{fsGroup: 1500, supplementalGroups: 1000}", "{}")).allowed);
}

// --- sysctls ---

std::string podWithSysctls(const std::string& sysctls) {
  return "kind: Pod\nmetadata: {name: web}\nspec:\n  securityContext: {sysctls: " + sysctls +
         "}\n  containers: [{name: app, image: x}]\n";
}

TEST_CASE("ContainerRules.SysctlAllowAndForbidLists", "[engine][containerRules]") {
  auto ps = deployment(
      "  sysctls: {allowed: [\"net.ipv4.*\", kernel.shm_rmid_forced], forbidden: "
      "[net.ipv4.ip_forward]}\n");
  CHECK(judge(*ps, podWithSysctls("[{name: net.ipv4.ip_local_port_range, value: \"1024 65535\"}]"))
            .allowed);
  CHECK(judge(*ps, podWithSysctls("[{name: net/ipv4/tcp_syncookies, value: \"1\"}]")).allowed);
  auto v = judge(*ps, podWithSysctls("[{name: kernel.msgmax, value: \"1\"}]"));
  REQUIRE(v.violations.size() == 1);
  CHECK(v.violations[0].rule == "sysctl.notAllowed");
  CHECK(v.violations[0].field == "spec.securityContext.sysctls[0].name");
  CHECK(v.violations[0].message ==
        "forbidden sysctls (pod must not set \"kernel.msgmax\"; allowed: \"net.ipv4.*\", "
        "\"kernel.shm_rmid_forced\")");
  v = judge(*ps, podWithSysctls("[{name: net/ipv4/ip_forward, value: \"1\"}]"));
  REQUIRE(v.violations.size() == 1);
  CHECK(v.violations[0].message.find("a forbidden sysctl") != std::string::npos);

  auto forbidOnly = deployment("  sysctls: {forbidden: [\"kernel.*\"]}\n");
  CHECK(
      judge(*forbidOnly, podWithSysctls("[{name: net.core.somaxconn, value: \"1024\"}]")).allowed);
  CHECK_FALSE(judge(*forbidOnly, podWithSysctls("[{name: kernel.msgmax, value: \"1\"}]")).allowed);
  CHECK_FALSE(judge(*forbidOnly, podWithSysctls("oops")).allowed);
}

TEST_CASE("ContainerRules.SysctlValueSmugglingASecondSetting", "[engine][containerRules]") {
  // CVE-2022-0811: a safe name whose value sets kernel.core_pattern.
  auto ps = deployment("  sysctls: {allowed: [kernel.shm_rmid_forced]}\n");
  auto v = judge(
      *ps, podWithSysctls("[{name: kernel.shm_rmid_forced, value: "
                          "\"1+kernel.core_pattern=|/var/lib/containers/x/malicious.sh #\"}]"));
  CHECK_FALSE(v.allowed);
  REQUIRE(v.violations.size() == 1);
  CHECK(v.violations[0].rule == "sysctl.invalidValue");
  CHECK(v.violations[0].field == "spec.securityContext.sysctls[0].value");
  CHECK(v.violations[0].message.rfind("sysctl value would set more than \"kernel.shm_rmid_forced\" "
                                      "(value \"1+kernel.core_pattern=",
                                      0) == 0);
  CHECK_FALSE(
      judge(*ps, podWithSysctls("[{name: kernel.shm_rmid_forced, value: \"1\\nx\"}]")).allowed);
  CHECK_FALSE(judge(*ps, podWithSysctls("[{name: kernel.shm_rmid_forced, value: 1}]")).allowed);
  CHECK(judge(*ps, podWithSysctls("[{name: kernel.shm_rmid_forced, value: \"1\"}]")).allowed);
  // Values are checked with no name list at all.
  CHECK_FALSE(judge(*deployment("  sysctls: {}\n"),
                    podWithSysctls("[{name: net.core.somaxconn, value: \"1+a=b\"}]"))
                  .allowed);
}

TEST_CASE("ContainerRules.SysctlNames", "[containerRules]") {
  CHECK(sysctlKernelName("net/ipv4/conf/eth0.100/rp_filter") == "net.ipv4.conf.eth0/100.rp_filter");
  CHECK(sysctlKernelName("net.ipv4.ip_forward") == "net.ipv4.ip_forward");
  CHECK(sysctlMatches("net.*", "net.core.somaxconn"));
  CHECK_FALSE(sysctlMatches("net.core", "net.core.somaxconn"));
  CHECK(sysctlValueSmuggles("0+kernel.core_pattern=x"));
  CHECK_FALSE(sysctlValueSmuggles("1024 65535"));
}

// --- Localhost seccomp and AppArmor profiles, flexVolume drivers ---

TEST_CASE("ContainerRules.LocalhostSeccompProfilesAllowList", "[engine][containerRules]") {
  auto ps = deployment("  seccomp: {allowedLocalhostProfiles: [\"profiles/audited-*.json\"]}\n");
  const std::string ok =
      "{seccompProfile: {type: Localhost, localhostProfile: profiles/audited-web.json}}";
  CHECK(judge(*ps, podOfEveryKind(ok)).allowed);
  CHECK(judge(*ps, podOfEveryKind("{seccompProfile: {type: RuntimeDefault}}")).allowed);
  auto v = judge(
      *ps,
      podOfEveryKind("{seccompProfile: {type: Localhost, localhostProfile: profiles/mine.json}}"));
  REQUIRE(v.violations.size() == 3);
  CHECK(v.violations[2].rule == "seccomp.profileNotAllowed");
  CHECK(v.violations[2].field ==
        "spec.ephemeralContainers[0].securityContext.seccompProfile.localhostProfile");
  CHECK(v.violations[2].message ==
        "forbidden seccomp profile (ephemeral container \"debug\" uses Localhost profile "
        "\"profiles/mine.json\"; allowed: \"profiles/audited-*.json\")");
  // The pod's profile is each container's unless it sets its own.
  auto fromPod =
      "kind: Pod\nmetadata: {name: web}\nspec:\n  securityContext: {seccompProfile: {type: "
      "Localhost, localhostProfile: x.json}}\n  containers:\n  - {name: a, image: x}\n"
      "  - {name: b, image: x, securityContext: " +
      ok + "}\n";
  v = judge(*ps, fromPod);
  REQUIRE(v.violations.size() == 1);
  CHECK(v.violations[0].container == "a");
  CHECK(v.violations[0].field == "spec.securityContext.seccompProfile.localhostProfile");
  CHECK_FALSE(judge(*ps, podOfEveryKind("{seccompProfile: {type: Localhost}}")).allowed);
  CHECK_FALSE(judge(*ps, podOfEveryKind("{seccompProfile: {type: Localhost, localhostProfile: 1}}"))
                  .allowed);
}

TEST_CASE("ContainerRules.LocalhostAppArmorProfilesAllowList", "[engine][containerRules]") {
  auto ps = deployment("  appArmor: {allowedLocalhostProfiles: [k8s-nginx]}\n");
  CHECK(judge(*ps,
              podOfEveryKind("{appArmorProfile: {type: Localhost, localhostProfile: k8s-nginx}}"))
            .allowed);
  CHECK(judge(*ps, podOfEveryKind("{appArmorProfile: {type: RuntimeDefault}}")).allowed);
  CHECK(judge(*ps, podOfEveryKind(
                       "{appArmorProfile: {type: Localhost, localhostProfile: unconfined-ish}}"))
            .violations.size() == 3);
  // The annotation form.
  auto annotated = [](const std::string& profile) {
    return "kind: Pod\nmetadata:\n  name: web\n  annotations:\n    "
           "container.apparmor.security.beta.kubernetes.io/a: " +
           profile + "\nspec:\n  containers: [{name: a, image: x}]\n";
  };
  CHECK(judge(*ps, annotated("localhost/k8s-nginx")).allowed);
  CHECK(judge(*ps, annotated("runtime/default")).allowed);
  auto v = judge(*ps, annotated("localhost/other"));
  REQUIRE(v.violations.size() == 1);
  CHECK(v.violations[0].rule == "appArmor.profileNotAllowed");
  CHECK(v.violations[0].field == "metadata.annotations");
  CHECK(
      v.violations[0].message ==
      "forbidden AppArmor profile (pod uses Localhost profile \"other\"; allowed: \"k8s-nginx\")");
}

TEST_CASE("ContainerRules.FlexVolumeDriversAllowList", "[engine][containerRules]") {
  auto ps = deployment("  flexVolumes: {allowedDrivers: [example.com/lvm]}\n");
  auto pod = [](const std::string& flex) {
    return "kind: Pod\nmetadata: {name: web}\nspec:\n  containers: [{name: a, image: x}]\n"
           "  volumes: [{name: e, emptyDir: {}}, {name: f, flexVolume: " +
           flex + "}]\n";
  };
  CHECK(judge(*ps, pod("{driver: example.com/lvm}")).allowed);
  auto v = judge(*ps, pod("{driver: evil.io/rootkit}"));
  REQUIRE(v.violations.size() == 1);
  CHECK(v.violations[0].rule == "flexVolume.driverNotAllowed");
  CHECK(v.violations[0].field == "spec.volumes[1].flexVolume.driver");
  CHECK(v.violations[0].message ==
        "flexVolume driver not allowed (volume \"f\" uses driver \"evil.io/rootkit\"; allowed: "
        "\"example.com/lvm\")");
  CHECK_FALSE(judge(*ps, pod("{driver: [x]}")).allowed);
  CHECK_FALSE(judge(*ps, pod("{}")).allowed);
  CHECK(!load("  flexVolumes: {}\n").ok());
  CHECK(!load("  seccomp: {allowed: [x]}\n").ok());
}

// --- Services: ports, nodePorts and ExternalName ---

Verdict judgeService(const PolicySet& ps, const std::string& spec) {
  Doc d("apiVersion: v1\nkind: Service\nmetadata: {name: s, namespace: apps}\nspec:\n" + spec);
  EvalInput in;
  in.operation = "CREATE";
  in.kind = "Service";
  in.namespace_ = "apps";
  in.name = "s";
  in.object = d.root();
  in.now = sys_days{year{2026} / 6 / 1};
  return ps.evaluate(in);
}

TEST_CASE("ContainerRules.ServicePortAndNodePortRanges", "[engine][services]") {
  auto ps = deployment(
      "  services: {allowedPorts: [80, 443, \"8000-8999\"], allowedNodePorts: "
      "[\"30000-30099\"]}\n");
  CHECK(judgeService(*ps, "  ports: [{port: 80}, {port: 8443}]\n").allowed);
  CHECK(judgeService(*ps, "  type: NodePort\n  ports: [{port: 443, nodePort: 30080}]\n").allowed);
  auto v = judgeService(*ps, "  ports: [{port: 22}, {port: 80}, {port: \"x\"}]\n");
  REQUIRE(v.violations.size() == 1);
  CHECK(v.violations[0].rule == "service.portNotAllowed");
  CHECK(v.violations[0].field == "spec.ports");
  CHECK(v.violations[0].message ==
        "port outside the allowed ranges (Service uses port 22, <unreadable>; allowed: \"80\", "
        "\"443\", \"8000-8999\")");
  v = judgeService(*ps, "  type: NodePort\n  ports: [{port: 80, nodePort: 31000}, {port: 443}]\n");
  REQUIRE(v.violations.size() == 1);
  CHECK(v.violations[0].rule == "service.nodePortNotAllowed");
  CHECK(v.violations[0].message ==
        "nodePort outside the allowed ranges (Service uses nodePort 31000, unset (any the API "
        "server picks); allowed: \"30000-30099\")");
  // A ClusterIP Service has no node port to pick.
  CHECK(judgeService(*ps, "  ports: [{port: 80}]\n").allowed);
  CHECK_FALSE(judgeService(*ps, "  ports: {port: 80}\n").allowed);
}

TEST_CASE("ContainerRules.ExternalNamesInsideTheNodeOrClusterDenied", "[engine][services]") {
  auto ps = deployment("  services: {denyInternalExternalNames: true}\n");
  auto name = [&](const std::string& n) {
    return judgeService(*ps, "  type: ExternalName\n  externalName: \"" + n + "\"\n");
  };
  CHECK(name("db.example.com").allowed);
  CHECK(name("203.0.113.9").allowed);
  for (const char* bad :
       {"localhost", "LOCALHOST.", "app.localhost", "127.0.0.1", "127.1.2.3", "0.0.0.0", "::1",
        "169.254.169.254", "fe80::1", "kubernetes.default.svc", "vault.secrets.svc.cluster.local",
        "kubernetes", "kubernetes.default", "x.cluster.local", "metadata.google.internal"}) {
    INFO(bad);
    auto v = name(bad);
    CHECK_FALSE(v.allowed);
    CHECK((v.violations.size() == 1 && v.violations[0].rule == "service.externalNameNotAllowed"));
  }
  auto v = name("169.254.169.254");
  REQUIRE(v.violations.size() == 1);
  CHECK(v.violations[0].field == "spec.externalName");
  CHECK(v.violations[0].message ==
        "externalName \"169.254.169.254\" is a link-local address (cloud metadata among them): an "
        "ingress or gateway that follows the Service reaches it with its own rights; point "
        "spec.externalName at an external DNS name");
  CHECK_FALSE(judgeService(*ps, "  type: ExternalName\n  externalName: 7\n").allowed);
  // Only ExternalName Services are judged by it.
  CHECK(judgeService(*ps, "  externalName: localhost\n").allowed);
}

// --- exceptions scoped by image ---

TEST_CASE("ContainerRules.ExceptionScopedByImageForAPssCheck", "[engine][containerRules]") {
  auto ps = deployment(R"(  podSecurity: {level: baseline}
  exceptions:
  - rule: pss.capabilities_baseline
    image: "ghcr.io/acme/netdebug:*"
    owner: sre@example.com
    reason: packet capture while debugging
    expires: 2027-01-01
)");
  auto pod = [](const std::string& debugImage, const std::string& appCaps) {
    return "kind: Pod\nmetadata: {name: web}\nspec:\n  containers:\n"
           "  - {name: app, image: \"registry.example.com/app:1\", securityContext: "
           "{capabilities: {add: " +
           appCaps +
           "}}}\n"
           "  ephemeralContainers:\n  - {name: debug, image: \"" +
           debugImage + "\", securityContext: {capabilities: {add: [NET_ADMIN, NET_RAW]}}}\n";
  };
  CHECK(judge(*ps, pod("ghcr.io/acme/netdebug:0.4", "[]")).allowed);
  CHECK(judge(*ps, pod("ghcr.io/acme/netdebug@sha256:" + std::string(64, 'b'), "[]")).allowed);
  // Another image, or the app container adding capabilities too: not waived.
  auto v = judge(*ps, pod("ghcr.io/acme/other:0.4", "[]"));
  CHECK_FALSE(v.allowed);
  v = judge(*ps, pod("ghcr.io/acme/netdebug:0.4", "[SYS_ADMIN]"));
  CHECK_FALSE(v.allowed);
  REQUIRE(v.violations.size() == 1);
  CHECK(v.violations[0].rule == "pss.capabilities_baseline");

  // A tag pattern narrows it further.
  auto tagged = deployment(R"(  podSecurity: {level: baseline}
  exceptions:
  - {rule: pss.capabilities_baseline, image: "ghcr.io/acme/netdebug:0.*", owner: a, reason: b, expires: 2027-01-01}
)");
  CHECK(judge(*tagged, pod("ghcr.io/acme/netdebug:0.4", "[]")).allowed);
  CHECK_FALSE(judge(*tagged, pod("ghcr.io/acme/netdebug:1.0", "[]")).allowed);
}

TEST_CASE("ContainerRules.ExceptionScopedByImageForAContainerRule", "[engine][containerRules]") {
  auto ps = deployment(R"(  readOnlyRootFilesystem: {required: true}
  exceptions:
  - {rule: readOnlyRootFilesystem.required, image: "busybox", owner: a, reason: b, expires: 2027-01-01}
)");
  auto v = judge(*ps, podOfEveryKind("{}"));
  // busybox:1.36 (init and ephemeral) is waived; nginx:1.27 is not.
  REQUIRE(v.violations.size() == 1);
  CHECK(v.violations[0].container == "app");
  // Pod-level findings are never covered by an image-scoped exception.
  auto sysctls = deployment(R"(  sysctls: {allowed: []}
  exceptions:
  - {rule: sysctl.notAllowed, image: "**", owner: a, reason: b, expires: 2027-01-01}
)");
  CHECK_FALSE(judge(*sysctls, podWithSysctls("[{name: kernel.msgmax, value: \"1\"}]")).allowed);
}

// --- loader ---

TEST_CASE("ContainerRules.LoaderErrors", "[loader][containerRules]") {
  auto first = [](const LoadResult& r) { return r.errors.empty() ? "" : r.errors[0].toString(); };
  CHECK(first(load("  readOnlyRootFilesystem: {required: yes}\n")) ==
        "p.yaml:5:38: spec.readOnlyRootFilesystem.required: must be true or false");
  CHECK(first(load("  imagePullPolicy: {always: true}\n")) ==
        "p.yaml:5:21: spec.imagePullPolicy.always: unknown field \"always\" (known fields: "
        "requireAlways)");
  CHECK(first(load("  ephemeralContainers: {}\n")) ==
        "p.yaml:5:24: spec.ephemeralContainers.allowed: is required (true or false)");
  CHECK(first(load("  capabilities: {requiredDrop: [\"NET RAW\"]}\n")) ==
        "p.yaml:5:33: spec.capabilities.requiredDrop[0]: \"NET RAW\" is not a capability name "
        "such as \"NET_RAW\" or \"ALL\"");
  CHECK(first(load("  hostPorts: {allowed: [\"9100-9000\"]}\n")) ==
        "p.yaml:5:25: spec.hostPorts.allowed[0]: \"9100-9000\" is not a port (1-65535) or a range "
        "of ports such as \"9000-9100\"");
  CHECK(!load("  hostPorts: {allowed: [0]}\n").ok());
  CHECK(!load("  hostPorts: {allowed: [65536]}\n").ok());
  CHECK(!load("  hostPorts: {}\n").ok());
  CHECK(first(load("  services: {allowedNodePorts: [\"30000-29999\"]}\n")) ==
        "p.yaml:5:33: spec.services.allowedNodePorts[0]: \"30000-29999\" is not a port (1-65535) "
        "or a range of ports such as \"9000-9100\"");
  CHECK(!load("  services: {denyInternalExternalNames: sure}\n").ok());
  CHECK(first(load("  runAsUser: {allowed: [\"1000-\"]}\n")) ==
        "p.yaml:5:25: spec.runAsUser.allowed[0]: \"1000-\" is not an id (0-2147483647) or a range "
        "such as \"1000-65535\"");
  CHECK(!load("  fsGroup: {allowed: [-1]}\n").ok());
  CHECK(!load("  supplementalGroups: {allowed: [\"2-1\"]}\n").ok());
  CHECK(!load("  runAsGroup: {allowed: [2147483648]}\n").ok());
  CHECK(load("  runAsGroup: {allowed: [0, \"1000-2147483647\"]}\n").ok());
  CHECK(first(load("  hostPaths: {allowedPrefixes: [{prefix: var/log, readOnly: true}]}\n")) ==
        "p.yaml:5:33: spec.hostPaths.allowedPrefixes[0]: \"var/log\" must be an absolute, "
        "normalised path such as \"/var/log\"");
  CHECK(!load("  hostPaths: {allowedPrefixes: [{readOnly: true}]}\n").ok());
  CHECK(!load("  hostPaths: {allowedPrefixes: [{prefix: /x, readonly: true}]}\n").ok());
  CHECK(!load("  hostPaths: {denyRuntimeSockets: 1}\n").ok());
  // denyRuntimeSockets alone leaves other host paths alone; an empty block still allows none.
  CHECK_FALSE(load("  hostPaths: {denyRuntimeSockets: true}\n")
                  .policies->policies()[0]
                  .deployment.allowedHostPaths.has_value());
  CHECK(load("  hostPaths: {}\n").policies->policies()[0].deployment.allowedHostPaths->empty());
  CHECK(first(load("  sysctls: {allowed: [\"net.*.x\"]}\n")) ==
        "p.yaml:5:23: spec.sysctls.allowed[0]: \"net.*.x\" is not a sysctl name such as "
        "\"net.ipv4.ip_local_port_range\" or a prefix ending in \"*\" such as \"net.ipv4.*\"");
  CHECK_THAT(
      first(load("  exceptions:\n  - {rule: pss.privileged, image: \"Acme/X\", owner: a, "
                 "reason: b, expires: 2027-01-01}\n  podSecurity: {level: baseline}\n")),
      Catch::Matchers::StartsWith("p.yaml:6:35: spec.exceptions[0].image: invalid image pattern"));
  CHECK(!load("  exceptions:\n  - {rule: pss.privileged, image: \"x:\", owner: a, reason: b, "
              "expires: 2027-01-01}\n  podSecurity: {level: baseline}\n")
             .ok());
  auto ok = load("  capabilities: {requiredDrop: [cap_net_raw], allowedAdd: []}\n");
  REQUIRE(ok.ok());
  const auto& caps = ok.policies->policies()[0].deployment.capabilities;
  CHECK(*caps.requiredDrop == std::vector<std::string>{"NET_RAW"});
  CHECK(caps.allowedAdd->empty());
  // The rule ids are known to exceptions.
  CHECK(load("  sysctls: {}\n  exceptions:\n  - {rule: sysctl.invalidValue, owner: a, reason: b, "
             "expires: 2027-01-01}\n")
            .ok());
}

}  // namespace
}  // namespace kc::policy
