// The Docker Engine API client against a fake daemon on a unix socket of the test's own:
// malformed, truncated, oversized and slow answers are errors and counters, never a crash.
// test/node/dockerd_test.cc drives the same client against a real dockerd.

#include "node/docker_client.h"

#include <catch2/catch.hpp>
#include <thread>

#include "test/node/fake_socket_server.h"
#include "test/test_util.h"

namespace {

using kc::node::DockerClient;
using kc::node::DockerError;
using kc::node::DockerEvent;
using kc::node::DockerEventKind;
using kc::node::EventStream;
using kc::testing::chunk;
using kc::testing::FakeSocketServer;
using kc::testing::sendAll;
using namespace std::chrono_literals;

std::string jsonAnswer(const std::string& body, int status = 200) {
  return "HTTP/1.1 " + std::to_string(status) + (status == 200 ? " OK" : " Error") +
         "\r\nContent-Type: application/json\r\nApi-Version: 1.41\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n\r\n" + body;
}

const std::string kStreamHead =
    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";

std::string event(const std::string& action, const std::string& id, long long timeNano,
                  const std::string& extra = "") {
  return R"({"status":")" + action + R"(","id":")" + id +
         R"(","from":"kc-test/busybox:1","Type":"container","Action":")" + action +
         R"(","Actor":{"ID":")" + id + R"(","Attributes":{"image":"kc-test/busybox:1",)" + extra +
         R"("name":"tunnel"}},"scope":"local","time":)" + std::to_string(timeNano / 1000000000) +
         R"(,"timeNano":)" + std::to_string(timeNano) + "}\n";
}

TEST_CASE("DecodesTheDaemonsEventLines", "[node][docker]") {
  kc::node::DockerLimits limits;
  DockerEvent e;
  std::string why;
  // As dockerd 20.10 writes an exec (measured on these machines).
  REQUIRE(kc::node::parseDockerEvent(
      R"({"status":"exec_start: cat /var/run/secrets/kubernetes.io/serviceaccount/token","id":"f93e9e38","from":"kc-test/busybox:1","Type":"container","Action":"exec_start: cat /var/run/secrets/kubernetes.io/serviceaccount/token","Actor":{"ID":"f93e9e38","Attributes":{"execID":"a0a4db8a","image":"kc-test/busybox:1","io.kubernetes.pod.name":"p","name":"elegant_thompson"}},"scope":"local","time":1796664719,"timeNano":1796664719465410059})",
      limits, e, why));
  CHECK(e.kind == DockerEventKind::kExecStart);
  CHECK(e.containerId == "f93e9e38");
  CHECK(e.execId == "a0a4db8a");
  CHECK(e.execCommand == "cat /var/run/secrets/kubernetes.io/serviceaccount/token");
  CHECK(e.image == "kc-test/busybox:1");
  CHECK(e.name == "elegant_thompson");
  CHECK(e.attributes ==
        std::vector<std::pair<std::string, std::string>>{{"io.kubernetes.pod.name", "p"}});
  CHECK(e.timeNano == 1796664719465410059LL);
  CHECK(e.time == 1796664719);

  for (const char* bad : {"", "null", "[]", "{", R"({"Type":"network","Action":"connect"})",
                          R"({"Type":"container","Action":"start","time":1})",
                          R"({"Type":"container","Action":"start","Actor":{"ID":"x"}})",
                          R"({"Type":"container","Action":7,"Actor":{"ID":"x"},"time":1})",
                          R"({"Type":"container","Action":"start","Actor":{"ID":"x",
                              "Attributes":{"a":1}},"time":1})"}) {
    INFO(bad);
    CHECK_FALSE(kc::node::parseDockerEvent(bad, limits, e, why));
    CHECK_FALSE(why.empty());
  }

  // Strings are clamped on a character boundary: "\u00e9" is two bytes in UTF-8.
  limits.maxStringBytes = 9;
  REQUIRE(kc::node::parseDockerEvent(
      R"({"Type":"container","Action":"start","Actor":{"ID":"abcdef0123","Attributes":{"name":"abcdefgh\u00e9"}},"time":5})",
      limits, e, why));
  CHECK(e.clamped);
  CHECK(e.containerId == "abcdef012");
  CHECK(e.name == "abcdefgh");
  CHECK(e.timeNano == 5000000000LL);
}

TEST_CASE("FormatsSinceAsSecondsAndNanoseconds", "[node][docker]") {
  CHECK(kc::node::dockerSince(1796664719465410059LL) == "1796664719.465410059");
  CHECK(kc::node::dockerSince(1796664719000000001LL) == "1796664719.000000001");
  CHECK(kc::node::dockerSince(0) == "0.000000000");
}

