// The responder against a real dockerd of the test's own: an evidence bundle holds the lines
// the container logged, its processes, its file changes, its sockets and a manifest whose sums
// match; isolation pauses the container and cuts it from the test's internal network so that a
// peer can no longer reach it, and release restores both; guarded containers, exited and
// unknown ones, a daemon that is down and a full state directory give clear errors and leave
// nothing half-done; the node role's automatic responder isolates and keeps the evidence of a
// high finding and points the finding to it; `respond accept` allows what a finding saw.

#include <sys/mount.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <thread>

#include "node/node_service.h"
#include "respond/accept.h"
#include "respond/auto_responder.h"
#include "respond/responder.h"
#include "test/node/collected_findings.h"
#include "test/node/dockerd_fixture.h"
#include "test/node/node_test_policies.h"
#include "test/test_util.h"

namespace {

using kc::respond::ContainerRef;
using kc::respond::IsolateMode;
using kc::respond::Outcome;
using kc::respond::Responder;
using kc::respond::RespondOptions;
using kc::testing::PrivateDockerd;
using json = nlohmann::json;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

std::string unique(const std::string& base) {
  static int n = 0;
  return base + "-" + std::to_string(::getpid()) + "-" + std::to_string(++n);
}

RespondOptions optionsFor(const PrivateDockerd& d, const std::string& stateDir,
                          IsolateMode mode = IsolateMode::kManual) {
  RespondOptions o;
  o.stateDir = stateDir;
  o.dockerSocket = d.socket();
  o.containerdSocket = "";
  o.isolate = mode;
  o.systemNamespaces = {"kube-system", "kube-public", "kube-node-lease"};
  return o;
}

ContainerRef resolved(Responder& r, const std::string& name) {
  ContainerRef c;
  std::string error;
  REQUIRE(r.resolve(name, std::nullopt, "", c, error));
  return c;
}

json readJson(const std::string& path) { return json::parse(kc::testing::readFile(path)); }

// Whether a peer container on `net` gets an HTTP answer from `ip`:7000 within 3 s (busybox's
// nc: its static wget crashes on name lookups).
bool reachable(const PrivateDockerd& d, const std::string& net, const std::string& ip) {
  std::string out;
  d.docker("run --rm --network " + net + " " + PrivateDockerd::kImage +
               " sh -c \"printf 'GET /etc/hostname HTTP/1.0\\r\\n\\r\\n' | timeout 3 nc -w 2 " +
               ip + " 7000\"",
           out);
  return out.find("200 OK") != std::string::npos;
}

std::string ipOn(const PrivateDockerd& d, const std::string& name, const std::string& net) {
  return d.dockerOk("inspect -f '{{(index .NetworkSettings.Networks \"" + net +
                    "\").IPAddress}}' " + name);
}

// Waits until `pred` holds, for at most `timeout`.
template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds timeout = 10s) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < until) {
    if (pred()) return true;
    std::this_thread::sleep_for(50ms);
  }
  return pred();
}

// A node role on the private dockerd with its state (and accepted file) in `state`; no
// sampling.
kc::node::NodeServiceOptions nodeOptions(const PrivateDockerd& d,
                                         const kc::testing::TempDir& state) {
  kc::node::NodeServiceOptions o;
  o.rules.nodeName = "worker-1";
  o.dockerSocket = d.socket();
  o.containerdSocket = "";
  o.judgedJournal = state.file("node-judged.journal");
  o.resumeFile = state.file("node-resume.json");
  o.acceptedFile = kc::respond::nodeAcceptedPath(state.path());
  o.sample = false;
  return o;
}

bool noPartials(const std::string& stateDir) {
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(stateDir + "/evidence", ec))
    if (e.path().filename().string().rfind(".partial-", 0) == 0) return false;
  return true;
}

}  // namespace

