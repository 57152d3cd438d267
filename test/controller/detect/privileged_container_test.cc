// Tests of the privileged-container rule, in every pod-carrying kind and container list.
#include <catch2/catch.hpp>

#include "controller/detect/detections.h"
#include "test/controller/detect/detect_test_util.h"

namespace kc::audit {
namespace {

using namespace detect_test;

TEST_CASE("PrivilegedInitContainerIsJudgedInEveryPodCarryingKind", "[detections]") {
  for (const auto& k : kPodCarryingKinds) {
    INFO(k.kind);
    Detector d(DetectorOptions{});
    const std::string name = "web-" + k.resource.substr(0, k.resource.size() - 1);
    const std::string uid = "uid-" + k.resource;
    const std::string restart = k.kind == "Job" || k.kind == "CronJob" ? "OnFailure" : "Always";
    const Ev e = createEvent(k, "shop", name, uid, initEscapeSpec(restart), "mallory@example.com");
    const auto fs = feed(d, e.str());

    std::vector<std::string> want = {"privileged-container", "sensitive-host-path",
                                     "dangerous-capability"};
    if (k.kind == "DaemonSet") want.push_back("daemonset-created");
    if (k.kind == "CronJob") want.push_back("cronjob-created");
    if (k.kind == "Job") want.push_back("job-created");
    CHECK(rules(fs) == want);
    for (const auto& f : fs) {
      INFO(f.rule);
      CHECK(f.kind == k.kind);
      CHECK(f.resource == k.resource);
      CHECK(f.namespace_ == "shop");
      CHECK(f.name == name);
      CHECK(f.user == "mallory@example.com");
      CHECK(f.requestUser.empty());
      CHECK(f.auditID == "a-create-" + k.resource);
      CHECK(f.verb == "create");
      CHECK(f.images == std::vector<std::string>{"docker.io/library/busybox:1.36",
                                                 "registry.example.com/shop/web:1.4.2"});
    }

    const Finding* priv = rule(fs, "privileged-container");
    REQUIRE(priv != nullptr);
    CHECK(priv->containers == std::vector<std::string>{"init-setup"});  // not the app container
    CHECK(priv->severity == Severity::kHigh);
    CHECK(priv->technique == "T1611");
    CHECK(priv->details.at("what") == "init-setup");
    CHECK(priv->summary == k.kind + " shop/" + name + " runs privileged container(s): init-setup");

    const Finding* hp = rule(fs, "sensitive-host-path");
    REQUIRE(hp != nullptr);
    CHECK(hp->severity == Severity::kCritical);
    CHECK(hp->details.at("what") == "/var/run/containerd/containerd.sock");
    CHECK(hp->containers.empty());

    const Finding* cap = rule(fs, "dangerous-capability");
    REQUIRE(cap != nullptr);
    CHECK(cap->severity == Severity::kCritical);
    CHECK(cap->containers == std::vector<std::string>{"app"});
    CHECK(cap->details.at("what") == "app +SYS_ADMIN");

    // The JSON sent out names the init container and the object.
    const json j = toJson(*priv);
    CHECK(j["container"] == "init-setup");
    CHECK(j["kind"] == k.kind);
    CHECK(j["name"] == name);
    CHECK(j["namespace"] == "shop");

    // The object is remembered: the same spec admitted again (an update by the same person) is
    // not reported again.
    Ev u = e;
    u.auditID = "a-update-" + k.resource;
    u.verb = "update";
    u.code = 200;
    u.requestObject = u.responseObject;
    CHECK(rules(feed(d, u.str())).empty());
  }
}

// `kubectl run` of a privileged pod is high; the look-alikes that are not privileged (privileged
// false with privilege escalation allowed, root user) are not reported; a Windows hostProcess
// container is privileged too; the identity that deploys a monitoring agent can be trusted.
TEST_CASE("PrivilegedContainerAndItsLookAlikes", "[detections]") {
  auto create = [](Detector& d, const std::string& name, const std::string& user, json container,
                   json extraSpec = json::object()) {
    json p = pod("monitoring", name, "uid-" + name, "docker.io/library/busybox:1.36", nullptr,
                 extraSpec, container);
    Ev e;
    e.auditID = "a-" + name;
    e.uri = "/api/v1/namespaces/monitoring/pods?fieldManager=kubectl-run";
    e.user = user;
    e.resource = "pods";
    e.ns = "monitoring";
    e.name = name;
    e.requestObject = p;
    e.responseObject = p;
    return feed(d, e.str());
  };
  Detector d(DetectorOptions{});
  auto fs = create(d, "shell", "bob@example.com", {{"securityContext", {{"privileged", true}}}});
  REQUIRE(rules(fs) == std::vector<std::string>{"privileged-container"});
  CHECK(fs[0].severity == Severity::kHigh);
  CHECK(fs[0].technique == "T1611");
  CHECK(fs[0].user == "bob@example.com");
  CHECK(fs[0].containers == std::vector<std::string>{"app"});
  CHECK(fs[0].summary == "Pod monitoring/shell runs privileged container(s): app");

  CHECK(create(d, "escalating", "bob@example.com",
               {{"securityContext", {{"privileged", false}, {"allowPrivilegeEscalation", true}}}})
            .empty());
  CHECK(create(d, "rooted", "bob@example.com",
               {{"securityContext", {{"runAsUser", 0}, {"runAsNonRoot", false}}}})
            .empty());

  fs = create(d, "win-agent", "bob@example.com",
              {{"securityContext", {{"windowsOptions", {{"hostProcess", true}}}}}},
              {{"nodeSelector", {{"kubernetes.io/os", "windows"}}}});
  REQUIRE(rule(fs, "privileged-container") != nullptr);
  CHECK(rule(fs, "privileged-container")->severity == Severity::kHigh);

  // The identity that deploys the agent, trusted: its privileged DaemonSet is not reported (it
  // is still judged: it is a new DaemonSet), another identity's is.
  DetectorOptions o;
  o.trustedIdentities["privileged-container"] = {"system:serviceaccount:flux-system:*"};
  Detector trusting(o);
  const json spec = podTemplateSpec("quay.io/prometheus/node-exporter:v1.8.1", json::object(),
                                    {{"securityContext", {{"privileged", true}}}});
  fs = feed(trusting, createEvent(kPodCarryingKinds[4], "monitoring", "node-exporter", "uid-ne",
                                  spec, "system:serviceaccount:flux-system:kustomize-controller")
                          .str());
  CHECK(rules(fs) == std::vector<std::string>{"daemonset-created"});
  fs = feed(trusting, createEvent(kPodCarryingKinds[4], "monitoring", "node-exporter-2", "uid-ne-2",
                                  spec, "alice@example.com")
                          .str());
  CHECK(rules(fs) == std::vector<std::string>{"privileged-container", "daemonset-created"});
}

}  // namespace
}  // namespace kc::audit
