#include "node/containerd_client.h"

#include <fcntl.h>
#include <grpcpp/grpcpp.h>
#include <simdjson.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <exception>
#include <optional>

#include "common/utf8.h"
#include "node/json_reader.h"
#include "node/proto/containers.grpc.pb.h"
#include "node/proto/event_types.pb.h"
#include "node/proto/events.grpc.pb.h"
#include "node/proto/namespaces.grpc.pb.h"
#include "node/proto/tasks.grpc.pb.h"

namespace kc::node {

namespace cevents = ::containerd::events;
namespace ceventsvc = ::containerd::services::events::v1;
namespace ccontainers = ::containerd::services::containers::v1;
namespace ctasks = ::containerd::services::tasks::v1;
namespace cnamespaces = ::containerd::services::namespaces::v1;
using simdjson::dom::array;
using simdjson::dom::element;
using simdjson::dom::object;

namespace {

// The metadata key containerd reads the namespace of a call from.
constexpr const char* kNamespaceMetadata = "containerd-namespace";
// Container.spec's type: the OCI runtime spec, as JSON.
constexpr std::string_view kSpecType = "types.containerd.io/opencontainers/runtime-spec/1/Spec";

}  // namespace

std::string_view containerdErrorName(ContainerdError e) {
  switch (e) {
    case ContainerdError::kNone:
      return "none";
    case ContainerdError::kUnavailable:
      return "unavailable";
    case ContainerdError::kTimeout:
      return "timeout";
    case ContainerdError::kNotFound:
      return "not_found";
    case ContainerdError::kTooLarge:
      return "too_large";
    case ContainerdError::kMalformed:
      return "malformed";
    case ContainerdError::kInvalidArgument:
      return "invalid_argument";
    case ContainerdError::kRpc:
      return "rpc";
  }
  return "unknown";
}

std::string_view containerdEventKindName(ContainerdEventKind k) {
  switch (k) {
    case ContainerdEventKind::kCreate:
      return "create";
    case ContainerdEventKind::kStart:
      return "start";
    case ContainerdEventKind::kExecAdded:
      return "exec_added";
    case ContainerdEventKind::kExecStarted:
      return "exec_started";
    case ContainerdEventKind::kExit:
      return "exit";
    case ContainerdEventKind::kDelete:
      return "delete";
    case ContainerdEventKind::kOther:
      return "other";
  }
  return "other";
}

const std::vector<std::string>& containerdEventFilters() {
  static const std::vector<std::string> filters = {R"(topic~="^/containers/")",
                                                   R"(topic~="^/tasks/")"};
  return filters;
}

const std::vector<std::string_view>& containerdDefaultCapabilities() {
  // containerd 1.6 oci/spec.go defaultUnixCaps(); runc's libcontainer/specconv Example() and
  // Docker's oci/caps/defaults.go give the same fourteen.
  static const std::vector<std::string_view> caps = {
      "CAP_CHOWN",   "CAP_DAC_OVERRIDE", "CAP_FSETID",           "CAP_FOWNER",
      "CAP_MKNOD",   "CAP_NET_RAW",      "CAP_SETGID",           "CAP_SETUID",
      "CAP_SETFCAP", "CAP_SETPCAP",      "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT",
      "CAP_KILL",    "CAP_AUDIT_WRITE"};
  return caps;
}

namespace {

// The device nodes runc creates in every container (libcontainer/specconv AllowedDevices and
// configs DefaultAutoCreatedDevices); a spec may list them without passing anything in.
constexpr std::string_view kDefaultDevices[] = {"/dev/null",    "/dev/zero",    "/dev/full",
                                                "/dev/random",  "/dev/urandom", "/dev/tty",
                                                "/dev/console", "/dev/ptmx",    "/dev/fuse"};

// ---- JSON reading: every string clamped once, lists capped, wrong types named ----

using Reader = JsonReader;

bool isDefaultCap(std::string_view cap) {
  const auto& caps = containerdDefaultCapabilities();
  return std::find(caps.begin(), caps.end(), cap) != caps.end();
}

// linux.resources.devices holds {"allow": true, "access": "rwm"} with no type, major or minor:
// every device of the host may be opened (containerd's WithAllDevicesAllowed).
bool allowsAllDevices(Reader& r, object linux, bool& all) {
  std::optional<object> resources;
  if (!r.obj(linux, "resources", resources, "linux.resources")) return false;
  if (!resources) return true;
  std::optional<array> rules;
  if (!r.arr(*resources, "devices", rules, "linux.resources.devices")) return false;
  if (!rules) return true;
  for (element rule : *rules) {
    object o;
    if (rule.get_object().get(o) != simdjson::SUCCESS)
      return r.fail("linux.resources.devices[]", "object");
    bool allow = false;
    std::string type, access;
    std::optional<std::uint64_t> major, minor;
    if (!r.boolean(o, "allow", allow, "linux.resources.devices[].allow") ||
        !r.str(o, "type", type, "linux.resources.devices[].type") ||
        !r.str(o, "access", access, "linux.resources.devices[].access"))
      return false;
    // major/minor may be -1 (wildcard) in some writers: read as present or not only.
    const bool hasMajor = Reader::member(o, "major").has_value();
    const bool hasMinor = Reader::member(o, "minor").has_value();
    if (allow && (type.empty() || type == "a") && !hasMajor && !hasMinor &&
        access.find('r') != std::string::npos && access.find('w') != std::string::npos)
      all = true;
  }
  return true;
}

bool mapSpec(object spec, Reader& r, Container& c) {
  std::optional<object> process, root, linux;
  std::optional<array> mounts;
  if (!r.obj(spec, "process", process, "process") || !r.obj(spec, "root", root, "root") ||
      !r.obj(spec, "linux", linux, "linux") || !r.arr(spec, "mounts", mounts, "mounts"))
    return false;

  // The process: command, user, capabilities, AppArmor.
  std::vector<std::string> bounding, effective, permitted;
  if (process) {
    std::optional<object> user, caps;
    std::string apparmor;
    c.command.clear();
    if (!r.strList(*process, "args", c.command, "process.args") ||
        !r.obj(*process, "user", user, "process.user") ||
        !r.obj(*process, "capabilities", caps, "process.capabilities") ||
        !r.str(*process, "apparmorProfile", apparmor, "process.apparmorProfile"))
      return false;
    if (user) {
      std::optional<std::uint64_t> uid, gid;
      std::string username;
      if (!r.unsignedInt(*user, "uid", uid, "process.user.uid") ||
          !r.unsignedInt(*user, "gid", gid, "process.user.gid") ||
          !r.str(*user, "username", username, "process.user.username"))
        return false;
      c.user = std::to_string(uid.value_or(0)) + ":" + std::to_string(gid.value_or(0));
    }
    if (caps) {
      if (!r.strList(*caps, "bounding", bounding, "process.capabilities.bounding") ||
          !r.strList(*caps, "effective", effective, "process.capabilities.effective") ||
          !r.strList(*caps, "permitted", permitted, "process.capabilities.permitted"))
        return false;
    }
    c.apparmorUnconfined = apparmor == "unconfined";
  }
  if (root && !r.boolean(*root, "readonly", c.readOnlyRootfs, "root.readonly")) return false;

  // Namespaces, seccomp, devices, masked paths.
  bool allDevices = false;
  std::size_t masked = 0, readonlyPaths = 0;
  bool netns = false, pidns = false, ipcns = false;
  c.seccompUnconfined = true;
  if (linux) {
    std::optional<array> namespaces;
    if (!r.arr(*linux, "namespaces", namespaces, "linux.namespaces")) return false;
    if (namespaces) {
      for (element n : *namespaces) {
        object o;
        std::string_view type;
        if (n.get_object().get(o) != simdjson::SUCCESS ||
            o["type"].get_string().get(type) != simdjson::SUCCESS)
          return r.fail("linux.namespaces[]", "object with a type");
        // With a path the container joins that namespace (a pod's sandbox): still not the
        // host's unless the path is PID 1's, which the host's PID namespace alone can name.
        std::string_view path;
        if (o["path"].get_string().get(path) == simdjson::SUCCESS && path.rfind("/proc/1/", 0) == 0)
          continue;
        if (type == "network") netns = true;
        if (type == "pid") pidns = true;
        if (type == "ipc") ipcns = true;
      }
    }
    c.seccompUnconfined = !Reader::member(*linux, "seccomp").has_value();
    if (!allowsAllDevices(r, *linux, allDevices) ||
        !r.count(*linux, "maskedPaths", masked, "linux.maskedPaths") ||
        !r.count(*linux, "readonlyPaths", readonlyPaths, "linux.readonlyPaths"))
      return false;
  }
  c.hostNetwork = !netns;
  c.hostPID = !pidns;
  c.hostIPC = !ipcns;

  // Privileged: what containerd's WithPrivileged (ctr run --privileged, and the CRI plugin for
  // a privileged pod) produces together: every device allowed, no masked and no read-only
  // paths, and CAP_SYS_ADMIN in the bounding set (all the host's capabilities are there).
  const bool sysAdmin =
      std::find(bounding.begin(), bounding.end(), "CAP_SYS_ADMIN") != bounding.end();
  c.privileged = allDevices && masked == 0 && readonlyPaths == 0 && sysAdmin;

  // Added capabilities: in the bounding or effective set and not a default one. Not listed for
  // a privileged container (it has them all), as Docker's HostConfig.CapAdd is not.
  c.capAdd.clear();
  if (!c.privileged) {
    for (const auto* set : {&bounding, &effective, &permitted}) {
      for (const auto& cap : *set) {
        if (isDefaultCap(cap) || std::find(c.capAdd.begin(), c.capAdd.end(), cap) != c.capAdd.end())
          continue;
        if (c.capAdd.size() >= r.maxListItems) {
          r.clamped = true;
          break;
        }
        c.capAdd.push_back(cap);
      }
    }
    std::sort(c.capAdd.begin(), c.capAdd.end());
  }

  // Bind mounts of host paths.
  c.binds.clear();
  if (mounts) {
    for (element m : *mounts) {
      object o;
      if (m.get_object().get(o) != simdjson::SUCCESS) return r.fail("mounts[]", "object");
      std::string type;
      bool bind = false, ro = false;
      BindMount b;
      if (!r.str(o, "type", type, "mounts[].type") ||
          !r.str(o, "source", b.hostPath, "mounts[].source") ||
          !r.str(o, "destination", b.containerPath, "mounts[].destination") ||
          !r.contains(o, "options", "bind", bind, "mounts[].options") ||
          !r.contains(o, "options", "rbind", bind, "mounts[].options") ||
          !r.contains(o, "options", "ro", ro, "mounts[].options"))
        return false;
      if (type != "bind" && !bind) continue;
      b.readOnly = ro;
      if (c.binds.size() >= r.maxListItems) {
        r.clamped = true;
        break;
      }
      c.binds.push_back(std::move(b));
    }
  }

  // Device nodes passed in: linux.devices beyond runc's defaults. A privileged container gets
  // every host device (~100 entries); its privilege says it all.
  c.devices.clear();
  if (linux && !c.privileged) {
    std::optional<array> devices;
    if (!r.arr(*linux, "devices", devices, "linux.devices")) return false;
    if (devices) {
      for (element d : *devices) {
        object o;
        std::string path;
        if (d.get_object().get(o) != simdjson::SUCCESS ||
            !r.str(o, "path", path, "linux.devices[].path"))
          return r.fail("linux.devices[]", "object with a path");
        if (path.empty() || std::find(std::begin(kDefaultDevices), std::end(kDefaultDevices),
                                      path) != std::end(kDefaultDevices))
          continue;
        if (c.devices.size() >= r.maxListItems) {
          r.clamped = true;
          break;
        }
        BindMount b;
        b.hostPath = path;
        b.containerPath = std::move(path);
        c.devices.push_back(std::move(b));
      }
    }
  }
  return true;
}

ContainerdError mapStatus(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK:
      return ContainerdError::kNone;
    case grpc::StatusCode::UNAVAILABLE:
      return ContainerdError::kUnavailable;
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return ContainerdError::kTimeout;
    case grpc::StatusCode::NOT_FOUND:
      return ContainerdError::kNotFound;
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return ContainerdError::kTooLarge;
    case grpc::StatusCode::INVALID_ARGUMENT:
    case grpc::StatusCode::FAILED_PRECONDITION:
      return ContainerdError::kInvalidArgument;
    default:
      return ContainerdError::kRpc;
  }
}

void count(ContainerdStats& s, ContainerdError e) {
  switch (e) {
    case ContainerdError::kUnavailable:
      ++s.unavailable;
      break;
    case ContainerdError::kTimeout:
      ++s.timeouts;
      break;
    case ContainerdError::kNotFound:
      ++s.notFound;
      break;
    case ContainerdError::kTooLarge:
      ++s.tooLarge;
      break;
    case ContainerdError::kMalformed:
      ++s.malformed;
      break;
    case ContainerdError::kInvalidArgument:
      ++s.invalidArgument;
      break;
    case ContainerdError::kRpc:
      ++s.rpcErrors;
      break;
    case ContainerdError::kNone:
      break;
  }
}

template <class T>
ContainerdResult<T> failure(ContainerdStats& stats, ContainerdError e, std::string message) {
  count(stats, e);
  ContainerdResult<T> r;
  r.error = e;
  r.message = std::move(message);
  return r;
}

template <class T>
ContainerdResult<T> statusFailure(ContainerdStats& stats, std::string_view call,
                                  const grpc::Status& status) {
  return failure<T>(stats, mapStatus(status.error_code()),
                    std::string(call) + ": " +
                        std::to_string(static_cast<int>(status.error_code())) + " " +
                        std::string(utf8::prefix(status.error_message(), 512)));
}

// A namespace or id as containerd accepts them (identifiers: letters, digits, '.', '_', '-',
// at most 76 bytes; we allow up to 128 so that a longer one gets the daemon's own answer).
bool validIdentifier(std::string_view s) {
  if (s.empty() || s.size() > 128) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
  });
}