TEST_CASE("respond: an evidence bundle holds the container's logs, processes, changes and sockets",
          "[respond][dockerd]") {
  PRIVATE_DOCKERD_OR_SKIP(d);
  kc::testing::TempDir state;
  const std::string name = unique("kc-evidence");
  d.dockerOk("run -d --name " + name + " --network none -e SECRET_TOKEN=hunter2 " +
             PrivateDockerd::kImage +
             " sh -c 'echo hello-evidence; echo complaint-line >&2; touch /tmp/dropped-tool; "
             "nc -l -p 8080 & sleep 300'");
  REQUIRE(eventually([&] {
    std::string out;
    d.docker("logs " + name, out);
    return out.find("complaint-line") != std::string::npos;
  }));
  Responder r(optionsFor(d, state.path()));
  const ContainerRef c = resolved(r, name);
  CHECK(c.name == name);

  const Outcome o = r.evidence(c, R"({"rule":"container-outside-kubernetes"})", false);
  INFO(o.error);
  REQUIRE(o.ok);
  REQUIRE(fs::is_directory(o.path));
  CHECK(noPartials(state.path()));
  const json manifest = readJson(o.path + "/manifest.json");
  CHECK(manifest["container"]["id"] == c.id);
  CHECK(manifest["environment"] == "names only");
  std::set<std::string> names;
  for (const auto& f : manifest["files"]) {
    const std::string file = f["name"];
    names.insert(file);
    const std::string data = kc::testing::readFile(o.path + "/" + file);
    CHECK(f["sha256"] == kc::respond::sha256Hex(data));
    CHECK(f["bytes"] == data.size());
  }
  CHECK(names == std::set<std::string>{"container.json", "logs.txt", "processes.json",
                                       "changes.json", "network.json", "finding.json"});
  const std::string logs = kc::testing::readFile(o.path + "/logs.txt");
  CHECK(logs.find("stdout ") != std::string::npos);
  CHECK(logs.find("hello-evidence") != std::string::npos);
  CHECK(logs.find("stderr ") != std::string::npos);
  CHECK(logs.find("complaint-line") != std::string::npos);
  const std::string processes = kc::testing::readFile(o.path + "/processes.json");
  CHECK(processes.find("sleep 300") != std::string::npos);
  CHECK(processes.find("nc -l -p 8080") != std::string::npos);
  const json changes = readJson(o.path + "/changes.json");
  bool dropped = false;
  for (const auto& ch : changes)
    if (ch["path"] == "/tmp/dropped-tool" && ch["kind"] == "added") dropped = true;
  CHECK(dropped);
  const json sockets = readJson(o.path + "/network.json");
  bool listening = false;
  for (const auto& s : sockets)
    if ((s["local"] == "0.0.0.0:8080" || s["local"] == "[::]:8080") && s["state"] == "LISTEN" &&
        s.contains("pids") && !s["pids"].empty())
      listening = true;
  INFO(sockets.dump());
  CHECK(listening);
  // Environment values stay on the node only when asked for.
  const std::string config = kc::testing::readFile(o.path + "/container.json");
  CHECK(config.find("SECRET_TOKEN") != std::string::npos);
  CHECK(config.find("hunter2") == std::string::npos);
  const Outcome withEnv = r.evidence(c, "", true);
  REQUIRE(withEnv.ok);
  CHECK(kc::testing::readFile(withEnv.path + "/container.json").find("hunter2") !=
        std::string::npos);
  CHECK_FALSE(fs::exists(withEnv.path + "/finding.json"));
  d.dockerOk("rm -f " + name);
}

