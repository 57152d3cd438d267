#pragma once
// A Docker Engine API client over the daemon's unix socket: HTTP/1.1 with Boost.Beast over an
// asio local stream socket. Requests are synchronous, one connection each, bounded by the
// connect and request timeouts; the event stream is one long-lived chunked response read
// incrementally. What the daemon sends is untrusted: every body and event line is size-capped,
// every string clamped on a UTF-8 boundary once as it enters, labels and lists capped in
// number; a bad answer is an error value and a counter, never an exception or a crash.
// Reconnecting is the caller's: events carry their time, and EventResume says which events of
// a resumed stream (`since` the last one seen) are new.
// Thread-safety: a DockerClient and an EventStream are used by one thread at a time; the
// counters (DockerStats) may be read from any thread.

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

// The lowest Engine API version the client speaks (dockerd 20.10). A daemon whose newest
// version is older is refused.
inline constexpr std::string_view kMinDockerApiVersion = "1.41";

struct DockerLimits {
  std::size_t maxBodyBytes = 4u << 20;        // one JSON answer
  std::size_t maxHeaderBytes = 16u << 10;     // the response headers
  std::size_t maxEventLineBytes = 64u << 10;  // one event of the stream
  std::size_t maxStringBytes = 4096;          // any one name, image, label key or value
  std::size_t maxLabels = 256;                // labels (or event attributes) kept per object
  std::size_t maxListItems = 256;     // command pieces, capabilities, binds, devices, options
  std::size_t maxContainers = 20000;  // containers kept from one inventory
  std::chrono::milliseconds connectTimeout{2000};
  std::chrono::milliseconds requestTimeout{10000};  // whole request, connect included
};

// What went wrong with a call. kNotFound is the daemon's 404: the container or exec is gone.
enum class DockerError : std::uint8_t {
  kNone,
  kConnect,          // the socket is absent, refused or not permitted
  kTimeout,          // connect, request or stream header timeout
  kNotFound,         // 404
  kHttpStatus,       // another non-2xx status
  kTooLarge,         // body, header or event line over its cap
  kMalformed,        // not HTTP, not JSON, or JSON of the wrong shape
  kTruncated,        // the connection ended inside a response or an event
  kUnsupported,      // the daemon's API version is below kMinDockerApiVersion
  kInvalidArgument,  // an id that cannot be a container or exec id
};
std::string_view dockerErrorName(DockerError e);

// Counters, one per outcome, read by tests and exported by the node role.
struct DockerStats {
  std::atomic<std::uint64_t> requests{0};
  std::atomic<std::uint64_t> connectErrors{0};
  std::atomic<std::uint64_t> timeouts{0};
  std::atomic<std::uint64_t> notFound{0};
  std::atomic<std::uint64_t> httpErrors{0};
  std::atomic<std::uint64_t> tooLarge{0};
  std::atomic<std::uint64_t> malformed{0};            // responses that were not the JSON expected
  std::atomic<std::uint64_t> truncated{0};            // responses and streams cut short
  std::atomic<std::uint64_t> clamped{0};              // objects with a string cut or a list capped
  std::atomic<std::uint64_t> events{0};               // events decoded
  std::atomic<std::uint64_t> eventLinesMalformed{0};  // lines skipped: not an event
  std::atomic<std::uint64_t> eventLinesTooLong{0};    // lines skipped: over maxEventLineBytes
};

template <class T>
using DockerResult = Result<T, DockerError>;

struct DockerVersion {
  std::string version;        // engine version, e.g. "20.10.24+dfsg1"
  std::string apiVersion;     // the daemon's newest API version
  std::string minApiVersion;  // the daemon's oldest
  std::string used;           // what the client speaks from now on ("1.41")
};

// One row of GET /containers/json.
struct ContainerSummary {
  std::string id;
  std::string name;  // the first name, without '/'
  std::string image;
  std::string state;  // "running", "exited", ...
  std::int64_t created = 0;
  std::vector<std::pair<std::string, std::string>> labels;  // sorted by key
};

// GET /exec/{id}/json.
struct ExecInfo {
  std::string id;
  std::string containerId;
  std::vector<std::string> command;  // entrypoint, then arguments
  std::string user;
  bool privileged = false;
  bool running = false;
  std::int64_t pid = 0;
  bool clamped = false;
  std::string commandLine(std::size_t maxBytes = 4096) const;
};

