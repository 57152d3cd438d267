#include "policies/pss.h"

#include <catch2/catch.hpp>

#include "test/policies/test_util.h"

namespace kc::policy {
namespace {

using testing::Doc;

PssLevelVersion lv(std::string_view text) {
  PssLevelVersion v;
  std::string err;
  REQUIRE(parsePssLevelVersion(text, v, &err));
  return v;
}

PssResult eval(const Doc& d, std::string_view level) { return evaluatePss(d.pod(), lv(level)); }

std::string message(const Doc& d, std::string_view level) {
  auto v = lv(level);
  auto r = evaluatePss(d.pod(), v);
  return r.allowed ? std::string("allowed") : pssDenyMessage(v, r);
}

// Restricted at every version except seccomp and capabilities, which arrived in v1.19/v1.22.
constexpr const char* kPre119Restricted = R"(
kind: Pod
metadata: {name: p}
spec:
  securityContext: {runAsNonRoot: true}
  containers:
  - name: app
    image: nginx
    securityContext: {allowPrivilegeEscalation: false}
)";

constexpr const char* kRestricted = R"(
kind: Pod
metadata: {name: p}
spec:
  securityContext: {runAsNonRoot: true, seccompProfile: {type: RuntimeDefault}}
  containers:
  - name: app
    image: nginx
    securityContext: {allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}
)";

TEST_CASE("Pss.AllowsMissingSeccompAtRestrictedV1_18ButDeniesFromV1_19", "[pss]") {
  Doc d(kPre119Restricted);
  CHECK(eval(d, "restricted:v1.18").allowed);
  CHECK(message(d, "restricted:v1.19") ==
        "violates PodSecurity \"restricted:v1.19\": seccompProfile (pod or container \"app\" must "
        "set securityContext.seccompProfile.type to \"RuntimeDefault\" or \"Localhost\")");
  CHECK(message(d, "restricted:v1.25") ==
        "violates PodSecurity \"restricted:v1.25\": unrestricted capabilities (container \"app\" "
        "must set securityContext.capabilities.drop=[\"ALL\"]), seccompProfile (pod or container "
        "\"app\" must set securityContext.seccompProfile.type to \"RuntimeDefault\" or "
        "\"Localhost\")");
  CHECK(eval(Doc(kRestricted), "restricted:latest").allowed);
}

TEST_CASE("Pss.ChecksSeccompAnnotationsBeforeV1_19AndFieldsAfter", "[pss]") {
  Doc d(R"(
kind: Pod
metadata:
  name: p
  annotations: {seccomp.security.alpha.kubernetes.io/pod: unconfined}
spec:
  containers: [{name: app, image: nginx}]
)");
  CHECK(message(d, "baseline:v1.18") ==
        "violates PodSecurity \"baseline:v1.18\": seccompProfile (forbidden annotation "
        "seccomp.security.alpha.kubernetes.io/pod=\"unconfined\")");
  CHECK(eval(d, "baseline:v1.19").allowed);
  Doc field(R"(
kind: Pod
spec:
  containers: [{name: app, image: nginx, securityContext: {seccompProfile: {type: Unconfined}}}]
)");
  CHECK(eval(field, "baseline:v1.18").allowed);
  CHECK(message(field, "baseline:v1.19") ==
        "violates PodSecurity \"baseline:v1.19\": seccompProfile (container \"app\" must not set "
        "securityContext.seccompProfile.type to \"Unconfined\")");
}

TEST_CASE("Pss.UsesBaselineCapabilitiesCheckInRestrictedBeforeV1_22", "[pss]") {
  Doc d(R"(
kind: Pod
spec:
  securityContext: {runAsNonRoot: true}
  containers:
  - name: app
    securityContext: {allowPrivilegeEscalation: false, capabilities: {add: [NET_RAW]}}
)");
  CHECK(message(d, "restricted:v1.18") ==
        "violates PodSecurity \"restricted:v1.18\": non-default capabilities (container \"app\" "
        "must not include \"NET_RAW\" in securityContext.capabilities.add)");
  CHECK(message(d, "restricted:v1.22")
            .find("unrestricted capabilities (container \"app\" must set "
                  "securityContext.capabilities.drop=[\"ALL\"]; container "
                  "\"app\" must not include \"NET_RAW\" in "
                  "securityContext.capabilities.add)") != std::string::npos);
}

TEST_CASE("Pss.ForbidsRunAsUserZeroFromV1_23", "[pss]") {
  Doc d(R"(
kind: Pod
spec:
  securityContext: {runAsNonRoot: true, runAsUser: 0, seccompProfile: {type: RuntimeDefault}}
  containers:
  - name: app
    securityContext: {allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}
)");
  CHECK(eval(d, "restricted:v1.22").allowed);
  CHECK(message(d, "restricted:v1.23") ==
        "violates PodSecurity \"restricted:v1.23\": runAsUser=0 (pod must not set runAsUser=0)");
}

