#include "policies/loader.h"

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace kc::policy {
namespace {

LoadResult load(std::string text, std::string name = "p.yaml") {
  return loadPolicies({PolicyFile{std::move(name), std::move(text)}});
}

std::string firstError(const LoadResult& r) {
  REQUIRE_FALSE(r.errors.empty());
  return r.errors.front().toString();
}

TEST_CASE("Loader.LoadsBothKindsFromOneFile", "[loader]") {
  auto r = load(R"(
apiVersion: policy.kube-customs.io/v1alpha1
kind: ImagePolicy
metadata: {name: images}
spec:
  mode: warn
  namespaceModes: {prod: enforce}
  allowedImages: [ghcr.io/acme, registry.k8s.io]
  deniedImages: {defaults: true, images: ["**/netcat"]}
  tags: {disallowLatest: true, requireTag: true, requireDigest: false}
  exemptions: {namespaces: [kube-system], images: [registry.k8s.io/pause]}
  exceptions:
  - rule: image.latestTag
    namespace: dev
    container: app
    owner: team-a@example.com
    reason: migrating to versioned tags
    expires: 2027-01-31
---
apiVersion: policy.kube-customs.io/v1alpha1
kind: DeploymentPolicy
metadata: {name: deploy}
spec:
  podSecurity: {level: restricted, version: v1.30}
  systemNamespaces: {}
  serviceAccounts: {allowed: [default, "ci/deployer"]}
  hostPaths: {allowedPrefixes: [/var/log]}
)");
  INFO((r.errors.empty() ? std::string() : r.errors[0].toString()));
  REQUIRE(r.ok());
  const auto& ps = r.policies->policies();
  REQUIRE(ps.size() == 2);
  const Policy& img = ps[0];
  CHECK(img.kind == PolicyKind::kImage);
  CHECK(img.mode == Mode::kWarn);
  CHECK(img.modeFor("prod") == Mode::kEnforce);
  CHECK(img.modeFor("dev") == Mode::kWarn);
  CHECK(img.images.allowed.size() == 2);
  CHECK(img.images.denied.size() > 20);
  CHECK(img.images.disallowLatestTag);
  CHECK(img.images.requireTag);
  CHECK_FALSE(img.images.requireDigest);
  REQUIRE(img.exceptions.size() == 1);
  CHECK(img.exceptions[0].expires ==
        Seconds{std::chrono::sys_days{std::chrono::year{2027} / 1 / 31}});
  CHECK(img.exceptions[0].source.line == 13);
  const Policy& dep = ps[1];
  CHECK(dep.kind == PolicyKind::kDeployment);
  REQUIRE(dep.deployment.podSecurity.has_value());
  CHECK(dep.deployment.podSecurity->toString() == "restricted:v1.30");
  CHECK(dep.deployment.systemNamespaces.enabled);
  CHECK(dep.deployment.systemNamespaces.namespaces.size() == 3);
  CHECK(dep.deployment.allowedServiceAccounts.size() == 2);
  // hostPaths with restricted PSS: legal but mostly moot, so a warning.
  REQUIRE(r.warnings.size() == 1);
  CHECK(r.warnings[0].field == "spec.hostPaths");
}

TEST_CASE("Loader.RejectsUnknownFieldWithFileLineAndField", "[loader]") {
  auto r = load(R"(apiVersion: policy.kube-customs.io/v1alpha1
kind: ImagePolicy
metadata: {name: images}
spec:
  tags:
    disalowLatest: true
)",
                "policies/images.yaml");
  CHECK_FALSE(r.ok());
  CHECK(r.policies == nullptr);
  CHECK(firstError(r).rfind("policies/images.yaml:6:5: spec.tags.disalowLatest: unknown field",
                            0) == 0);
}

TEST_CASE("Loader.RejectsWrongTypes", "[loader]") {
  auto r = load(R"(apiVersion: policy.kube-customs.io/v1alpha1
kind: ImagePolicy
metadata: {name: images}
spec:
  tags: {disallowLatest: "yes"}
  allowedImages: ghcr.io
)");
  REQUIRE(r.errors.size() == 2);
  CHECK(r.errors[0].field == "spec.tags.disallowLatest");
  CHECK(r.errors[0].message == "must be true or false");
  CHECK(r.errors[1].field == "spec.allowedImages");
  CHECK(r.errors[1].line == 6);
}

TEST_CASE("Loader.RejectsInvalidGlobsAndModes", "[loader]") {
  auto r = load(R"(apiVersion: policy.kube-customs.io/v1alpha1
kind: ImagePolicy
metadata: {name: images}
spec:
  mode: block
  allowedImages: ["nginx:latest", "a//b"]
)");
  REQUIRE(r.errors.size() == 3);
  CHECK(r.errors[0].message.find("invalid mode \"block\"") != std::string::npos);
  CHECK(r.errors[1].field == "spec.allowedImages[0]");
  CHECK(r.errors[1].message.find("tag") != std::string::npos);
  CHECK(r.errors[2].field == "spec.allowedImages[1]");
}

TEST_CASE("Loader.RejectsConflictingSettings", "[loader]") {
  auto r = load(R"(apiVersion: policy.kube-customs.io/v1alpha1
kind: ImagePolicy
metadata: {name: images}
spec:
  namespaceModes: {dev: warn}
  allowedImages: [docker.io/acme/tool]
  deniedImages: {images: [acme/tool]}
  exemptions: {namespaces: [dev]}
)");
  REQUIRE(r.errors.size() == 2);
  // Reported top to bottom: namespaceModes (line 5) before allowedImages (line 6).
  CHECK(r.errors[0].message.find("both exempted and given a mode") != std::string::npos);
  CHECK(r.errors[1].message == "pattern \"acme/tool\" is both allowed and denied");
  CHECK(r.errors[1].line == 6);
}

TEST_CASE("Loader.RejectsUpperCaseRepositoryPatternsNamingThem", "[loader]") {
  // Repository names are lower case: these patterns used to load and never match, so the
  // images they were meant to deny (acme/miner:1, x/evil:1, acme/tool:1) were admitted.
  auto r = load(R"(apiVersion: policy.kube-customs.io/v1alpha1
kind: ImagePolicy
metadata: {name: images}
spec:
  deniedImages:
    images: ["Acme/Miner", "**/Evil", "docker.io/Acme/tool", "GHCR.IO/evil"]
  exemptions: {images: [Team/App]}
)");
  REQUIRE(r.errors.size() == 4);
  CHECK_FALSE(r.ok());
  const char* fields[] = {"spec.exemptions.images[0]", "spec.deniedImages.images[0]",
                          "spec.deniedImages.images[1]", "spec.deniedImages.images[2]"};
  const char* patterns[] = {"Team/App", "Acme/Miner", "**/Evil", "docker.io/Acme/tool"};
  int matched = 0;
  for (const auto& e : r.errors) {
    INFO(e.toString());
    CHECK(e.message.find("invalid image pattern: image pattern \"") == 0);
    CHECK(e.message.find("lower case") != std::string::npos);
    for (size_t i = 0; i < 4; ++i) {
      if (e.field == fields[i] &&
          e.message.find("\"" + std::string(patterns[i]) + "\"") != std::string::npos) {
        ++matched;
      }
    }
  }
  CHECK(matched == 4);
  CHECK(firstError(r).find("p.yaml:") == 0);
  // An upper-case registry host is fine: host names are case-insensitive.
  auto ok = load(R"(apiVersion: policy.kube-customs.io/v1alpha1
kind: ImagePolicy
metadata: {name: images}
spec:
  deniedImages: {images: ["GHCR.IO/evil", "Docker.IO/acme/tool", "LOCALHOST:5000/x"]}
)");
  INFO((ok.errors.empty() ? std::string() : ok.errors[0].toString()));
  CHECK(ok.ok());
}

TEST_CASE("Loader.ComparesAllowedAndDeniedRegistriesWithoutPort443", "[loader]") {
  auto r = load(R"(apiVersion: policy.kube-customs.io/v1alpha1
kind: ImagePolicy
metadata: {name: images}
spec:
  allowedImages: [ghcr.io/acme, registry.k8s.io]
  deniedImages: {images: ["GHCR.IO:443/acme", "registry.k8s.io:5000"]}
)");
  REQUIRE(r.errors.size() == 1);
  CHECK(r.errors[0].field == "spec.allowedImages[0]");
  CHECK(r.errors[0].message == "pattern \"GHCR.IO:443/acme\" is both allowed and denied");
}

TEST_CASE("Loader.RequiresOwnerReasonAndValidExpiryOnExceptions", "[loader]") {
  auto r = load(R"(apiVersion: policy.kube-customs.io/v1alpha1
kind: DeploymentPolicy
metadata: {name: d}
spec:
  podSecurity: {level: baseline}
  exceptions:
  - rule: pss.privileged
    reason: node agent
    expires: 2026-12-31
  - rule: pss.nope
    owner: a
    reason: b
    expires: 2026-02-30
)");
  REQUIRE(r.errors.size() == 3);
  CHECK(r.errors[0].field == "spec.exceptions[0].owner");
  CHECK(r.errors[1].message == "unknown rule \"pss.nope\"");
  CHECK(r.errors[2].field == "spec.exceptions[1].expires");
}

TEST_CASE("Loader.ReportsSyntaxErrorsAndBadHeaders", "[loader]") {
  auto syntax = load("apiVersion: [\n", "broken.yaml");
  CHECK(firstError(syntax).rfind("broken.yaml:", 0) == 0);
  CHECK(firstError(syntax).find("invalid YAML") != std::string::npos);
  auto header = load("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\nspec: {}\n");
  REQUIRE(header.errors.size() == 2);
  CHECK(header.errors[0].field == "apiVersion");
  CHECK(header.errors[1].field == "kind");
  auto version = load(R"(apiVersion: policy.kube-customs.io/v1alpha1
kind: DeploymentPolicy
metadata: {name: d}
spec:
  podSecurity: {level: baseline, version: "1.30"}
)");
  REQUIRE(version.errors.size() == 1);
  CHECK(version.errors[0].field == "spec.podSecurity.version");
  CHECK(version.errors[0].line == 5);
}

TEST_CASE("Loader.RejectsDuplicateNamesAcrossFiles", "[loader]") {
  std::string doc =
      "apiVersion: policy.kube-customs.io/v1alpha1\nkind: ImagePolicy\nmetadata: {name: same}\n"
      "spec: {tags: {requireTag: true}}\n";
  auto r = loadPolicies({{"a.yaml", doc}, {"b.yaml", doc}});
  REQUIRE(r.errors.size() == 1);
  CHECK(r.errors[0].toString() == "b.yaml:1:1: metadata.name: duplicate policy name \"same\"");
}

TEST_CASE("Loader.RejectsRelativeHostPathPrefixes", "[loader]") {
  auto r = load(R"(apiVersion: policy.kube-customs.io/v1alpha1
kind: DeploymentPolicy
metadata: {name: d}
spec:
  hostPaths: {allowedPrefixes: [var/log, /data/../etc]}
)");
  REQUIRE(r.errors.size() == 2);
  CHECK(r.errors[0].field == "spec.hostPaths.allowedPrefixes[0]");
}

TEST_CASE("Loader.WarnsAboutPoliciesThatCheckNothing", "[loader]") {
  auto r = load(
      "apiVersion: policy.kube-customs.io/v1alpha1\nkind: ImagePolicy\nmetadata: {name: x}\nspec: "
      "{}\n");
  REQUIRE(r.ok());
  REQUIRE(r.warnings.size() == 1);
  CHECK(r.warnings[0].message.find("checks nothing") != std::string::npos);
}

TEST_CASE("Loader.NeverThrowsOnOddDocuments", "[loader]") {
  for (const char* text :
       {"- a\n- b\n", "just a string\n", "{}\n", "kind: [1]\n", "---\n---\n",
        "apiVersion: policy.kube-customs.io/v1alpha1\nkind: ImagePolicy\nmetadata: x\nspec: 3\n"}) {
    INFO(text);
    LoadResult r;
    REQUIRE_NOTHROW(r = load(text));
  }
  CHECK(load("---\n---\n").ok());
}

}  // namespace
}  // namespace kc::policy

