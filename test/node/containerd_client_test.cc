// The containerd client's decoders without a daemon: the OCI runtime spec mapped to a
// Container (from `ctr oci spec`'s default, changed as containerd's options change it), event
// envelopes (bare type names, unknown types, garbage), and exec command lines read from a fake
// /proc tree.

#include "node/containerd_client.h"

#include <catch2/catch.hpp>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "node/proto/event_types.pb.h"
#include "node/proto/events.pb.h"
#include "test/test_util.h"

namespace {

using kc::node::Container;
using kc::node::ContainerdClient;
using kc::node::ContainerdError;
using kc::node::ContainerdEvent;
using kc::node::ContainerdEventKind;
using kc::node::ContainerdLimits;
using nlohmann::json;

// `ctr oci spec` of containerd 1.6.20: the spec of a plain `ctr run`.
json defaultSpec() {
  return json::parse(kc::testing::readFile(std::string(KC_SOURCE_DIR) +
                                           "/test/node/testdata/containerd_default_spec.json"));
}

Container mapped(const json& spec, const ContainerdLimits& limits = {}) {
  Container c;
  std::string error;
  const bool ok = kc::node::parseOciSpec(spec.dump(), limits, c, error);
  INFO(error);
  REQUIRE(ok);
  return c;
}

// What containerd's WithPrivileged does to a spec: every capability, no masked or read-only
// paths, every device allowed, the host's devices added, /sys writable.
json privileged(json spec) {
  json all = json::array();
  for (const char* cap : {"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_SYS_ADMIN", "CAP_NET_ADMIN",
                          "CAP_SYS_MODULE", "CAP_SYS_PTRACE", "CAP_BPF", "CAP_KILL"})
    all.push_back(cap);
  for (const char* set : {"bounding", "effective", "permitted"})
    spec["process"]["capabilities"][set] = all;
  spec["linux"].erase("maskedPaths");
  spec["linux"].erase("readonlyPaths");
  spec["linux"]["resources"]["devices"] = json::array({{{"allow", true}, {"access", "rwm"}}});
  spec["linux"]["devices"] =
      json::array({{{"path", "/dev/sda"}, {"type", "b"}, {"major", 8}, {"minor", 0}},
                   {{"path", "/dev/kmsg"}, {"type", "c"}, {"major", 1}, {"minor", 11}}});
  return spec;
}

TEST_CASE("ContainerdSpec.DefaultContainerIsConfined", "[node][containerd]") {
  json spec = defaultSpec();
  spec["process"]["args"] = {"sleep", "600"};
  const Container c = mapped(spec);
  CHECK(c.command == std::vector<std::string>{"sleep", "600"});
  CHECK(c.user == "0:0");
  CHECK_FALSE(c.privileged);
  CHECK(c.capAdd.empty());
  CHECK_FALSE(c.hostNetwork);
  CHECK_FALSE(c.hostPID);
  CHECK_FALSE(c.hostIPC);
  CHECK(c.binds.empty());
  CHECK(c.devices.empty());
  CHECK_FALSE(c.readOnlyRootfs);
  // ctr applies no seccomp profile unless asked (--seccomp).
  CHECK(c.seccompUnconfined);
  CHECK_FALSE(c.apparmorUnconfined);
  CHECK_FALSE(c.clamped);
}

TEST_CASE("ContainerdSpec.PrivilegedIsPrivilegedWithoutListingCapsOrDevices",
          "[node][containerd]") {
  const Container c = mapped(privileged(defaultSpec()));
  CHECK(c.privileged);
  CHECK(c.capAdd.empty());
  CHECK(c.devices.empty());
}

TEST_CASE("ContainerdSpec.AllCapabilitiesAloneAreAddedCapsNotPrivileged", "[node][containerd]") {
  json spec = privileged(defaultSpec());
  spec["linux"]["maskedPaths"] = {"/proc/kcore"};  // masked paths kept: not --privileged
  const Container c = mapped(spec);
  CHECK_FALSE(c.privileged);
  CHECK(c.capAdd == std::vector<std::string>{"CAP_BPF", "CAP_NET_ADMIN", "CAP_SYS_ADMIN",
                                             "CAP_SYS_MODULE", "CAP_SYS_PTRACE"});
  // Not privileged: the host devices passed in are listed.
  REQUIRE(c.devices.size() == 2);
  CHECK(c.devices[0].hostPath == "/dev/sda");
  CHECK(c.devices[1].containerPath == "/dev/kmsg");
}

TEST_CASE("ContainerdSpec.AddedCapabilityIsListed", "[node][containerd]") {
  json spec = defaultSpec();
  spec["process"]["capabilities"]["bounding"].push_back("CAP_NET_ADMIN");
  spec["process"]["capabilities"]["effective"].push_back("CAP_NET_ADMIN");
  spec["process"]["capabilities"]["effective"].push_back("CAP_SYS_TIME");
  const Container c = mapped(spec);
  CHECK(c.capAdd == std::vector<std::string>{"CAP_NET_ADMIN", "CAP_SYS_TIME"});
  CHECK_FALSE(c.privileged);
}

TEST_CASE("ContainerdSpec.BindMountsOfRootAndRuntimeSocketAreListed", "[node][containerd]") {
  json spec = defaultSpec();
  spec["mounts"].push_back(
      {{"destination", "/host"}, {"type", "bind"}, {"source", "/"}, {"options", {"rbind", "ro"}}});
  // ctr --mount type=none,...,options=rbind: the type is not "bind", the option says it.
  spec["mounts"].push_back({{"destination", "/run/containerd/containerd.sock"},
                            {"type", "none"},
                            {"source", "/run/containerd/containerd.sock"},
                            {"options", {"rbind", "rw"}}});
  const Container c = mapped(spec);
  REQUIRE(c.binds.size() == 2);
  CHECK(c.binds[0].hostPath == "/");
  CHECK(c.binds[0].containerPath == "/host");
  CHECK(c.binds[0].readOnly);
  CHECK(c.binds[1].hostPath == "/run/containerd/containerd.sock");
  CHECK_FALSE(c.binds[1].readOnly);
}

TEST_CASE("ContainerdSpec.MissingNamespacesAreHostNamespaces", "[node][containerd]") {
  json spec = defaultSpec();
  json kept = json::array();
  for (const auto& n : spec["linux"]["namespaces"])
    if (n["type"] != "network" && n["type"] != "pid") kept.push_back(n);
  spec["linux"]["namespaces"] = kept;
  Container c = mapped(spec);
  CHECK(c.hostNetwork);
  CHECK(c.hostPID);
  CHECK_FALSE(c.hostIPC);

  // Joining PID 1's namespace by path is the host's too; a sandbox's is not.
  spec = defaultSpec();
  for (auto& n : spec["linux"]["namespaces"]) {
    if (n["type"] == "network") n["path"] = "/proc/1/ns/net";
    if (n["type"] == "ipc") n["path"] = "/proc/4242/ns/ipc";
  }
  c = mapped(spec);
  CHECK(c.hostNetwork);
  CHECK_FALSE(c.hostIPC);
}

TEST_CASE("ContainerdSpec.ReadonlyRootSeccompAppArmorAndUser", "[node][containerd]") {
  json spec = defaultSpec();
  spec["root"]["readonly"] = true;
  spec["linux"]["seccomp"] = {{"defaultAction", "SCMP_ACT_ERRNO"}};
  spec["process"]["apparmorProfile"] = "unconfined";
  spec["process"]["user"] = {{"uid", 1000}, {"gid", 2000}};
  const Container c = mapped(spec);
  CHECK(c.readOnlyRootfs);
  CHECK_FALSE(c.seccompUnconfined);
  CHECK(c.apparmorUnconfined);
  CHECK(c.user == "1000:2000");
}

TEST_CASE("ContainerdSpec.RefusesOversizedDeepOrWrongShapedSpecs", "[node][containerd]") {
  ContainerdLimits limits;
  Container c;
  std::string error;
  limits.maxSpecBytes = 1024;
  CHECK_FALSE(kc::node::parseOciSpec(defaultSpec().dump(), limits, c, error));
  CHECK(error.find("over 1024 bytes") != std::string::npos);

  limits = {};
  std::string deep(200, '[');
  deep += std::string(200, ']');
  CHECK_FALSE(kc::node::parseOciSpec("{\"x\":" + deep + "}", limits, c, error));
  CHECK(error.find("not JSON") != std::string::npos);

  json spec = defaultSpec();
  spec["process"]["args"] = "sleep 600";
  CHECK_FALSE(kc::node::parseOciSpec(spec.dump(), limits, c, error));
  CHECK(error == "process.args: expected array of strings");
  CHECK_FALSE(kc::node::parseOciSpec("not json", limits, c, error));
  CHECK_FALSE(kc::node::parseOciSpec("[1]", limits, c, error));
  CHECK(error == "spec is not a JSON object");
}

TEST_CASE("ContainerdSpec.ClampsArgumentsAndCapsLists", "[node][containerd]") {
  ContainerdLimits limits;
  limits.maxStringBytes = 8;
  limits.maxListItems = 3;
  json spec = defaultSpec();
  // "ééééé": 10 bytes, cut after four characters, never inside one.
  spec["process"]["args"] = {"\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9", "b", "c", "d"};
  const Container c = mapped(spec, limits);
  REQUIRE(c.command.size() == 3);
  CHECK(c.command[0] == "\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9");
  CHECK(c.clamped);
}

std::string envelope(std::string_view type, const google::protobuf::MessageLite* payload,
                     std::string_view ns = "default", std::string_view topic = "/tasks/start") {
  containerd::services::events::v1::Envelope env;
  env.set_namespace_(std::string(ns));
  env.set_topic(std::string(topic));
  env.mutable_timestamp()->set_seconds(1765000000);
  env.mutable_timestamp()->set_nanos(123);
  env.mutable_event()->set_type_url(std::string(type));
  if (payload != nullptr) env.mutable_event()->set_value(payload->SerializeAsString());
  return env.SerializeAsString();
}

TEST_CASE("ContainerdEvents.DecodesBareTypeNames", "[node][containerd]") {
  ContainerdLimits limits;
  ContainerdEvent e;
  std::string error;

  containerd::events::TaskStart start;
  start.set_container_id("web");
  start.set_pid(4242);
  REQUIRE(kc::node::parseContainerdEnvelope(envelope(kc::node::kEventTaskStart, &start), limits, e,
                                            error));
  CHECK(e.kind == ContainerdEventKind::kStart);
  CHECK(e.namespace_ == "default");
  CHECK(e.topic == "/tasks/start");
  CHECK(e.containerId == "web");
  CHECK(e.pid == 4242);
  CHECK(e.timeNano == 1765000000000000123);

  containerd::events::ContainerCreate create;
  create.set_id("web");
  create.set_image("docker.io/library/busybox:1");
  create.mutable_runtime()->set_name("io.containerd.runc.v2");
  REQUIRE(kc::node::parseContainerdEnvelope(
      envelope(kc::node::kEventContainerCreate, &create, "k8s.io", "/containers/create"), limits, e,
      error));
  CHECK(e.kind == ContainerdEventKind::kCreate);
  CHECK(e.image == "docker.io/library/busybox:1");
  CHECK(e.namespace_ == "k8s.io");

  containerd::events::TaskExecStarted exec;
  exec.set_container_id("web");
  exec.set_exec_id("x1");
  exec.set_pid(5000);
  REQUIRE(kc::node::parseContainerdEnvelope(envelope(kc::node::kEventTaskExecStarted, &exec),
                                            limits, e, error));
  CHECK(e.kind == ContainerdEventKind::kExecStarted);
  CHECK(e.execId == "x1");
  CHECK(e.pid == 5000);

  containerd::events::TaskExit exit;
  exit.set_container_id("web");
  exit.set_id("x1");
  exit.set_exit_status(137);
  REQUIRE(kc::node::parseContainerdEnvelope(envelope(kc::node::kEventTaskExit, &exit), limits, e,
                                            error));
  CHECK(e.kind == ContainerdEventKind::kExit);
  CHECK(e.exitStatus == 137);

  containerd::events::ContainerDelete del;
  del.set_id("web");
  REQUIRE(kc::node::parseContainerdEnvelope(envelope(kc::node::kEventContainerDelete, &del), limits,
                                            e, error));
  CHECK(e.kind == ContainerdEventKind::kDelete);
}

TEST_CASE("ContainerdEvents.UnknownTypesAreOtherAndGarbageIsRefused", "[node][containerd]") {
  ContainerdLimits limits;
  ContainerdEvent e;
  std::string error;
  containerd::events::TaskStart start;
  start.set_container_id("web");
  // A URL-style name is not what containerd sends: another type, not a TaskStart.
  REQUIRE(kc::node::parseContainerdEnvelope(
      envelope("type.googleapis.com/containerd.events.TaskStart", &start), limits, e, error));
  CHECK(e.kind == ContainerdEventKind::kOther);
  CHECK(e.containerId.empty());
  REQUIRE(kc::node::parseContainerdEnvelope(
      envelope("containerd.events.SnapshotPrepare", nullptr, "default", "/snapshot/prepare"),
      limits, e, error));
  CHECK(e.kind == ContainerdEventKind::kOther);
  CHECK(e.topic == "/snapshot/prepare");

  CHECK_FALSE(kc::node::parseContainerdEnvelope("\xff\xff\xff\xff garbage", limits, e, error));
  CHECK(error == "not an envelope");

  // A known type whose payload is not that message.
  containerd::services::events::v1::Envelope env;
  env.set_namespace_("default");
  env.mutable_event()->set_type_url(std::string(kc::node::kEventTaskStart));
  env.mutable_event()->set_value("\x0a\xff\xff\xff\xff\x0f");
  CHECK_FALSE(kc::node::parseContainerdEnvelope(env.SerializeAsString(), limits, e, error));
  CHECK(error.find("does not parse") != std::string::npos);
}

TEST_CASE("ContainerdEvents.ClampsStrings", "[node][containerd]") {
  ContainerdLimits limits;
  limits.maxStringBytes = 16;
  containerd::events::TaskStart start;
  start.set_container_id(std::string(100, 'a'));
  ContainerdEvent e;
  std::string error;
  REQUIRE(kc::node::parseContainerdEnvelope(envelope(kc::node::kEventTaskStart, &start), limits, e,
                                            error));
  CHECK(e.containerId.size() == 16);
  CHECK(e.clamped);
}

TEST_CASE("ContainerdExecCommand.ReadsCmdlineFromAProcTree", "[node][containerd]") {
  kc::testing::TempDir proc;
  ContainerdLimits limits;
  limits.maxCmdlineBytes = 1024;
  limits.maxListItems = 8;
  // Nothing listens on the socket: execCommand never calls the daemon.
  ContainerdClient client(proc.file("none.sock"), limits);
  auto put = [&](int pid, const std::string& bytes) {
    std::filesystem::create_directories(proc.file(std::to_string(pid)));
    kc::testing::writeFile(proc.file(std::to_string(pid) + "/cmdline"), bytes);
  };
  put(10, std::string("cat\0/var/run/secrets/kubernetes.io/serviceaccount/token\0", 57));
  put(11, "");
  put(12, std::string(5000, 'x'));
  put(13, "nginx: worker process");
  put(14, std::string("a\0b\0c\0d\0e\0f\0g\0h\0i\0j\0", 20));

  auto r = client.execCommand(proc.path(), 10);
  REQUIRE(r.ok());
  CHECK(r.value ==
        std::vector<std::string>{"cat", "/var/run/secrets/kubernetes.io/serviceaccount/token"});

  r = client.execCommand(proc.path(), 11);
  CHECK(r.error == ContainerdError::kNotFound);

  r = client.execCommand(proc.path(), 12);
  REQUIRE(r.ok());
  REQUIRE(r.value.size() == 1);
  CHECK(r.value[0].size() <= limits.maxStringBytes);

  r = client.execCommand(proc.path(), 13);
  REQUIRE(r.ok());
  CHECK(r.value == std::vector<std::string>{"nginx: worker process"});

  r = client.execCommand(proc.path(), 14);
  REQUIRE(r.ok());
  CHECK(r.value.size() == 8);

  r = client.execCommand(proc.path(), 99);
  CHECK(r.error == ContainerdError::kNotFound);
  CHECK(client.execCommand(proc.path(), -1).error == ContainerdError::kInvalidArgument);

  CHECK(client.stats().execCommandsRead == 3 + 1);
  CHECK(client.stats().execCommandsGone == 2);
  CHECK(client.stats().clamped == 2);
}

TEST_CASE("ContainerdClient.UnreachableDaemonIsUnavailable", "[node][containerd]") {
  kc::testing::TempDir dir;
  ContainerdLimits limits;
  limits.callTimeout = std::chrono::milliseconds(2000);
  ContainerdClient client(dir.file("absent.sock"), limits);
  auto r = client.getContainer("default", "web");
  CHECK(r.error == ContainerdError::kUnavailable);
  CHECK(client.stats().unavailable == 1);
  CHECK(client.getContainer("default", "../etc").error == ContainerdError::kInvalidArgument);
  auto stream = client.subscribe();
  REQUIRE(stream.ok());
  ContainerdEvent e;
  auto status = stream.value->next(e, std::chrono::milliseconds(2000));
  CHECK(status == kc::node::ContainerdEventStream::Status::kError);
  CHECK(stream.value->errorCode() == ContainerdError::kUnavailable);
}

}  // namespace
