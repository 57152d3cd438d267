#pragma once
// A containerd client over the daemon's gRPC unix socket: namespaces, container metadata (the
// OCI runtime spec mapped to the runtime-neutral Container), task pids, and the event stream of
// container and task events. Unary calls carry a deadline and the `containerd-namespace`
// metadata; the channel reconnects quickly (100 ms backoff, 400 ms at most) so that a restarted
// daemon is seen again within half a second. What the daemon sends is untrusted: messages,
// specs, JSON depth, labels and lists are capped, every string clamped on a UTF-8 boundary once
// as it enters; a bad answer is an error value and a counter, never an exception or a crash.
// Events in a gap (daemon restart, stream error) are lost: after kClosed/kError subscribe again
// and resync with listContainers().
// Thread-safety: a ContainerdClient and a ContainerdEventStream are used by one thread at a
// time; the counters (ContainerdStats) may be read from any thread.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.h"
#include "node/container.h"

namespace kc::node {

struct ContainerdLimits {
  std::size_t maxMessageBytes = 16u << 20;  // one gRPC answer (a List of many containers)
  std::size_t maxSpecBytes = 1u << 20;      // one OCI runtime spec (JSON)
  std::size_t maxJsonDepth = 32;            // nesting of that JSON
  std::size_t maxStringBytes = 4096;        // any one id, image, label key or value, argument
  std::size_t maxLabels = 256;              // labels kept per container
  std::size_t maxListItems = 256;           // command pieces, capabilities, mounts, devices kept
  std::size_t maxContainers = 20000;        // containers kept from one List
  std::size_t maxNamespaces = 1024;         // namespaces kept from one List
  std::size_t maxCmdlineBytes = 64u << 10;  // read of /proc/<pid>/cmdline
  std::chrono::milliseconds callTimeout{5000};  // deadline of each unary call
  std::chrono::milliseconds initialBackoff{100};
  std::chrono::milliseconds maxBackoff{400};
};

// What went wrong with a call, from the gRPC status or from what came back.
enum class ContainerdError : std::uint8_t {
  kNone,
  kUnavailable,      // UNAVAILABLE: the socket is absent, refused, or the daemon went away
  kTimeout,          // DEADLINE_EXCEEDED
  kNotFound,         // NOT_FOUND: the container, task or process is gone
  kTooLarge,         // RESOURCE_EXHAUSTED (message over its cap), or a spec over maxSpecBytes
  kMalformed,        // not the message, spec JSON or cmdline expected
  kInvalidArgument,  // INVALID_ARGUMENT, FAILED_PRECONDITION, or an argument refused here
  kRpc,              // another gRPC status (UNKNOWN for a bad filter, PERMISSION_DENIED, ...)
};
std::string_view containerdErrorName(ContainerdError e);

// Counters, one per outcome, read by tests and exported by the node role.
struct ContainerdStats {
  std::atomic<std::uint64_t> calls{0};  // unary calls made
  std::atomic<std::uint64_t> unavailable{0};
  std::atomic<std::uint64_t> timeouts{0};
  std::atomic<std::uint64_t> notFound{0};
  std::atomic<std::uint64_t> tooLarge{0};
  std::atomic<std::uint64_t> malformed{0};  // answers, specs or events that were not readable
  std::atomic<std::uint64_t> invalidArgument{0};
  std::atomic<std::uint64_t> rpcErrors{0};
  std::atomic<std::uint64_t> clamped{0};            // objects with a string cut or a list capped
  std::atomic<std::uint64_t> containersSkipped{0};  // List rows left out: spec unreadable
  std::atomic<std::uint64_t> subscriptions{0};      // event streams opened
  std::atomic<std::uint64_t> streamsEnded{0};       // event streams that ended (any way)
  std::atomic<std::uint64_t> events{0};             // container and task events decoded
  std::atomic<std::uint64_t> eventsOther{0};        // envelopes of another type (kOther)
  std::atomic<std::uint64_t> eventsMalformed{0};    // envelopes whose payload did not parse
  std::atomic<std::uint64_t> execCommandsRead{0};
  std::atomic<std::uint64_t> execCommandsGone{0};  // the process exited before it was read
};

template <class T>
using ContainerdResult = Result<T, ContainerdError>;

enum class ContainerdEventKind : std::uint8_t {
  kCreate,       // containerd.events.ContainerCreate
  kStart,        // containerd.events.TaskStart: the init process runs
  kExecAdded,    // containerd.events.TaskExecAdded
  kExecStarted,  // containerd.events.TaskExecStarted: the exec's process runs
  kExit,         // containerd.events.TaskExit (init or exec)
  kDelete,       // containerd.events.ContainerDelete or TaskDelete
  kOther,        // any other type (the topic and namespace are still given)
};
std::string_view containerdEventKindName(ContainerdEventKind k);

// One envelope of the stream.
struct ContainerdEvent {
  ContainerdEventKind kind = ContainerdEventKind::kOther;
  std::string type;   // the payload's bare type name, "containerd.events.TaskStart"
  std::string topic;  // "/tasks/start"
  std::string namespace_;
  std::string containerId;
  std::string execId;    // exec events; TaskExit's id (equal to containerId for init)
  std::int64_t pid = 0;  // TaskStart, TaskExecStarted, TaskExit, TaskDelete
  std::int64_t exitStatus = 0;
  std::string image;          // ContainerCreate
  std::int64_t timeNano = 0;  // the envelope's timestamp, nanoseconds since the epoch
  bool clamped = false;
};

// The payload type names containerd gives in Envelope.event.type_url (bare, no '/').
inline constexpr std::string_view kEventContainerCreate = "containerd.events.ContainerCreate";
inline constexpr std::string_view kEventContainerDelete = "containerd.events.ContainerDelete";
inline constexpr std::string_view kEventTaskStart = "containerd.events.TaskStart";
inline constexpr std::string_view kEventTaskExecAdded = "containerd.events.TaskExecAdded";
inline constexpr std::string_view kEventTaskExecStarted = "containerd.events.TaskExecStarted";
inline constexpr std::string_view kEventTaskExit = "containerd.events.TaskExit";
inline constexpr std::string_view kEventTaskDelete = "containerd.events.TaskDelete";

// What the stream asks for: container and task topics of every namespace (several filters are
// OR-ed). Without filters, snapshot and image events arrive too.
const std::vector<std::string>& containerdEventFilters();

// Decodes one serialized containerd.services.events.v1.Envelope. False (with `error`) for bytes
// that are not an envelope, or an envelope whose container or task payload does not parse; an
// unknown payload type is kOther and true. Exposed for tests and the fuzz corpus.
bool parseContainerdEnvelope(std::string_view bytes, const ContainerdLimits& limits,
                             ContainerdEvent& out, std::string& error);

// Maps an OCI runtime spec (JSON, as containerd stores it in Container.spec) onto `out`: the
// command (process.args), user ("uid:gid" from process.user), privileged, capAdd, host
// namespaces, bind mounts, devices, read-only root, seccomp and AppArmor. The other fields of
// `out` are left as they are. False (with `error`) when the text is over maxSpecBytes, deeper
// than maxJsonDepth, not JSON, or of the wrong shape. Exposed for tests and the fuzz corpus.
bool parseOciSpec(std::string_view json, const ContainerdLimits& limits, Container& out,
                  std::string& error);

// The capabilities runc and containerd give a container by default (containerd
// oci/spec.go defaultUnixCaps(), the same list as runc's and Docker's defaults). Anything
// else in the bounding or effective set is an added capability.
const std::vector<std::string_view>& containerdDefaultCapabilities();

// Splits the bytes of /proc/<pid>/cmdline (NUL-separated argv) into the command, each piece
// clamped and the count capped; `clamped` says whether anything was cut. Exposed for tests.
std::vector<std::string> splitCmdline(std::string_view bytes, const ContainerdLimits& limits,
                                      bool& clamped);

class ContainerdEventStream;

class ContainerdClient {
 public:
  // `socketPath` is the daemon's gRPC socket (normally /run/containerd/containerd.sock). The
  // channel connects lazily, on the first call.
  explicit ContainerdClient(std::string socketPath, ContainerdLimits limits = {});
  ~ContainerdClient();
  ContainerdClient(const ContainerdClient&) = delete;
  ContainerdClient& operator=(const ContainerdClient&) = delete;

