// The Docker Engine API client and the container model against a real dockerd of the test's
// own (test/node/private_dockerd.h): one daemon for the whole binary, started at the first
// test and stopped at exit. Containers run with --network none. Without root or when dockerd
// cannot start here, every test skips with the reason, and fails instead under CI=true or
// KC_REQUIRE_TOOLS=1.

#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <memory>
#include <set>

#include "node/container.h"
#include "node/docker_client.h"
#include "test/node/dockerd_fixture.h"
#include "test/node/node_test_policies.h"

namespace {

using kc::testing::builtInPolicies;

using kc::node::DockerClient;
using kc::node::DockerError;
using kc::node::DockerEvent;
using kc::node::DockerEventKind;
using kc::node::EventStream;
using kc::testing::PrivateDockerd;
using namespace std::chrono_literals;

std::vector<std::string> enforcedRules(const kc::policy::Verdict& v) {
  std::vector<std::string> ids;
  for (const auto& viol : v.violations)
    if (viol.mode == kc::policy::Mode::kEnforce) ids.push_back(viol.rule);
  return ids;
}

bool has(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

// Reads the stream until `pred` holds for an event, at most `timeout`; every event read is
// appended to `seen`. Returns whether it came.
template <class Pred>
bool readUntil(EventStream& stream, std::vector<DockerEvent>& seen, Pred pred,
               std::chrono::milliseconds timeout) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < until) {
    DockerEvent e;
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        until - std::chrono::steady_clock::now());
    const auto status = stream.next(e, std::max(left, 1ms));
    if (status == EventStream::Status::kEvent) {
      seen.push_back(e);
      if (pred(e)) return true;
    } else if (status != EventStream::Status::kIdle) {
      FAIL_CHECK("event stream ended: " << stream.error());
      return false;
    }
  }
  return false;
}

auto is(DockerEventKind kind, const std::string& id) {
  return [kind, id](const DockerEvent& e) { return e.kind == kind && e.containerId == id; };
}

TEST_CASE("NegotiatesTheApiVersionOfARealDockerd", "[node][dockerd]") {
  PRIVATE_DOCKERD_OR_SKIP(d);
  DockerClient client(d.socket());
  auto v = client.negotiate();
  REQUIRE(v.ok());
  // The daemon's own client says which version the server speaks.
  CHECK(v.value.used == d.dockerOk("version --format '{{.Server.APIVersion}}'"));
  CHECK(v.value.version == d.dockerOk("version --format '{{.Server.Version}}'"));
  CHECK(client.apiVersion() == v.value.used);
  CHECK(client.stats().requests == 1);
}

TEST_CASE("InventoryAndInspectGiveAStartedContainersConfiguration", "[node][dockerd]") {
  PRIVATE_DOCKERD_OR_SKIP(d);
  DockerClient client(d.socket());
  REQUIRE(client.negotiate().ok());
  const std::string id = d.dockerOk(
      "run -d --network none --name kc-root-shell --label team=payments --privileged "
      "--cap-add NET_ADMIN --pid host --ipc host --read-only --security-opt seccomp=unconfined "
      "--security-opt apparmor=unconfined --user 1000:1000 -v /:/host:ro "
      "--device /dev/null:/dev/xnull " +
      std::string(PrivateDockerd::kImage) + " sleep 300");

  auto list = client.listContainers();
  REQUIRE(list.ok());
  auto row =
      std::find_if(list.value.begin(), list.value.end(), [&](const auto& c) { return c.id == id; });
  REQUIRE(row != list.value.end());
  CHECK(row->name == "kc-root-shell");
  CHECK(row->image == PrivateDockerd::kImage);
  CHECK(row->state == "running");
  CHECK(row->labels == std::vector<std::pair<std::string, std::string>>{{"team", "payments"}});

  auto inspected = client.inspectContainer(id);
  REQUIRE(inspected.ok());
  const kc::node::Container& c = inspected.value;
  CHECK(c.id == id);
  CHECK(c.name == "kc-root-shell");
  CHECK(c.image == PrivateDockerd::kImage);
  CHECK(c.command == std::vector<std::string>{"sleep", "300"});
  CHECK(c.user == "1000:1000");
  CHECK(c.privileged);
  CHECK(c.capAdd == std::vector<std::string>{"NET_ADMIN"});
  CHECK_FALSE(c.hostNetwork);
  CHECK(c.hostPID);
  CHECK(c.hostIPC);
  CHECK(c.readOnlyRootfs);
  CHECK(c.seccompUnconfined);
  CHECK(c.apparmorUnconfined);
  REQUIRE(c.binds.size() == 1);
  CHECK(c.binds[0].hostPath == "/");
  CHECK(c.binds[0].containerPath == "/host");
  CHECK(c.binds[0].readOnly);
  REQUIRE(c.devices.size() == 1);
  CHECK(c.devices[0].hostPath == "/dev/null");
  CHECK(c.devices[0].containerPath == "/dev/xnull");
  CHECK(c.running);
  CHECK(std::to_string(c.pid) == d.dockerOk("inspect --format '{{.State.Pid}}' " + id));
  struct stat st {};
  CHECK(::stat(("/proc/" + std::to_string(c.pid)).c_str(), &st) == 0);
  CHECK(c.startedAt == d.dockerOk("inspect --format '{{.State.StartedAt}}' " + id));
  CHECK_FALSE(kc::node::classify(c).kubernetes);

  // Judged as the webhook judges a pod with a privileged container and the host's root.
  const auto now = std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
  const auto v = kc::node::judge(*builtInPolicies(), c, kc::node::classify(c), now);
  CHECK_FALSE(v.verdict.allowed);
  const auto rules = enforcedRules(v.verdict);
  CHECK(has(rules, "pss.privileged"));
  CHECK(has(rules, "pss.hostPathVolumes"));
  CHECK(has(rules, "pss.hostNamespaces"));
  d.dockerOk("rm -f " + id);
}