TEST_CASE("respond: evidence of an exited container, an unknown one, a daemon that is down",
          "[respond][dockerd]") {
  PRIVATE_DOCKERD_OR_SKIP(d);
  kc::testing::TempDir state;
  const std::string name = unique("kc-exited");
  d.dockerOk("run --name " + name + " --network none " + PrivateDockerd::kImage +
             " sh -c 'echo last-words; touch /left-behind'");
  Responder r(optionsFor(d, state.path()));
  const ContainerRef c = resolved(r, name);
  const Outcome o = r.evidence(c, "", false);
  INFO(o.error);
  REQUIRE(o.ok);
  CHECK(kc::testing::readFile(o.path + "/logs.txt").find("last-words") != std::string::npos);
  CHECK(kc::testing::readFile(o.path + "/changes.json").find("/left-behind") != std::string::npos);
  CHECK_FALSE(fs::exists(o.path + "/processes.json"));
  bool said = false;
  for (const auto& n : o.notes)
    if (n.find("not running") != std::string::npos) said = true;
  CHECK(said);
  // Isolating it is refused: there is nothing running to isolate.
  const Outcome iso = r.isolate(c, {}, false);
  CHECK_FALSE(iso.ok);
  CHECK(iso.refused);
  CHECK(iso.error.find("not running") != std::string::npos);

  ContainerRef unknown;
  std::string error;
  CHECK_FALSE(r.resolve("no-such-container-kc", std::nullopt, "", unknown, error));
  CHECK(error.find("no container \"no-such-container-kc\"") != std::string::npos);
  // A container gone between resolve and evidence: a clear error, nothing left behind.
  ContainerRef gone = c;
  gone.id = std::string(64, 'a');
  const Outcome g = r.evidence(gone, "", false);
  CHECK_FALSE(g.ok);
  CHECK(g.error.find("no container") != std::string::npos);
  CHECK(noPartials(state.path()));

  // A state directory that cannot be made (a file stands where it should be).
  kc::testing::writeFile(state.file("a-file"), "x");
  Responder unwritable(optionsFor(d, state.file("a-file") + "/state"));
  const Outcome ou = unwritable.evidence(c, "", false);
  CHECK_FALSE(ou.ok);
  CHECK(ou.error.find("cannot create") != std::string::npos);
  CHECK(ou.error.find("Not a directory") != std::string::npos);

  RespondOptions down = optionsFor(d, state.path());
  down.dockerSocket = state.file("no-daemon.sock");
  Responder rd(down);
  const Outcome od = rd.evidence(c, "", false);
  CHECK_FALSE(od.ok);
  CHECK(od.error.find("cannot connect") != std::string::npos);
  CHECK(noPartials(state.path()));
  d.dockerOk("rm -f " + name);
}

