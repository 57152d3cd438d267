// The responder against a real containerd of the test's own: an evidence bundle of a `ctr run`
// container holds its configuration (OCI spec, environment values left out), its processes
// and its sockets, and says that containerd keeps no logs or diff; isolation pauses its task and
// release resumes it; allow-listed containers are refused; a daemon that is down is a clear
// error with nothing left behind.

#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <thread>

#include "respond/responder.h"
#include "test/node/containerd_fixture.h"
#include "test/test_util.h"

namespace {

using kc::respond::ContainerRef;
using kc::respond::Outcome;
using kc::respond::Responder;
using kc::respond::RespondOptions;
using kc::testing::PrivateContainerd;
using json = nlohmann::json;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

RespondOptions optionsFor(const PrivateContainerd& d, const std::string& stateDir) {
  RespondOptions o;
  o.stateDir = stateDir;
  o.dockerSocket = "";
  o.containerdSocket = d.socket();
  o.isolate = kc::respond::IsolateMode::kManual;
  return o;
}

std::string taskStatus(const PrivateContainerd& d, const std::string& id) {
  // "TASK  PID  STATUS" rows.
  const std::string out = d.ctrOk("task ls");
  const auto at = out.find(id + " ");
  if (at == std::string::npos) return "";
  const auto end = out.find('\n', at);
  const std::string row = out.substr(at, end == std::string::npos ? std::string::npos : end - at);
  for (const char* s : {"RUNNING", "PAUSED", "STOPPED", "PAUSING", "CREATED"})
    if (row.find(s) != std::string::npos) return s;
  return "";
}

}  // namespace

TEST_CASE("respond: a containerd container's evidence, isolation and release",
          "[respond][containerd]") {
  PRIVATE_CONTAINERD_OR_SKIP(d);
  kc::testing::TempDir state;
  const std::string id = "kc-respond-" + std::to_string(::getpid());
  d.ctrOk("run -d --null-io --env SECRET_TOKEN=hunter2 " + std::string(PrivateContainerd::kImage) +
          " " + id + " sh -c 'nc -l -p 9090 & sleep 600'");
  Responder r(optionsFor(d, state.path()));
  ContainerRef c;
  std::string error;
  // By a prefix, found in the test's namespace.
  REQUIRE(r.resolve(id.substr(0, id.size() - 1), std::nullopt, "", c, error));
  CHECK(c.runtime == kc::node::Runtime::kContainerd);
  CHECK(c.namespace_ == d.ns());
  CHECK(c.id == id);

  // The listener may take a moment to bind.
  Outcome o;
  for (int attempt = 0; attempt < 50; ++attempt) {
    o = r.evidence(c, "", false);
    REQUIRE(o.ok);
    if (kc::testing::readFile(o.path + "/network.json").find(":9090") != std::string::npos) break;
    std::this_thread::sleep_for(100ms);
  }
  const json manifest = json::parse(kc::testing::readFile(o.path + "/manifest.json"));
  for (const auto& f : manifest["files"])
    CHECK(f["sha256"] == kc::respond::sha256Hex(
                             kc::testing::readFile(o.path + "/" + f["name"].get<std::string>())));
  const std::string config = kc::testing::readFile(o.path + "/container.json");
  CHECK(config.find("SECRET_TOKEN") != std::string::npos);
  CHECK(config.find("hunter2") == std::string::npos);
  CHECK(json::parse(config)["spec"]["process"]["args"].dump().find("nc -l -p 9090") !=
        std::string::npos);
  const std::string processes = kc::testing::readFile(o.path + "/processes.json");
  CHECK(processes.find("sleep 600") != std::string::npos);
  CHECK(processes.find("nc -l -p 9090") != std::string::npos);
  const json sockets = json::parse(kc::testing::readFile(o.path + "/network.json"));
  bool listening = false;
  for (const auto& s : sockets)
    if ((s["local"] == "0.0.0.0:9090" || s["local"] == "[::]:9090") && s["state"] == "LISTEN" &&
        s.contains("pids"))
      listening = true;
  INFO(sockets.dump());
  CHECK(listening);
  CHECK_FALSE(fs::exists(o.path + "/logs.txt"));
  CHECK_FALSE(fs::exists(o.path + "/changes.json"));
  std::string notes = manifest["notes"].dump();
  CHECK(notes.find("containerd keeps no logs") != std::string::npos);
  CHECK(notes.find("no diff") != std::string::npos);

  // Isolation pauses the task; release resumes it.
  const Outcome dry = r.isolate(c, {}, true);
  REQUIRE(dry.ok);
  CHECK(taskStatus(d, id) == "RUNNING");
  const Outcome iso = r.isolate(c, {"manual", "container-exec", "high", "test"}, false);
  INFO(iso.error);
  REQUIRE(iso.ok);
  CHECK(taskStatus(d, id) == "PAUSED");
  bool said = false;
  for (const auto& n : iso.notes)
    if (n.find("NetworkPolicy") != std::string::npos) said = true;
  CHECK(said);
  // A frozen container's evidence is still readable.
  const Outcome frozen = r.evidence(c, "", false);
  CHECK(frozen.ok);
  const Outcome rel = r.release(c, false);
  INFO(rel.error);
  REQUIRE(rel.ok);
  CHECK(taskStatus(d, id) == "RUNNING");

  // A daemon that is down.
  RespondOptions down = optionsFor(d, state.path());
  down.containerdSocket = state.file("no-containerd.sock");
  kc::node::ContainerdLimits quick;
  quick.callTimeout = 1s;
  down.containerdLimits = quick;
  Responder rd(down);
  const Outcome od = rd.evidence(c, "", false);
  CHECK_FALSE(od.ok);
  CHECK_FALSE(od.error.empty());
  for (const auto& e : fs::directory_iterator(state.path() + "/evidence"))
    CHECK(e.path().filename().string().rfind(".partial-", 0) != 0);
  d.ctrOk("task kill -s KILL " + id);
  for (int i = 0; i < 50 && taskStatus(d, id) == "RUNNING"; ++i) std::this_thread::sleep_for(50ms);
  d.ctr("task rm -f " + id, error);
  d.ctr("container rm " + id, error);
}

TEST_CASE("respond: an allow-listed containerd container is never isolated",
          "[respond][containerd]") {
  PRIVATE_CONTAINERD_OR_SKIP(d);
  kc::testing::TempDir state;
  RespondOptions o = optionsFor(d, state.path());
  std::string error;
  REQUIRE(kc::node::OutsideAllowList::parse({"name:kc-agent-*"}, o.allowed, error));
  Responder r(o);
  const std::string id = "kc-agent-" + std::to_string(::getpid());
  d.ctrOk("run -d --null-io " + std::string(PrivateContainerd::kImage) + " " + id + " sleep 600");
  ContainerRef c;
  REQUIRE(r.resolve(id, kc::node::Runtime::kContainerd, d.ns(), c, error));
  const Outcome out = r.isolate(c, {}, false);
  CHECK(out.refused);
  CHECK(out.error.find("allowed outside Kubernetes by \"name:kc-agent-*\"") != std::string::npos);
  CHECK(taskStatus(d, id) == "RUNNING");
  d.ctrOk("task kill -s KILL " + id);
  for (int i = 0; i < 50 && taskStatus(d, id) == "RUNNING"; ++i) std::this_thread::sleep_for(50ms);
  d.ctr("task rm -f " + id, error);
  d.ctr("container rm " + id, error);
}