namespace kc::policy {
namespace {

TEST_CASE("Loader.DocsDescribeEveryRuleAndField", "[loader][docs]") {
  std::ifstream in(std::filesystem::path(KC_SOURCE_DIR) / "docs" / "policies.md");
  REQUIRE(in.good());
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string doc = ss.str();
  for (const auto& rule : knownRuleIds()) {
    INFO(rule);
    CHECK(doc.find("`" + rule + "`") != std::string::npos);
  }
  for (const char* field : {"spec.mode",
                            "spec.namespaceModes",
                            "spec.enforceTemplates",
                            "spec.exemptions.namespaces",
                            "spec.exemptions.usernames",
                            "spec.exemptions.groups",
                            "spec.exemptions.serviceAccounts",
                            "spec.exemptions.runtimeClasses",
                            "spec.exemptions.images",
                            "spec.exceptions",
                            "spec.allowedImages",
                            "spec.deniedImages.defaults",
                            "spec.deniedImages.images",
                            "spec.tags.disallowLatest",
                            "spec.tags.requireTag",
                            "spec.tags.requireDigest",
                            "spec.podConnect.allowedUsernames",
                            "spec.podConnect.allowedGroups",
                            "spec.services.allowedTypes",
                            "spec.services.allowedExternalIPs",
                            "spec.services.allowedPorts",
                            "spec.services.allowedNodePorts",
                            "spec.services.denyInternalExternalNames",
                            "spec.podSecurity.level",
                            "spec.podSecurity.version",
                            "spec.systemNamespaces.enabled",
                            "spec.systemNamespaces.namespaces",
                            "spec.systemNamespaces.allowedUsernames",
                            "spec.systemNamespaces.allowedGroups",
                            "spec.serviceAccounts.allowed",
                            "spec.hostPaths.allowedPrefixes",
                            "spec.hostPaths.denyRuntimeSockets",
                            "spec.readOnlyRootFilesystem.required",
                            "spec.imagePullPolicy.requireAlways",
                            "spec.ephemeralContainers.allowed",
                            "spec.capabilities.requiredDrop",
                            "spec.capabilities.allowedAdd",
                            "spec.hostPorts.allowed",
                            "spec.sysctls.allowed",
                            "spec.sysctls.forbidden",
                            "spec.runAsUser",
                            "spec.runAsGroup",
                            "spec.fsGroup",
                            "spec.supplementalGroups",
                            "spec.seccomp.allowedLocalhostProfiles",
                            "spec.appArmor.allowedLocalhostProfiles",
                            "spec.flexVolumes.allowedDrivers"}) {
    INFO(field);
    CHECK(doc.find(std::string("`") + field) != std::string::npos);
  }
}

}  // namespace
}  // namespace kc::policy