TEST_CASE(
    "respond: isolation cuts the container from its network and pauses it; release "
    "restores both",
    "[respond][dockerd]") {
  PRIVATE_DOCKERD_OR_SKIP(d);
  kc::testing::TempDir state;
  const std::string net = unique("kc-quarantine-net");
  d.dockerOk("network create --internal " + net);
  const std::string name = unique("kc-suspect");
  d.dockerOk("run -d --name " + name + " --network " + net + " " + PrivateDockerd::kImage +
             " httpd -f -p 7000 -h /");
  const std::string ip = ipOn(d, name, net);
  REQUIRE_FALSE(ip.empty());
  REQUIRE(eventually([&] { return reachable(d, net, ip); }, 15s));

  Responder r(optionsFor(d, state.path()));
  const ContainerRef c = resolved(r, name);

  // A dry run says what it would do and does nothing.
  const Outcome dry = r.isolate(c, {"manual", "", "", "test"}, true);
  REQUIRE(dry.ok);
  REQUIRE(dry.steps.size() == 2);
  CHECK(dry.steps[0] == "would pause " + name);
  CHECK(dry.steps[1].find("would disconnect " + name + " from network " + net) == 0);
  CHECK(d.dockerOk("inspect -f '{{.State.Paused}}' " + name) == "false");
  CHECK(reachable(d, net, ip));

  const Outcome iso = r.isolate(c, {"manual", "container-exec", "high", "test"}, false);
  INFO(iso.error);
  REQUIRE(iso.ok);
  CHECK(d.dockerOk("inspect -f '{{.State.Paused}}' " + name) == "true");
  CHECK(d.dockerOk("inspect -f '{{len .NetworkSettings.Networks}}' " + name) == "0");
  CHECK_FALSE(reachable(d, net, ip));
  std::vector<kc::respond::IsolationRecord> records;
  std::string error;
  REQUIRE(r.isolations(records, error));
  REQUIRE(records.size() == 1);
  CHECK(records[0].container.id == c.id);
  CHECK(records[0].pausedByUs);
  REQUIRE(records[0].networks.size() == 1);
  CHECK(records[0].networks[0].name == net);
  CHECK(records[0].reason.rule == "container-exec");
  // Again: nothing more to do.
  const Outcome again = r.isolate(c, {}, false);
  CHECK(again.ok);
  CHECK(again.steps.at(0).find("already isolated") == 0);

  const Outcome rel = r.release(c, false);
  INFO(rel.error);
  REQUIRE(rel.ok);
  CHECK(d.dockerOk("inspect -f '{{.State.Paused}}' " + name) == "false");
  const std::string ipAfter = ipOn(d, name, net);
  REQUIRE_FALSE(ipAfter.empty());
  CHECK(eventually([&] { return reachable(d, net, ipAfter); }, 15s));
  REQUIRE(r.isolations(records, error));
  CHECK(records.empty());
  // Releasing what is not isolated is refused, clearly.
  const Outcome twice = r.release(c, false);
  CHECK(twice.refused);
  CHECK(twice.error.find("is not isolated by kube-customs") != std::string::npos);

  // Mode off: not even by hand.
  Responder off(optionsFor(d, state.path(), IsolateMode::kOff));
  const Outcome o = off.isolate(c, {}, false);
  CHECK(o.refused);
  CHECK(o.error.find("node.respond.isolate: off") != std::string::npos);
  CHECK(d.dockerOk("inspect -f '{{.State.Paused}}' " + name) == "false");
  d.dockerOk("rm -f " + name);
}

TEST_CASE("respond: sandboxes, system pods and allow-listed containers are never isolated",
          "[respond][dockerd]") {
  PRIVATE_DOCKERD_OR_SKIP(d);
  kc::testing::TempDir state;
  RespondOptions o = optionsFor(d, state.path());
  std::string error;
  REQUIRE(kc::node::OutsideAllowList::parse({"name:kc-agent-*"}, o.allowed, error));
  Responder r(o);
  const std::string sandbox = unique("kc-sandbox");
  d.dockerOk(
      "run -d --name " + sandbox +
      " --network none --label io.kubernetes.pod.name=web-1 "
      "--label io.kubernetes.pod.namespace=shop --label io.kubernetes.docker.type=podsandbox " +
      PrivateDockerd::kImage + " sleep 300");
  const std::string system = unique("kc-system");
  d.dockerOk("run -d --name " + system +
             " --network none --label io.kubernetes.pod.name=coredns-1 "
             "--label io.kubernetes.pod.namespace=kube-system "
             "--label io.kubernetes.container.name=coredns " +
             PrivateDockerd::kImage + " sleep 300");
  const std::string agent = unique("kc-agent");
  d.dockerOk("run -d --name " + agent + " --network none " + PrivateDockerd::kImage + " sleep 300");
  for (const auto& [name, why] : std::vector<std::pair<std::string, std::string>>{
           {sandbox, "sandbox"},
           {system, "system namespace kube-system"},
           {agent, "allowed outside Kubernetes by \"name:kc-agent-*\""}}) {
    const Outcome out = r.isolate(resolved(r, name), {}, false);
    INFO(name << ": " << out.error);
    CHECK(out.refused);
    CHECK(out.error.find(why) != std::string::npos);
    CHECK(d.dockerOk("inspect -f '{{.State.Paused}}' " + name) == "false");
  }
  d.dockerOk("rm -f " + sandbox + " " + system + " " + agent);
}

