#include "policies/engine.h"

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "policies/loader.h"
#include "policies/rules.h"
#include "test/policies/test_util.h"

namespace kc::policy {
namespace {

using testing::Doc;
using namespace std::chrono;

std::shared_ptr<const PolicySet> policies(const std::string& yaml) {
  auto r = loadPolicies({{"test.yaml", yaml}});
  INFO((r.errors.empty() ? std::string() : r.errors[0].toString()));
  REQUIRE(r.ok());
  return r.policies;
}

constexpr const char* kHeader = "apiVersion: policy.kube-customs.io/v1alpha1\n";

std::string imagePolicy(const std::string& spec, const std::string& name = "images") {
  return std::string(kHeader) + "kind: ImagePolicy\nmetadata: {name: " + name + "}\nspec:\n" + spec;
}

std::string deploymentPolicy(const std::string& spec, const std::string& name = "deploy") {
  return std::string(kHeader) + "kind: DeploymentPolicy\nmetadata: {name: " + name + "}\nspec:\n" +
         spec;
}

std::string podWithImage(const std::string& image, const std::string& ns = "apps") {
  return "kind: Pod\nmetadata: {name: web, namespace: " + ns +
         "}\nspec:\n  containers:\n  - name: app\n    image: \"" + image + "\"\n";
}

EvalInput input(const Doc& d, std::string_view ns = "apps") {
  EvalInput in;
  in.operation = "CREATE";
  in.kind = "";
  in.namespace_ = ns;
  in.user.username = "alice";
  in.object = d.root();
  in.now = sys_days{year{2026} / 6 / 1};
  return in;
}

bool hasRule(const Verdict& v, std::string_view rule) {
  for (const auto& x : v.violations) {
    if (x.rule == rule) return true;
  }
  return false;
}

TEST_CASE("Engine.EmptySetAllowsEverything", "[engine]") {
  Doc d(podWithImage("ngrok/ngrok"));
  auto v = PolicySet::empty()->evaluate(input(d));
  CHECK(v.allowed);
  CHECK(v.violations.empty());
}

TEST_CASE("Engine.DeniesTunnelingToolImageFromDefaultList", "[engine]") {
  auto ps = policies(imagePolicy("  deniedImages: {defaults: true}\n"));
  Doc d(podWithImage("ngrok/ngrok:3"));
  auto v = ps->evaluate(input(d));
  CHECK_FALSE(v.allowed);
  REQUIRE(v.violations.size() == 1);
  const auto& x = v.violations[0];
  CHECK(x.policy == "images");
  CHECK(x.rule == "image.denied");
  CHECK(x.container == "app");
  CHECK(x.field == "spec.containers[0].image");
  CHECK(x.mode == Mode::kEnforce);
  CHECK(v.message ==
        "[images] container \"app\" uses denied image \"ngrok/ngrok:3\", matched by \"**/ngrok\" "
        "(tunneling tool: ngrok); use an image that is not on the denied list");
  CHECK(v.auditAnnotations.at(std::string(kAuditAnnotationViolations)).find("image.denied") !=
        std::string::npos);
  for (const char* bad :
       {"jpillora/chisel:1.9", "snowdreamtech/frpc", "cloudflare/cloudflared:2024.1.0",
        "ghcr.io/ginuerzh/gost", "ekzhang/bore", "ghcr.io/inlets/inlets-pro:0.9", "metal3d/xmrig",
        "kalilinux/kali-rolling"}) {
    Doc b(podWithImage(bad));
    INFO(bad);
    CHECK_FALSE(ps->evaluate(input(b)).allowed);
  }
  Doc ok(podWithImage("nginx:1.25.3"));
  CHECK(ps->evaluate(input(ok)).allowed);
}

TEST_CASE("Engine.DeniesDefaultListImagesThroughPort443AndDockerHubAliases", "[engine]") {
  auto ps = policies(imagePolicy("  deniedImages: {defaults: true, images: [ghcr.io/evil/**]}\n"));
  // Registry-anchored patterns (`kalilinux/**`, `bcsecurity/empire`, `ghcr.io/evil/**`) used to
  // be escaped by naming the registry with its default https port or another Hub host name.
  for (const char* bad :
       {"registry-1.docker.io:443/kalilinux/kali-last-release:2024.4",
        "index.docker.io:443/bcsecurity/empire:v5", "REGISTRY-1.DOCKER.IO:443/bcsecurity/empire",
        "registry-1.docker.io:00443/kalilinux/kali-last-release", "docker.io:443/bcsecurity/empire",
        "registry.hub.docker.com/kalilinux/kali-last-release",
        "Registry.Hub.Docker.com:443/bcsecurity/empire:v5", "ghcr.io:443/evil/x:1",
        "GHCR.IO:0443/evil/x"}) {
    Doc b(podWithImage(bad));
    INFO(bad);
    auto v = ps->evaluate(input(b));
    CHECK_FALSE(v.allowed);
    CHECK(hasRule(v, "image.denied"));
  }
  // Another port is another registry.
  Doc other(podWithImage("ghcr.io:5000/evil/x:1"));
  CHECK(ps->evaluate(input(other)).allowed);
}

TEST_CASE("Engine.DeniesImagesOutsideAllowedRegistriesOnSegmentBoundaries", "[engine]") {
  auto ps = policies(imagePolicy("  allowedImages: [openpolicyagent, ghcr.io/acme]\n"));
  Doc ok(podWithImage("openpolicyagent/opa:0.60.0"));
  CHECK(ps->evaluate(input(ok)).allowed);
  Doc bypass(podWithImage("openpolicyagentnotreally/x:1"));
  auto v = ps->evaluate(input(bypass));
  CHECK_FALSE(v.allowed);
  REQUIRE(v.violations.size() == 1);
  CHECK(v.violations[0].rule == "image.notAllowed");
  CHECK(v.violations[0].message.find("allowed: \"openpolicyagent\", \"ghcr.io/acme\"") !=
        std::string::npos);
  Doc acmecorp(podWithImage("ghcr.io/acmecorp/api:1"));
  CHECK_FALSE(ps->evaluate(input(acmecorp)).allowed);
}

TEST_CASE("Engine.DeniesUntaggedImage", "[engine]") {
  auto ps = policies(imagePolicy("  tags: {requireTag: true}\n"));
  Doc d(podWithImage("nginx"));
  auto v = ps->evaluate(input(d));
  CHECK_FALSE(v.allowed);
  REQUIRE(v.violations.size() == 1);
  CHECK(v.violations[0].rule == "image.untagged");
  CHECK(v.violations[0].message.find("add a version tag (e.g. \"nginx:1.2.3\")") !=
        std::string::npos);
  Doc port(podWithImage("registry.local:5000/team/app"));
  CHECK(hasRule(ps->evaluate(input(port)), "image.untagged"));
}

TEST_CASE("Engine.WarnsOnLatestTagInWarnMode", "[engine]") {
  auto ps = policies(imagePolicy("  mode: warn\n  tags: {disallowLatest: true}\n"));
  Doc d(podWithImage("nginx:latest"));
  auto v = ps->evaluate(input(d));
  CHECK(v.allowed);
  REQUIRE(v.warnings.size() == 1);
  CHECK(v.warnings[0].rfind(
            "[images] container \"app\" uses image \"nginx:latest\" with tag \"latest\"", 0) == 0);
  REQUIRE(v.violations.size() == 1);
  CHECK(v.violations[0].mode == Mode::kWarn);
  Doc pinned(podWithImage("nginx:latest@sha256:" + std::string(64, 'b')));
  CHECK(ps->evaluate(input(pinned)).violations.empty());
}

TEST_CASE("Engine.SkipWarnModeLeavesOutWarnPoliciesOnly", "[engine]") {
  auto ps =
      policies(imagePolicy("  mode: warn\n  tags: {disallowLatest: true}\n", "tags") + "---\n" +
               imagePolicy("  mode: enforce\n  deniedImages: {defaults: true}\n", "denied") +
               "---\n" + imagePolicy("  mode: audit\n  tags: {requireDigest: true}\n", "digests"));
  Doc d(podWithImage("ngrok/ngrok:latest"));
  auto all = ps->evaluate(input(d));
  CHECK(hasRule(all, "image.latestTag"));
  CHECK(hasRule(all, "image.denied"));
  CHECK(hasRule(all, "image.digestRequired"));
  EvalInput in = input(d);
  in.skipWarnMode = true;
  auto some = ps->evaluate(in);
  CHECK_FALSE(hasRule(some, "image.latestTag"));
  CHECK(some.warnings.empty());
  CHECK(hasRule(some, "image.denied"));
  CHECK(hasRule(some, "image.digestRequired"));
  CHECK(some.allowed == all.allowed);
  CHECK(some.message == all.message);
}

TEST_CASE("Engine.AllowsDigestPinnedImageWhenDigestRequired", "[engine]") {
  auto ps = policies(imagePolicy("  tags: {requireDigest: true}\n"));
  Doc pinned(podWithImage("ghcr.io/acme/api:1.2@sha256:" + std::string(64, 'c')));
  CHECK(ps->evaluate(input(pinned)).allowed);
  Doc tagged(podWithImage("ghcr.io/acme/api:1.2"));
  auto v = ps->evaluate(input(tagged));
  CHECK_FALSE(v.allowed);
  REQUIRE(v.violations.size() == 1);
  CHECK(v.violations[0].rule == "image.digestRequired");
  CHECK(v.violations[0].message.find("\"ghcr.io/acme/api:1.2@sha256:<64 lowercase hex>\"") !=
        std::string::npos);
  Doc badDigest(podWithImage("ghcr.io/acme/api@sha256:ABC"));
  CHECK(hasRule(ps->evaluate(input(badDigest)), "image.invalidReference"));
}

TEST_CASE("Engine.ChecksInitAndEphemeralContainerImages", "[engine]") {
  auto ps = policies(imagePolicy("  deniedImages: {defaults: true}\n"));
  Doc d(R"(
kind: Pod
metadata: {name: web, namespace: apps}
spec:
  initContainers: [{name: setup, image: "busybox:1.36"}]
  containers: [{name: app, image: "nginx:1.25"}]
  ephemeralContainers: [{name: dbg, image: "xmrig/xmrig:6"}]
)");
  auto v = ps->evaluate(input(d));
  CHECK_FALSE(v.allowed);
  REQUIRE(v.violations.size() == 1);
  CHECK(v.violations[0].container == "dbg");
  CHECK(v.violations[0].field == "spec.ephemeralContainers[0].image");
  CHECK(v.violations[0].message.rfind("ephemeral container \"dbg\"", 0) == 0);
}

TEST_CASE("Engine.AppliesNamespaceModeOverrides", "[engine]") {
  auto ps = policies(imagePolicy(
      "  mode: warn\n  namespaceModes: {prod: enforce, lab: audit}\n  tags: {requireTag: true}\n"));
  Doc d(podWithImage("nginx"));
  auto dev = ps->evaluate(input(d, "dev"));
  CHECK(dev.allowed);
  CHECK(dev.warnings.size() == 1);
  auto prod = ps->evaluate(input(d, "prod"));
  CHECK_FALSE(prod.allowed);
  CHECK(prod.warnings.empty());
  auto lab = ps->evaluate(input(d, "lab"));
  CHECK(lab.allowed);
  CHECK(lab.warnings.empty());
  REQUIRE(lab.violations.size() == 1);
  CHECK(lab.violations[0].mode == Mode::kAudit);
  CHECK(lab.auditAnnotations.count(std::string(kAuditAnnotationViolations)) == 1);
}

TEST_CASE("Engine.SkipsExemptNamespacesUsersGroupsAccountsRuntimeClassesAndImages", "[engine]") {
  auto ps = policies(imagePolicy(R"(  tags: {requireTag: true}
  exemptions:
    namespaces: [tools]
    usernames: ["system:serviceaccount:ci:deployer"]
    groups: [break-glass]
    serviceAccounts: ["mon/*"]
    runtimeClasses: [kata]
    images: [registry.k8s.io]
)"));
  Doc plain(podWithImage("nginx"));
  CHECK_FALSE(ps->evaluate(input(plain)).allowed);
  CHECK(ps->evaluate(input(plain, "tools")).allowed);
  auto byCi = input(plain);
  byCi.user.username = "system:serviceaccount:ci:deployer";
  CHECK(ps->evaluate(byCi).allowed);
  auto byGroup = input(plain);
  byGroup.user.groups = {"break-glass"};
  CHECK(ps->evaluate(byGroup).allowed);
  Doc sa(
      "kind: Pod\nspec:\n  serviceAccountName: prometheus\n  containers: [{name: a, image: "
      "nginx}]\n");
  CHECK(ps->evaluate(input(sa, "mon")).allowed);
  CHECK_FALSE(ps->evaluate(input(sa, "apps")).allowed);
  Doc kata("kind: Pod\nspec:\n  runtimeClassName: kata\n  containers: [{name: a, image: nginx}]\n");
  CHECK(ps->evaluate(input(kata)).allowed);
  Doc pause(podWithImage("registry.k8s.io/pause"));
  CHECK(ps->evaluate(input(pause)).allowed);
}

TEST_CASE("Engine.HonoursScopedExceptionsUntilTheyExpire", "[engine]") {
  auto ps = policies(deploymentPolicy(R"(  podSecurity: {level: baseline}
  exceptions:
  - rule: pss.privileged
    namespace: monitoring
    container: agent
    owner: sre@example.com
    reason: node exporter reads host metrics
    expires: 2026-06-05
)"));
  Doc d(R"(
kind: Pod
metadata: {name: exporter}
spec:
  containers:
  - {name: agent, image: "node-exporter:1", securityContext: {privileged: true}}
)");
  auto in = input(d, "monitoring");
  CHECK(ps->evaluate(in).allowed);
  auto other = input(d, "apps");
  CHECK_FALSE(ps->evaluate(other).allowed);
  in.now = sys_days{year{2026} / 6 / 5};
  auto expired = ps->evaluate(in);
  CHECK_FALSE(expired.allowed);
  CHECK(expired.violations[0].rule == "pss.privileged");
  Doc two(R"(
kind: Pod
spec:
  containers:
  - {name: agent, securityContext: {privileged: true}}
  - {name: sidecar, securityContext: {privileged: true}}
)");
  CHECK_FALSE(ps->evaluate(input(two, "monitoring")).allowed);  // sidecar is not excepted
}

TEST_CASE("Engine.CountsExceptionsExpiringWithinSevenDays", "[engine]") {
  auto ps = policies(imagePolicy(R"(  tags: {requireTag: true}
  exceptions:
  - {rule: image.untagged, owner: a, reason: r, expires: 2026-06-03}
  - {rule: image.untagged, owner: a, reason: r, expires: "2026-06-07T23:00:00Z"}
  - {rule: image.untagged, owner: a, reason: r, expires: 2026-07-01}
  - {rule: image.untagged, owner: a, reason: r, expires: 2026-05-01}
)"));
  Seconds now = sys_days{year{2026} / 6 / 1};
  CHECK(ps->exceptionsExpiringWithin(now) == 2);
  CHECK(ps->exceptionsExpiringWithin(now, hours(24 * 40)) == 3);
}

constexpr const char* kPrivilegedDeployment = R"(
kind: Deployment
metadata: {name: agent, namespace: apps}
spec:
  template:
    spec:
      hostNetwork: true
      containers: [{name: a, image: "busybox:1.36"}]
)";

TEST_CASE("Engine.WarnsOnWorkloadTemplatesUnlessEnforceTemplates", "[engine]") {
  Doc d(kPrivilegedDeployment);
  auto warnOnly = policies(deploymentPolicy("  podSecurity: {level: baseline}\n", "pod-security"));
  auto v = warnOnly->evaluate(input(d));
  CHECK(v.allowed);
  REQUIRE(v.warnings.size() == 1);
  CHECK(v.warnings[0] ==
        "[pod-security] would violate PodSecurity \"baseline:latest\": host namespaces "
        "(hostNetwork=true)");
  auto enforce = policies(deploymentPolicy(
      "  enforceTemplates: true\n  podSecurity: {level: baseline}\n", "pod-security"));
  auto denied = enforce->evaluate(input(d));
  CHECK_FALSE(denied.allowed);
  CHECK(denied.message ==
        "[pod-security] violates PodSecurity \"baseline:latest\": host namespaces "
        "(hostNetwork=true)");
  CHECK(denied.violations[0].field == "spec.template.spec.hostNetwork");
}

TEST_CASE("Engine.DeniesWorkloadsInSystemNamespacesFromNonSystemIdentities", "[engine]") {
  auto ps = policies(deploymentPolicy("  enforceTemplates: true\n  systemNamespaces: {}\n"));
  Doc d(
      "kind: DaemonSet\nmetadata: {name: x}\nspec:\n  template:\n    spec:\n      containers: "
      "[{name: a, image: b}]\n");
  auto byAlice = ps->evaluate(input(d, "kube-system"));
  CHECK_FALSE(byAlice.allowed);
  REQUIRE(byAlice.violations.size() == 1);
  CHECK(byAlice.violations[0].rule == "namespace.system");
  CHECK(byAlice.violations[0].message.find("\"alice\"") != std::string::npos);
  auto controller = input(d, "kube-system");
  controller.user.username = "system:serviceaccount:kube-system:daemon-set-controller";
  CHECK(ps->evaluate(controller).allowed);
  auto node = input(d, "kube-system");
  node.user.username = "system:node:worker-1";
  CHECK(ps->evaluate(node).allowed);
  // "system:" names that are not the control plane: another namespace's service account, and
  // anonymous requests.
  for (const char* user : {"system:serviceaccount:apps:web", "system:anonymous",
                           "system:serviceaccount:kube-systemx:x"}) {
    INFO(user);
    auto other = input(d, "kube-system");
    other.user.username = user;
    other.user.groups = {"system:serviceaccounts", "system:authenticated"};
    auto v = ps->evaluate(other);
    CHECK_FALSE(v.allowed);
    CHECK((!v.violations.empty() && v.violations[0].rule == "namespace.system"));
  }
  auto admin = input(d, "kube-node-lease");
  admin.user.groups = {"system:masters"};
  CHECK(ps->evaluate(admin).allowed);
  CHECK(ps->evaluate(input(d, "apps")).allowed);
}

TEST_CASE("Engine.DeniesServiceAccountsNotAllowed", "[engine]") {
  auto ps = policies(deploymentPolicy("  serviceAccounts: {allowed: [web, \"ci/*\"]}\n"));
  Doc web("kind: Pod\nspec:\n  serviceAccountName: web\n  containers: [{name: a}]\n");
  CHECK(ps->evaluate(input(web)).allowed);
  Doc dflt("kind: Pod\nspec:\n  containers: [{name: a}]\n");
  auto v = ps->evaluate(input(dflt));
  CHECK_FALSE(v.allowed);
  CHECK(v.violations[0].message ==
        "service account \"apps/default\" is not allowed; use one of \"web\", \"ci/*\"");
  CHECK(ps->evaluate(input(dflt, "ci")).allowed);
}

TEST_CASE("Engine.AllowsHostPathsOnlyUnderAllowedPrefixes", "[engine]") {
  auto ps = policies(deploymentPolicy("  hostPaths: {allowedPrefixes: [/var/log]}\n"));
  auto pod = [](const char* path) {
    return std::string(
               "kind: Pod\nspec:\n  containers: [{name: a}]\n  volumes: [{name: h, hostPath: "
               "{path: \"") +
           path + "\"}}]\n";
  };
  CHECK(ps->evaluate(input(Doc(pod("/var/log")))).allowed);
  CHECK(ps->evaluate(input(Doc(pod("/var/log/pods")))).allowed);
  CHECK_FALSE(ps->evaluate(input(Doc(pod("/var/logs")))).allowed);
  CHECK_FALSE(ps->evaluate(input(Doc(pod("/var/log/../../etc")))).allowed);
  auto v = ps->evaluate(input(Doc(pod("/var/run/docker.sock"))));
  REQUIRE(v.violations.size() == 1);
  CHECK(v.violations[0].field == "spec.volumes[0].hostPath.path");
  CHECK(v.violations[0].message ==
        "volume \"h\" mounts host path \"/var/run/docker.sock\"; allowed host path prefixes: "
        "\"/var/log\"");
}

TEST_CASE("Engine.ReevaluatesPodUpdatesOnlyWhenImagesOrContainersChange", "[engine]") {
  auto ps = policies(imagePolicy("  tags: {requireTag: true}\n"));
  Doc oldPod(podWithImage("nginx"));
  Doc labelled(
      "kind: Pod\nmetadata: {name: web, labels: {x: y}}\nspec:\n  containers:\n  - name: app\n    "
      "image: nginx\n");
  auto in = input(labelled);
  in.operation = "UPDATE";
  in.oldObject = oldPod.root();
  CHECK(ps->evaluate(in).violations.empty());
  Doc swapped(podWithImage("busybox"));
  in.object = swapped.root();
  CHECK_FALSE(ps->evaluate(in).allowed);
}

TEST_CASE("Engine.EvaluatesEphemeralContainersSubresourceButNotExec", "[engine]") {
  auto ps = policies(imagePolicy("  deniedImages: {defaults: true}\n"));
  Doc d(R"(
kind: Pod
metadata: {name: web}
spec:
  containers: [{name: app, image: "nginx:1"}]
  ephemeralContainers: [{name: t, image: "jpillora/chisel"}]
)");
  auto in = input(d);
  in.operation = "UPDATE";
  in.subResource = "ephemeralcontainers";
  CHECK_FALSE(ps->evaluate(in).allowed);
  in.subResource = "exec";
  CHECK(ps->evaluate(in).allowed);
}

TEST_CASE("Engine.DeniesUnreadableSecurityFields", "[engine]") {
  auto ps = policies(deploymentPolicy("  podSecurity: {level: baseline}\n"));
  Doc d("kind: Pod\nspec:\n  hostNetwork: \"true\"\n  containers: [{name: a}]\n");
  auto v = ps->evaluate(input(d));
  CHECK_FALSE(v.allowed);
  CHECK(hasRule(v, "pss.unreadableFields"));
  CHECK(hasRule(v, "pss.hostNamespaces"));
}

TEST_CASE("Engine.ComposesEveryPolicyIntoOneVerdict", "[engine]") {
  auto r = loadPolicies(
      {{"a.yaml", imagePolicy("  deniedImages: {defaults: true}\n", "denied")},
       {"b.yaml", imagePolicy("  mode: warn\n  tags: {disallowLatest: true}\n", "tags")},
       {"c.yaml", deploymentPolicy("  podSecurity: {level: baseline, version: v1.30}\n", "pss")}});
  REQUIRE(r.ok());
  Doc d(R"(
kind: Pod
spec:
  hostPID: true
  containers: [{name: t, image: "ngrok/ngrok:latest"}]
)");
  auto v = r.policies->evaluate(input(d));
  CHECK_FALSE(v.allowed);
  CHECK(v.violations.size() == 3);
  CHECK(v.message ==
        "[denied] container \"t\" uses denied image \"ngrok/ngrok:latest\", matched by "
        "\"**/ngrok\" (tunneling "
        "tool: ngrok); use an image that is not on the denied list; [pss] violates PodSecurity "
        "\"baseline:v1.30\": host namespaces (hostPID=true)");
  REQUIRE(v.warnings.size() == 1);
  CHECK(v.warnings[0].rfind("[tags] ", 0) == 0);
}

std::vector<PolicyFile> defaultPolicyFiles() {
  std::vector<PolicyFile> files;
  for (const auto& e : std::filesystem::directory_iterator(std::filesystem::path(KC_SOURCE_DIR) /
                                                           "policies" / "defaults")) {
    std::ifstream in(e.path());
    std::stringstream ss;
    ss << in.rdbuf();
    files.push_back({e.path().filename().string(), ss.str()});
  }
  return files;
}

TEST_CASE("Engine.ShippedDefaultsLoadAndBlockTheThreatModel", "[engine][defaults]") {
  auto r = loadPolicies(defaultPolicyFiles());
  INFO((r.errors.empty() ? std::string() : r.errors[0].toString()));
  REQUIRE(r.ok());
  CHECK(r.warnings.empty());
  const auto& ps = *r.policies;
  // A tunneling tool in an unused namespace is denied, even as a Deployment.
  Doc tunnel(
      "kind: Deployment\nmetadata: {name: t}\nspec:\n  template:\n    spec:\n      containers: "
      "[{name: c, image: \"cloudflare/cloudflared:2024.1.0\"}]\n");
  CHECK_FALSE(ps.evaluate(input(tunnel, "unused")).allowed);
  // A privileged pod with host mounts is denied by baseline.
  Doc priv(R"(
kind: Pod
spec:
  containers: [{name: c, image: "busybox:1.36", securityContext: {privileged: true}}]
  volumes: [{name: root, hostPath: {path: /}}]
)");
  auto pv = ps.evaluate(input(priv));
  CHECK_FALSE(pv.allowed);
  CHECK(pv.message.find("[pod-security-baseline] violates PodSecurity \"baseline:latest\"") !=
        std::string::npos);
  // An ordinary pod with a latest tag is admitted with warnings (tags, restricted).
  Doc latest(podWithImage("nginx:latest"));
  auto lv = ps.evaluate(input(latest));
  CHECK(lv.allowed);
  CHECK(lv.warnings.size() == 2);
  // A user creating a DaemonSet in kube-system is denied.
  Doc ds(
      "kind: DaemonSet\nmetadata: {name: x}\nspec:\n  template:\n    spec:\n      containers: "
      "[{name: a, image: \"busybox:1.36\"}]\n");
  CHECK_FALSE(ps.evaluate(input(ds, "kube-system")).allowed);
}

// --- Services (spec.services) ---

std::string service(const std::string& spec, const std::string& ns = "apps") {
  return "kind: Service\nmetadata: {name: web, namespace: " + ns + "}\nspec:\n" + spec;
}

EvalInput serviceInput(const Doc& d, std::string_view ns = "apps") {
  EvalInput in = input(d, ns);
  in.kind = "Service";
  in.version = "v1";
  return in;
}

TEST_CASE("Engine.ServiceTypesOutsideTheAllowListAreDenied", "[engine][services]") {
  auto ps = policies(deploymentPolicy("  services: {allowedTypes: [ClusterIP, LoadBalancer]}\n"));
  Doc nodePort(service("  type: NodePort\n  ports: [{port: 80, nodePort: 30080}]\n"));
  auto v = ps->evaluate(serviceInput(nodePort));
  CHECK_FALSE(v.allowed);
  REQUIRE(v.violations.size() == 1);
  CHECK(v.violations[0].rule == "service.typeNotAllowed");
  CHECK(v.violations[0].field == "spec.type");
  CHECK(v.message ==
        "[deploy] Service type \"NodePort\" is not allowed; allowed types: \"ClusterIP\", "
        "\"LoadBalancer\"");
  CHECK(v.auditAnnotations.count(std::string(kAuditAnnotationViolations)) == 1);

  Doc lb(service("  type: LoadBalancer\n  ports: [{port: 443}]\n"));
  CHECK(ps->evaluate(serviceInput(lb)).allowed);
  // No type is a ClusterIP.
  Doc plain(service("  ports: [{port: 80}]\n"));
  CHECK(ps->evaluate(serviceInput(plain)).allowed);
  // The kind is read from the object when the request does not name it.
  auto unnamed = serviceInput(nodePort);
  unnamed.kind = "";
  CHECK_FALSE(ps->evaluate(unnamed).allowed);
  // A kind of another group is not a core Service.
  auto other = serviceInput(nodePort);
  other.group = "serving.knative.dev";
  CHECK(ps->evaluate(other).allowed);
  // The status subresource changes no exposure.
  auto status = serviceInput(nodePort);
  status.subResource = "status";
  CHECK(ps->evaluate(status).allowed);
}

TEST_CASE("Engine.ExternalIPsOutsideTheAllowedBlocksAreDenied", "[engine][services]") {
  auto ps = policies(deploymentPolicy(
      "  services: {allowedExternalIPs: [\"10.0.0.0/8\", \"2001:db8::/32\", 192.0.2.7]}\n"));
  Doc d(
      service("  externalIPs: [10.1.2.3, 203.0.113.9, \"2001:db8::1\", 192.0.2.7, 192.0.2.8, "
              "\"2001:db9::1\"]\n"));
  auto v = ps->evaluate(serviceInput(d));
  CHECK_FALSE(v.allowed);
  std::vector<std::string> fields;
  for (const auto& x : v.violations) {
    CHECK(x.rule == "service.externalIPNotAllowed");
    fields.push_back(x.field);
  }
  CHECK(fields == std::vector<std::string>{"spec.externalIPs[1]", "spec.externalIPs[4]",
                                           "spec.externalIPs[5]"});
  CHECK(v.message.find("external IP \"203.0.113.9\" is not allowed") != std::string::npos);
  CHECK(v.message.find("CVE-2020-8554") != std::string::npos);
  CHECK(v.message.find("allowed addresses: \"10.0.0.0/8\", \"2001:db8::/32\", \"192.0.2.7\"") !=
        std::string::npos);

  // An empty list allows none; a Service without externalIPs passes.
  auto none = policies(deploymentPolicy("  services: {allowedExternalIPs: []}\n"));
  Doc one(service("  externalIPs: [10.1.2.3]\n"));
  auto refused = none->evaluate(serviceInput(one));
  CHECK_FALSE(refused.allowed);
  CHECK(refused.message.find("remove spec.externalIPs") != std::string::npos);
  Doc without(service("  type: NodePort\n"));
  CHECK(none->evaluate(serviceInput(without)).allowed);
  // externalIPs of the wrong JSON type are not a way around the rule.
  Doc wrong(service("  externalIPs: \"10.1.2.3\"\n"));
  auto w = none->evaluate(serviceInput(wrong));
  CHECK_FALSE(w.allowed);
  REQUIRE(w.violations.size() == 1);
  CHECK(w.violations[0].field == "spec.externalIPs");
}

TEST_CASE("Engine.AServiceListingManyAddressesGetsABoundedAnswer", "[engine][services]") {
  auto ps = policies(deploymentPolicy(
      "  services: {allowedTypes: [ClusterIP], allowedExternalIPs: [\"10.0.0.0/8\"]}\n"));
  std::string ips;
  for (int i = 0; i < 20; ++i)
    ips += (i ? ", " : "") + std::string("203.0.113.") + std::to_string(i);
  Doc many(service("  externalIPs: [10.0.0.1, " + ips + "]\n"));
  auto v = ps->evaluate(serviceInput(many));
  CHECK_FALSE(v.allowed);
  REQUIRE(v.violations.size() == 9);
  CHECK(v.violations[0].field == "spec.externalIPs[1]");
  CHECK(v.violations[7].field == "spec.externalIPs[8]");
  CHECK(v.violations[8].field == "spec.externalIPs");
  CHECK(v.violations[8].message ==
        "12 more external IPs are not allowed; allowed addresses: \"10.0.0.0/8\"");
  // A type of the wrong JSON type is refused as a type, not as addresses.
  Doc odd(service("  type: 7\n"));
  auto o = ps->evaluate(serviceInput(odd));
  REQUIRE(o.violations.size() == 1);
  CHECK(o.violations[0].rule == "service.typeNotAllowed");
  CHECK(o.violations[0].message.find("a Service type that is not a string") == 0);
}

TEST_CASE("Engine.AServiceUpdateIsJudgedOnlyWhenItsExposureChanges", "[engine][services]") {
  auto ps = policies(
      deploymentPolicy("  services: {allowedTypes: [ClusterIP], allowedExternalIPs: []}\n"));
  Doc oldNodePort(service("  type: NodePort\n"));
  Doc relabelled(
      "kind: Service\nmetadata: {name: web, namespace: apps, labels: {a: b}}\n"
      "spec:\n  type: NodePort\n");
  auto in = serviceInput(relabelled);
  in.operation = "UPDATE";
  in.oldObject = oldNodePort.root();
  CHECK(ps->evaluate(in).allowed);  // admitted before the policy: a label change passes

  Doc oldClusterIP(service("  type: ClusterIP\n"));
  in.oldObject = oldClusterIP.root();
  auto v = ps->evaluate(in);
  CHECK_FALSE(v.allowed);
  REQUIRE(v.violations.size() == 1);
  CHECK(v.violations[0].rule == "service.typeNotAllowed");

  // An added external IP is a change; judged whole, the old exposure is named too.
  Doc withIP(service("  type: NodePort\n  externalIPs: [198.51.100.4]\n"));
  auto added = serviceInput(withIP);
  added.operation = "UPDATE";
  added.oldObject = oldNodePort.root();
  auto a = ps->evaluate(added);
  CHECK_FALSE(a.allowed);
  CHECK(a.violations.size() == 2);
  // Without an old object (as a CREATE), it is judged whole.
  auto noOld = serviceInput(relabelled);
  noOld.operation = "UPDATE";
  CHECK_FALSE(ps->evaluate(noOld).allowed);
}

TEST_CASE("Engine.ServiceRulesHonourModesExemptionsAndExceptions", "[engine][services]") {
  auto ps = policies(deploymentPolicy(R"(  mode: enforce
  namespaceModes: {staging: warn, lab: audit}
  services: {allowedExternalIPs: []}
  exemptions:
    namespaces: [kube-system]
    groups: [platform-admins]
  exceptions:
  - rule: service.externalIPNotAllowed
    namespace: edge
    name: ingress-*
    owner: net@example.com
    reason: bare-metal ingress VIP
    expires: 2026-07-01
)"));
  const std::string spec = "  externalIPs: [203.0.113.10]\n";
  Doc prod(service(spec, "prod"));
  CHECK_FALSE(ps->evaluate(serviceInput(prod, "prod")).allowed);

  Doc staging(service(spec, "staging"));
  auto warned = ps->evaluate(serviceInput(staging, "staging"));
  CHECK(warned.allowed);
  REQUIRE(warned.warnings.size() == 1);
  CHECK(warned.warnings[0].find("[deploy] external IP \"203.0.113.10\"") == 0);
  auto skipped = serviceInput(staging, "staging");
  skipped.skipWarnMode = true;
  CHECK(ps->evaluate(skipped).violations.empty());

  Doc lab(service(spec, "lab"));
  auto audited = ps->evaluate(serviceInput(lab, "lab"));
  CHECK(audited.allowed);
  CHECK(audited.warnings.empty());
  REQUIRE(audited.violations.size() == 1);
  CHECK(audited.violations[0].mode == Mode::kAudit);

  Doc sys(service(spec, "kube-system"));
  CHECK(ps->evaluate(serviceInput(sys, "kube-system")).violations.empty());
  auto admin = serviceInput(prod, "prod");
  admin.user.groups = {"system:authenticated", "platform-admins"};
  CHECK(ps->evaluate(admin).allowed);

  Doc ingress("kind: Service\nmetadata: {name: ingress-vip, namespace: edge}\nspec:\n" + spec);
  auto in = serviceInput(ingress, "edge");
  in.name = "";  // from the object
  CHECK(ps->evaluate(in).allowed);
  in.now = sys_days{year{2026} / 7 / 1};
  CHECK_FALSE(ps->evaluate(in).allowed);  // expired
  Doc web(service(spec, "edge"));
  CHECK_FALSE(ps->evaluate(serviceInput(web, "edge")).allowed);  // name not covered
}

TEST_CASE("Engine.ServiceRulesAndPodRulesStayApart", "[engine][services]") {
  // A policy with only Service rules admits any pod; one without them admits any Service.
  auto svcOnly = policies(deploymentPolicy("  services: {allowedTypes: [ClusterIP]}\n"));
  Doc privileged(R"(
kind: Pod
spec:
  hostNetwork: true
  containers: [{name: a, image: "busybox:1.36", securityContext: {privileged: true}}]
)");
  CHECK(svcOnly->evaluate(input(privileged)).violations.empty());
  auto podOnly = policies(deploymentPolicy("  podSecurity: {level: restricted}\n") + "---\n" +
                          imagePolicy("  deniedImages: {defaults: true}\n"));
  Doc nodePort(service("  type: NodePort\n  externalIPs: [203.0.113.10]\n"));
  CHECK(podOnly->evaluate(serviceInput(nodePort)).violations.empty());
}

TEST_CASE("Engine.IpBlocks", "[engine][services]") {
  IpBlock b;
  REQUIRE(parseIpBlock("10.0.0.0/8", b));
  CHECK(b.family == 4);
  CHECK(b.prefixBits == 8);
  CHECK(ipInBlock("10.255.1.2", b));
  CHECK_FALSE(ipInBlock("11.0.0.1", b));
  CHECK_FALSE(ipInBlock("::ffff:10.0.0.1", b));  // another family
  CHECK_FALSE(ipInBlock("10.0.0", b));
  REQUIRE(parseIpBlock("192.168.4.0/23", b));
  CHECK(ipInBlock("192.168.5.255", b));
  CHECK_FALSE(ipInBlock("192.168.6.0", b));
  REQUIRE(parseIpBlock("0.0.0.0/0", b));
  CHECK(ipInBlock("203.0.113.1", b));
  REQUIRE(parseIpBlock("2001:db8::/33", b));
  CHECK(b.family == 6);
  CHECK(ipInBlock("2001:db8:7fff::1", b));
  CHECK_FALSE(ipInBlock("2001:db8:8000::1", b));
  REQUIRE(parseIpBlock("192.0.2.7", b));
  CHECK(b.prefixBits == 32);
  CHECK(ipInBlock("192.0.2.7", b));
  CHECK_FALSE(ipInBlock("192.0.2.70", b));
  for (const char* bad :
       {"", "10.0.0.0/33", "10.0.0.256", "10.0.0.0/", "10.0.0.0/08", "10.0.0.0/8/8",
        "2001:db8::/129", "fe80::1%eth0", "example.com", "10.0.0.0/-1", " 10.0.0.1"}) {
    INFO(bad);
    CHECK_FALSE(parseIpBlock(bad, b));
  }
}

// --- exec, attach and port-forward (spec.podConnect) ---

EvalInput connectInput(const Doc& options, std::string_view sub, std::string_view user,
                       std::vector<std::string_view> groups = {}, std::string_view ns = "shop") {
  EvalInput in;
  in.operation = "CONNECT";
  in.version = "v1";
  in.kind = podSessionOptionsKind(sub);
  in.subResource = sub;
  in.namespace_ = ns;
  in.name = "web-1";
  in.user.username = user;
  in.user.groups = std::move(groups);
  in.object = options.root();
  in.now = sys_days{year{2026} / 6 / 1};
  return in;
}

TEST_CASE("Engine.PodSessionsOnlyForAllowedIdentities", "[engine][podConnect]") {
  auto ps = policies(deploymentPolicy(R"(  podConnect:
    allowedUsernames: ["oncall-*@example.com"]
    allowedGroups: [sre]
)"));
  Doc exec(
      "kind: PodExecOptions\napiVersion: v1\nstdin: true\ntty: true\ncontainer: app\n"
      "command: [sh, -c, \"cat /var/run/secrets/kubernetes.io/serviceaccount/token\"]\n");
  auto v =
      ps->evaluate(connectInput(exec, "exec", "mallory@example.com", {"system:authenticated"}));
  CHECK_FALSE(v.allowed);
  REQUIRE(v.violations.size() == 1);
  CHECK(v.violations[0].rule == "podConnect.notAllowed");
  CHECK(v.violations[0].container == "app");
  CHECK(v.message ==
        "[deploy] exec into pod \"shop/web-1\" (container \"app\", command \"sh -c cat "
        "/var/run/secrets/kubernetes.io/serviceaccount/token\") by \"mallory@example.com\" is not "
        "allowed; allowed: user \"oncall-*@example.com\", group \"sre\"");
  CHECK(ps->evaluate(connectInput(exec, "exec", "oncall-ana@example.com")).allowed);
  CHECK(ps->evaluate(connectInput(exec, "exec", "bob@example.com", {"devs", "sre"})).allowed);

  Doc attach("kind: PodAttachOptions\napiVersion: v1\nstdin: true\ncontainer: app\n");
  auto a = ps->evaluate(connectInput(attach, "attach", "mallory@example.com"));
  CHECK(a.message.find("attach to pod \"shop/web-1\" (container \"app\") by") != std::string::npos);
  Doc forward("kind: PodPortForwardOptions\napiVersion: v1\nports: [5432]\n");
  auto f = ps->evaluate(connectInput(forward, "portforward", "mallory@example.com"));
  CHECK(f.message.find("port-forward to pod \"shop/web-1\" by \"mallory@example.com\"") !=
        std::string::npos);
  // Other CONNECT requests (a node's or a Service's proxy) and writes are not sessions.
  auto proxy = connectInput(forward, "proxy", "mallory@example.com");
  CHECK(ps->evaluate(proxy).violations.empty());
  auto nodes = connectInput(forward, "portforward", "mallory@example.com");
  nodes.group = "metrics.k8s.io";
  CHECK(ps->evaluate(nodes).violations.empty());
  Doc pod(podWithImage("registry.example.com/web:1"));
  CHECK(ps->evaluate(input(pod)).violations.empty());
  // An options object that is not one (or absent) still gets a verdict.
  auto bare = connectInput(forward, "exec", "mallory@example.com");
  bare.object = nullElement();
  CHECK_FALSE(ps->evaluate(bare).allowed);
}

TEST_CASE("Engine.PodSessionRulesHonourModesExemptionsAndExceptions", "[engine][podConnect]") {
  auto ps = policies(deploymentPolicy(R"(  mode: enforce
  namespaceModes: {dev: warn}
  podConnect: {}
  exemptions:
    namespaces: [sandbox]
    usernames: [break-glass@example.com]
  exceptions:
  - rule: podConnect.notAllowed
    namespace: shop
    name: "web-*"
    owner: sre@example.com
    reason: incident 4711
    expires: 2026-06-02
)"));
  Doc exec("kind: PodExecOptions\napiVersion: v1\ncommand: [sh]\n");
  auto none = ps->evaluate(connectInput(exec, "exec", "alice@example.com", {}, "prod"));
  CHECK_FALSE(none.allowed);
  CHECK(none.message.find("no identity is allowed outside the policy's exemptions") !=
        std::string::npos);
  auto dev = ps->evaluate(connectInput(exec, "exec", "alice@example.com", {}, "dev"));
  CHECK(dev.allowed);
  CHECK(dev.warnings.size() == 1);
  CHECK(ps->evaluate(connectInput(exec, "exec", "alice@example.com", {}, "sandbox")).allowed);
  CHECK(ps->evaluate(connectInput(exec, "exec", "break-glass@example.com", {}, "prod")).allowed);
  auto in = connectInput(exec, "exec", "alice@example.com", {}, "shop");
  CHECK(ps->evaluate(in).allowed);  // the exception covers web-*
  in.now = sys_days{year{2026} / 6 / 2};
  CHECK_FALSE(ps->evaluate(in).allowed);
}

// A clock for deadlines that reads kDeadlineAt from its `passAt`-th read on (0: never).
struct CountingClock {
  static inline int reads = 0;
  static inline int passAt = 0;
  static Deadline::Clock::time_point now() {
    ++reads;
    return passAt != 0 && reads >= passAt ? at() : at() - seconds(1);
  }
  static Deadline::Clock::time_point at() { return Deadline::Clock::time_point(hours(1)); }
  // A deadline looked at wherever the engine may stop (workPerLook 1), or as the webhook sets it.
  static Deadline deadline(int passAtRead, std::size_t workPerLook = 1) {
    reads = 0;
    passAt = passAtRead;
    return Deadline{at(), &CountingClock::now, workPerLook};
  }
};

std::string podWithContainers(std::size_t n, const std::string& image) {
  std::string yaml = "kind: Pod\nmetadata: {name: web, namespace: apps}\nspec:\n  containers:\n";
  for (std::size_t i = 0; i < n; ++i)
    yaml += "  - {name: c" + std::to_string(i) + ", image: \"" + image + "\"}\n";
  return yaml;
}

TEST_CASE("Engine.AnAlreadyPassedDeadlineStopsBeforeThePoliciesAndSaysSo", "[engine][deadline]") {
  auto ps = policies(imagePolicy("  deniedImages: {defaults: true}\n") + "---\n" +
                     deploymentPolicy("  podSecurity: {level: restricted, version: latest}\n"));
  Doc d(podWithImage("ngrok/ngrok:3"));
  EvalInput in = input(d);
  in.deadline = CountingClock::deadline(1);
  const Verdict stopped = ps->evaluate(in);
  CHECK(stopped.deadlineExceeded);
  CHECK(stopped.allowed);  // nothing judged, nothing found: the caller decides
  CHECK(stopped.violations.empty());
  CHECK(CountingClock::reads == 1);

  // The same input with the deadline ahead: judged in full, the clock read between policies.
  in.deadline = CountingClock::deadline(0);
  const Verdict judged = ps->evaluate(in);
  CHECK_FALSE(judged.deadlineExceeded);
  CHECK_FALSE(judged.allowed);
  CHECK(hasRule(judged, "image.denied"));
  CHECK(hasRule(judged, "pss.runAsNonRoot"));
  CHECK(CountingClock::reads >= 2);

  // No deadline at all: the same verdict.
  in.deadline = Deadline{};
  const Verdict plain = ps->evaluate(in);
  CHECK_FALSE(plain.deadlineExceeded);
  CHECK(plain.message == judged.message);
}

// The deadline passes after the first policy: its violations stand and deny, the second
// policy never runs.
TEST_CASE("Engine.ADeadlinePassingBetweenPoliciesKeepsWhatWasFound", "[engine][deadline]") {
  auto ps = policies(imagePolicy("  deniedImages: {defaults: true}\n") + "---\n" +
                     deploymentPolicy("  podSecurity: {level: restricted, version: latest}\n"));
  Doc d(podWithImage("ngrok/ngrok:3"));
  EvalInput in = input(d);
  in.deadline = CountingClock::deadline(2);  // the first policy's look passes, the second's not
  const Verdict v = ps->evaluate(in);
  CHECK(v.deadlineExceeded);
  CHECK_FALSE(v.allowed);
  CHECK(hasRule(v, "image.denied"));
  CHECK_FALSE(hasRule(v, "pss.runAsNonRoot"));
}

// Inside one rule over thousands of containers the deadline is looked at every few of them:
// the rule stops part-way, with the containers judged until then.
TEST_CASE("Engine.ADeadlinePassingInsideARuleStopsItPartWay", "[engine][deadline]") {
  auto ps = policies(imagePolicy("  deniedImages: {defaults: true}\n"));
  const std::size_t n = 2000;
  Doc d(podWithContainers(n, "ngrok/ngrok:3"));
  EvalInput in = input(d);
  // One look before the policy, about n / kDeadlineStride while parsing the images; the
  // deadline passes a few looks into the image rule.
  in.deadline = CountingClock::deadline(static_cast<int>(1 + n / kDeadlineStride + 3));
  const Verdict v = ps->evaluate(in);
  CHECK(v.deadlineExceeded);
  CHECK_FALSE(v.allowed);
  CHECK(v.violations.size() > 0);
  CHECK(v.violations.size() < n);
  in.deadline = CountingClock::deadline(0);
  const Verdict all = ps->evaluate(in);
  CHECK_FALSE(all.deadlineExceeded);
  CHECK(all.violations.size() == n);
}

// With the default work between looks, an ordinary review costs one clock read, the first look,
// however many policies judge it; a pod of 2,000 containers under the same policies is looked
// at many times while it is judged.
TEST_CASE("Engine.AnOrdinaryReviewReadsTheClockOnce", "[engine][deadline]") {
  auto ps = policies(imagePolicy("  deniedImages: {defaults: true}\n") + "---\n" +
                     deploymentPolicy("  podSecurity: {level: restricted, version: latest}\n"
                                      "  readOnlyRootFilesystem: {required: true}\n") +
                     "---\n" + imagePolicy("  tags: {requireDigest: true}\n", "digests"));
  const std::size_t workPerLook = Deadline{}.workPerLook;
  Doc small(podWithImage("ngrok/ngrok:3"));
  EvalInput in = input(small);
  in.deadline = CountingClock::deadline(0, workPerLook);
  const Verdict v = ps->evaluate(in);
  CHECK_FALSE(v.deadlineExceeded);
  CHECK(hasRule(v, "image.denied"));
  CHECK(CountingClock::reads == 1);
  Doc large(podWithContainers(2000, "ngrok/ngrok:3"));
  in = input(large);
  in.deadline = CountingClock::deadline(0, workPerLook);
  CHECK_FALSE(ps->evaluate(in).deadlineExceeded);
  INFO(CountingClock::reads << " reads");
  CHECK(CountingClock::reads >= 5);
}

// A Service judged by DeploymentPolicies with spec.services stops the same way.
TEST_CASE("Engine.AServiceReviewStopsAtAPassedDeadline", "[engine][deadline]") {
  auto ps = policies(deploymentPolicy("  services: {allowedTypes: [ClusterIP]}\n"));
  Doc d("kind: Service\nmetadata: {name: s, namespace: apps}\nspec: {type: NodePort}\n");
  EvalInput in = input(d);
  in.kind = "Service";
  in.deadline = CountingClock::deadline(1);
  CHECK(ps->evaluate(in).deadlineExceeded);
  in.deadline = CountingClock::deadline(0);
  const Verdict v = ps->evaluate(in);
  CHECK_FALSE(v.deadlineExceeded);
  CHECK(hasRule(v, "service.typeNotAllowed"));
}

}  // namespace
}  // namespace kc::policy