  // Namespaces/List: the names, sorted (at most maxNamespaces).
  ContainerdResult<std::vector<std::string>> namespaces();
  // Containers/List in `ns`: every container whose spec reads (the others are counted in
  // containersSkipped), sorted by id, at most maxContainers. Used to resync after a gap.
  ContainerdResult<std::vector<Container>> listContainers(std::string_view ns);
  // Containers/Get: the container with its spec mapped; kNotFound when it is gone.
  ContainerdResult<Container> getContainer(std::string_view ns, std::string_view id);
  // Tasks/Get: the pid of the container's init process in the host's PID namespace; 0 when it
  // has no task (never started, or deleted).
  ContainerdResult<std::int64_t> taskPid(std::string_view ns, std::string_view id);
  // ---- for the responder (respond/) ----
  // Tasks/Get: the task's status ("running", "paused", "pausing", "created", "stopped",
  // "unknown"); kNotFound when the container has no task.
  ContainerdResult<std::string> taskStatus(std::string_view ns, std::string_view id);
  // Tasks/Pause and Tasks/Resume of the container's task (every process in it, by the freezer).
  ContainerdResult<bool> pauseTask(std::string_view ns, std::string_view id);
  ContainerdResult<bool> resumeTask(std::string_view ns, std::string_view id);
  // Tasks/ListPids: the host pids of every process in the task (at most maxListItems * 16).
  ContainerdResult<std::vector<std::int64_t>> listPids(std::string_view ns, std::string_view id);
  // Containers/Get as stored: image, labels, runtime name and the OCI spec's JSON text (at most
  // maxSpecBytes), for evidence.
  struct RawContainer {
    std::string id, image, runtime, snapshotter, spec;
    std::vector<std::pair<std::string, std::string>> labels;  // sorted by key, capped
  };
  ContainerdResult<RawContainer> getContainerRaw(std::string_view ns, std::string_view id);