TEST_CASE("respond: a full state directory leaves no half bundle and no half isolation",
          "[respond][dockerd]") {
  PRIVATE_DOCKERD_OR_SKIP(d);
  kc::testing::TempDir tmp;
  const std::string state = tmp.file("small");
  fs::create_directories(state);
  if (::mount("tmpfs", state.c_str(), "tmpfs", 0, "size=64k,mode=0700") != 0) {
    if (kc::testing::toolsRequired()) FAIL("cannot mount a small tmpfs: " << std::strerror(errno));
    WARN("skipped: cannot mount a small tmpfs: " << std::strerror(errno));
    return;
  }
  struct Unmount {
    std::string path;
    ~Unmount() { ::umount2(path.c_str(), MNT_DETACH); }
  } unmount{state};
  const std::string net = unique("kc-full-net");
  d.dockerOk("network create --internal " + net);
  const std::string name = unique("kc-chatty");
  // About 200 KB of log lines: more than the state directory can hold.
  d.dockerOk("run -d --name " + name + " --network " + net + " " + PrivateDockerd::kImage +
             " sh -c 'i=0; while [ $i -lt 3000 ]; do echo line-$i-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
             "xxxxxxxxxxxxxxxxxxxxxx; i=$((i+1)); done; sleep 300'");
  REQUIRE(eventually([&] {
    std::string out;
    d.docker("logs --tail 1 " + name, out);
    return out.find("line-2999") != std::string::npos;
  }));
  Responder r(optionsFor(d, state));
  const ContainerRef c = resolved(r, name);
  const Outcome o = r.evidence(c, "", false);
  CHECK_FALSE(o.ok);
  CHECK(o.error.find("No space left on device") != std::string::npos);
  CHECK(noPartials(state));
  std::size_t bundles = 0;
  for (const auto& e : fs::directory_iterator(state + "/evidence")) {
    (void)e;
    ++bundles;
  }
  CHECK(bundles == 0);

  // Fill it up: the isolation cannot be recorded, so it is undone.
  std::string out;
  kc::testing::runCommand("dd if=/dev/zero of=" + state + "/filler bs=1k count=128 2>/dev/null",
                          out);
  const Outcome iso = r.isolate(c, {}, false);
  CHECK_FALSE(iso.ok);
  CHECK(iso.error.find("cannot record the isolation") != std::string::npos);
  CHECK(iso.error.find("undone") != std::string::npos);
  CHECK(d.dockerOk("inspect -f '{{.State.Paused}}' " + name) == "false");
  CHECK(d.dockerOk("inspect -f '{{len .NetworkSettings.Networks}}' " + name) == "1");
  d.dockerOk("rm -f " + name);
}