std::int64_t timestampNano(const google::protobuf::Timestamp& t) {
  if (t.seconds() < 0 || t.seconds() > INT64_MAX / 1000000000 - 1) return 0;
  return t.seconds() * 1000000000 + std::clamp<std::int64_t>(t.nanos(), 0, 999999999);
}

// Fills `out` from a parsed envelope. False only when a known payload does not parse.
bool decodeEnvelope(const ceventsvc::Envelope& env, const ContainerdLimits& limits,
                    ContainerdEvent& out, std::string& error) {
  out = ContainerdEvent{};
  bool clamped = false;
  auto clamp = [&](const std::string& s) {
    const std::string_view cut = utf8::prefix(s, limits.maxStringBytes);
    if (cut.size() != s.size()) clamped = true;
    return std::string(cut);
  };
  out.namespace_ = clamp(env.namespace_());
  out.topic = clamp(env.topic());
  out.timeNano = env.has_timestamp() ? timestampNano(env.timestamp()) : 0;
  out.type = clamp(env.event().type_url());
  const std::string_view type = env.event().type_url();
  const std::string& value = env.event().value();
  auto parse = [&](google::protobuf::MessageLite& m) {
    if (m.ParseFromString(value)) return true;
    error = "payload of " + out.type + " does not parse";
    return false;
  };
  if (type == kEventContainerCreate) {
    cevents::ContainerCreate e;
    if (!parse(e)) return false;
    out.kind = ContainerdEventKind::kCreate;
    out.containerId = clamp(e.id());
    out.image = clamp(e.image());
  } else if (type == kEventContainerDelete) {
    cevents::ContainerDelete e;
    if (!parse(e)) return false;
    out.kind = ContainerdEventKind::kDelete;
    out.containerId = clamp(e.id());
  } else if (type == kEventTaskStart) {
    cevents::TaskStart e;
    if (!parse(e)) return false;
    out.kind = ContainerdEventKind::kStart;
    out.containerId = clamp(e.container_id());
    out.pid = e.pid();
  } else if (type == kEventTaskExecAdded) {
    cevents::TaskExecAdded e;
    if (!parse(e)) return false;
    out.kind = ContainerdEventKind::kExecAdded;
    out.containerId = clamp(e.container_id());
    out.execId = clamp(e.exec_id());
  } else if (type == kEventTaskExecStarted) {
    cevents::TaskExecStarted e;
    if (!parse(e)) return false;
    out.kind = ContainerdEventKind::kExecStarted;
    out.containerId = clamp(e.container_id());
    out.execId = clamp(e.exec_id());
    out.pid = e.pid();
  } else if (type == kEventTaskExit) {
    cevents::TaskExit e;
    if (!parse(e)) return false;
    out.kind = ContainerdEventKind::kExit;
    out.containerId = clamp(e.container_id());
    out.execId = clamp(e.id());
    out.pid = e.pid();
    out.exitStatus = e.exit_status();
  } else if (type == kEventTaskDelete) {
    cevents::TaskDelete e;
    if (!parse(e)) return false;
    out.kind = ContainerdEventKind::kDelete;
    out.containerId = clamp(e.container_id());
    out.execId = clamp(e.id());
    out.pid = e.pid();
    out.exitStatus = e.exit_status();
  } else {
    out.kind = ContainerdEventKind::kOther;
  }
  out.clamped = clamped;
  return true;
}

}  // namespace