TEST_CASE("EventResumeSkipsWhatWasSeenBeforeTheReconnect", "[node][docker]") {
  kc::node::EventResume resume;
  DockerEvent a, b, c;
  a.action = "create";
  a.containerId = "a";
  a.timeNano = 100;
  b.action = "start";
  b.containerId = "a";
  b.timeNano = 100;  // the same nanosecond
  c.action = "create";
  c.containerId = "c";
  c.timeNano = 200;
  CHECK(resume.fresh(a));
  CHECK(resume.fresh(b));
  CHECK(resume.lastTimeNano() == 100);
  // The resumed stream (since=100) sends a and b again, then c.
  CHECK_FALSE(resume.fresh(a));
  CHECK_FALSE(resume.fresh(b));
  CHECK(resume.fresh(c));
  CHECK_FALSE(resume.fresh(a));
  CHECK(resume.lastTimeNano() == 200);
}

struct Fixture {
  kc::testing::TempDir dir;
  std::string socket = dir.file("docker.sock");
};

TEST_CASE("NegotiatesTheDaemonsApiVersionAndUsesItAsThePrefix", "[node][docker]") {
  Fixture f;
  std::string api = "1.43";
  FakeSocketServer server(f.socket, [&](const std::string& target, int fd) {
    if (target == "/version")
      sendAll(fd, jsonAnswer(R"({"Version":"24.0.7","ApiVersion":")" + api +
                             R"(","MinAPIVersion":"1.12"})"));
    else
      sendAll(fd, jsonAnswer("[]"));
  });
  REQUIRE(server.listening());
  DockerClient client(f.socket);
  auto v = client.negotiate();
  REQUIRE(v.ok());
  CHECK(v.value.used == "1.43");
  CHECK(v.value.version == "24.0.7");
  REQUIRE(client.listContainers().ok());
  CHECK(server.targets().back() == "/v1.43/containers/json?all=1");

  api = "1.40";  // dockerd 19.03
  DockerClient old(f.socket);
  auto refused = old.negotiate();
  CHECK(refused.error == DockerError::kUnsupported);
  CHECK(refused.message.find("1.41") != std::string::npos);
  CHECK(old.apiVersion() == "1.41");

  api = "one.two";
  DockerClient garbled(f.socket);
  CHECK(garbled.negotiate().error == DockerError::kMalformed);
  CHECK(garbled.stats().malformed == 1);
}

TEST_CASE("AnAbsentSocketIsAConnectError", "[node][docker]") {
  Fixture f;
  DockerClient client(f.socket);
  auto v = client.negotiate();
  CHECK(v.error == DockerError::kConnect);
  CHECK(v.message.find(f.socket) != std::string::npos);
  CHECK(client.stats().connectErrors == 1);
  CHECK(client.events().error == DockerError::kConnect);
  // A path longer than a socket address holds is refused, not thrown.
  DockerClient longPath("/tmp/" + std::string(200, 'x'));
  CHECK(longPath.negotiate().error == DockerError::kConnect);
}

TEST_CASE("ADaemonThatNeverAnswersTimesOut", "[node][docker]") {
  Fixture f;
  std::atomic<bool> release{false};
  FakeSocketServer server(f.socket, [&](const std::string&, int) {
    for (int i = 0; i < 200 && !release; ++i) std::this_thread::sleep_for(10ms);
  });
  kc::node::DockerLimits limits;
  limits.requestTimeout = 200ms;
  DockerClient client(f.socket, limits);
  const auto start = std::chrono::steady_clock::now();
  auto v = client.negotiate();
  const auto took = std::chrono::steady_clock::now() - start;
  release = true;
  CHECK(v.error == DockerError::kTimeout);
  CHECK(took < 1500ms);
  CHECK(client.stats().timeouts == 1);
}