TEST_CASE("respond: the node role isolates and keeps the evidence of a high finding by itself",
          "[respond][dockerd]") {
  PRIVATE_DOCKERD_OR_SKIP(d);
  kc::testing::TempDir state;
  prometheus::Registry registry;
  kc::respond::AutoResponderOptions ao;
  ao.respond = optionsFor(d, state.path(), IsolateMode::kHigh);
  ao.evidenceMin = kc::audit::Severity::kHigh;
  std::mutex mu;
  std::vector<json> responses;
  ao.onResponse = [&](const json& j) {
    std::lock_guard lock(mu);
    responses.push_back(j);
  };
  kc::respond::AutoResponder responder(ao, registry);
  responder.start();

  kc::node::NodeServiceOptions o = nodeOptions(d, state);
  o.policies = [p = kc::testing::builtInPolicies()] { return p; };
  o.respond = [&](std::vector<kc::audit::Finding>& fs) { responder.onFindings(fs); };
  kc::testing::CollectedFindings collected;
  o.onFinding = collected.sink();
  kc::node::NodeService service(std::move(o), registry);
  std::string error;
  REQUIRE(service.start(error));
  REQUIRE(eventually([&] { return service.ready(); }));

  const std::string name = unique("kc-tunnel");
  const std::string net = unique("kc-auto-net");
  d.dockerOk("network create --internal " + net);
  d.dockerOk("run -d --name " + name + " --network " + net + " " + PrivateDockerd::kTunnelImage +
             " sleep 300");
  const std::string id = d.dockerOk("inspect -f '{{.Id}}' " + name);
  REQUIRE(eventually([&] { return responder.finished() >= 1; }, 20s));
  std::string evidence;
  for (const auto& f : collected.about(id, 1, 0ms, "container-outside-kubernetes")) {
    CHECK(f.details.at("isolation") == "requested");
    evidence = f.details.at("evidence");
  }
  REQUIRE_FALSE(evidence.empty());
  CHECK(eventually([&] { return fs::exists(evidence + "/manifest.json"); }));
  CHECK(d.dockerOk("inspect -f '{{.State.Paused}}' " + name) == "true");
  CHECK(d.dockerOk("inspect -f '{{len .NetworkSettings.Networks}}' " + name) == "0");
  // The bundle keeps every finding that asked for it (outside Kubernetes, the denied image).
  const std::string finding = kc::testing::readFile(evidence + "/finding.json");
  CHECK(finding.find("container-outside-kubernetes") != std::string::npos);
  CHECK(finding.find("image.denied") != std::string::npos);
  {
    std::lock_guard lock(mu);
    bool isolated = false, kept = false;
    for (const auto& j : responses) {
      if (j["action"] == "isolate" && j["outcome"] == "ok") isolated = true;
      if (j["action"] == "evidence" && j["outcome"] == "ok" && j["evidence"] == evidence)
        kept = true;
    }
    CHECK(isolated);
    CHECK(kept);
  }
  service.stop(1s);
  responder.stop(1s);
  Responder r(ao.respond);
  REQUIRE(r.release(resolved(r, name), false).ok);
  CHECK(d.dockerOk("inspect -f '{{.State.Paused}}' " + name) == "false");
  d.dockerOk("rm -f " + name);
}

TEST_CASE("respond: in manual mode the node role keeps evidence but isolates nothing",
          "[respond][dockerd]") {
  PRIVATE_DOCKERD_OR_SKIP(d);
  kc::testing::TempDir state;
  prometheus::Registry registry;
  kc::respond::AutoResponderOptions ao;
  ao.respond = optionsFor(d, state.path(), IsolateMode::kManual);
  ao.evidenceMin = kc::audit::Severity::kHigh;
  kc::respond::AutoResponder responder(ao, registry);
  responder.start();
  const std::string name = unique("kc-manual");
  d.dockerOk("run -d --name " + name + " --network none " + PrivateDockerd::kImage + " sleep 300");
  const std::string id = d.dockerOk("inspect -f '{{.Id}}' " + name);
  kc::audit::Finding f;
  f.rule = "container-outside-kubernetes";
  f.severity = kc::audit::Severity::kHigh;
  f.runtime = "docker";
  f.containerID = id;
  f.containerName = name;
  responder.onFinding(f);
  CHECK(f.details.count("evidence") == 1);
  CHECK(f.details.count("isolation") == 0);
  REQUIRE(eventually([&] { return responder.finished() >= 1; }));
  CHECK(fs::exists(f.details.at("evidence") + "/manifest.json"));
  CHECK(d.dockerOk("inspect -f '{{.State.Paused}}' " + name) == "false");
  // A second finding about the same container within ten minutes points to the same bundle.
  kc::audit::Finding again = f;
  again.details.clear();
  responder.onFinding(again);
  CHECK(again.details.at("evidence") == f.details.at("evidence"));
  // A medium finding asks for nothing.
  kc::audit::Finding medium = f;
  medium.details.clear();
  medium.severity = kc::audit::Severity::kMedium;
  medium.containerID = "other";
  responder.onFinding(medium);
  CHECK(medium.details.empty());
  responder.stop(1s);
  d.dockerOk("rm -f " + name);
}