bool parseOciSpec(std::string_view json, const ContainerdLimits& limits, Container& out,
                  std::string& error) {
  if (json.size() > limits.maxSpecBytes) {
    error = "spec over " + std::to_string(limits.maxSpecBytes) + " bytes";
    return false;
  }
  try {
    // One parser per thread, its depth cap set once (a cap change takes a new parser).
    // (simdjson 3.0's set_max_capacity() lowers the cap instead of setting it: not used.)
    thread_local std::size_t depth = 0, capacity = 0;
    thread_local std::unique_ptr<simdjson::dom::parser> parser;
    if (!parser || depth != limits.maxJsonDepth || capacity != limits.maxSpecBytes) {
      capacity = std::max<std::size_t>(limits.maxSpecBytes, 64u << 10);
      parser = std::make_unique<simdjson::dom::parser>(capacity);
      capacity = limits.maxSpecBytes;
      depth = limits.maxJsonDepth;
      if (parser->allocate(64u << 10, depth) != simdjson::SUCCESS) {
        parser.reset();
        error = "cannot allocate the JSON parser";
        return false;
      }
    }
    element doc;
    if (auto e = parser->parse(json.data(), json.size()).get(doc); e != simdjson::SUCCESS) {
      error = std::string("spec is not JSON: ") + simdjson::error_message(e);
      return false;
    }
    object o;
    if (doc.get_object().get(o) != simdjson::SUCCESS) {
      error = "spec is not a JSON object";
      return false;
    }
    Reader r(limits);
    if (!mapSpec(o, r, out)) {
      error = r.error;
      return false;
    }
    if (r.clamped) out.clamped = true;
    return true;
  } catch (const std::exception& e) {
    error = std::string("spec: ") + e.what();
    return false;
  }
}

