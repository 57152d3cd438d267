// The responder's pure parts: /proc socket tables, Docker's multiplexed log frames, environment
// values left out, the depth check, the sums; `respond accept` into the node's accepted file and
// the audit baseline; the automatic responder's choices (severity, rate limit, one bundle per
// container) without a runtime.

#include <catch2/catch.hpp>
#include <filesystem>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "controller/detect/baseline.h"
#include "node/allow_list.h"
#include "node/docker_client.h"
#include "respond/accept.h"
#include "respond/auto_responder.h"
#include "respond/proc_net.h"
#include "respond/responder.h"
#include "test/test_util.h"

using json = nlohmann::json;
namespace fs = std::filesystem;

TEST_CASE("respond: /proc/<pid>/net tables read as sockets", "[respond]") {
  const std::string tcp =
      "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  "
      "timeout inode\n"
      "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        "
      "0 16831 1 0000000000000000 100 0 0 10 0\n"
      "   1: 0200000A:C350 0101A8C0:01BB 01 00000000:00000000 00:00000000 00000000  1000        "
      "0 16900 1 0000000000000000 20 4 30 10 -1\n"
      "   2: garbage\n";
  const auto s = kc::respond::parseInetSockets(tcp, "tcp", 100);
  REQUIRE(s.size() == 2);
  CHECK(s[0].local == "127.0.0.1:8080");
  CHECK(s[0].remote == "0.0.0.0:0");
  CHECK(s[0].state == "LISTEN");
  CHECK(s[0].inode == 16831);
  CHECK(s[1].local == "10.0.0.2:50000");
  CHECK(s[1].remote == "192.168.1.1:443");
  CHECK(s[1].state == "ESTABLISHED");
  CHECK(s[1].uid == 1000);
  CHECK(kc::respond::parseInetSockets(tcp, "tcp", 1).size() == 1);

  const std::string tcp6 =
      "  sl  local_address                         remote_address                        st "
      "tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
      "   0: 00000000000000000000000001000000:0035 00000000000000000000000000000000:0000 0A "
      "00000000:00000000 00:00000000 00000000     0        0 555 1 0000000000000000 100 0 0 10 "
      "0\n";
  const auto s6 = kc::respond::parseInetSockets(tcp6, "tcp6", 100);
  REQUIRE(s6.size() == 1);
  CHECK(s6[0].local == "[::1]:53");

  const std::string udp =
      "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  "
      "timeout inode ref pointer drops\n"
      "  100: 00000000:0044 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        "
      "0 777 2 0000000000000000 0\n";
  const auto u = kc::respond::parseInetSockets(udp, "udp", 100);
  REQUIRE(u.size() == 1);
  CHECK(u[0].state == "UNCONNECTED");
  CHECK(u[0].local == "0.0.0.0:68");

  const std::string unix =
      "Num       RefCount Protocol Flags    Type St Inode Path\n"
      "0000000000000000: 00000002 00000000 00010000 0001 01 12345 /run/with space.sock\n"
      "0000000000000000: 00000003 00000000 00000000 0001 03 12346\n";
  const auto x = kc::respond::parseUnixSockets(unix, 100);
  REQUIRE(x.size() == 2);
  CHECK(x[0].local == "/run/with space.sock");
  CHECK(x[0].state == "UNCONNECTED");
  CHECK(x[1].local.empty());
  CHECK(x[1].state == "CONNECTED");
}

TEST_CASE("respond: the sockets and processes of this very process, from /proc", "[respond]") {
  std::vector<std::string> notes;
  const auto sockets = kc::respond::readSockets("/proc", ::getpid(), {::getpid()}, 100000, notes);
  for (const auto& n : notes) CHECK(n.find("capped") == std::string::npos);
  const auto p = kc::respond::readProcess("/proc", ::getpid());
  CHECK_FALSE(p.gone);
  CHECK(p.command.find("respond_test") != std::string::npos);
  CHECK(p.ppid > 0);
  CHECK_FALSE(p.uids.empty());
  CHECK(kc::respond::readProcess("/proc", 0x3ffffff0).gone);
  std::vector<std::string> none;
  CHECK(kc::respond::readSockets("/proc", 0, {}, 10, none).empty());
  CHECK(none.size() == 1);
}