TEST_CASE("BadAnswersAreErrorsWithCounters", "[node][docker]") {
  Fixture f;
  std::string answer;
  FakeSocketServer server(f.socket, [&](const std::string&, int fd) { sendAll(fd, answer); });
  kc::node::DockerLimits limits;
  limits.maxBodyBytes = 1024;
  DockerClient client(f.socket, limits);

  answer = "this is not HTTP\r\n\r\n";
  CHECK(client.listContainers().error == DockerError::kMalformed);

  answer = jsonAnswer("[" + std::string(2000, ' ') + "]");
  auto tooLarge = client.listContainers();
  INFO(tooLarge.message);
  CHECK(tooLarge.error == DockerError::kTooLarge);
  CHECK(client.stats().tooLarge == 1);

  // The same over the cap, chunked.
  answer =
      "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n" +
      chunk("[" + std::string(700, ' ')) + chunk(std::string(700, ' ') + "]") + "0\r\n\r\n";
  CHECK(client.listContainers().error == DockerError::kTooLarge);
  CHECK(client.stats().tooLarge == 2);

  // Cut off inside the body.
  answer = jsonAnswer(R"([{"Id":"abc","Names":["/x"]}])");
  answer.resize(answer.size() - 5);
  CHECK(client.listContainers().error == DockerError::kTruncated);
  CHECK(client.stats().truncated == 1);

  answer = jsonAnswer(R"({"message":"No such container: gone"})", 404);
  auto gone = client.inspectContainer("gone");
  CHECK(gone.error == DockerError::kNotFound);
  CHECK(gone.message == "HTTP 404: No such container: gone");
  CHECK(client.stats().notFound == 1);

  answer = jsonAnswer(R"({"message":"server error"})", 500);
  CHECK(client.inspectExec("abc").error == DockerError::kHttpStatus);

  // A security field of the wrong type fails the whole answer and names the field.
  answer = jsonAnswer(R"({"Id":"abc","HostConfig":{"Privileged":"yes"}})");
  auto wrong = client.inspectContainer("abc");
  CHECK(wrong.error == DockerError::kMalformed);
  CHECK(wrong.message.find("HostConfig.Privileged: expected boolean") != std::string::npos);
  answer = jsonAnswer(R"({"Id":"abc","Mounts":[{"Type":"bind","Source":7}]})");
  CHECK(client.inspectContainer("abc").error == DockerError::kMalformed);
  answer = jsonAnswer(R"({"Id":"abc","Config":{"Labels":{"a":["b"]}}})");
  CHECK(client.inspectContainer("abc").error == DockerError::kMalformed);
  answer = jsonAnswer(R"([1,2])");
  CHECK(client.inspectContainer("abc").error == DockerError::kMalformed);
  answer = jsonAnswer(R"([{"Id":5}])");
  CHECK(client.listContainers().error == DockerError::kMalformed);
  answer = jsonAnswer(R"({"ID":"e1","ProcessConfig":{"arguments":"cat"}})");
  CHECK(client.inspectExec("e1").error == DockerError::kMalformed);
  // Nesting deeper than the parser's cap.
  answer = jsonAnswer(std::string(100, '[') + std::string(100, ']'));
  CHECK(client.listContainers().error == DockerError::kMalformed);

  // Ids that could change the request are refused before anything is sent.
  const auto sent = server.targets().size();
  for (const char* id : {"", "../../version", "abc/json?x=", "a b", "-rf"}) {
    INFO(id);
    CHECK(client.inspectContainer(id).error == DockerError::kInvalidArgument);
    CHECK(client.inspectExec(id).error == DockerError::kInvalidArgument);
  }
  CHECK(server.targets().size() == sent);
}