bool parseContainerdEnvelope(std::string_view bytes, const ContainerdLimits& limits,
                             ContainerdEvent& out, std::string& error) {
  try {
    ceventsvc::Envelope env;
    if (bytes.size() > limits.maxMessageBytes ||
        !env.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
      out = ContainerdEvent{};
      error = "not an envelope";
      return false;
    }
    return decodeEnvelope(env, limits, out, error);
  } catch (const std::exception& e) {
    error = std::string("envelope: ") + e.what();
    return false;
  }
}

std::vector<std::string> splitCmdline(std::string_view bytes, const ContainerdLimits& limits,
                                      bool& clamped) {
  std::vector<std::string> out;
  // The kernel ends each argument with a NUL; a process that rewrote its argv may leave one
  // piece without, or padding NULs at the end.
  while (!bytes.empty() && bytes.back() == '\0') bytes.remove_suffix(1);
  std::size_t start = 0;
  while (start <= bytes.size() && !bytes.empty()) {
    std::size_t end = bytes.find('\0', start);
    if (end == std::string_view::npos) end = bytes.size();
    if (out.size() >= limits.maxListItems) {
      clamped = true;
      break;
    }
    const std::string_view piece = bytes.substr(start, end - start);
    const std::string_view cut = utf8::prefix(piece, limits.maxStringBytes);
    if (cut.size() != piece.size()) clamped = true;
    out.emplace_back(cut);
    if (end == bytes.size()) break;
    start = end + 1;
  }
  return out;
}

// ---- the client ----

struct ContainerdClient::Impl {
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<ccontainers::Containers::Stub> containers;
  std::unique_ptr<ctasks::Tasks::Stub> tasks;
  std::unique_ptr<cnamespaces::Namespaces::Stub> namespaces;
  std::unique_ptr<ceventsvc::Events::Stub> events;
};