namespace kc::policy {
namespace {

TEST_CASE("Loader.RejectsRecursiveAliasesWithLine", "[loader]") {
  auto r = loadPolicies({{"evil.yaml",
                          "apiVersion: policy.kube-customs.io/v1alpha1\nkind: ImagePolicy\n"
                          "metadata: {name: x}\nspec:\n  allowedImages: &l [a, *l]\n"}});
  REQUIRE(r.errors.size() == 1);
  CHECK(r.errors[0].line == 5);
  CHECK(r.errors[0].message.find("recursive alias") != std::string::npos);
}

TEST_CASE("Loader.ReadsServiceRules", "[loader][services]") {
  auto r = load(R"(apiVersion: policy.kube-customs.io/v1alpha1
kind: DeploymentPolicy
metadata: {name: exposure}
spec:
  services:
    allowedTypes: [ClusterIP, LoadBalancer]
    allowedExternalIPs: ["10.0.0.0/8", "2001:db8::/32", 192.0.2.7]
)");
  INFO((r.errors.empty() ? std::string() : r.errors[0].toString()));
  REQUIRE(r.ok());
  CHECK(r.warnings.empty());  // Service rules alone are something to check
  const auto& s = r.policies->policies()[0].deployment.services;
  REQUIRE(s.allowedTypes.has_value());
  CHECK(*s.allowedTypes == std::vector<std::string>{"ClusterIP", "LoadBalancer"});
  REQUIRE(s.allowedExternalIPs.has_value());
  REQUIRE(s.allowedExternalIPs->size() == 3);
  CHECK((*s.allowedExternalIPs)[1].family == 6);
  CHECK((*s.allowedExternalIPs)[2].prefixBits == 32);
  CHECK((*s.allowedExternalIPs)[2].text == "192.0.2.7");
}

TEST_CASE("Loader.RefusesUnknownServiceTypesAndBadAddresses", "[loader][services]") {
  auto r = load(R"(apiVersion: policy.kube-customs.io/v1alpha1
kind: DeploymentPolicy
metadata: {name: exposure}
spec:
  services:
    allowedTypes: [ClusterIP, Nodeport]
    allowedExternalIPs: ["10.0.0.0/33", 10.0.0.1, "not-an-ip"]
)");
  CHECK_FALSE(r.ok());
  REQUIRE(r.errors.size() == 3);
  CHECK(r.errors[0].field == "spec.services.allowedTypes[1]");
  CHECK(r.errors[0].line == 6);
  CHECK(r.errors[0].message.find("\"Nodeport\" is not a Service type") == 0);
  CHECK(r.errors[1].field == "spec.services.allowedExternalIPs[0]");
  CHECK(r.errors[2].field == "spec.services.allowedExternalIPs[2]");
  CHECK(r.errors[2].message.find("is not an IP address or CIDR block") != std::string::npos);

  auto unknown = load(R"(apiVersion: policy.kube-customs.io/v1alpha1
kind: DeploymentPolicy
metadata: {name: exposure}
spec:
  services: {allowedProtocols: [TCP]}
)");
  CHECK_FALSE(unknown.ok());
  REQUIRE_FALSE(unknown.errors.empty());
  CHECK(unknown.errors[0].message.find("allowedProtocols") != std::string::npos);

  auto empty = load(R"(apiVersion: policy.kube-customs.io/v1alpha1
kind: DeploymentPolicy
metadata: {name: exposure}
spec:
  services: {}
)");
  REQUIRE(empty.ok());
  REQUIRE(empty.warnings.size() == 2);
  CHECK(empty.warnings[0].field == "spec.services");
  CHECK(empty.warnings[1].message.find("checks nothing") != std::string::npos);
}

// Every policy document shown in docs/policies.md loads without errors or warnings.
TEST_CASE("Loader.DocsPolicyExamplesLoad", "[loader][docs]") {
  std::ifstream in(std::filesystem::path(KC_SOURCE_DIR) / "docs" / "policies.md");
  REQUIRE(in.good());
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string doc = ss.str();
  size_t examples = 0;
  for (size_t at = doc.find("```yaml\n"); at != std::string::npos;
       at = doc.find("```yaml\n", at + 1)) {
    const size_t start = at + 8;
    const size_t end = doc.find("```", start);
    REQUIRE(end != std::string::npos);
    const std::string block = doc.substr(start, end - start);
    if (block.rfind("apiVersion: policy.kube-customs.io/v1alpha1\n", 0) != 0) continue;
    INFO(block);
    auto r = loadPolicies({{"policies.md", block}});
    CHECK(r.errors.empty());
    CHECK(r.warnings.empty());
    ++examples;
  }
  CHECK(examples >= 1);
}

}  // namespace
}  // namespace kc::policy