enum class DockerEventKind : std::uint8_t {
  kCreate,
  kStart,
  kDie,
  kDestroy,
  kExecCreate,
  kExecStart,
  kExecDie,
  kOther,  // another container action (kill, stop, rename, attach, ...)
};
std::string_view dockerEventKindName(DockerEventKind k);

// One container event of the stream.
struct DockerEvent {
  DockerEventKind kind = DockerEventKind::kOther;
  std::string action;       // as sent ("start", "exec_start: cat /etc/passwd"), clamped
  std::string containerId;  // Actor.ID
  std::string execId;       // Actor.Attributes.execID for exec events
  std::string execCommand;  // the text after "exec_create: " / "exec_start: "
  std::string image;        // Actor.Attributes.image
  std::string name;         // Actor.Attributes.name
  std::string exitCode;     // Actor.Attributes.exitCode on die and exec_die
  // The other attributes: for containers these are its labels. Sorted by key, capped.
  std::vector<std::pair<std::string, std::string>> attributes;
  std::int64_t time = 0;      // seconds since the epoch
  std::int64_t timeNano = 0;  // nanoseconds since the epoch (time * 1e9 when only time came)
  bool clamped = false;
};

// Parses one event line (a JSON object). Returns false for anything that is not a container
// event with an id and a time; `error` says why. Exposed for tests and the fuzz corpus.
bool parseDockerEvent(std::string_view line, const DockerLimits& limits, DockerEvent& out,
                      std::string& error);

// Parses the answer of GET /containers/{id}/json into `out`, as inspectContainer does. Returns
// false for anything else; `error` names the field. Exposed for tests and the fuzz corpus.
bool parseContainerInspect(std::string_view json, const DockerLimits& limits, Container& out,
                           std::string& error);

// Which events of a stream resumed with `since` are new. Docker answers `since=T` with the
// events at or after T, so the last one seen comes again; several events can share a
// nanosecond. Remembers the last time seen and the events seen at that time (bounded).
class EventResume {
 public:
  // True when `e` was not seen before; records it.
  bool fresh(const DockerEvent& e);
  std::int64_t lastTimeNano() const { return lastTimeNano_; }

 private:
  static std::string key(const DockerEvent& e);
  std::int64_t lastTimeNano_ = 0;
  std::vector<std::string> atLast_;  // keys of the events seen at lastTimeNano_, at most 64
};

// A container's network attachment, as inspect's NetworkSettings.Networks gives it.
struct ContainerNetwork {
  std::string name;  // "bridge", "my-net"
  std::string networkId;
  std::string ipv4;  // IPAddress
  std::string ipv6;  // GlobalIPv6Address
  std::vector<std::string> aliases;
};

// The part of inspect that isolating and releasing a container need.
struct ContainerRuntimeState {
  std::string id;
  std::string name;
  std::string status;  // "running", "paused", "exited", ...
  bool running = false;
  bool paused = false;
  bool tty = false;
  std::int64_t pid = 0;
  std::string networkMode;  // "bridge", "host", "none", "container:<id>", a network's name
  std::vector<ContainerNetwork> networks;
  std::vector<std::pair<std::string, std::string>> labels;  // sorted by key
  std::string image;
};

// GET /containers/{id}/top.
struct ProcessTable {
  std::vector<std::string> titles;
  std::vector<std::vector<std::string>> rows;
  bool clamped = false;
};

// One row of GET /containers/{id}/changes. Kind: 0 changed, 1 added, 2 deleted.
struct FileChange {
  std::string path;
  int kind = 0;
};
std::string_view fileChangeKindName(int kind);

// Decodes the body of GET /containers/{id}/logs of a container without a TTY: frames of an
// 8-byte header (stream 1 stdout, 2 stderr; 4-byte big-endian size) and their bytes. Each
// line is prefixed with "stdout " or "stderr ". False when a frame is cut short or its stream
// is unknown (what was decoded before stays in `out`). Exposed for tests.
bool demuxDockerLogs(std::string_view body, std::string& out);

class EventStream;

class DockerClient {
 public:
  explicit DockerClient(std::string socketPath, DockerLimits limits = {});
  ~DockerClient();
  DockerClient(const DockerClient&) = delete;
  DockerClient& operator=(const DockerClient&) = delete;