TEST_CASE("Pss.ExemptsWindowsPodsFromLinuxOnlyRestrictedChecksFromV1_25", "[pss]") {
  Doc d(R"(
kind: Pod
spec:
  os: {name: windows}
  securityContext: {runAsNonRoot: true}
  containers: [{name: app, image: mcr.microsoft.com/windows/nanoserver}]
)");
  CHECK_FALSE(eval(d, "restricted:v1.24").allowed);
  CHECK(eval(d, "restricted:v1.25").allowed);
  CHECK(eval(d, "restricted:latest").allowed);
}

TEST_CASE("Pss.AddsSafeSysctlsByVersion", "[pss]") {
  auto pod = [](const char* sysctl) {
    return std::string("kind: Pod\nspec:\n  securityContext:\n    sysctls: [{name: ") + sysctl +
           ", value: \"1\"}]\n  containers: [{name: app}]\n";
  };
  Doc reserved(pod("net.ipv4.ip_local_reserved_ports"));
  CHECK(message(reserved, "baseline:v1.26") ==
        "violates PodSecurity \"baseline:v1.26\": forbidden sysctls "
        "(net.ipv4.ip_local_reserved_ports)");
  CHECK(eval(reserved, "baseline:v1.27").allowed);
  Doc keepalive(pod("net.ipv4.tcp_keepalive_time"));
  CHECK_FALSE(eval(keepalive, "baseline:v1.28").allowed);
  CHECK(eval(keepalive, "baseline:v1.29").allowed);
  Doc rmem(pod("net.ipv4.tcp_rmem"));
  CHECK_FALSE(eval(rmem, "baseline:v1.31").allowed);
  CHECK(eval(rmem, "baseline:v1.32").allowed);
  Doc lowat(pod("net.ipv4.tcp_notsent_lowat"));
  CHECK_FALSE(eval(lowat, "baseline:v1.36").allowed);
  CHECK(eval(lowat, "baseline:v1.37").allowed);
  CHECK(eval(lowat, "baseline:latest").allowed);
  Doc unsafe(pod("kernel.msgmax"));
  CHECK_FALSE(eval(unsafe, "baseline:latest").allowed);
}

TEST_CASE("Pss.AllowsContainerEngineSELinuxTypeFromV1_31", "[pss]") {
  Doc d(R"(
kind: Pod
spec:
  containers: [{name: app, securityContext: {seLinuxOptions: {type: container_engine_t}}}]
)");
  CHECK(message(d, "baseline:v1.30") ==
        "violates PodSecurity \"baseline:v1.30\": seLinuxOptions (container \"app\" set forbidden "
        "securityContext.seLinuxOptions: type \"container_engine_t\")");
  CHECK(eval(d, "baseline:v1.31").allowed);
  Doc user(R"(
kind: Pod
spec:
  securityContext: {seLinuxOptions: {user: root, role: sysadm_r}}
  containers: [{name: app}]
)");
  CHECK(message(user, "baseline:latest") ==
        "violates PodSecurity \"baseline:latest\": seLinuxOptions (pod set forbidden "
        "securityContext.seLinuxOptions: user may not be set; role may not be set)");
}

TEST_CASE("Pss.ForbidsProbeAndLifecycleHostsFromV1_34", "[pss]") {
  Doc d(R"(
kind: Pod
spec:
  containers:
  - name: b
    readinessProbe: {tcpSocket: {host: 169.254.169.254, port: 80}}
  - name: a
    lifecycle: {preStop: {httpGet: {host: kubernetes.default, port: 443}}}
)");
  CHECK(eval(d, "baseline:v1.33").allowed);
  CHECK(message(d, "baseline:v1.34") ==
        "violates PodSecurity \"baseline:v1.34\": probe or lifecycle host (containers \"a\", \"b\" "
        "use probe or lifecycle hosts \"169.254.169.254\", \"kubernetes.default\")");
}

TEST_CASE("Pss.RelaxesUserNamespacePodsFromV1_35", "[pss]") {
  Doc d(R"(
kind: Pod
spec:
  hostUsers: false
  securityContext: {seccompProfile: {type: RuntimeDefault}, runAsUser: 0}
  containers:
  - name: app
    securityContext:
      allowPrivilegeEscalation: false
      capabilities: {drop: [ALL]}
      procMount: Unmasked
)");
  // Before v1.35 the relaxation needed a feature gate that was off by default.
  CHECK(message(d, "baseline:v1.34") ==
        "violates PodSecurity \"baseline:v1.34\": procMount (container \"app\" must not set "
        "securityContext.procMount to \"Unmasked\")");
  CHECK(eval(d, "baseline:v1.35").allowed);
  // Restricted still forbids an unmasked /proc, but no longer requires non-root.
  CHECK(message(d, "restricted:v1.35") ==
        "violates PodSecurity \"restricted:v1.35\": procMount (container \"app\" must not set "
        "securityContext.procMount to \"Unmasked\")");
  std::string v134 = message(d, "restricted:v1.34");
  CHECK(v134.find("runAsNonRoot != true") != std::string::npos);
  CHECK(v134.find("runAsUser=0") != std::string::npos);
}