TEST_CASE("TheTunnelingImageRunByDockerIsDenied", "[node][dockerd]") {
  PRIVATE_DOCKERD_OR_SKIP(d);
  DockerClient client(d.socket());
  REQUIRE(client.negotiate().ok());
  const std::string id = d.dockerOk(std::string("run -d --network none ") +
                                    PrivateDockerd::kTunnelImage + " sleep 300");
  auto c = client.inspectContainer(id);
  REQUIRE(c.ok());
  CHECK(c.value.image == PrivateDockerd::kTunnelImage);
  const auto now = std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
  const auto v = kc::node::judge(*builtInPolicies(), c.value, kc::node::classify(c.value), now);
  CHECK_FALSE(v.verdict.allowed);
  CHECK(enforcedRules(v.verdict) == std::vector<std::string>{"image.denied"});
  d.dockerOk("rm -f " + id);
}

TEST_CASE("TheEventStreamDeliversARunAndAnExecWithItsCommand", "[node][dockerd]") {
  PRIVATE_DOCKERD_OR_SKIP(d);
  DockerClient client(d.socket());
  REQUIRE(client.negotiate().ok());
  auto opened = client.events();
  REQUIRE(opened.ok());
  EventStream& stream = *opened.value;

  const auto started = std::chrono::steady_clock::now();
  const std::string id =
      d.dockerOk(std::string("run -d --network none ") + PrivateDockerd::kImage + " sleep 300");
  std::vector<DockerEvent> seen;
  REQUIRE(readUntil(stream, seen, is(DockerEventKind::kStart, id), 10s));
  const auto took = std::chrono::steady_clock::now() - started;
  INFO("docker run -d to its start event: "
       << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms");
  CHECK(took < 10s);
  CHECK(std::any_of(seen.begin(), seen.end(), is(DockerEventKind::kCreate, id)));
  const DockerEvent& start = seen.back();
  CHECK(start.image == PrivateDockerd::kImage);
  CHECK_FALSE(start.name.empty());
  CHECK(start.timeNano > 0);

  const std::string token = "/var/run/secrets/kubernetes.io/serviceaccount/token";
  CHECK(d.dockerOk("exec " + id + " cat " + token) == "not-a-real-token");
  REQUIRE(readUntil(stream, seen, is(DockerEventKind::kExecStart, id), 10s));
  const DockerEvent exec = seen.back();
  CHECK(exec.execCommand == "cat " + token);
  REQUIRE_FALSE(exec.execId.empty());
  auto info = client.inspectExec(exec.execId);
  REQUIRE(info.ok());
  CHECK(info.value.containerId == id);
  CHECK(info.value.command == std::vector<std::string>{"cat", token});
  CHECK(info.value.commandLine() == "cat " + token);
  CHECK(client.stats().eventLinesMalformed == 0);
  d.dockerOk("rm -f " + id);
}

TEST_CASE("ResumingWithSinceMissesNothingStartedWhileClosed", "[node][dockerd]") {
  PRIVATE_DOCKERD_OR_SKIP(d);
  DockerClient client(d.socket());
  REQUIRE(client.negotiate().ok());
  kc::node::EventResume resume;
  std::vector<DockerEvent> first;
  std::string a;
  {
    auto opened = client.events();
    REQUIRE(opened.ok());
    a = d.dockerOk(std::string("run -d --network none ") + PrivateDockerd::kImage + " sleep 300");
    REQUIRE(readUntil(*opened.value, first, is(DockerEventKind::kStart, a), 10s));
    for (const auto& e : first) CHECK(resume.fresh(e));
    opened.value->close();
  }
  // While nobody listens: two containers start and the first one is exec'd into.
  const std::string b =
      d.dockerOk(std::string("run -d --network none ") + PrivateDockerd::kImage + " sleep 300");
  const std::string c =
      d.dockerOk(std::string("run -d --network none ") + PrivateDockerd::kImage + " sleep 300");
  d.dockerOk("exec " + a + " true");

  auto reopened = client.events(resume.lastTimeNano());
  REQUIRE(reopened.ok());
  std::vector<DockerEvent> second;
  REQUIRE(readUntil(*reopened.value, second, is(DockerEventKind::kExecStart, a), 10s));
  std::vector<DockerEvent> fresh;
  for (const auto& e : second)
    if (resume.fresh(e)) fresh.push_back(e);
  for (const auto& id : {b, c}) {
    INFO(id);
    CHECK(std::count_if(fresh.begin(), fresh.end(), is(DockerEventKind::kCreate, id)) == 1);
    CHECK(std::count_if(fresh.begin(), fresh.end(), is(DockerEventKind::kStart, id)) == 1);
  }
  // The resumed stream repeats the last event seen; nothing seen before counts as new.
  CHECK(std::none_of(fresh.begin(), fresh.end(), is(DockerEventKind::kCreate, a)));
  CHECK(std::none_of(fresh.begin(), fresh.end(), is(DockerEventKind::kStart, a)));
  CHECK(std::count_if(fresh.begin(), fresh.end(), is(DockerEventKind::kExecStart, a)) == 1);
  d.dockerOk("rm -f " + a + " " + b + " " + c);
}

TEST_CASE("AContainerWithKubeletLabelsIsClassifiedAsKubernetes", "[node][dockerd]") {
  PRIVATE_DOCKERD_OR_SKIP(d);
  DockerClient client(d.socket());
  REQUIRE(client.negotiate().ok());
  // As cri-dockerd labels a pod's sandbox and its application container.
  const std::string labels =
      "--label io.kubernetes.pod.name=web-7d9f8c6b5-x2k4q --label io.kubernetes.pod.namespace=shop "
      "--label io.kubernetes.pod.uid=5b1c2f4e-8a3d-4c1e-9f2a-7e6d5c4b3a21 ";
  const std::string sandbox = d.dockerOk(
      "run -d --network none " + labels +
      "--label io.kubernetes.docker.type=podsandbox --label io.kubernetes.container.name=POD " +
      PrivateDockerd::kImage + " sleep 300");
  const std::string app = d.dockerOk("run -d --network none " + labels +
                                     "--label io.kubernetes.docker.type=container --label "
                                     "io.kubernetes.container.name=web " +
                                     PrivateDockerd::kImage + " sleep 300");
  auto s = client.inspectContainer(sandbox);
  auto w = client.inspectContainer(app);
  REQUIRE(s.ok());
  REQUIRE(w.ok());
  const auto ks = kc::node::classify(s.value);
  const auto kw = kc::node::classify(w.value);
  CHECK(ks.kubernetes);
  CHECK(ks.sandbox);
  CHECK(kw.kubernetes);
  CHECK_FALSE(kw.sandbox);
  CHECK(kw.podName == "web-7d9f8c6b5-x2k4q");
  CHECK(kw.podNamespace == "shop");
  CHECK(kw.containerName == "web");
  CHECK(kw.podUid == "5b1c2f4e-8a3d-4c1e-9f2a-7e6d5c4b3a21");
  // The inventory's labels alone say the same, without an inspect per container.
  auto list = client.listContainers();
  REQUIRE(list.ok());
  for (const auto& row : list.value) {
    if (row.id != sandbox && row.id != app) continue;
    const auto k = kc::node::classifyLabels(kc::node::Runtime::kDocker, "", row.labels);
    CHECK(k.kubernetes);
    CHECK(k.sandbox == (row.id == sandbox));
    CHECK(k.podName == "web-7d9f8c6b5-x2k4q");
  }
  // Judged in its pod's namespace, under the pod's name.
  const auto now = std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
  CHECK(kc::node::judge(*builtInPolicies(), w.value, kw, now).namespace_ == "shop");
  d.dockerOk("rm -f " + sandbox + " " + app);
}

TEST_CASE("AContainerGoneBeforeInspectIsNotFound", "[node][dockerd]") {
  PRIVATE_DOCKERD_OR_SKIP(d);
  DockerClient client(d.socket());
  REQUIRE(client.negotiate().ok());
  auto opened = client.events();
  REQUIRE(opened.ok());
  // `docker run --rm` of a command that exits at once: created, started, died and destroyed
  // before anyone looks.
  d.dockerOk(std::string("run --rm --network none ") + PrivateDockerd::kImage + " true");
  std::vector<DockerEvent> seen;
  REQUIRE(readUntil(
      *opened.value, seen, [](const DockerEvent& e) { return e.kind == DockerEventKind::kDestroy; },
      10s));
  const std::string id = seen.back().containerId;
  CHECK(std::any_of(seen.begin(), seen.end(), is(DockerEventKind::kCreate, id)));
  CHECK(std::any_of(seen.begin(), seen.end(), is(DockerEventKind::kDie, id)));
  auto gone = client.inspectContainer(id);
  CHECK(gone.error == DockerError::kNotFound);
  CHECK(gone.message.find("No such container") != std::string::npos);
  CHECK(client.stats().notFound == 1);
  // The client goes on.
  CHECK(client.listContainers().ok());
}

}  // namespace