ContainerdClient::ContainerdClient(std::string socketPath, ContainerdLimits limits)
    : socketPath_(std::move(socketPath)), limits_(limits), impl_(std::make_unique<Impl>()) {
  grpc::ChannelArguments args;
  // gRPC's default backoff (1 s, x1.6) re-subscribed 4-9 s after a restarted daemon's socket
  // came back; 100 ms growing to 400 ms at most does it within half a second.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS,
              static_cast<int>(limits_.initialBackoff.count()));
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, static_cast<int>(limits_.initialBackoff.count()));
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, static_cast<int>(limits_.maxBackoff.count()));
  args.SetMaxReceiveMessageSize(static_cast<int>(
      std::min<std::size_t>(limits_.maxMessageBytes, static_cast<std::size_t>(INT32_MAX))));
  args.SetString(GRPC_ARG_PRIMARY_USER_AGENT_STRING, "kube-customs/" KC_VERSION);
  // A path becomes "unix:<path>" (relative or absolute both read as a file path).
  impl_->channel =
      grpc::CreateCustomChannel("unix:" + socketPath_, grpc::InsecureChannelCredentials(), args);
  impl_->containers = ccontainers::Containers::NewStub(impl_->channel);
  impl_->tasks = ctasks::Tasks::NewStub(impl_->channel);
  impl_->namespaces = cnamespaces::Namespaces::NewStub(impl_->channel);
  impl_->events = ceventsvc::Events::NewStub(impl_->channel);
}

ContainerdClient::~ContainerdClient() = default;

namespace {

void prepare(grpc::ClientContext& ctx, const ContainerdLimits& limits, std::string_view ns) {
  ctx.set_deadline(std::chrono::system_clock::now() + limits.callTimeout);
  if (!ns.empty()) ctx.AddMetadata(kNamespaceMetadata, std::string(ns));
}

// The Container of a Get or List answer: metadata clamped, spec mapped. False with `error`.
bool decodeContainer(const ccontainers::Container& pc, std::string_view ns,
                     const ContainerdLimits& limits, Container& c, ContainerdError& code,
                     std::string& error) {
  c = Container{};
  c.runtime = Runtime::kContainerd;
  bool clamped = false;
  auto clamp = [&](const std::string& s) {
    const std::string_view cut = utf8::prefix(s, limits.maxStringBytes);
    if (cut.size() != s.size()) clamped = true;
    return std::string(cut);
  };
  c.namespace_ = clamp(std::string(ns));
  c.id = clamp(pc.id());
  c.name = c.id;
  c.image = clamp(pc.image());
  for (const auto& [k, v] : pc.labels()) {
    if (c.labels.size() >= limits.maxLabels) {
      clamped = true;
      break;
    }
    c.labels.emplace_back(clamp(k), clamp(v));
  }
  // A map's order on the wire is not a promise, so a capped set may differ between two reads.
  std::sort(c.labels.begin(), c.labels.end());
  if (c.id.empty()) {
    code = ContainerdError::kMalformed;
    error = "container without an id";
    return false;
  }
  if (!pc.has_spec()) {
    code = ContainerdError::kMalformed;
    error = "container " + c.id + " has no spec";
    return false;
  }
  if (pc.spec().type_url() != kSpecType) {
    code = ContainerdError::kMalformed;
    error = "container " + c.id + ": spec of type " +
            std::string(utf8::prefix(pc.spec().type_url(), 256));
    return false;
  }
  if (pc.spec().value().size() > limits.maxSpecBytes) {
    code = ContainerdError::kTooLarge;
    error = "container " + c.id + ": spec over " + std::to_string(limits.maxSpecBytes) + " bytes";
    return false;
  }
  std::string why;
  if (!parseOciSpec(pc.spec().value(), limits, c, why)) {
    code = ContainerdError::kMalformed;
    error = "container " + c.id + ": " + why;
    return false;
  }
  if (clamped) c.clamped = true;
  return true;
}

}  // namespace

ContainerdResult<std::vector<std::string>> ContainerdClient::namespaces() {
  try {
    ++stats_.calls;
    grpc::ClientContext ctx;
    prepare(ctx, limits_, "");
    cnamespaces::ListNamespacesRequest req;
    cnamespaces::ListNamespacesResponse resp;
    const grpc::Status status = impl_->namespaces->List(&ctx, req, &resp);
    if (!status.ok())
      return statusFailure<std::vector<std::string>>(stats_, "Namespaces/List", status);
    ContainerdResult<std::vector<std::string>> out;
    bool clamped = false;
    for (const auto& n : resp.namespaces()) {
      if (out.value.size() >= limits_.maxNamespaces) {
        clamped = true;
        break;
      }
      const std::string_view cut = utf8::prefix(n.name(), limits_.maxStringBytes);
      if (cut.size() != n.name().size()) clamped = true;
      out.value.emplace_back(cut);
    }
    std::sort(out.value.begin(), out.value.end());
    if (clamped) ++stats_.clamped;
    return out;
  } catch (const std::exception& e) {
    return failure<std::vector<std::string>>(stats_, ContainerdError::kMalformed,
                                             std::string("Namespaces/List: ") + e.what());
  }
}