TEST_CASE("Pss.ChecksAppArmorFieldAndAnnotation", "[pss]") {
  Doc d(R"(
kind: Pod
metadata:
  annotations:
    container.apparmor.security.beta.kubernetes.io/app: unconfined
spec:
  securityContext: {appArmorProfile: {type: Unconfined}}
  containers: [{name: app}]
)");
  CHECK(message(d, "baseline:latest") ==
        "violates PodSecurity \"baseline:latest\": forbidden AppArmor profiles (pod and annotation "
        "must not set AppArmor profile type to \"Unconfined\", "
        "\"container.apparmor.security.beta.kubernetes.io/app=\"unconfined\"\")");
  Doc ok(R"(
kind: Pod
metadata:
  annotations: {container.apparmor.security.beta.kubernetes.io/app: localhost/custom}
spec:
  containers: [{name: app, securityContext: {appArmorProfile: {type: Localhost}}}]
)");
  CHECK(eval(ok, "baseline:v1.0").allowed);
}

TEST_CASE("Pss.JoinsEveryFailingCheckInUpstreamOrder", "[pss]") {
  Doc d(R"(
kind: Pod
spec:
  hostPID: true
  volumes: [{name: root, hostPath: {path: /}}]
  containers:
  - name: a
    securityContext: {privileged: true}
    ports: [{containerPort: 80, hostPort: 80}]
  - name: b
    securityContext: {privileged: true}
)");
  CHECK(message(d, "baseline:v1.37") ==
        "violates PodSecurity \"baseline:v1.37\": host namespaces (hostPID=true), hostPath volumes "
        "(volume \"root\"), hostPort (container \"a\" uses hostPort 80), privileged (containers "
        "\"a\", \"b\" must not set securityContext.privileged=true)");
}

TEST_CASE("Pss.ChecksEphemeralContainers", "[pss]") {
  Doc d(R"(
kind: Pod
spec:
  containers: [{name: app}]
  ephemeralContainers: [{name: debugger, securityContext: {privileged: true}}]
)");
  auto r = eval(d, "baseline:latest");
  REQUIRE_FALSE(r.allowed);
  CHECK(r.failures[0].containers == std::vector<std::string_view>{"debugger"});
  CHECK(r.failures[0].field == "spec.ephemeralContainers[0].securityContext.privileged");
}

TEST_CASE("Pss.DeniesWronglyTypedFieldsInsteadOfAllowing", "[pss]") {
  Doc d(R"(
kind: Pod
spec:
  containers: [{name: app, securityContext: {privileged: "true"}}]
)");
  std::string m = message(d, "baseline:latest");
  CHECK(m.find("privileged (container \"app\" must not set securityContext.privileged=true)") !=
        std::string::npos);
  CHECK(
      m.find("unreadable fields (spec.containers[0].securityContext.privileged must be boolean)") !=
      std::string::npos);
  Doc sc("kind: Pod\nspec:\n  containers: [{name: app, securityContext: 7}]\n");
  CHECK_FALSE(eval(sc, "baseline:latest").allowed);
}

TEST_CASE("Pss.PrivilegedLevelAllowsEverything", "[pss]") {
  Doc d(
      "kind: Pod\nspec:\n  hostPID: true\n  containers: [{name: a, securityContext: {privileged: "
      "true}}]\n");
  CHECK(eval(d, "privileged").allowed);
}

TEST_CASE("Pss.ParsesLevelsAndVersions", "[pss]") {
  PssLevelVersion v;
  std::string err;
  REQUIRE(parsePssLevelVersion("restricted", v, &err));
  CHECK(v.toString() == "restricted:latest");
  REQUIRE(parsePssLevelVersion("baseline:v1.99", v, &err));
  CHECK(v.toString() == "baseline:v1.99");
  CHECK(v.effectiveMinor() == kPssLatestMinor);
  CHECK_FALSE(parsePssLevelVersion("baseline:v2.0", v, &err));
  CHECK(err.find("v2.0") != std::string::npos);
  CHECK_FALSE(parsePssLevelVersion("baseline:v1.05", v, &err));
  CHECK_FALSE(parsePssLevelVersion("strict:latest", v, &err));
}

TEST_CASE("Pss.FormatsWorkloadWarningsLikePsa", "[pss]") {
  Doc d(
      "kind: Deployment\nspec:\n  template:\n    spec:\n      hostNetwork: true\n      containers: "
      "[{name: a}]\n");
  auto v = lv("baseline:latest");
  auto r = evaluatePss(d.pod(), v);
  CHECK(pssWarningMessage(v, r) ==
        "would violate PodSecurity \"baseline:latest\": host namespaces (hostNetwork=true)");
  CHECK(r.failures[0].field == "spec.template.spec.hostNetwork");
}

}  // namespace
}  // namespace kc::policy