TEST_CASE("TheRespondersCallsTurnBadAnswersIntoErrors", "[node][docker]") {
  Fixture f;
  std::string answer;
  FakeSocketServer server(f.socket, [&](const std::string&, int fd) { sendAll(fd, answer); });
  kc::node::DockerLimits limits;
  limits.maxBodyBytes = 64u << 10;
  DockerClient client(f.socket, limits);

  // top: cells of the wrong type, rows of the wrong shape; many rows capped, long cells clamped.
  answer = jsonAnswer(R"({"Titles":["PID","CMD"],"Processes":[["1",2]]})");
  CHECK(client.containerTop("abc").error == DockerError::kMalformed);
  answer = jsonAnswer(R"({"Titles":["PID"],"Processes":["1"]})");
  CHECK(client.containerTop("abc").error == DockerError::kMalformed);
  std::string rows;
  for (int i = 0; i < 5000; ++i) rows += std::string(i ? "," : "") + R"(["1"])";
  answer = jsonAnswer(R"({"Titles":["PID"],"Processes":[)" + rows + "]}");
  auto many = client.containerTop("abc");
  REQUIRE(many.ok());
  CHECK(many.value.rows.size() == 4096);
  CHECK(many.value.clamped);
  answer = jsonAnswer(R"({"Titles":["CMD"],"Processes":[[")" + std::string(9000, 'x') + R"("]]})");
  auto longCell = client.containerTop("abc");
  REQUIRE(longCell.ok());
  CHECK(longCell.value.rows[0][0].size() == limits.maxStringBytes);

  // changes: null is no change; a wrong kind is unknown; a wrong type fails.
  bool capped = false;
  answer = jsonAnswer("null");
  auto none = client.containerChanges("abc", capped);
  REQUIRE(none.ok());
  CHECK(none.value.empty());
  answer = jsonAnswer(R"([{"Path":"/x","Kind":9}])");
  auto odd = client.containerChanges("abc", capped);
  REQUIRE(odd.ok());
  CHECK(kc::node::fileChangeKindName(odd.value[0].kind) == "unknown");
  answer = jsonAnswer(R"([{"Path":7,"Kind":1}])");
  CHECK(client.containerChanges("abc", capped).error == DockerError::kMalformed);

  // logs: a frame cut short keeps what came before and says so; over the cap is kTooLarge.
  std::string frame = std::string("\x01\0\0\0\0\0\0\x06", 8) + "hello\n" +
                      std::string("\x02\0\0\0\0\0\0\x50", 8) + "cut";
  answer =
      "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(frame.size()) + "\r\n\r\n" + frame;
  auto logs = client.containerLogs("abc", 10, false);
  REQUIRE(logs.ok());
  CHECK(logs.value == "stdout hello\n");
  CHECK(logs.message.find("cut short") != std::string::npos);
  answer = jsonAnswer(std::string(100u << 10, 'x'));
  CHECK(client.containerLogs("abc", 10, true).error == DockerError::kTooLarge);

  // state: networks of the wrong shape fail and name the field.
  answer = jsonAnswer(R"({"Id":"abc","NetworkSettings":{"Networks":{"n":{"Aliases":"a"}}}})");
  auto st = client.containerState("abc");
  CHECK(st.error == DockerError::kMalformed);
  CHECK(st.message.find("NetworkSettings.Networks") != std::string::npos);

  // Pause, network calls: ids that could change the request are refused before sending.
  const auto sent = server.targets().size();
  CHECK(client.pause("../x").error == DockerError::kInvalidArgument);
  CHECK(client.disconnectNetwork("n/../../", "abc").error == DockerError::kInvalidArgument);
  CHECK(client.connectNetwork("n", "a b", {}).error == DockerError::kInvalidArgument);
  CHECK(server.targets().size() == sent);
  // A refused pause is the daemon's message.
  answer = jsonAnswer(R"({"message":"container abc is not running"})", 409);
  auto refused = client.pause("abc");
  CHECK(refused.error == DockerError::kHttpStatus);
  CHECK(refused.message.find("is not running") != std::string::npos);
}

TEST_CASE("ClampsHugeLabelsAndCommandsWhereTheyEnter", "[node][docker]") {
  Fixture f;
  std::string labels;
  for (int i = 0; i < 300; ++i)
    labels += (i ? "," : "") + std::string("\"l") + std::to_string(i) + "\":\"v\"";
  // 3,000 copies of a 3-byte character: the cut must not split one.
  std::string big;
  for (int i = 0; i < 3000; ++i) big += "\xE2\x82\xAC";
  std::string args;
  for (int i = 0; i < 1000; ++i) args += (i ? "," : "") + std::string("\"x\"");
  const std::string body = R"({"Id":"abc","Name":"/)" + big + R"(","Config":{"Image":"busybox",
      "Cmd":[)" + args + R"(],"Labels":{)" +
                           labels + R"(}},"State":{"Running":true,"Pid":42,
      "StartedAt":"2026-12-07T17:32:04.136567187Z"}})";
  FakeSocketServer server(f.socket,
                          [&](const std::string&, int fd) { sendAll(fd, jsonAnswer(body)); });
  DockerClient client(f.socket);
  auto c = client.inspectContainer("abc");
  REQUIRE(c.ok());
  CHECK(c.value.clamped);
  CHECK(client.stats().clamped == 1);
  CHECK(c.value.name.size() <= client.limits().maxStringBytes);
  CHECK(c.value.name.size() % 3 == 0);
  CHECK(c.value.labels.size() == client.limits().maxLabels);
  CHECK(c.value.command.size() == client.limits().maxListItems);
  CHECK(c.value.pid == 42);
  CHECK(c.value.startedAt == "2026-12-07T17:32:04.136567187Z");
}