ContainerdResult<std::vector<Container>> ContainerdClient::listContainers(std::string_view ns) {
  if (!validIdentifier(ns))
    return failure<std::vector<Container>>(stats_, ContainerdError::kInvalidArgument,
                                           "not a containerd namespace");
  try {
    ++stats_.calls;
    grpc::ClientContext ctx;
    prepare(ctx, limits_, ns);
    ccontainers::ListContainersRequest req;
    ccontainers::ListContainersResponse resp;
    const grpc::Status status = impl_->containers->List(&ctx, req, &resp);
    if (!status.ok())
      return statusFailure<std::vector<Container>>(stats_, "Containers/List", status);
    ContainerdResult<std::vector<Container>> out;
    bool capped = false;
    for (const auto& pc : resp.containers()) {
      if (out.value.size() >= limits_.maxContainers) {
        capped = true;
        break;
      }
      Container c;
      ContainerdError code = ContainerdError::kNone;
      std::string why;
      if (!decodeContainer(pc, ns, limits_, c, code, why)) {
        ++stats_.containersSkipped;
        continue;
      }
      if (c.clamped) ++stats_.clamped;
      out.value.push_back(std::move(c));
    }
    if (capped) ++stats_.clamped;
    std::sort(out.value.begin(), out.value.end(),
              [](const Container& a, const Container& b) { return a.id < b.id; });
    return out;
  } catch (const std::exception& e) {
    return failure<std::vector<Container>>(stats_, ContainerdError::kMalformed,
                                           std::string("Containers/List: ") + e.what());
  }
}

ContainerdResult<Container> ContainerdClient::getContainer(std::string_view ns,
                                                           std::string_view id) {
  if (!validIdentifier(ns) || !validIdentifier(id))
    return failure<Container>(stats_, ContainerdError::kInvalidArgument,
                              "not a containerd namespace or container id");
  try {
    ++stats_.calls;
    grpc::ClientContext ctx;
    prepare(ctx, limits_, ns);
    ccontainers::GetContainerRequest req;
    req.set_id(std::string(id));
    ccontainers::GetContainerResponse resp;
    const grpc::Status status = impl_->containers->Get(&ctx, req, &resp);
    if (!status.ok()) return statusFailure<Container>(stats_, "Containers/Get", status);
    if (!resp.has_container())
      return failure<Container>(stats_, ContainerdError::kMalformed,
                                "Containers/Get: no container");
    ContainerdResult<Container> out;
    ContainerdError code = ContainerdError::kNone;
    std::string why;
    if (!decodeContainer(resp.container(), ns, limits_, out.value, code, why))
      return failure<Container>(stats_, code, "Containers/Get: " + why);
    if (out.value.clamped) ++stats_.clamped;
    return out;
  } catch (const std::exception& e) {
    return failure<Container>(stats_, ContainerdError::kMalformed,
                              std::string("Containers/Get: ") + e.what());
  }
}

ContainerdResult<std::int64_t> ContainerdClient::taskPid(std::string_view ns, std::string_view id) {
  if (!validIdentifier(ns) || !validIdentifier(id))
    return failure<std::int64_t>(stats_, ContainerdError::kInvalidArgument,
                                 "not a containerd namespace or container id");
  try {
    ++stats_.calls;
    grpc::ClientContext ctx;
    prepare(ctx, limits_, ns);
    ctasks::GetRequest req;
    req.set_container_id(std::string(id));
    ctasks::GetResponse resp;
    const grpc::Status status = impl_->tasks->Get(&ctx, req, &resp);
    // No task: containerd answers NOT_FOUND. The container itself may exist or not.
    if (status.error_code() == grpc::StatusCode::NOT_FOUND) return {};
    if (!status.ok()) return statusFailure<std::int64_t>(stats_, "Tasks/Get", status);
    ContainerdResult<std::int64_t> out;
    const auto& p = resp.process();
    if (p.status() == ctasks::RUNNING || p.status() == ctasks::PAUSED ||
        p.status() == ctasks::PAUSING || p.status() == ctasks::CREATED)
      out.value = p.pid();
    return out;
  } catch (const std::exception& e) {
    return failure<std::int64_t>(stats_, ContainerdError::kMalformed,
                                 std::string("Tasks/Get: ") + e.what());
  }
}

namespace {

std::string_view taskStatusName(int status) {
  switch (status) {
    case ctasks::RUNNING:
      return "running";
    case ctasks::PAUSED:
      return "paused";
    case ctasks::PAUSING:
      return "pausing";
    case ctasks::CREATED:
      return "created";
    case ctasks::STOPPED:
      return "stopped";
    default:
      return "unknown";
  }
}

// One unary call about container `id` in namespace `ns`: the identifiers checked, the deadline
// and namespace set, the gRPC status mapped and counted, an exception turned into an error.
// `call(ctx)` makes the call and returns its status; `read(out)` fills the result from the
// answer (and may fail it).
template <class Out, class Call, class Read>
ContainerdResult<Out> unaryCall(ContainerdStats& stats, const ContainerdLimits& limits,
                                std::string_view ns, std::string_view id, std::string_view name,
                                Call call, Read read) {
  if (!validIdentifier(ns) || !validIdentifier(id))
    return failure<Out>(stats, ContainerdError::kInvalidArgument,
                        "not a containerd namespace or container id");
  try {
    ++stats.calls;
    grpc::ClientContext ctx;
    prepare(ctx, limits, ns);
    const grpc::Status status = call(ctx);
    if (!status.ok()) return statusFailure<Out>(stats, name, status);
    ContainerdResult<Out> out;
    read(out);
    if (!out.ok()) count(stats, out.error);
    return out;
  } catch (const std::exception& e) {
    return failure<Out>(stats, ContainerdError::kMalformed, std::string(name) + ": " + e.what());
  }
}

}  // namespace

