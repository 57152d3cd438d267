// The containerd client against a real containerd of the test's own
// (test/node/private_containerd.h): one daemon for the whole binary, started at the first test
// and stopped at exit. Containers run through ctr with no network set up. Without root or when
// containerd cannot start here, every test skips with the reason, and fails instead under
// CI=true or KC_REQUIRE_TOOLS=1.

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <memory>

#include "node/container.h"
#include "node/containerd_client.h"
#include "node/proto/events.grpc.pb.h"
#include "test/node/containerd_fixture.h"
#include "test/node/private_dockerd.h"

namespace {

using kc::node::ContainerdClient;
using kc::node::ContainerdError;
using kc::node::ContainerdEvent;
using kc::node::ContainerdEventKind;
using kc::node::ContainerdEventStream;
using kc::testing::PrivateContainerd;
using namespace std::chrono_literals;

// Reads the stream until `pred` holds for an event, at most `timeout`; every event read is
// appended to `seen`. Returns whether it came.
template <class Pred>
bool readUntil(ContainerdEventStream& stream, std::vector<ContainerdEvent>& seen, Pred pred,
               std::chrono::milliseconds timeout = 20s) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < until) {
    ContainerdEvent e;
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        until - std::chrono::steady_clock::now());
    const auto status = stream.next(e, std::max(left, 1ms));
    if (status == ContainerdEventStream::Status::kEvent) {
      seen.push_back(e);
      if (pred(e)) return true;
    } else if (status != ContainerdEventStream::Status::kIdle) {
      return false;
    }
  }
  return false;
}

const ContainerdEvent* find(const std::vector<ContainerdEvent>& seen, ContainerdEventKind kind,
                            const std::string& id) {
  for (const auto& e : seen)
    if (e.kind == kind && e.containerId == id) return &e;
  return nullptr;
}

// containerd sends no acknowledgement of a subscription: publish a ping event (an unknown type
// on a /tasks/ topic, so that the stream's filters let it through) until it comes back.
void confirmSubscribed(const PrivateContainerd& d, ContainerdEventStream& stream) {
  auto channel = grpc::CreateChannel("unix:" + d.socket(), grpc::InsecureChannelCredentials());
  auto stub = containerd::services::events::v1::Events::NewStub(channel);
  for (int attempt = 0; attempt < 50; ++attempt) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 5s);
    ctx.AddMetadata("containerd-namespace", d.ns());
    containerd::services::events::v1::PublishRequest req;
    req.set_topic("/tasks/kc-ping");
    req.mutable_event()->set_type_url("kc.test.Ping");
    req.mutable_event()->set_value(std::to_string(attempt));
    google::protobuf::Empty resp;
    const grpc::Status status = stub->Publish(&ctx, req, &resp);
    INFO(status.error_message());
    REQUIRE(status.ok());
    std::vector<ContainerdEvent> seen;
    if (readUntil(
            stream, seen, [](const ContainerdEvent& e) { return e.type == "kc.test.Ping"; },
            200ms)) {
      CHECK(seen.back().kind == ContainerdEventKind::kOther);
      CHECK(seen.back().namespace_ == d.ns());
      return;
    }
  }
  FAIL("the subscription never delivered a ping");
}

std::unique_ptr<ContainerdEventStream> subscribed(const PrivateContainerd& d,
                                                  ContainerdClient& client) {
  auto r = client.subscribe();
  INFO(r.message);
  REQUIRE(r.ok());
  confirmSubscribed(d, *r.value);
  return std::move(r.value);
}

std::string run(const PrivateContainerd& d, const std::string& flags, const std::string& id,
                const std::string& command) {
  return d.ctrOk("run -d --null-io " + flags + " " + PrivateContainerd::kImage + " " + id + " " +
                 command);
}

