// The node door's service against a real dockerd of the test's own: containers started with
// `docker run` beside the kubelet are found and judged by the same policies as at the webhook,
// an exec into one is scored, the kubelet's and allow-listed containers are not reported as
// outside Kubernetes, nothing is reported twice across a restart of the agent or of dockerd,
// and what started while the agent was away is found. Containers run with --network none.

#include <catch2/catch.hpp>
#include <filesystem>
#include <functional>
#include <thread>

#include "controller/detect/finding.h"
#include "node/node_service.h"
#include "test/controller/series_value.h"
#include "test/node/collected_findings.h"
#include "test/node/dockerd_fixture.h"
#include "test/node/node_test_policies.h"

namespace {

using kc::audit::Finding;
using kc::node::NodeService;
using kc::node::NodeServiceOptions;
using kc::node::Runtime;
using kc::node::RuntimeState;
using kc::testing::PrivateDockerd;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

const Finding* rule(const std::vector<Finding>& fs, const std::string& id) {
  for (const auto& f : fs)
    if (f.rule == id) return &f;
  return nullptr;
}

struct Agent {
  std::string stateDir;
  kc::testing::CollectedFindings collected;
  prometheus::Registry registry;
  std::unique_ptr<NodeService> service;

  Agent(const PrivateDockerd& d, const std::string& state, std::vector<std::string> allowed = {},
        const std::function<void(NodeServiceOptions&)>& tune = {}) {
    stateDir = state;
    NodeServiceOptions o;
    o.rules.nodeName = "worker-1";
    std::string error;
    REQUIRE(kc::node::OutsideAllowList::parse(allowed, o.rules.allowed, error));
    o.policies = [p = kc::testing::builtInPolicies()] { return p; };
    o.dockerSocket = d.socket();
    o.judgedJournal = state + "/node-judged.journal";
    o.resumeFile = state + "/node-resume.json";
    o.onFinding = collected.sink();
    if (tune) tune(o);
    service = std::make_unique<NodeService>(std::move(o), registry);
    REQUIRE(service->start(error));
  }
  bool waitReady(std::chrono::milliseconds timeout = 10s) {
    const auto until = std::chrono::steady_clock::now() + timeout;
    while (!service->ready() && std::chrono::steady_clock::now() < until)
      std::this_thread::sleep_for(20ms);
    return service->ready();
  }
  double series(const std::string& family, const std::map<std::string, std::string>& labels) {
    return kc::testing::seriesValue(registry, family, labels);
  }
};

std::string tempState(const PrivateDockerd& d, const std::string& name) {
  const std::string dir = d.dir() + "/" + name;
  fs::create_directories(dir);
  return dir;
}

// A container that stops at once on SIGTERM (busybox as PID 1 would make dockerd wait 10 s).
const std::string kSleeper = "sh -c 'trap \"exit 0\" TERM; while :; do sleep 1; done'";

TEST_CASE("NodeDoorFindsATunnelStartedBesideTheKubeletAndJudgesItLikeTheWebhook", "[node]") {
  PRIVATE_DOCKERD_OR_SKIP(d);
  Agent agent(d, tempState(d, "tunnel"));
  REQUIRE(agent.waitReady());
  CHECK(agent.series("kube_customs_node_runtime_state",
                     {{"runtime", "docker"}, {"state", "connected"}}) == 1);

  const std::string id = d.dockerOk(std::string("run -d --network none --name tunnel ") +
                                    PrivateDockerd::kTunnelImage + " " + kSleeper);
  const auto fs = agent.collected.about(id, 2);
  const Finding* outside = rule(fs, "container-outside-kubernetes");
  REQUIRE(outside != nullptr);
  CHECK(outside->severity == kc::audit::Severity::kHigh);
  CHECK(outside->technique == "T1610");
  CHECK(outside->runtime == "docker");
  CHECK(outside->containerName == "tunnel");
  CHECK(outside->image == PrivateDockerd::kTunnelImage);
  CHECK(outside->node == "worker-1");
  CHECK(outside->summary.find("outside Kubernetes") != std::string::npos);
  const Finding* policy = rule(fs, "policy-violation");
  REQUIRE(policy != nullptr);
  CHECK(policy->severity == kc::audit::Severity::kHigh);
  CHECK(policy->details.at("rules").find("image.denied") != std::string::npos);
  CHECK(agent.series("kube_customs_node_findings_total",
                     {{"rule", "container-outside-kubernetes"}, {"severity", "high"}}) >= 1);
  CHECK(agent.series("kube_customs_node_containers",
                     {{"runtime", "docker"}, {"origin", "outside"}}) >= 1);
  d.dockerOk("rm -f " + id);
}

TEST_CASE("NodeDoorReportsAPrivilegedContainerMountingTheHostWithTheWebhooksRules", "[node]") {
  PRIVATE_DOCKERD_OR_SKIP(d);
  Agent agent(d, tempState(d, "privileged"));
  REQUIRE(agent.waitReady());
  // --user: this machine's own bounding set lacks a capability, which only a root process in
  // the container would be refused.
  const std::string id =
      d.dockerOk(std::string("run -d --network none --privileged --user 1000:1000 -v /:/host ") +
                 PrivateDockerd::kImage + " " + kSleeper);
  const auto fs = agent.collected.about(id, 2);
  const Finding* policy = rule(fs, "policy-violation");
  REQUIRE(policy != nullptr);
  const std::string rules = policy->details.at("rules");
  CHECK(rules.find("pss.privileged") != std::string::npos);
  CHECK(rules.find("pss.hostPathVolumes") != std::string::npos);
  bool hostPathLine = false;
  for (const auto& v : policy->violations)
    hostPathLine |=
        v.find("pss.hostPathVolumes") == 0 || v.find("] pss.hostPathVolumes") != std::string::npos;
  CHECK(hostPathLine);
  d.dockerOk("rm -f " + id);
}

TEST_CASE("NodeDoorScoresAnExecThatReadsTheServiceAccountToken", "[node]") {
  PRIVATE_DOCKERD_OR_SKIP(d);
  Agent agent(d, tempState(d, "exec"));
  REQUIRE(agent.waitReady());
  const std::string id =
      d.dockerOk(std::string("run -d --network none ") + PrivateDockerd::kImage + " " + kSleeper);
  REQUIRE(agent.collected.about(id, 1).size() >= 1);
  d.dockerOk("exec " + id + " cat /var/run/secrets/kubernetes.io/serviceaccount/token");
  std::vector<Finding> fs;
  const Finding* exec = nullptr;
  for (int i = 0; i < 500 && !exec; ++i) {
    fs = agent.collected.about(id, 1);
    exec = rule(fs, "container-exec");
    if (!exec) std::this_thread::sleep_for(20ms);
  }
  REQUIRE(exec != nullptr);
  CHECK(exec->technique == "T1609");
  CHECK(exec->severity >= kc::audit::Severity::kHigh);
  CHECK(exec->command.find("/var/run/secrets/kubernetes.io/serviceaccount/token") !=
        std::string::npos);
  REQUIRE_FALSE(exec->indicators.empty());
  CHECK(exec->indicators[0].rfind("sa_token_read", 0) == 0);
  CHECK(agent.series("kube_customs_node_execs_total",
                     {{"runtime", "docker"}, {"reported", "true"}}) >= 1);
  d.dockerOk("rm -f " + id);
}

TEST_CASE("NodeDoorLeavesTheKubeletsAndAllowListedContainersAlone", "[node]") {
  PRIVATE_DOCKERD_OR_SKIP(d);
  Agent agent(d, tempState(d, "quiet"), {"name:node-agent-*"});
  REQUIRE(agent.waitReady());
  const std::string pod = d.dockerOk(
      std::string("run -d --network none --label io.kubernetes.pod.name=web ") +
      "--label io.kubernetes.pod.namespace=shop --label io.kubernetes.container.name=app " +
      PrivateDockerd::kImage + " " + kSleeper);
  const std::string allowed = d.dockerOk(std::string("run -d --network none --name node-agent-1 ") +
                                         PrivateDockerd::kImage + " " + kSleeper);
  // A kubelet-labelled exec without indicators (a probe) is not reported either.
  d.dockerOk("exec " + pod + " true");
  // A marker after them: once it is reported, the others have been judged.
  const std::string marker =
      d.dockerOk(std::string("run -d --network none ") + PrivateDockerd::kImage + " " + kSleeper);
  REQUIRE(rule(agent.collected.about(marker, 1), "container-outside-kubernetes") != nullptr);
  for (const auto& f : agent.collected.about(pod, 0, 0ms)) {
    INFO(f.rule << ": " << f.summary);
    CHECK(f.rule != "container-outside-kubernetes");
    CHECK(f.rule != "container-exec");
    CHECK(f.severity < kc::audit::Severity::kHigh);  // no enforced policy broken
    CHECK(f.namespace_ == "shop");
    CHECK(f.name == "web");
  }
  CHECK(rule(agent.collected.about(allowed, 0, 0ms), "container-outside-kubernetes") == nullptr);
  CHECK(agent.series("kube_customs_node_containers",
                     {{"runtime", "docker"}, {"origin", "kubernetes"}}) >= 1);
  CHECK(agent.series("kube_customs_node_execs_total",
                     {{"runtime", "docker"}, {"reported", "false"}}) >= 1);
  d.dockerOk("rm -f " + pod + " " + allowed + " " + marker);
}

TEST_CASE("NodeDoorReportsNothingTwiceAcrossRestartsAndFindsWhatStartedMeanwhile", "[node]") {
  PRIVATE_DOCKERD_OR_SKIP(d);
  const std::string state = tempState(d, "restarts");
  std::string first;
  {
    Agent agent(d, state);
    REQUIRE(agent.waitReady());
    first = d.dockerOk(std::string("run -d --network none --restart always ") +
                       PrivateDockerd::kImage + " " + kSleeper);
    REQUIRE(rule(agent.collected.about(first, 1), "container-outside-kubernetes") != nullptr);
    agent.service->stop(1s);
  }
  // Started while no agent watched.
  const std::string meanwhile =
      d.dockerOk(std::string("run -d --network none ") + PrivateDockerd::kImage + " " + kSleeper);
  Agent agent(d, state);
  REQUIRE(agent.waitReady());
  CHECK(rule(agent.collected.about(meanwhile, 1), "container-outside-kubernetes") != nullptr);

  // dockerd restarted under the agent: the stream ends, the agent reconnects; the container
  // with a restart policy comes back (already judged), one started after the restart is new.
  REQUIRE(d.restart());
  const std::string after =
      d.dockerOk(std::string("run -d --network none ") + PrivateDockerd::kImage + " " + kSleeper);
  CHECK(rule(agent.collected.about(after, 1, 20s), "container-outside-kubernetes") != nullptr);
  REQUIRE(agent.waitReady());
  CHECK(agent.series("kube_customs_node_runtime_reconnects_total", {{"runtime", "docker"}}) >= 1);
  CHECK(agent.collected.about(first, 0, 0ms).empty());
  std::this_thread::sleep_for(500ms);
  std::size_t reports = 0;
  for (const auto& f : agent.collected.about(meanwhile, 0, 0ms))
    reports += f.rule == "container-outside-kubernetes" ? 1 : 0;
  CHECK(reports == 1);
  d.dockerOk("rm -f " + first + " " + meanwhile + " " + after);
}

TEST_CASE("NodeDoorWithoutASocketIsNotReadyAndSaysWhy", "[node]") {
  PRIVATE_DOCKERD_OR_SKIP(d);
  NodeServiceOptions o;
  o.dockerSocket = d.dir() + "/no-such.sock";
  prometheus::Registry registry;
  NodeService service(std::move(o), registry);
  std::string error;
  REQUIRE(service.start(error));
  std::this_thread::sleep_for(300ms);
  CHECK_FALSE(service.ready());
  CHECK(service.state(Runtime::kDocker) == RuntimeState::kAbsent);
  CHECK(service.notReady().find("docker: absent") != std::string::npos);
  CHECK(kc::testing::seriesValue(registry, "kube_customs_node_runtime_errors_total",
                                 {{"runtime", "docker"}, {"reason", "connect"}}) >= 1);
  service.stop(0ms);
}

// The watcher hands every running container to the anomaly watch: after a short learning of an
// idle container, a sibling of the same image that burns CPU is reported through the same
// outputs (container-cpu-anomaly), and the idle one never is.
TEST_CASE("NodeDoorSamplesTheContainersItWatchesAndReportsACpuBurner", "[node][anomaly]") {
  PRIVATE_DOCKERD_OR_SKIP(d);
  Agent agent(d, tempState(d, "anomaly"), {}, [](NodeServiceOptions& o) {
    o.anomaly.interval = 200ms;
    o.anomaly.learningPeriod = 2s;
    o.anomaly.normals.minSamples = 8;
    o.anomaly.startupGrace = 0ms;
  });
  REQUIRE(agent.waitReady());
  const std::string idle = d.dockerOk(std::string("run -d --network none --name kc-svc-idle ") +
                                      PrivateDockerd::kImage + " " + kSleeper);
  std::this_thread::sleep_for(4s);  // learning: past the period and minSamples
  const std::string burner = d.dockerOk(std::string("run -d --network none --name kc-svc-burner ") +
                                        PrivateDockerd::kImage + " sh -c 'while :; do :; done'");
  const Finding* cpu = nullptr;
  std::vector<Finding> fs;
  for (int i = 0; i < 300 && !cpu; ++i) {
    fs = agent.collected.about(burner, 1, 100ms);
    cpu = rule(fs, "container-cpu-anomaly");
    if (!cpu) std::this_thread::sleep_for(100ms);
  }
  REQUIRE(cpu != nullptr);
  CHECK(cpu->technique == "T1496");
  CHECK(cpu->node == "worker-1");
  CHECK(std::stod(cpu->details.at("value")) > std::stod(cpu->details.at("threshold")));
  CHECK(rule(agent.collected.about(idle, 0, 0ms), "container-cpu-anomaly") == nullptr);
  CHECK(agent.series("kube_customs_node_findings_total",
                     {{"rule", "container-cpu-anomaly"}, {"severity", "medium"}}) >= 1);
  CHECK(agent.series("kube_customs_node_sampled_containers", {}) >= 2);
  d.dockerOk("rm -f " + idle + " " + burner);
}

}  // namespace
