// The node door's service against a real containerd of the test's own: a miner started with
// `ctr run` is found outside Kubernetes and denied by the image policy, an exec into it that
// reads the service-account token is scored from the command line in /proc, a container the
// kubelet's CRI plugin would have made (namespace k8s.io, its labels) is not reported as
// outside, and after containerd restarts the watcher reconnects and reports nothing twice.

#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <filesystem>
#include <thread>

#include "controller/detect/finding.h"
#include "node/node_service.h"
#include "test/controller/series_value.h"
#include "test/node/collected_findings.h"
#include "test/node/containerd_fixture.h"
#include "test/node/node_test_policies.h"

namespace {

using kc::audit::Finding;
using kc::node::NodeService;
using kc::node::NodeServiceOptions;
using kc::node::Runtime;
using kc::node::RuntimeState;
using kc::testing::PrivateContainerd;
using namespace std::chrono_literals;

struct Agent {
  kc::testing::CollectedFindings collected;
  prometheus::Registry registry;
  std::unique_ptr<NodeService> service;

  explicit Agent(const PrivateContainerd& d) {
    NodeServiceOptions o;
    o.rules.nodeName = "worker-2";
    o.policies = [p = kc::testing::builtInPolicies()] { return p; };
    o.containerdSocket = d.socket();
    o.judgedJournal = d.dir() + "/node-judged.journal";
    o.onFinding = collected.sink();
    service = std::make_unique<NodeService>(std::move(o), registry);
    std::string error;
    REQUIRE(service->start(error));
    const auto until = std::chrono::steady_clock::now() + 10s;
    while (!service->ready() && std::chrono::steady_clock::now() < until)
      std::this_thread::sleep_for(20ms);
    REQUIRE(service->ready());
  }
  // The findings of `rule` about container `id`, waiting up to `timeout` for one.
  std::vector<Finding> of(const std::string& rule, const std::string& id,
                          std::chrono::milliseconds timeout = 10s) {
    return collected.about(id, 1, timeout, rule);
  }
};

// The watcher subscribes before it takes the inventory and containerd does not acknowledge a
// subscription: a container started right after ready() is found either way, by the stream or
// by the inventory.
TEST_CASE("NodeDoorFindsAMinerStartedWithCtrAndScoresAnExecIntoIt", "[node][containerd]") {
  PRIVATE_CONTAINERD_OR_SKIP(d);
  d.ctrOk(std::string("image tag ") + PrivateContainerd::kImage + " docker.io/xmrig/xmrig:6");
  Agent agent(d);
  d.ctrOk("run -d --null-io docker.io/xmrig/xmrig:6 kc-miner sleep 600");

  const auto outside = agent.of("container-outside-kubernetes", "kc-miner");
  REQUIRE(outside.size() == 1);
  CHECK(outside[0].runtime == "containerd");
  CHECK(outside[0].image == "docker.io/xmrig/xmrig:6");
  CHECK(outside[0].details.at("runtimeNamespace") == d.ns());
  CHECK(outside[0].node == "worker-2");
  const auto policy = agent.of("policy-violation", "kc-miner");
  REQUIRE(policy.size() == 1);
  CHECK(policy[0].details.at("rules").find("image.denied") != std::string::npos);

  // The command line is read from /proc while the exec runs: the shell stays while its sleep
  // runs (a shell whose last command is the sleep would replace itself with it). Reading it is
  // a race by nature (docs/node.md): an exec whose process could not be read is reported
  // without its command, so the exec is tried again, at most three times.
  std::vector<Finding> exec;
  for (int attempt = 1; attempt <= 3; ++attempt) {
    const std::string execId = "kc-steal-" + std::to_string(attempt);
    d.ctrOk("task exec -d --fifo-dir " + d.fifoDir() + " --exec-id " + execId +
            " kc-miner sh -c 'sleep 3; cat "
            "/var/run/secrets/kubernetes.io/serviceaccount/token'");
    std::vector<Finding> all;
    for (int i = 0; i < 200; ++i) {
      all = agent.of("container-exec", "kc-miner", 0ms);
      if (std::any_of(all.begin(), all.end(),
                      [&](const Finding& f) { return f.details.at("execID") == execId; }))
        break;
      std::this_thread::sleep_for(50ms);
    }
    exec.clear();
    for (const auto& f : all)
      if (f.details.at("execID") == execId) exec.push_back(f);
    REQUIRE(exec.size() == 1);
    if (!exec[0].indicators.empty()) break;
    WARN("exec " << execId << " read as `" << exec[0].command << "`: trying again");
  }
  INFO("command: " << exec[0].command);
  CHECK(exec[0].severity >= kc::audit::Severity::kHigh);
  REQUIRE_FALSE(exec[0].indicators.empty());
  CHECK(exec[0].indicators[0].rfind("sa_token_read", 0) == 0);
  CHECK(kc::testing::seriesValue(agent.registry, "kube_customs_node_runtime_state",
                                 {{"runtime", "containerd"}, {"state", "connected"}}) == 1);

  // containerd restarted: the stream ends, the watcher reconnects and takes the inventory
  // again; the miner (its shim kept it running) is not reported twice.
  REQUIRE(d.restart());
  const auto until = std::chrono::steady_clock::now() + 20s;
  while (kc::testing::seriesValue(agent.registry, "kube_customs_node_runtime_reconnects_total",
                                  {{"runtime", "containerd"}}) < 1 &&
         std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(50ms);
  REQUIRE(agent.service->ready());
  d.ctrOk("run -d --null-io " + std::string(PrivateContainerd::kImage) +
          " kc-after-restart sleep 600");
  CHECK(agent.of("container-outside-kubernetes", "kc-after-restart").size() == 1);
  CHECK(agent.of("container-outside-kubernetes", "kc-miner", 0ms).size() == 1);
  d.ctrOk("task kill -s KILL kc-miner");
  d.ctrOk("task kill -s KILL kc-after-restart");
}

TEST_CASE("NodeDoorLeavesTheKubeletsContainersInK8sIoAlone", "[node][containerd]") {
  PRIVATE_CONTAINERD_OR_SKIP(d);
  Agent agent(d);
  // What the CRI plugin makes: the k8s.io namespace and its labels. The id has our pid: runc
  // keeps a namespace's state in one directory whatever the daemon.
  const std::string app = "kc-pod-app-" + std::to_string(::getpid());
  std::string out;
  d.ctrOk(std::string("image export ") + d.dir() + "/img.tar " + PrivateContainerd::kImage);
  const int imported = d.ctr("-n k8s.io image import " + d.dir() + "/img.tar", out);
  INFO(out);
  REQUIRE(imported == 0);
  const int ran =
      d.ctr(std::string("-n k8s.io run -d --null-io --label io.kubernetes.pod.name=web ") +
                "--label io.kubernetes.pod.namespace=shop " +
                "--label io.kubernetes.container.name=app " +
                "--label io.cri-containerd.kind=container " + PrivateContainerd::kImage + " " +
                app + " sleep 600",
            out);
  INFO(out);
  REQUIRE(ran == 0);
  // A marker after it: once the marker is reported, the pod's container has been judged.
  d.ctrOk("run -d --null-io " + std::string(PrivateContainerd::kImage) + " kc-marker sleep 600");
  REQUIRE(agent.of("container-outside-kubernetes", "kc-marker").size() == 1);
  CHECK(agent.of("container-outside-kubernetes", app, 0ms).empty());
  CHECK(kc::testing::seriesValue(agent.registry, "kube_customs_node_containers",
                                 {{"runtime", "containerd"}, {"origin", "kubernetes"}}) >= 1);
  d.ctr("-n k8s.io task kill -s KILL " + app, out);
  d.ctr("-n k8s.io task delete -f " + app, out);
  d.ctr("-n k8s.io container delete " + app, out);
  std::error_code ec;  // the shim's directory for the namespace, when it is empty (ours)
  std::filesystem::remove("/run/containerd/runc/k8s.io", ec);
  d.ctrOk("task kill -s KILL kc-marker");
}

}  // namespace