ContainerdResult<std::string> ContainerdClient::taskStatus(std::string_view ns,
                                                           std::string_view id) {
  ctasks::GetRequest req;
  req.set_container_id(std::string(id));
  ctasks::GetResponse resp;
  return unaryCall<std::string>(
      stats_, limits_, ns, id, "Tasks/Get",
      [&](grpc::ClientContext& ctx) { return impl_->tasks->Get(&ctx, req, &resp); },
      [&](ContainerdResult<std::string>& out) {
        out.value = std::string(taskStatusName(resp.process().status()));
      });
}

ContainerdResult<bool> ContainerdClient::pauseTask(std::string_view ns, std::string_view id) {
  ctasks::PauseTaskRequest req;
  req.set_container_id(std::string(id));
  google::protobuf::Empty resp;
  return unaryCall<bool>(
      stats_, limits_, ns, id, "Tasks/Pause",
      [&](grpc::ClientContext& ctx) { return impl_->tasks->Pause(&ctx, req, &resp); },
      [](ContainerdResult<bool>& out) { out.value = true; });
}

ContainerdResult<bool> ContainerdClient::resumeTask(std::string_view ns, std::string_view id) {
  ctasks::ResumeTaskRequest req;
  req.set_container_id(std::string(id));
  google::protobuf::Empty resp;
  return unaryCall<bool>(
      stats_, limits_, ns, id, "Tasks/Resume",
      [&](grpc::ClientContext& ctx) { return impl_->tasks->Resume(&ctx, req, &resp); },
      [](ContainerdResult<bool>& out) { out.value = true; });
}

ContainerdResult<std::vector<std::int64_t>> ContainerdClient::listPids(std::string_view ns,
                                                                       std::string_view id) {
  ctasks::ListPidsRequest req;
  req.set_container_id(std::string(id));
  ctasks::ListPidsResponse resp;
  return unaryCall<std::vector<std::int64_t>>(
      stats_, limits_, ns, id, "Tasks/ListPids",
      [&](grpc::ClientContext& ctx) { return impl_->tasks->ListPids(&ctx, req, &resp); },
      [&](ContainerdResult<std::vector<std::int64_t>>& out) {
        const std::size_t cap = limits_.maxListItems * 16;
        for (const auto& p : resp.processes()) {
          if (out.value.size() >= cap) {
            ++stats_.clamped;
            break;
          }
          out.value.push_back(p.pid());
        }
      });
}

ContainerdResult<ContainerdClient::RawContainer> ContainerdClient::getContainerRaw(
    std::string_view ns, std::string_view id) {
  ccontainers::GetContainerRequest req;
  req.set_id(std::string(id));
  ccontainers::GetContainerResponse resp;
  return unaryCall<RawContainer>(
      stats_, limits_, ns, id, "Containers/Get",
      [&](grpc::ClientContext& ctx) { return impl_->containers->Get(&ctx, req, &resp); },
      [&](ContainerdResult<RawContainer>& out) {
        const auto& pc = resp.container();
        auto clamp = [&](const std::string& s) {
          return std::string(utf8::prefix(s, limits_.maxStringBytes));
        };
        if (pc.spec().value().size() > limits_.maxSpecBytes) {
          out.error = ContainerdError::kTooLarge;
          out.message =
              "Containers/Get: the spec is over " + std::to_string(limits_.maxSpecBytes) + " bytes";
          return;
        }
        out.value.id = clamp(pc.id());
        out.value.image = clamp(pc.image());
        out.value.runtime = clamp(pc.runtime().name());
        out.value.snapshotter = clamp(pc.snapshotter());
        for (const auto& [k, v] : pc.labels()) {
          if (out.value.labels.size() >= limits_.maxLabels) break;
          out.value.labels.emplace_back(clamp(k), clamp(v));
        }
        std::sort(out.value.labels.begin(), out.value.labels.end());
        out.value.spec = pc.spec().value();
      });
}

ContainerdResult<std::vector<std::string>> ContainerdClient::execCommand(
    const std::string& procRoot, std::int64_t pid) {
  if (pid <= 0 || pid > 0x3fffffff)
    return failure<std::vector<std::string>>(stats_, ContainerdError::kInvalidArgument,
                                             "not a process id: " + std::to_string(pid));
  const std::string path = procRoot + "/" + std::to_string(pid) + "/cmdline";
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    ++stats_.execCommandsGone;
    return failure<std::vector<std::string>>(stats_,
                                             err == ENOENT || err == ESRCH
                                                 ? ContainerdError::kNotFound
                                                 : ContainerdError::kInvalidArgument,
                                             path + ": " + std::strerror(err));
  }
  std::string bytes;
  bool clamped = false;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    const std::size_t room = limits_.maxCmdlineBytes - bytes.size();
    bytes.append(buf, std::min<std::size_t>(room, static_cast<std::size_t>(n)));
    if (static_cast<std::size_t>(n) > room || bytes.size() >= limits_.maxCmdlineBytes) {
      clamped = true;
      break;
    }
  }
  ::close(fd);
  ContainerdResult<std::vector<std::string>> out;
  out.value = splitCmdline(bytes, limits_, clamped);
  if (out.value.empty()) {
    // A zombie or a kernel thread: the command is no longer there.
    ++stats_.execCommandsGone;
    return failure<std::vector<std::string>>(stats_, ContainerdError::kNotFound,
                                             path + ": empty (the process exited)");
  }
  if (clamped) ++stats_.clamped;
  ++stats_.execCommandsRead;
  return out;
}