TEST_CASE("Containerd.RunDeliversCreateAndStartAndGetReadsTheSpec", "[node][containerd]") {
  PRIVATE_CONTAINERD_OR_SKIP(d);
  ContainerdClient client(d.socket());
  auto stream = subscribed(d, client);
  run(d, "--label app=web --label io.kubernetes.pod.name=claimed", "kc-web", "sleep 600");

  std::vector<ContainerdEvent> seen;
  REQUIRE(readUntil(*stream, seen, [](const ContainerdEvent& e) {
    return e.kind == ContainerdEventKind::kStart && e.containerId == "kc-web";
  }));
  const ContainerdEvent* create = find(seen, ContainerdEventKind::kCreate, "kc-web");
  REQUIRE(create != nullptr);
  CHECK(create->namespace_ == d.ns());
  CHECK(create->image == PrivateContainerd::kImage);
  CHECK(create->topic == "/containers/create");
  CHECK(create->timeNano > 0);
  const ContainerdEvent* start = find(seen, ContainerdEventKind::kStart, "kc-web");
  CHECK(start->namespace_ == d.ns());
  CHECK(start->pid > 0);

  auto c = client.getContainer(d.ns(), "kc-web");
  INFO(c.message);
  REQUIRE(c.ok());
  CHECK(c.value.runtime == kc::node::Runtime::kContainerd);
  CHECK(c.value.namespace_ == d.ns());
  CHECK(c.value.id == "kc-web");
  CHECK(c.value.image == PrivateContainerd::kImage);
  REQUIRE(c.value.label("app") != nullptr);
  CHECK(*c.value.label("app") == "web");
  CHECK(c.value.command == std::vector<std::string>{"sleep", "600"});
  CHECK(c.value.user == "0:0");
  CHECK_FALSE(c.value.privileged);
  CHECK(c.value.capAdd.empty());
  CHECK(c.value.binds.empty());
  CHECK_FALSE(c.value.hostNetwork);
  CHECK_FALSE(c.value.hostPID);
  CHECK(std::is_sorted(c.value.labels.begin(), c.value.labels.end()));
  // Not the k8s.io namespace: the pod label is a claim, not a kubelet container.
  CHECK_FALSE(kc::node::classify(c.value).kubernetes);

  auto pid = client.taskPid(d.ns(), "kc-web");
  REQUIRE(pid.ok());
  CHECK(pid.value == start->pid);

  auto namespaces = client.namespaces();
  REQUIRE(namespaces.ok());
  CHECK(std::find(namespaces.value.begin(), namespaces.value.end(), d.ns()) !=
        namespaces.value.end());
  auto list = client.listContainers(d.ns());
  REQUIRE(list.ok());
  CHECK(std::any_of(list.value.begin(), list.value.end(),
                    [](const kc::node::Container& x) { return x.id == "kc-web"; }));
  CHECK(client.stats().events >= 2);
  CHECK(client.stats().eventsMalformed == 0);
}

TEST_CASE("Containerd.PrivilegedWithHostRootBindIsSeen", "[node][containerd]") {
  PRIVATE_CONTAINERD_OR_SKIP(d);
  ContainerdClient client(d.socket());
  run(d, "--privileged --mount type=bind,src=/,dst=/host,options=rbind:ro", "kc-priv", "sleep 600");
  auto c = client.getContainer(d.ns(), "kc-priv");
  INFO(c.message);
  REQUIRE(c.ok());
  CHECK(c.value.privileged);
  REQUIRE(c.value.binds.size() == 1);
  CHECK(c.value.binds[0].hostPath == "/");
  CHECK(c.value.binds[0].containerPath == "/host");
  CHECK(c.value.binds[0].readOnly);
  CHECK(c.value.devices.empty());
  CHECK_FALSE(c.value.hostNetwork);
}