  // Events/Subscribe with containerdEventFilters(), all namespaces. There is no
  // acknowledgement: events published before the daemon registered the subscription are not
  // delivered.
  ContainerdResult<std::unique_ptr<ContainerdEventStream>> subscribe();

  // The command line of a process (an exec's, from TaskExecStarted.pid) read from
  // `<procRoot>/<pid>/cmdline`: containerd never carries it. Racy by nature: a short command
  // may have exited (kNotFound), or the pid been reused by the time it is read. procRoot is
  // "/proc" in production (the host's PID namespace).
  ContainerdResult<std::vector<std::string>> execCommand(const std::string& procRoot,
                                                         std::int64_t pid);

  ContainerdStats& stats() { return stats_; }
  const ContainerdLimits& limits() const { return limits_; }
  const std::string& socketPath() const { return socketPath_; }

 private:
  struct Impl;
  std::string socketPath_;
  ContainerdLimits limits_;
  ContainerdStats stats_;
  std::unique_ptr<Impl> impl_;
};

// The event stream of one Subscribe call. next() returns the next envelope, waiting at most
// `wait`: kIdle when none came (the stream stays open), kClosed when the daemon ended it with
// OK, kError when it ended otherwise (errorCode(): kUnavailable when the daemon went away). An
// envelope whose payload does not parse is skipped and counted. It counts into its client's
// ContainerdStats, so it must not outlive the client.
class ContainerdEventStream {
 public:
  enum class Status : std::uint8_t { kEvent, kIdle, kClosed, kError };
  ~ContainerdEventStream();
  Status next(ContainerdEvent& out, std::chrono::milliseconds wait);
  ContainerdError errorCode() const { return errorCode_; }
  const std::string& error() const { return error_; }
  // Cancels the call and waits for it to end; next() then returns kClosed.
  void close();

 private:
  friend class ContainerdClient;
  struct Impl;
  explicit ContainerdEventStream(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
  ContainerdError errorCode_ = ContainerdError::kNone;
  std::string error_;
};

}  // namespace kc::node