// ---- the event stream ----

struct ContainerdEventStream::Impl {
  Impl(ContainerdStats& s, const ContainerdLimits& l) : stats(s), limits(l) {}
  ContainerdStats& stats;
  ContainerdLimits limits;
  grpc::ClientContext ctx;
  grpc::CompletionQueue cq;
  std::unique_ptr<grpc::ClientAsyncReader<ceventsvc::Envelope>> call;
  ceventsvc::Envelope envelope;
  grpc::Status status;
  // Tags of the operations in flight.
  static constexpr std::intptr_t kStart = 1, kRead = 2, kFinish = 3;
  int pending = 0;  // operations started and not yet taken from the queue
  bool reading = false;
  bool finishing = false;
  bool finished = false;
  bool closed = false;

  void read() {
    reading = true;
    ++pending;
    call->Read(&envelope, reinterpret_cast<void*>(kRead));
  }
  void finish() {
    finishing = true;
    ++pending;
    call->Finish(&status, reinterpret_cast<void*>(kFinish));
  }
  // Takes every pending operation off the queue, then shuts it down.
  void drain() {
    void* tag = nullptr;
    bool ok = false;
    while (pending > 0 && cq.Next(&tag, &ok)) --pending;
    cq.Shutdown();
    while (cq.Next(&tag, &ok)) {
    }
  }
};

ContainerdEventStream::ContainerdEventStream(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

ContainerdEventStream::~ContainerdEventStream() { close(); }

void ContainerdEventStream::close() {
  if (!impl_ || impl_->closed) return;
  Impl& s = *impl_;
  s.closed = true;
  s.ctx.TryCancel();
  if (!s.finishing && !s.finished && s.call) s.finish();
  s.drain();
  if (!s.finished) ++s.stats.streamsEnded;
  s.finished = true;
}

ContainerdEventStream::Status ContainerdEventStream::next(ContainerdEvent& out,
                                                          std::chrono::milliseconds wait) {
  if (!impl_ || impl_->closed || impl_->finished) {
    if (errorCode_ == ContainerdError::kNone && error_.empty()) error_ = "stream closed";
    return errorCode_ == ContainerdError::kNone ? Status::kClosed : Status::kError;
  }
  Impl& s = *impl_;
  const auto deadline = std::chrono::system_clock::now() + wait;
  try {
    for (;;) {
      if (!s.reading && !s.finishing) s.read();
      void* tag = nullptr;
      bool ok = false;
      const auto r = s.cq.AsyncNext(&tag, &ok, deadline);
      if (r == grpc::CompletionQueue::TIMEOUT) return Status::kIdle;
      if (r == grpc::CompletionQueue::SHUTDOWN) {
        s.finished = true;
        errorCode_ = ContainerdError::kRpc;
        error_ = "completion queue shut down";
        return Status::kError;
      }
      --s.pending;
      const auto t = reinterpret_cast<std::intptr_t>(tag);
      if (t == Impl::kStart) {
        if (!ok && !s.finishing) s.finish();
        continue;
      }
      if (t == Impl::kRead) {
        s.reading = false;
        if (!ok) {
          if (!s.finishing) s.finish();
          continue;
        }
        std::string why;
        if (!decodeEnvelope(s.envelope, s.limits, out, why)) {
          ++s.stats.eventsMalformed;
          continue;
        }
        if (out.kind == ContainerdEventKind::kOther)
          ++s.stats.eventsOther;
        else
          ++s.stats.events;
        if (out.clamped) ++s.stats.clamped;
        return Status::kEvent;
      }
      // kFinish: the call is over.
      s.finished = true;
      ++s.stats.streamsEnded;
      if (s.status.ok()) {
        error_ = "the daemon ended the stream";
        return Status::kClosed;
      }
      errorCode_ = mapStatus(s.status.error_code());
      count(s.stats, errorCode_);
      error_ = "Events/Subscribe: " + std::to_string(static_cast<int>(s.status.error_code())) +
               " " + std::string(utf8::prefix(s.status.error_message(), 512));
      return Status::kError;
    }
  } catch (const std::exception& e) {
    errorCode_ = ContainerdError::kMalformed;
    error_ = std::string("Events/Subscribe: ") + e.what();
    close();
    return Status::kError;
  }
}

ContainerdResult<std::unique_ptr<ContainerdEventStream>> ContainerdClient::subscribe() {
  try {
    auto impl = std::make_unique<ContainerdEventStream::Impl>(stats_, limits_);
    ceventsvc::SubscribeRequest req;
    for (const auto& f : containerdEventFilters()) req.add_filters(f);
    impl->call = impl_->events->PrepareAsyncSubscribe(&impl->ctx, req, &impl->cq);
    ++impl->pending;
    impl->call->StartCall(reinterpret_cast<void*>(ContainerdEventStream::Impl::kStart));
    ++stats_.subscriptions;
    ContainerdResult<std::unique_ptr<ContainerdEventStream>> out;
    out.value.reset(new ContainerdEventStream(std::move(impl)));
    return out;
  } catch (const std::exception& e) {
    return failure<std::unique_ptr<ContainerdEventStream>>(
        stats_, ContainerdError::kMalformed, std::string("Events/Subscribe: ") + e.what());
  }
}

}  // namespace kc::node