TEST_CASE("respond: Docker's multiplexed log frames", "[respond]") {
  auto frame = [](char stream, const std::string& text) {
    std::string f(8, '\0');
    f[0] = stream;
    f[4] = static_cast<char>((text.size() >> 24) & 0xff);
    f[5] = static_cast<char>((text.size() >> 16) & 0xff);
    f[6] = static_cast<char>((text.size() >> 8) & 0xff);
    f[7] = static_cast<char>(text.size() & 0xff);
    return f + text;
  };
  std::string out;
  REQUIRE(kc::node::demuxDockerLogs(
      frame(1, "one\ntw") + frame(1, "o\n") + frame(2, "oops\n") + frame(1, "three\n"), out));
  CHECK(out == "stdout one\nstdout two\nstderr oops\nstdout three\n");
  out.clear();
  CHECK_FALSE(kc::node::demuxDockerLogs(frame(1, "fine\n") + frame(1, "cut").substr(0, 9), out));
  CHECK(out == "stdout fine\n");
  out.clear();
  CHECK_FALSE(kc::node::demuxDockerLogs(frame(7, "x"), out));
}

TEST_CASE("respond: environment values are left out; deep JSON is refused; sums", "[respond]") {
  json docker = {{"Config", {{"Env", {"PATH=/bin", "TOKEN=s3cret", "EMPTY="}}}}};
  kc::respond::redactEnv(docker, false);
  CHECK(docker["Config"]["Env"] == json({"PATH", "TOKEN", "EMPTY"}));
  json spec = {{"process", {{"env", {"A=1"}}}}};
  kc::respond::redactEnv(spec, true);
  CHECK(spec["process"]["env"] == json({"A"}));
  json odd = {{"Config", {{"Env", "not a list"}}}};
  kc::respond::redactEnv(odd, false);  // left alone
  CHECK(odd["Config"]["Env"] == "not a list");

  CHECK_FALSE(kc::respond::jsonDeeperThan(R"({"a":[{"b":"[[[[[[["}]})", 3));
  CHECK(kc::respond::jsonDeeperThan(std::string(65, '[') + std::string(65, ']'), 64));
  CHECK_FALSE(kc::respond::jsonDeeperThan(std::string(64, '[') + std::string(64, ']'), 64));
  CHECK(kc::respond::jsonDeeperThan(R"({"s":"\"{","x":[[[[]]]]})", 4));

  CHECK(kc::respond::sha256Hex("abc") ==
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST_CASE("respond: isolate modes", "[respond]") {
  kc::respond::IsolateMode m;
  for (const char* name : {"off", "manual", "high", "critical"}) {
    REQUIRE(kc::respond::parseIsolateMode(name, m));
    CHECK(kc::respond::isolateModeName(m) == name);
  }
  CHECK_FALSE(kc::respond::parseIsolateMode("on", m));
  CHECK(kc::respond::autoIsolateSeverity(kc::respond::IsolateMode::kManual) == std::nullopt);
  CHECK(kc::respond::autoIsolateSeverity(kc::respond::IsolateMode::kHigh) ==
        kc::audit::Severity::kHigh);
}

TEST_CASE("respond accept: the node's allow-list and normals, from findings and log lines",
          "[respond]") {
  kc::testing::TempDir state;
  kc::respond::AcceptOptions o;
  o.stateDir = state.path();
  const std::string outside =
      R"({"ts":"2026-12-07T10:00:00Z","level":"warn","event_type":"node_finding",)"
      R"("rule":"container-outside-kubernetes","severity":"high","runtime":"docker",)"
      R"("image":"ngrok/ngrok:latest","containerID":"abc"})";
  const std::string anomaly =
      R"({"rule":"container-cpu-anomaly","severity":"medium","runtime":"docker",)"
      R"("details":{"workload":"shop/web","metric":"cpu","value":"1.75"}})";

  o.dryRun = true;
  auto dry = kc::respond::acceptFinding(outside + "\n" + anomaly + "\n", o);
  REQUIRE(dry.ok);
  CHECK(dry.steps.at(0).rfind("would allow image:docker.io/ngrok/ngrok ", 0) == 0);
  CHECK_FALSE(fs::exists(kc::respond::nodeAcceptedPath(state.path())));

  o.dryRun = false;
  auto done = kc::respond::acceptFinding("[" + outside + "," + anomaly + "]", o);
  INFO(done.error);
  REQUIRE(done.ok);
  kc::respond::NodeAccepted a;
  std::string error;
  REQUIRE(kc::respond::loadNodeAccepted(kc::respond::nodeAcceptedPath(state.path()), a, error));
  CHECK(a.allowedOutsideKubernetes == std::vector<std::string>{"image:docker.io/ngrok/ngrok"});
  // What it wrote is what the node role reads.
  kc::node::OutsideAllowList list;
  REQUIRE(kc::node::OutsideAllowList::parse(a.allowedOutsideKubernetes, list, error));
  kc::node::Container tunnel;
  tunnel.image = "ngrok/ngrok:3";
  CHECK(list.allows(tunnel) == "image:docker.io/ngrok/ngrok");
  REQUIRE(a.normals.size() == 1);
  CHECK(a.normals[0].workload == "shop/web");
  CHECK(a.normals[0].metric == "cpu");
  CHECK(a.normals[0].value == Approx(1.75));

  // Again: nothing changes, and it says so.
  auto again = kc::respond::acceptFinding(outside, o);
  REQUIRE(again.ok);
  CHECK(again.steps.at(0).find("already") != std::string::npos);

  // Rules that are tuned elsewhere are refused with where to tune them.
  auto other = kc::respond::acceptFinding(
      R"({"rule":"container-exec","severity":"high","runtime":"docker"})", o);
  CHECK(other.refused);
  REQUIRE(other.notes.size() == 1);
  CHECK(other.notes[0].find("docs/detections.md#container-exec") != std::string::npos);
  CHECK_FALSE(kc::respond::acceptFinding("not json\n", o).ok);
  auto bad = kc::respond::acceptFinding(
      R"({"rule":"container-cpu-anomaly","details":{"workload":"w","metric":"nope","value":"1"}})",
      o);
  CHECK(bad.refused);

  // A damaged accepted file is an error, not an empty list.
  kc::testing::writeFile(kc::respond::nodeAcceptedPath(state.path()), "{oops");
  CHECK_FALSE(kc::respond::loadNodeAccepted(kc::respond::nodeAcceptedPath(state.path()), a, error));
  CHECK_FALSE(kc::respond::acceptFinding(outside, o).ok);
}

TEST_CASE("respond accept: the audit door's baseline findings go into its baseline", "[respond]") {
  kc::testing::TempDir state;
  kc::respond::AcceptOptions o;
  o.stateDir = state.path();
  const std::string finding =
      R"({"rule":"unexpected-image-source","severity":"medium","namespace":"shop",)"
      R"("kind":"Deployment","details":{"value":"evil.example"}})";
  auto out = kc::respond::acceptFinding(finding, o);
  INFO(out.error);
  REQUIRE(out.ok);
  CHECK(out.steps.at(0).find("into the baseline") != std::string::npos);
  kc::audit::BaselineOptions bo;
  bo.learningFromFile = true;
  kc::audit::Baseline saved(bo);
  std::string why;
  REQUIRE(saved.load(state.file("baseline.json"), &why));
  CHECK(saved.show().dump().find("evil.example") != std::string::npos);
}

TEST_CASE("respond: the automatic responder asks for what the severity says, rate-limited",
          "[respond]") {
  kc::testing::TempDir state;
  prometheus::Registry registry;
  kc::respond::AutoResponderOptions o;
  o.respond.stateDir = state.path();
  o.respond.dockerSocket = state.file("no-docker.sock");
  o.respond.isolate = kc::respond::IsolateMode::kCritical;
  o.evidenceMin = kc::audit::Severity::kHigh;
  o.evidencePerMinute = 2;
  std::vector<json> responses;
  std::mutex mu;
  o.onResponse = [&](const json& j) {
    std::lock_guard lock(mu);
    responses.push_back(j);
  };
  kc::respond::AutoResponder r(o, registry);
  r.start();
  auto finding = [](const std::string& id, kc::audit::Severity s) {
    kc::audit::Finding f;
    f.rule = "container-outside-kubernetes";
    f.severity = s;
    f.runtime = "docker";
    f.containerID = id;
    return f;
  };
  auto low = finding("a1", kc::audit::Severity::kMedium);
  r.onFinding(low);
  CHECK(low.details.empty());
  auto audit = finding("a2", kc::audit::Severity::kCritical);
  audit.runtime.clear();  // an audit door finding: not the node responder's
  r.onFinding(audit);
  CHECK(audit.details.empty());
  auto high = finding("b1", kc::audit::Severity::kHigh);
  r.onFinding(high);
  CHECK(high.details.count("evidence") == 1);
  CHECK(high.details.count("isolation") == 0);
  auto critical = finding("b2", kc::audit::Severity::kCritical);
  r.onFinding(critical);
  CHECK(critical.details.count("evidence") == 1);
  CHECK(critical.details.at("isolation") == "requested");
  // The bucket held two: the third container gets no bundle.
  auto third = finding("b3", kc::audit::Severity::kHigh);
  r.onFinding(third);
  CHECK(third.details.count("evidence") == 0);
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (r.finished() < 3 && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  r.stop(std::chrono::seconds(1));
  // No daemon there: each response failed, clearly, and nothing was left in the state dir.
  std::lock_guard lock(mu);
  REQUIRE(responses.size() == 3);  // evidence b1, isolate b2, evidence b2
  for (const auto& j : responses) {
    CHECK(j["outcome"] == "failed");
    CHECK(j["error"].get<std::string>().find("cannot connect") != std::string::npos);
  }
  std::size_t entries = 0;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(state.path() + "/evidence", ec)) {
    (void)e;
    ++entries;
  }
  CHECK(entries == 0);
}