TEST_CASE("Containerd.ExecIsSeenWithItsPidAndCommandFromProc", "[node][containerd]") {
  PRIVATE_CONTAINERD_OR_SKIP(d);
  ContainerdClient client(d.socket());
  run(d, "", "kc-exec", "sleep 600");
  auto stream = subscribed(d, client);
  d.ctrOk("task exec -d --fifo-dir " + d.fifoDir() + " --exec-id kc-x1 kc-exec sleep 300");

  std::vector<ContainerdEvent> seen;
  REQUIRE(readUntil(*stream, seen, [](const ContainerdEvent& e) {
    return e.kind == ContainerdEventKind::kExecStarted && e.execId == "kc-x1";
  }));
  const ContainerdEvent* added = find(seen, ContainerdEventKind::kExecAdded, "kc-exec");
  REQUIRE(added != nullptr);
  CHECK(added->execId == "kc-x1");
  CHECK(added->namespace_ == d.ns());
  const ContainerdEvent& started = seen.back();
  CHECK(started.containerId == "kc-exec");
  REQUIRE(started.pid > 0);
  auto command = client.execCommand("/proc", started.pid);
  INFO(command.message);
  REQUIRE(command.ok());
  CHECK(command.value == std::vector<std::string>{"sleep", "300"});

  // A short command: read in time, or gone (the race the docs describe), never anything else.
  d.ctrOk("task exec -d --fifo-dir " + d.fifoDir() +
          " --exec-id kc-x2 kc-exec cat /var/run/secrets/kubernetes.io/serviceaccount/token");
  REQUIRE(readUntil(*stream, seen, [](const ContainerdEvent& e) {
    return e.kind == ContainerdEventKind::kExecStarted && e.execId == "kc-x2";
  }));
  auto token = client.execCommand("/proc", seen.back().pid);
  if (token.ok())
    CHECK(token.value ==
          std::vector<std::string>{"cat", "/var/run/secrets/kubernetes.io/serviceaccount/token"});
  else
    CHECK(token.error == ContainerdError::kNotFound);
  REQUIRE(readUntil(*stream, seen, [](const ContainerdEvent& e) {
    return e.kind == ContainerdEventKind::kExit && e.execId == "kc-x2";
  }));
  CHECK(seen.back().exitStatus == 0);
}

TEST_CASE("Containerd.ContainerGoneBeforeGetIsNotFound", "[node][containerd]") {
  PRIVATE_CONTAINERD_OR_SKIP(d);
  ContainerdClient client(d.socket());
  auto stream = subscribed(d, client);
  d.ctrOk(std::string("run --rm --null-io ") + PrivateContainerd::kImage + " kc-brief true");
  std::vector<ContainerdEvent> seen;
  REQUIRE(readUntil(*stream, seen, [](const ContainerdEvent& e) {
    return e.kind == ContainerdEventKind::kDelete && e.containerId == "kc-brief" &&
           e.topic == "/containers/delete";
  }));
  REQUIRE(find(seen, ContainerdEventKind::kCreate, "kc-brief") != nullptr);
  auto c = client.getContainer(d.ns(), "kc-brief");
  CHECK(c.error == ContainerdError::kNotFound);
  CHECK(client.stats().notFound == 1);
  auto pid = client.taskPid(d.ns(), "kc-brief");
  REQUIRE(pid.ok());
  CHECK(pid.value == 0);
}

TEST_CASE("Containerd.RestartEndsTheStreamAndANewSubscriptionWorks", "[node][containerd]") {
  PRIVATE_CONTAINERD_OR_SKIP(d);
  ContainerdClient client(d.socket());
  auto stream = subscribed(d, client);
  REQUIRE(d.restart());
  ContainerdEvent e;
  auto status = ContainerdEventStream::Status::kIdle;
  for (int i = 0; i < 100 && status == ContainerdEventStream::Status::kIdle; ++i)
    status = stream->next(e, 100ms);
  INFO(stream->error());
  CHECK((status == ContainerdEventStream::Status::kError ||
         status == ContainerdEventStream::Status::kClosed));
  CHECK(client.stats().streamsEnded == 1);

  // The same client (its channel reconnects by itself) subscribes again, and sees a container
  // started after the restart; a List resyncs what came in the gap.
  auto again = subscribed(d, client);
  run(d, "", "kc-after", "sleep 600");
  std::vector<ContainerdEvent> seen;
  REQUIRE(readUntil(*again, seen, [](const ContainerdEvent& ev) {
    return ev.kind == ContainerdEventKind::kStart && ev.containerId == "kc-after";
  }));
  auto list = client.listContainers(d.ns());
  REQUIRE(list.ok());
  CHECK(std::any_of(list.value.begin(), list.value.end(),
                    [](const kc::node::Container& x) { return x.id == "kc-after"; }));
  CHECK(client.stats().subscriptions == 2);
}

}  // namespace