TEST_CASE("respond accept: a running node role stops reporting what was accepted",
          "[respond][dockerd]") {
  PRIVATE_DOCKERD_OR_SKIP(d);
  kc::testing::TempDir state;
  prometheus::Registry registry;
  kc::node::NodeServiceOptions o = nodeOptions(d, state);
  kc::testing::CollectedFindings collected;
  o.onFinding = collected.sink();
  kc::node::NodeService service(std::move(o), registry);
  std::string error;
  REQUIRE(service.start(error));
  REQUIRE(eventually([&] { return service.ready(); }));
  auto outside = [&](const std::string& id) -> std::optional<kc::audit::Finding> {
    const auto fs = collected.about(id, 1, 0ms, "container-outside-kubernetes");
    if (fs.empty()) return std::nullopt;
    return fs.front();
  };
  const std::string first = unique("kc-build-agent");
  d.dockerOk("run -d --name " + first + " --network none " + PrivateDockerd::kImage + " sleep 300");
  const std::string firstId = d.dockerOk("inspect -f '{{.Id}}' " + first);
  REQUIRE(eventually([&] { return outside(firstId).has_value(); }));

  kc::respond::AcceptOptions ao;
  ao.stateDir = state.path();
  const auto accepted = kc::respond::acceptFinding(kc::audit::toJson(*outside(firstId)).dump(), ao);
  INFO(accepted.error);
  REQUIRE(accepted.ok);
  std::this_thread::sleep_for(1100ms);  // the file is looked at once a second at most

  const std::string second = unique("kc-build-agent");
  d.dockerOk("run -d --name " + second + " --network none " + PrivateDockerd::kImage +
             " sleep 300");
  const std::string secondId = d.dockerOk("inspect -f '{{.Id}}' " + second);
  // A container of another image is still reported: the stream is being judged.
  const std::string third = unique("kc-other");
  d.dockerOk("run -d --name " + third + " --network none " + PrivateDockerd::kTunnelImage +
             " sleep 300");
  const std::string thirdId = d.dockerOk("inspect -f '{{.Id}}' " + third);
  REQUIRE(eventually([&] { return outside(thirdId).has_value(); }));
  CHECK_FALSE(outside(secondId).has_value());
  service.stop(1s);
  d.dockerOk("rm -f " + first + " " + second + " " + third);
}

TEST_CASE("respond accept: an accepted normal is taken in by a running node role",
          "[respond][dockerd]") {
  PRIVATE_DOCKERD_OR_SKIP(d);
  kc::testing::TempDir state;
  kc::respond::AcceptOptions ao;
  ao.stateDir = state.path();
  const auto accepted = kc::respond::acceptFinding(
      R"({"rule":"container-memory-anomaly","severity":"medium","runtime":"docker",)"
      R"("details":{"workload":"shop/Deployment/web","metric":"memory","value":"268435456"}})",
      ao);
  INFO(accepted.error);
  REQUIRE(accepted.ok);
  prometheus::Registry registry;
  kc::node::NodeServiceOptions o = nodeOptions(d, state);
  o.sample = true;
  o.anomaly.normalsPath = state.file("node-normals.json");
  kc::node::NodeService service(std::move(o), registry);
  std::string error;
  REQUIRE(service.start(error));
  REQUIRE(eventually([&] { return service.ready(); }));
  REQUIRE(service.anomaly() != nullptr);
  // The file is read when the rules are first needed: the first container judged.
  const std::string name = unique("kc-normal");
  d.dockerOk("run -d --name " + name + " --network none " + PrivateDockerd::kImage + " sleep 300");
  const auto micros = [] {
    return std::chrono::duration_cast<std::chrono::microseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  };
  CHECK(eventually([&] {
    return service.anomaly()
               ->normals()
               .view("shop/Deployment/web", kc::node::Metric::kMemory, micros())
               .accepted == Approx(268435456.0);
  }));
  service.stop(1s);
  d.dockerOk("rm -f " + name);
}
