// The node door's rules on containers as the runtimes describe them: "container-outside-kubernetes"
// (a container beside the kubelet, unless allow-listed), "policy-violation" (the admission
// policies applied to the container as a pod) and "container-exec" (a command run through the
// runtime, scored like a pod exec). Pure functions: no daemon here; test/node/
// node_service_dockerd_test.cc runs them against a real dockerd.

#include "node/node_rules.h"

#include <catch2/catch.hpp>

#include "test/node/node_test_policies.h"

namespace {

using kc::audit::Finding;
using kc::audit::Severity;
using kc::node::Container;
using kc::node::ExecSeen;
using kc::node::NodeRuleOptions;
using kc::node::OutsideAllowList;

const kc::policy::PolicySet* builtIn() { return kc::testing::builtInPolicies().get(); }

const auto kNow = std::chrono::system_clock::time_point(std::chrono::seconds(1'796'000'000));

Container outside(std::string name, std::string image) {
  Container c;
  c.runtime = kc::node::Runtime::kDocker;
  c.id = "52ab989d4bd966450a58291d8d1ae6538d9c3606a48d9c0ac408cffff524ad01";
  c.name = std::move(name);
  c.image = std::move(image);
  c.command = {"ngrok", "tcp", "22"};
  c.startedAt = "2026-12-07T20:00:00.123456789Z";
  return c;
}

Container kubelets(Container c, bool sandbox = false) {
  c.labels = {{"io.kubernetes.container.name", sandbox ? "POD" : "app"},
              {"io.kubernetes.pod.name", "web-7d4b9"},
              {"io.kubernetes.pod.namespace", "shop"}};
  if (sandbox) c.labels.push_back({"io.kubernetes.docker.type", "podsandbox"});
  std::sort(c.labels.begin(), c.labels.end());
  return c;
}

NodeRuleOptions options(std::vector<std::string> allowed = {}) {
  NodeRuleOptions o;
  o.nodeName = "worker-1";
  std::string error;
  REQUIRE(OutsideAllowList::parse(allowed, o.allowed, error));
  return o;
}

const Finding* rule(const std::vector<Finding>& fs, const std::string& id) {
  for (const auto& f : fs)
    if (f.rule == id) return &f;
  return nullptr;
}

TEST_CASE("ATunnelStartedBesideTheKubeletIsOutsideKubernetesAndDenied", "[node][rules]") {
  const auto fs =
      kc::node::judgeContainer(outside("tunnel", "ngrok/ngrok:latest"), builtIn(), options(), kNow);
  const Finding* f = rule(fs, "container-outside-kubernetes");
  REQUIRE(f != nullptr);
  CHECK(f->severity == Severity::kHigh);
  CHECK(f->technique == "T1610");
  CHECK(f->techniqueName == "Deploy Container");
  CHECK(f->runtime == "docker");
  CHECK(f->node == "worker-1");
  CHECK(f->containerName == "tunnel");
  CHECK(f->image == "ngrok/ngrok:latest");
  CHECK(f->kind == "Container");
  CHECK(f->namespace_.empty());
  CHECK(f->command == "ngrok tcp 22");
  CHECK(f->details.at("startedAt") == "2026-12-07T20:00:00.123456789Z");
  CHECK(f->summary ==
        "container tunnel (ngrok/ngrok:latest) started on node worker-1 outside Kubernetes: "
        "`ngrok tcp 22`");
  CHECK(f->timeMicros == 1'796'000'000'000'000);

  const Finding* p = rule(fs, "policy-violation");
  REQUIRE(p != nullptr);
  CHECK(p->severity == Severity::kHigh);
  CHECK(p->details.at("rules").find("image.denied") != std::string::npos);
  CHECK(p->details.at("judgedNamespace") == "<node>");
  CHECK(p->summary.find("where no admission webhook sees it") != std::string::npos);
  REQUIRE_FALSE(p->violations.empty());
  CHECK(p->violations[0].rfind("[", 0) == 0);
}

TEST_CASE("AllowListedContainersAreNotOutsideButStillJudgedByThePolicies", "[node][rules]") {
  Container priv = outside("node-exporter", "quay.io/prometheus/node-exporter:v1.8.2");
  priv.privileged = true;
  priv.binds = {{"/", "/host", true}};
  priv.labels = {{"owner", "platform"}};
  for (const std::string entry : {"quay.io/prometheus/node-exporter", "image:quay.io/prometheus/*",
                                  "name:node-*", "label:owner=plat*"}) {
    INFO(entry);
    const auto fs = kc::node::judgeContainer(priv, builtIn(), options({entry}), kNow);
    CHECK(rule(fs, "container-outside-kubernetes") == nullptr);
    const Finding* p = rule(fs, "policy-violation");
    REQUIRE(p != nullptr);
    CHECK(p->details.at("allowedOutsideKubernetesBy") == entry);
    CHECK(p->details.at("rules").find("pss.privileged") != std::string::npos);
  }
  // Entries that do not match.
  for (const std::string entry :
       {"quay.io/prometheus/node", "name:exporter", "label:owner=app", "label:team=platform"}) {
    INFO(entry);
    const auto fs = kc::node::judgeContainer(priv, builtIn(), options({entry}), kNow);
    CHECK(rule(fs, "container-outside-kubernetes") != nullptr);
  }
}

TEST_CASE("AllowListEntriesThatCannotBeReadAreRefusedByName", "[node][rules]") {
  for (const std::string entry : {"name:", "label:=x", "label:nokey", "image:Acme/Miner", ""}) {
    INFO(entry);
    OutsideAllowList list;
    std::string error;
    CHECK_FALSE(OutsideAllowList::parse({entry}, list, error));
    CHECK(error.find("node.allowedOutsideKubernetes entry \"" + entry + "\"") == 0);
  }
}

TEST_CASE("TheKubeletsContainersAreReCheckedAndTheirSandboxesLeftAlone", "[node][rules]") {
  Container app = kubelets(outside("k8s_app_web", "ngrok/ngrok:latest"));
  auto fs = kc::node::judgeContainer(app, builtIn(), options(), kNow);
  CHECK(rule(fs, "container-outside-kubernetes") == nullptr);
  const Finding* p = rule(fs, "policy-violation");
  REQUIRE(p != nullptr);
  CHECK(p->kind == "Pod");
  CHECK(p->namespace_ == "shop");
  CHECK(p->name == "web-7d4b9");
  CHECK(p->containers == std::vector<std::string>{"app"});
  CHECK(p->summary.find("failed open") != std::string::npos);

  NodeRuleOptions noRecheck = options();
  noRecheck.recheckKubernetes = false;
  CHECK(kc::node::judgeContainer(app, builtIn(), noRecheck, kNow).empty());

  Container sandbox = kubelets(outside("k8s_POD_web", "registry.k8s.io/pause:3.9"), true);
  sandbox.hostNetwork = true;
  CHECK(kc::node::judgeContainer(sandbox, builtIn(), options(), kNow).empty());
}

TEST_CASE("AContainerGoneBeforeInspectionIsJudgedFromItsEvent", "[node][rules]") {
  Container c = outside("quick", "ngrok/ngrok:latest");
  c.command.clear();
  c.startedAt.clear();
  const auto fs = kc::node::judgeContainer(c, builtIn(), options(), kNow, true);
  const Finding* f = rule(fs, "container-outside-kubernetes");
  REQUIRE(f != nullptr);
  CHECK(f->details.at("inspected").rfind("false", 0) == 0);
  const Finding* p = rule(fs, "policy-violation");
  REQUIRE(p != nullptr);  // the image alone is enough to deny it
  CHECK(p->details.at("inspected").rfind("false", 0) == 0);
  // No policies: only the outside finding.
  CHECK(kc::node::judgeContainer(c, nullptr, options(), kNow, true).size() == 1);
}

TEST_CASE("ExecsAreScoredLikePodExecs", "[node][rules]") {
  const Container out = outside("tools", "registry.example.com/tools:1");
  const Container pod = kubelets(outside("k8s_app_web", "registry.example.com/web:1"));

  SECTION("a token read is high wherever it runs") {
    for (const Container* c : {&out, &pod}) {
      auto f = kc::node::judgeExec(
          *c,
          ExecSeen{{"cat", "/var/run/secrets/kubernetes.io/serviceaccount/token"}, "", false, "e1"},
          options(), kNow);
      REQUIRE(f);
      CHECK(f->rule == "container-exec");
      CHECK(f->technique == "T1609");
      CHECK(f->severity == Severity::kHigh);
      REQUIRE_FALSE(f->indicators.empty());
      CHECK(f->indicators[0].rfind("sa_token_read (T1528): ", 0) == 0);
      CHECK(f->details.at("execID") == "e1");
      CHECK(f->summary.find("[sa_token_read]") != std::string::npos);
    }
  }
  SECTION("a plain command: low outside Kubernetes, not reported in the kubelet's containers") {
    auto f = kc::node::judgeExec(out, ExecSeen{{"ls", "/"}, "", false, ""}, options(), kNow);
    REQUIRE(f);
    CHECK(f->severity == Severity::kLow);
    CHECK(f->summary ==
          "`ls /` run in container tools (registry.example.com/tools:1) on node "
          "worker-1, outside Kubernetes");
    CHECK_FALSE(kc::node::judgeExec(pod, ExecSeen{{"cat", "/tmp/healthy"}, "", false, ""},
                                    options(), kNow));
  }
  SECTION("a privileged exec is medium at least") {
    auto f = kc::node::judgeExec(out, ExecSeen{{"id"}, "0", true, ""}, options(), kNow);
    REQUIRE(f);
    CHECK(f->severity == Severity::kMedium);
    CHECK(f->details.at("privileged") == "true");
    CHECK(f->details.at("user") == "0");
  }
}

}  // namespace