TEST_CASE("AMalformedAndTruncatedEventStreamIsCountedNotFatal", "[node][docker]") {
  Fixture f;
  const std::string id = "f93e9e387977470d5aaf405e8cfde6c76fce236f9a7201476a83b178038b54ec";
  const std::string second = event("start", id, 1796664719344982337LL);
  FakeSocketServer server(f.socket, [&](const std::string& target, int fd) {
    sendAll(fd, kStreamHead);
    sendAll(fd, chunk(event("create", id, 1796664718849196433LL)));
    sendAll(fd, chunk("this is not json\n"));
    sendAll(fd, chunk(R"({"Type":"network","Action":"connect","Actor":{"ID":"n"},"time":1})"
                      "\n"));
    sendAll(fd, chunk("[1,2,3]\n"));
    sendAll(fd, chunk(R"({"Type":"container","Action":"start"})"
                      "\n"));
    // A line over the cap, in several chunks, then the next event in two halves.
    sendAll(fd, chunk("{\"Action\":\"" + std::string(40000, 'a')));
    sendAll(fd, chunk(std::string(40000, 'b') + "\"}\n" + second.substr(0, 100)));
    std::this_thread::sleep_for(20ms);
    sendAll(fd, chunk(second.substr(100)));
    // In one write: an event, then a chunk that says 4096 bytes and stops after a few (the
    // daemon died mid-write). The event still comes out before the error.
    sendAll(fd, chunk(event("die", id, 1796664720000000000LL)) + "1000\r\n{\"status\":\"die\"");
  });
  DockerClient client(f.socket);
  auto opened = client.events();
  REQUIRE(opened.ok());
  EventStream& stream = *opened.value;
  DockerEvent e;
  REQUIRE(stream.next(e, 2s) == EventStream::Status::kEvent);
  CHECK(e.kind == DockerEventKind::kCreate);
  CHECK(e.containerId == id);
  REQUIRE(stream.next(e, 2s) == EventStream::Status::kEvent);
  CHECK(e.kind == DockerEventKind::kStart);
  CHECK(e.timeNano == 1796664719344982337LL);
  REQUIRE(stream.next(e, 2s) == EventStream::Status::kEvent);
  CHECK(e.kind == DockerEventKind::kDie);
  CHECK(stream.next(e, 2s) == EventStream::Status::kError);
  CHECK(stream.errorCode() == DockerError::kTruncated);
  CHECK_FALSE(stream.error().empty());
  // Once broken, it stays broken: the caller reconnects.
  CHECK(stream.next(e, 10ms) == EventStream::Status::kError);
  const auto& s = client.stats();
  CHECK(s.events == 3);
  CHECK(s.eventLinesMalformed == 4);
  CHECK(s.eventLinesTooLong == 1);
  CHECK(s.truncated == 1);
  CHECK(server.targets().front() ==
        "/v1.41/events?filters=%7B%22type%22%3A%5B%22container%22%5D%7D");
}

TEST_CASE("AnIdleStreamWaitsThenDeliversAndEndsCleanly", "[node][docker]") {
  Fixture f;
  std::atomic<bool> go{false};
  FakeSocketServer server(f.socket, [&](const std::string&, int fd) {
    sendAll(fd, kStreamHead);
    for (int i = 0; i < 500 && !go; ++i) std::this_thread::sleep_for(10ms);
    sendAll(fd, chunk(event("die", "abc", 1796664720000000000LL, R"("exitCode":"137",)")));
    sendAll(fd, "0\r\n\r\n");
  });
  DockerClient client(f.socket);
  auto opened = client.events(1796664719000000000LL);
  REQUIRE(opened.ok());
  CHECK(server.targets().front().find("&since=1796664719.000000000") != std::string::npos);
  DockerEvent e;
  const auto start = std::chrono::steady_clock::now();
  CHECK(opened.value->next(e, 150ms) == EventStream::Status::kIdle);
  const auto waited = std::chrono::steady_clock::now() - start;
  CHECK(waited >= 150ms);
  CHECK(waited < 1s);
  go = true;
  REQUIRE(opened.value->next(e, 2s) == EventStream::Status::kEvent);
  CHECK(e.kind == DockerEventKind::kDie);
  CHECK(e.exitCode == "137");
  CHECK(opened.value->next(e, 2s) == EventStream::Status::kClosed);
  CHECK(client.stats().truncated == 0);
}

TEST_CASE("AStreamAnsweredWithAnErrorIsAnError", "[node][docker]") {
  Fixture f;
  FakeSocketServer server(f.socket, [&](const std::string&, int fd) {
    sendAll(fd, jsonAnswer(R"({"message":"invalid filter"})", 400));
  });
  DockerClient client(f.socket);
  auto opened = client.events();
  INFO(opened.message);
  CHECK(opened.error == DockerError::kHttpStatus);
  CHECK(client.stats().httpErrors == 1);
}

}  // namespace