  // GET /version: takes the daemon's API version (refused when below kMinDockerApiVersion) as
  // the "/v<version>" prefix of every later call. Calls before it use kMinDockerApiVersion.
  DockerResult<DockerVersion> negotiate();
  const std::string& apiVersion() const { return apiVersion_; }

  // GET /containers/json?all=1: every container, running or not (at most maxContainers).
  DockerResult<std::vector<ContainerSummary>> listContainers();
  // GET /containers/{id}/json: the configuration; kNotFound when it is gone.
  DockerResult<Container> inspectContainer(std::string_view id);
  // GET /exec/{id}/json: the command of an exec; kNotFound when it is gone.
  DockerResult<ExecInfo> inspectExec(std::string_view id);
  // GET /events?since=...&filters={"type":["container"]}: opens the stream and reads its
  // headers. `sinceNano` 0 means from now on.
  DockerResult<std::unique_ptr<EventStream>> events(std::int64_t sinceNano = 0);

  // ---- for the responder (respond/) ----
  // GET /containers/{id}/json as the daemon sent it (at most maxBodyBytes), for evidence.
  DockerResult<std::string> inspectContainerRaw(std::string_view id);
  // What isolating and releasing need: state, TTY and networks (from the same inspect).
  DockerResult<ContainerRuntimeState> containerState(std::string_view id);
  // GET /containers/{id}/logs: stdout and stderr with timestamps, the last `tailLines` lines,
  // decoded from Docker's multiplexed frames unless the container has a TTY. kTooLarge when
  // the answer is over maxBodyBytes (ask again for fewer lines).
  DockerResult<std::string> containerLogs(std::string_view id, std::size_t tailLines, bool tty);
  // GET /containers/{id}/top: the processes as `ps` shows them (titles and rows, capped).
  DockerResult<ProcessTable> containerTop(std::string_view id);
  // GET /containers/{id}/changes: paths added, changed or deleted in its writable layer.
  DockerResult<std::vector<FileChange>> containerChanges(std::string_view id, bool& capped);
  // POST /containers/{id}/pause and /unpause.
  DockerResult<bool> pause(std::string_view id);
  DockerResult<bool> unpause(std::string_view id);
  // POST /networks/{network}/disconnect (forced) and /connect (with the aliases it had).
  DockerResult<bool> disconnectNetwork(std::string_view network, std::string_view container);
  DockerResult<bool> connectNetwork(std::string_view network, std::string_view container,
                                    const std::vector<std::string>& aliases);

  DockerStats& stats() { return stats_; }
  const DockerLimits& limits() const { return limits_; }
  const std::string& socketPath() const { return socketPath_; }

 private:
  struct Parser;
  DockerResult<std::string> get(const std::string& target);
  // One request; `body` (JSON) is sent with POST. 2xx answers return their body.
  DockerResult<std::string> call(bool post, const std::string& target, const std::string& body);
  std::string socketPath_;
  DockerLimits limits_;
  DockerStats stats_;
  std::string apiVersion_;
  std::unique_ptr<Parser> parser_;
};

// The event stream of one connection. next() returns the next container event, waiting at
// most `wait`: kIdle when none came (the stream stays open), kClosed when the daemon ended the
// response cleanly, kError when it broke (error() says how; the counters say what). Lines that
// are not events are skipped and counted. After kClosed or kError, reconnect with
// DockerClient::events(resume.lastTimeNano()). It counts into its client's DockerStats, so it
// must not outlive the client; it may be read on another thread than the client's calls.
class EventStream {
 public:
  enum class Status : std::uint8_t { kEvent, kIdle, kClosed, kError };
  ~EventStream();
  Status next(DockerEvent& out, std::chrono::milliseconds wait);
  DockerError errorCode() const { return errorCode_; }
  const std::string& error() const { return error_; }
  void close();

 private:
  friend class DockerClient;
  struct Impl;
  explicit EventStream(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
  DockerError errorCode_ = DockerError::kNone;
  std::string error_;
};

// The Engine API's time filter for `sinceNano`: "<seconds>.<nanoseconds>".
std::string dockerSince(std::int64_t sinceNano);

}  // namespace kc::node
