#include "node/node_service.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <deque>
#include <nlohmann/json.hpp>
#include <unordered_map>

#include "common/files.h"
#include "common/internal_errors.h"
#include "common/log.h"
#include "controller/audit_service.h"
#include "node/containerd_client.h"
#include "respond/accept.h"

namespace kc::node {

using audit::Finding;
using Clock = std::chrono::system_clock;

namespace {

constexpr std::size_t kMaxCached = 4096;  // inspected containers kept for their execs

std::int64_t nowNano() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}

// An exec's command from Docker's event text ("exec_start: sh -c id"), when the exec is gone
// before it could be inspected: split on spaces, which is how Docker joined it.
std::vector<std::string> splitCommand(std::string_view text) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i < text.size() && out.size() < 256) {
    while (i < text.size() && text[i] == ' ') ++i;
    const std::size_t start = i;
    while (i < text.size() && text[i] != ' ') ++i;
    if (i > start) out.emplace_back(text.substr(start, i - start));
  }
  return out;
}

// Docker's "created" is in seconds; a container created after `sinceNano` (with a second's
// slack for the rounding) may have started while nobody watched.
bool createdSince(std::int64_t createdSeconds, std::int64_t sinceNano) {
  return sinceNano > 0 && createdSeconds + 1 >= sinceNano / 1'000'000'000;
}

}  // namespace

// What every runtime's watcher does alike: reconnect with backoff, say what state the runtime
// is in, judge each container once, score execs, keep the running set and a bounded cache of
// inspected containers (for their execs).
class NodeService::Watcher {
 public:
  Watcher(NodeService& s, Runtime runtime, std::string socketPath, std::string_view display,
          std::string_view setting)
      : s_(s),
        runtime_(runtime),
        socketPath_(std::move(socketPath)),
        display_(display),
        setting_(setting) {}
  virtual ~Watcher() = default;
  void start() {
    thread_ = std::thread([this] { run(); });
  }
  void join() {
    if (thread_.joinable()) thread_.join();
  }

 protected:
  // One connection: true when the event stream was open at some point.
  virtual bool session(bool everConnected) = 0;

  void run() {
    auto backoff = s_.options_.reconnectMin;
    bool everConnected = false;
    while (!s_.stopping_.load()) {
      bool connected = false;
      internal::guarded(internal::Component::kNodeWatcher, runtimeName(runtime_),
                        [&] { connected = session(everConnected); });
      if (connected) {
        everConnected = true;
        backoff = s_.options_.reconnectMin;
      }
      if (!s_.pause(backoff)) break;
      backoff = std::min(backoff * 2, s_.options_.reconnectMax);
    }
  }

  // A call or the stream failed: absent when there is no socket at the path (the runtime is
  // not on this node, or not yet), unreachable otherwise. Logged when the state or the error
  // changes, not at every retry.
  void failed(std::string_view reason, const std::string& message) {
    s_.metrics_.error(runtime_, reason);
    RuntimeState state = RuntimeState::kUnreachable;
    struct stat st {};
    if (::stat(socketPath_.c_str(), &st) != 0 && errno == ENOENT) state = RuntimeState::kAbsent;
    if (s_.state(runtime_) != state || message != lastError_) {
      log::warn(
          std::string(display_) + (state == RuntimeState::kAbsent
                                       ? " socket absent: retrying (" + std::string(setting_) + ")"
                                       : " unreachable: retrying"),
          {{log::field::kEventType, log::event::kNodeRuntime},
           {"runtime", runtimeName(runtime_)},
           {log::field::kPath, socketPath_},
           {log::field::kError, message}});
      lastError_ = message;
    }
    s_.setState(runtime_, state);
  }

  void connected(bool everConnected, const nlohmann::json& fields) {
    if (everConnected) s_.metrics_.reconnect(runtime_);
    s_.setState(runtime_, RuntimeState::kConnected);
    lastError_.clear();
    nlohmann::json f = fields;
    f[log::field::kEventType] = log::event::kNodeRuntime;
    f["runtime"] = runtimeName(runtime_);
    f[log::field::kPath] = socketPath_;
    log::info(std::string(display_) + " connected", f);
  }

  // The runtime's key of a container: its id, within its namespace for containerd.
  static std::string keyOf(const Container& c) {
    return c.namespace_.empty() ? c.id : c.namespace_ + "/" + c.id;
  }
  bool judgedBefore(const std::string& key) { return s_.judged(runtime_, key); }

  // Judges a container seen started (or running when found): its findings out, then recorded.
  void judge(const Container& c, bool gone) {
    std::vector<Finding> findings =
        judgeContainer(c, s_.policies().get(), *s_.rules(), Clock::now(), gone);
    remember(c);
    s_.emit(std::move(findings));
    s_.markJudged(runtime_, keyOf(c));
    if (c.running && c.pid > 0) s_.track(c);
  }

  void execSeen(const Container& c, const ExecSeen& seen) {
    auto f = judgeExec(c, seen, *s_.rules(), Clock::now());
    s_.metrics_.exec(runtime_, f.has_value());
    if (f) s_.emit({std::move(*f)});
  }

  void running(const std::string& key, bool kubernetes) {
    running_[key] = kubernetes;
    publishCounts();
  }
  void stopped(const std::string& key, const std::string& id) {
    if (running_.erase(key)) publishCounts();
    s_.untrack(id);
  }
  void publishCounts() {
    std::size_t k8s = 0;
    for (const auto& [id, kubernetes] : running_) k8s += kubernetes ? 1 : 0;
    s_.metrics_.containers(runtime_, k8s, running_.size() - k8s);
  }

  const Container* cached(const std::string& key) const {
    auto it = cache_.find(key);
    return it == cache_.end() ? nullptr : &it->second;
  }
  void remember(const Container& c) {
    const std::string key = keyOf(c);
    if (auto it = cache_.find(key); it != cache_.end()) {
      it->second = c;
      return;
    }
    while (cache_.size() >= kMaxCached && !cacheOrder_.empty()) {
      cache_.erase(cacheOrder_.front());
      cacheOrder_.pop_front();
    }
    cache_.emplace(key, c);
    cacheOrder_.push_back(key);
  }
  void forget(const std::string& key) {
    if (cache_.erase(key) == 0) return;
    std::erase(cacheOrder_, key);
  }

  NodeService& s_;
  const Runtime runtime_;
  const std::string socketPath_;
  const std::string_view display_, setting_;
  std::string lastError_;
  std::unordered_map<std::string, bool> running_;  // running containers: made by the kubelet?

 private:
  std::unordered_map<std::string, Container> cache_;
  std::deque<std::string> cacheOrder_;
  std::thread thread_;
};

// One Docker Engine: inventory at every connection, then its event stream from the last event
// seen, until it ends or the service stops.
class NodeService::DockerWatcher final : public Watcher {
 public:
  explicit DockerWatcher(NodeService& s)
      : Watcher(s, Runtime::kDocker, s.options_.dockerSocket, "Docker Engine", "node.dockerSocket"),
        client_(s.options_.dockerSocket, s.options_.dockerLimits) {}
  const DockerStats& stats() { return client_.stats(); }

 private:
  bool session(bool everConnected) override {
    const auto version = client_.negotiate();
    if (!version.ok()) {
      failed(dockerErrorName(version.error), version.message);
      return false;
    }
    // The stream first, from the last event seen (or from now), then the inventory: what
    // starts between the two comes on the stream, what the inventory saw already is judged.
    std::int64_t since = s_.resumePoint(Runtime::kDocker);
    if (since == 0) since = nowNano() - 1'000'000'000;
    auto stream = client_.events(since);
    if (!stream.ok()) {
      failed(dockerErrorName(stream.error), stream.message);
      return false;
    }
    connected(everConnected,
              {{log::field::kVersion, version.value.version}, {"api_version", version.value.used}});
    inventory(s_.resumePoint(Runtime::kDocker));

    DockerEvent ev;
    while (!s_.stopping_.load()) {
      const auto status = stream.value->next(ev, s_.options_.idleWait);
      if (status == EventStream::Status::kIdle) {
        s_.saveResume(Runtime::kDocker, resume_.lastTimeNano());
        continue;
      }
      if (status != EventStream::Status::kEvent) {
        if (status == EventStream::Status::kError)
          failed(dockerErrorName(stream.value->errorCode()), stream.value->error());
        else
          failed(dockerErrorName(DockerError::kTruncated), "the daemon ended the event stream");
        break;
      }
      s_.metrics_.event(Runtime::kDocker, dockerEventKindName(ev.kind));
      s_.metrics_.lastEvent(Runtime::kDocker, static_cast<double>(ev.time));
      if (!resume_.fresh(ev)) continue;
      internal::guarded(internal::Component::kNodeWatcher, ev.containerId, [&] { handle(ev); });
    }
    s_.saveResume(Runtime::kDocker, resume_.lastTimeNano());
    stream.value->close();
    return true;
  }

  void inventory(std::int64_t sinceNano) {
    auto list = client_.listContainers();
    if (!list.ok()) {
      s_.metrics_.error(Runtime::kDocker, dockerErrorName(list.error));
      log::warn(
          "Docker Engine inventory failed: containers started before now are judged as "
          "their events come",
          {{log::field::kEventType, log::event::kNodeRuntime},
           {"runtime", "docker"},
           {log::field::kError, list.message}});
      return;
    }
    running_.clear();
    for (const ContainerSummary& row : list.value) {
      const bool isRunning = row.state == "running";
      if (isRunning) running_[row.id] = classifyLabels(Runtime::kDocker, "", row.labels).kubernetes;
      if (s_.stopping_.load()) break;
      if (!isRunning && !createdSince(row.created, sinceNano)) continue;
      if (judgedBefore(row.id)) {
        // Judged before (an earlier connection, or before a restart): sampled all the same.
        if (isRunning && s_.anomaly_) {
          auto inspected = client_.inspectContainer(row.id);
          if (inspected.ok()) {
            remember(inspected.value);
            s_.track(inspected.value);
          }
        }
        continue;
      }
      internal::guarded(internal::Component::kNodeWatcher, row.id,
                        [&] { started(row.id, nullptr); });
    }
    publishCounts();
  }

  void handle(const DockerEvent& ev) {
    switch (ev.kind) {
      case DockerEventKind::kStart:
        running(ev.containerId, classifyLabels(Runtime::kDocker, "", ev.attributes).kubernetes);
        if (!judgedBefore(ev.containerId)) started(ev.containerId, &ev);
        break;
      case DockerEventKind::kDie:
        stopped(ev.containerId, ev.containerId);
        break;
      case DockerEventKind::kDestroy:
        stopped(ev.containerId, ev.containerId);
        forget(ev.containerId);
        break;
      case DockerEventKind::kExecStart:
        exec(ev);
        break;
      default:
        break;
    }
  }

  // The container as its event describes it, when it cannot be inspected.
  static Container fromEvent(const DockerEvent& ev) {
    Container c;
    c.runtime = Runtime::kDocker;
    c.id = ev.containerId;
    c.name = ev.name;
    c.image = ev.image;
    c.labels = ev.attributes;
    c.clamped = ev.clamped;
    return c;
  }

  // A container seen started (event) or found in the inventory (`ev` null): judged once.
  void started(const std::string& id, const DockerEvent* ev) {
    auto inspected = client_.inspectContainer(id);
    if (inspected.ok()) {
      // Created but never started (an inventory row): nothing ran.
      if (!ev && inspected.value.startedAt.empty()) return;
      judge(inspected.value, false);
      return;
    }
    s_.metrics_.error(Runtime::kDocker, dockerErrorName(inspected.error));
    // An inventory row gone meanwhile: its events say the rest. Gone before it could be
    // inspected after its start (`docker run --rm` of a short command): judged from its event.
    if (ev) judge(fromEvent(*ev), true);
  }

  void exec(const DockerEvent& ev) {
    if (!cached(ev.containerId)) {
      auto inspected = client_.inspectContainer(ev.containerId);
      if (inspected.ok()) {
        remember(inspected.value);
      } else {
        s_.metrics_.error(Runtime::kDocker, dockerErrorName(inspected.error));
        remember(fromEvent(ev));
      }
    }
    ExecSeen seen;
    seen.execId = ev.execId;
    auto info = ev.execId.empty() ? DockerResult<ExecInfo>{DockerError::kNotFound, "no exec id", {}}
                                  : client_.inspectExec(ev.execId);
    if (info.ok()) {
      seen.command = std::move(info.value.command);
      seen.user = std::move(info.value.user);
      seen.privileged = info.value.privileged;
    } else {
      s_.metrics_.error(Runtime::kDocker, dockerErrorName(info.error));
      seen.command = splitCommand(ev.execCommand);
    }
    execSeen(*cached(ev.containerId), seen);
  }

  DockerClient client_;
  EventResume resume_;
};

// One containerd: its event stream (every namespace, read from the envelopes), then the
// inventory of each namespace watched (containerd keeps no event history: what started and
// ended while the stream was down is not seen; what still runs is). Containers of Docker's
// namespace ("moby") are the Docker watcher's when it is configured.
class NodeService::ContainerdWatcher final : public Watcher {
 public:
  explicit ContainerdWatcher(NodeService& s)
      : Watcher(s, Runtime::kContainerd, s.options_.containerdSocket, "containerd",
                "node.containerdSocket"),
        client_(s.options_.containerdSocket, s.options_.containerdLimits) {}
  const ContainerdStats& stats() { return client_.stats(); }

 private:
  bool watched(const std::string& ns) const {
    if (ns == "moby" && !s_.options_.dockerSocket.empty()) return false;
    const auto& only = s_.options_.containerdNamespaces;
    return only.empty() || std::find(only.begin(), only.end(), ns) != only.end();
  }

  bool session(bool everConnected) override {
    auto namespaces = client_.namespaces();
    if (!namespaces.ok()) {
      failed(containerdErrorName(namespaces.error), namespaces.message);
      return false;
    }
    auto stream = client_.subscribe();
    if (!stream.ok()) {
      failed(containerdErrorName(stream.error), stream.message);
      return false;
    }
    connected(everConnected, {{"namespaces", namespaces.value.size()}});
    running_.clear();
    for (const std::string& ns : namespaces.value) {
      if (s_.stopping_.load()) break;
      if (watched(ns)) inventory(ns);
    }
    publishCounts();

    ContainerdEvent ev;
    while (!s_.stopping_.load()) {
      const auto status = stream.value->next(ev, s_.options_.idleWait);
      if (status == ContainerdEventStream::Status::kIdle) continue;
      if (status != ContainerdEventStream::Status::kEvent) {
        if (status == ContainerdEventStream::Status::kError)
          failed(containerdErrorName(stream.value->errorCode()), stream.value->error());
        else
          failed(containerdErrorName(ContainerdError::kUnavailable),
                 "the daemon ended the event stream");
        break;
      }
      s_.metrics_.event(Runtime::kContainerd, containerdEventKindName(ev.kind));
      s_.metrics_.lastEvent(Runtime::kContainerd, static_cast<double>(ev.timeNano) / 1e9);
      if (!watched(ev.namespace_)) continue;
      internal::guarded(internal::Component::kNodeWatcher, ev.containerId, [&] { handle(ev); });
    }
    stream.value->close();
    return true;
  }

  void inventory(const std::string& ns) {
    auto list = client_.listContainers(ns);
    if (!list.ok()) {
      s_.metrics_.error(Runtime::kContainerd, containerdErrorName(list.error));
      log::warn(
          "containerd inventory failed: containers started before now are judged as "
          "their events come",
          {{log::field::kEventType, log::event::kNodeRuntime},
           {"runtime", "containerd"},
           {log::field::kNamespace, ns},
           {log::field::kError, list.message}});
      return;
    }
    for (Container& c : list.value) {
      if (s_.stopping_.load()) break;
      auto pid = client_.taskPid(ns, c.id);
      if (!pid.ok() || pid.value <= 0) continue;  // never started, or no longer running
      c.pid = pid.value;
      c.running = true;
      running(keyOf(c), classify(c).kubernetes);
      if (judgedBefore(keyOf(c))) {
        remember(c);
        s_.track(c);
        continue;
      }
      internal::guarded(internal::Component::kNodeWatcher, c.id, [&] { judge(c, false); });
    }
  }

  // The container's configuration, from the cache or the daemon; null when it is gone.
  const Container* lookup(const std::string& ns, const std::string& id) {
    const std::string key = ns + "/" + id;
    if (const Container* c = cached(key)) return c;
    auto got = client_.getContainer(ns, id);
    if (!got.ok()) {
      s_.metrics_.error(Runtime::kContainerd, containerdErrorName(got.error));
      return nullptr;
    }
    remember(got.value);
    return cached(key);
  }

  void handle(const ContainerdEvent& ev) {
    const std::string key = ev.namespace_ + "/" + ev.containerId;
    switch (ev.kind) {
      case ContainerdEventKind::kCreate:
        if (!ev.image.empty()) createdImages_[key] = ev.image;
        if (createdImages_.size() > kMaxCached) createdImages_.clear();
        break;
      case ContainerdEventKind::kStart: {
        if (judgedBefore(key)) break;
        const Container* c = lookup(ev.namespace_, ev.containerId);
        Container seen;
        bool gone = false;
        if (c) {
          seen = *c;
        } else {
          // Gone before it could be read (`ctr run --rm` of a short command).
          gone = true;
          seen.runtime = Runtime::kContainerd;
          seen.namespace_ = ev.namespace_;
          seen.id = ev.containerId;
          if (auto it = createdImages_.find(key); it != createdImages_.end())
            seen.image = it->second;
        }
        seen.pid = ev.pid;
        seen.running = true;
        running(key, classify(seen).kubernetes);
        judge(seen, gone);
        createdImages_.erase(key);
        break;
      }
      case ContainerdEventKind::kExecStarted: {
        const Container* c = lookup(ev.namespace_, ev.containerId);
        if (!c) break;  // the container is gone: so is its exec
        ExecSeen seen;
        seen.execId = ev.execId;
        // The process may still be runc's (`runc init`) or not yet readable when the event
        // comes: a few tries, 10 ms apart, before it counts as gone.
        auto cmd = client_.execCommand(s_.options_.procRoot, ev.pid);
        for (int attempt = 0; attempt < 5 && (!cmd.ok() || stillRunc(cmd.value)); ++attempt) {
          std::this_thread::sleep_for(std::chrono::milliseconds(10));
          cmd = client_.execCommand(s_.options_.procRoot, ev.pid);
        }
        if (cmd.ok()) {
          seen.command = std::move(cmd.value);
        } else {
          // Exited before it could be read: the exec is reported without its command.
          s_.metrics_.error(Runtime::kContainerd, containerdErrorName(cmd.error));
          seen.command = {"?"};
        }
        execSeen(*c, seen);
        break;
      }
      case ContainerdEventKind::kExit:
        if (ev.execId.empty() || ev.execId == ev.containerId) stopped(key, ev.containerId);
        break;
      case ContainerdEventKind::kDelete:
        stopped(key, ev.containerId);
        forget(key);
        createdImages_.erase(key);
        break;
      default:
        break;
    }
  }

  static bool stillRunc(const std::vector<std::string>& argv) {
    return argv.size() >= 2 && argv[1] == "init" &&
           (argv[0] == "runc" || argv[0].ends_with("/runc"));
  }

  ContainerdClient client_;
  std::unordered_map<std::string, std::string> createdImages_;  // until the task starts
};

NodeService::NodeService(NodeServiceOptions options, prometheus::Registry& registry)
    : options_(std::move(options)), metrics_(registry) {
  setState(Runtime::kDocker, RuntimeState::kDisabled);
  setState(Runtime::kContainerd, RuntimeState::kDisabled);
  if (options_.sample) {
    AnomalyWatchOptions o = options_.anomaly;
    o.rules = options_.rules;
    o.emit = [this](std::vector<Finding> findings) { emit(std::move(findings)); };
    anomaly_ = std::make_unique<AnomalyWatch>(std::move(o), registry);
  }
}

NodeService::~NodeService() { stop(std::chrono::milliseconds(0)); }

bool NodeService::start(std::string& error) {
  if (options_.dockerSocket.empty() && options_.containerdSocket.empty()) {
    error =
        "the node role needs a container runtime: set node.dockerSocket or "
        "node.containerdSocket";
    return false;
  }
  // The journal of judged containers and its secret.
  std::optional<audit::DedupeSecret> secret;
  std::vector<audit::DedupeKey> keys;
  if (!options_.judgedJournal.empty()) {
    audit::DedupeJournal reader(options_.judgedJournal, audit::DedupeSecret::random());
    std::size_t damaged = 0;
    keys = reader.load(&damaged, &secret);
    if (damaged)
      log::warn("damaged records in the journal of judged containers were skipped",
                {{log::field::kPath, options_.judgedJournal}, {"records", damaged}});
  }
  secret_ = secret.value_or(audit::DedupeSecret::random());
  if (!secret) keys.clear();
  judged_ = std::make_unique<audit::KeyFifoSet>(options_.maxJudged);
  for (const auto& k : keys) judged_->insert(k, ++judgedStamp_);
  if (!options_.judgedJournal.empty()) {
    journal_ = std::make_unique<audit::DedupeJournal>(options_.judgedJournal, secret_);
    std::vector<audit::DedupeKey> kept;
    judged_->forEachOldestFirst([&](const audit::DedupeKey& k, int64_t) { kept.push_back(k); });
    std::string why;
    if (!journal_->rewrite(kept, &why)) {
      error = "cannot write the journal of judged containers: " + why;
      return false;
    }
    journalRecords_ = kept.size();
  }
  // Resume points.
  if (!options_.resumeFile.empty()) {
    std::string text;
    if (files::readFile(options_.resumeFile, text)) {
      const auto j = nlohmann::json::parse(text, nullptr, false);
      if (j.is_object() && j.value("version", 0) == 1 && j.contains("docker") &&
          j["docker"].is_object() && j["docker"].value("sinceNano", std::int64_t{0}) > 0) {
        dockerResume_ = dockerResumeSaved_ = j["docker"].value("sinceNano", std::int64_t{0});
      } else {
        log::warn("the node resume file is damaged: starting from the inventory alone",
                  {{log::field::kPath, options_.resumeFile}});
      }
    } else if (errno != ENOENT) {
      error = "cannot read " + files::readError(options_.resumeFile);
      return false;
    }
  }
  if (!options_.alerts.urls.empty()) {
    auto created = audit::AlertmanagerClient::create(
        options_.alerts,
        {[this](const std::string&, std::size_t n) {
           metrics_.alerts().sent->Increment(static_cast<double>(n));
         },
         [this](const std::string&, const std::string&) {
           metrics_.alerts().failures->Increment();
         },
         [this](std::size_t n) { metrics_.alerts().dropped->Increment(static_cast<double>(n)); }});
    if (!created.client) {
      error = created.error;
      return false;
    }
    alerts_ = std::move(created.client);
  }
  stopping_ = false;
  if (anomaly_) anomaly_->start();
  if (!options_.dockerSocket.empty()) {
    setState(Runtime::kDocker, RuntimeState::kAbsent);
    docker_ = std::make_unique<DockerWatcher>(*this);
    docker_->start();
  }
  if (!options_.containerdSocket.empty()) {
    setState(Runtime::kContainerd, RuntimeState::kAbsent);
    containerd_ = std::make_unique<ContainerdWatcher>(*this);
    containerd_->start();
  }
  return true;
}

void NodeService::stop(std::chrono::milliseconds deadline) {
  {
    std::lock_guard lock(stopMu_);
    if (stopping_.exchange(true) && !docker_ && !containerd_ && !alerts_) return;
  }
  stopCv_.notify_all();
  if (docker_) {
    docker_->join();
    docker_.reset();
  }
  if (containerd_) {
    containerd_->join();
    containerd_.reset();
  }
  if (anomaly_) anomaly_->stop();
  if (alerts_) {
    alerts_->stop(deadline);
    alerts_.reset();
  }
}

bool NodeService::ready() const {
  return state(Runtime::kDocker) == RuntimeState::kConnected ||
         state(Runtime::kContainerd) == RuntimeState::kConnected;
}

std::string NodeService::notReady() const {
  if (ready()) return {};
  return "node: no container runtime reachable (docker: " +
         std::string(runtimeStateName(state(Runtime::kDocker))) +
         ", containerd: " + std::string(runtimeStateName(state(Runtime::kContainerd))) + ")";
}

RuntimeState NodeService::state(Runtime r) const {
  return states_[static_cast<std::size_t>(r)].load();
}

const ContainerdStats* NodeService::containerdStats() const {
  return containerd_ ? &containerd_->stats() : nullptr;
}

const DockerStats* NodeService::dockerStats() const {
  return docker_ ? &docker_->stats() : nullptr;
}

bool NodeService::judged(Runtime r, const std::string& id) {
  const std::string key = std::string(runtimeName(r)) + "/" + id;
  std::lock_guard lock(mu_);
  return judged_->contains(audit::dedupeKey(secret_, key, "judged"));
}

void NodeService::markJudged(Runtime r, const std::string& id) {
  const std::string key = std::string(runtimeName(r)) + "/" + id;
  std::lock_guard lock(mu_);
  const audit::DedupeKey k = audit::dedupeKey(secret_, key, "judged");
  if (!judged_->insert(k, ++judgedStamp_)) return;
  if (!journal_) return;
  if (!journal_->append({k})) {
    log::error(
        "cannot append to the journal of judged containers: after a restart they would "
        "be reported again",
        {{log::field::kPath, journal_->path()}, {log::field::kError, std::strerror(errno)}});
    return;
  }
  if (++journalRecords_ > 2 * options_.maxJudged) {
    std::vector<audit::DedupeKey> kept;
    judged_->forEachOldestFirst(
        [&](const audit::DedupeKey& key2, int64_t) { kept.push_back(key2); });
    std::string why;
    if (journal_->rewrite(kept, &why)) journalRecords_ = kept.size();
  }
}

void NodeService::emit(std::vector<Finding> findings) {
  std::lock_guard lock(mu_);
  if (options_.respond && !findings.empty())
    internal::guarded(internal::Component::kResponder, findings.front().containerID,
                      [&] { options_.respond(findings); });
  for (Finding& f : findings) {
    metrics_.finding(f.rule, audit::severityName(f.severity));
    findings_.fetch_add(1);
    if (options_.onFinding)
      internal::guarded(internal::Component::kNodeWatcher, f.containerID,
                        [&] { options_.onFinding(f); });
    if (alerts_) alerts_->fire(audit::alertFor(f, Clock::now()));
  }
}

std::shared_ptr<const NodeRuleOptions> NodeService::rules() {
  std::vector<respond::NodeAccepted::Normal> normals;
  std::shared_ptr<const NodeRuleOptions> out;
  {
    std::lock_guard lock(mu_);
    const auto now = std::chrono::steady_clock::now();
    if (rules_ &&
        (options_.acceptedFile.empty() || now - acceptedChecked_ < std::chrono::seconds(1)))
      return rules_;
    acceptedChecked_ = now;
    const files::FileStamp stamp =
        options_.acceptedFile.empty() ? files::FileStamp{} : files::stampOf(options_.acceptedFile);
    if (rules_ && stamp == acceptedStamp_) return rules_;
    acceptedStamp_ = stamp;
    auto next = std::make_shared<NodeRuleOptions>(options_.rules);
    if (!options_.acceptedFile.empty()) {
      respond::NodeAccepted accepted;
      std::string error;
      OutsideAllowList extra;
      if (!respond::loadNodeAccepted(options_.acceptedFile, accepted, error)) {
        log::warn("the accepted file cannot be read: the configured allow-list only",
                  {{log::field::kPath, options_.acceptedFile}, {log::field::kError, error}});
      } else if (!OutsideAllowList::parse(accepted.allowedOutsideKubernetes, extra, error)) {
        log::warn("an accepted allow-list entry cannot be read: the configured allow-list only",
                  {{log::field::kPath, options_.acceptedFile}, {log::field::kError, error}});
      } else {
        next->allowed.add(extra);
        normals = std::move(accepted.normals);
        if (stamp.ino != 0)
          log::info("accepted allow-list entries and normals taken in",
                    {{log::field::kPath, options_.acceptedFile},
                     {"allowed", accepted.allowedOutsideKubernetes.size()},
                     {"normals", normals.size()}});
      }
    }
    rules_ = std::move(next);
    out = rules_;
  }
  // The normals outside mu_: the sampling thread holds their lock while it may emit.
  const auto micros = std::chrono::duration_cast<std::chrono::microseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  for (const auto& n : normals) {
    Metric m;
    if (anomaly_ && parseMetric(n.metric, m))
      anomaly_->normals().accept(n.workload, m, n.value, micros);
  }
  return out;
}

std::shared_ptr<const policy::PolicySet> NodeService::policies() const {
  return options_.policies ? options_.policies() : nullptr;
}

void NodeService::track(const Container& c) {
  if (anomaly_) anomaly_->track(c);
}

void NodeService::untrack(const std::string& id) {
  if (anomaly_) anomaly_->untrack(id);
}

void NodeService::setState(Runtime r, RuntimeState s) {
  states_[static_cast<std::size_t>(r)].store(s);
  metrics_.state(r, s);
}

std::int64_t NodeService::resumePoint(Runtime r) const {
  std::lock_guard lock(mu_);
  return r == Runtime::kDocker ? dockerResume_ : 0;
}

void NodeService::saveResume(Runtime r, std::int64_t nano) {
  if (r != Runtime::kDocker || nano <= 0) return;
  std::lock_guard lock(mu_);
  dockerResume_ = std::max(dockerResume_, nano);
  if (options_.resumeFile.empty() || dockerResume_ == dockerResumeSaved_) return;
  const nlohmann::json j = {{"version", 1}, {"docker", {{"sinceNano", dockerResume_}}}};
  std::string why;
  if (files::writeFileAtomic(options_.resumeFile, j.dump() + "\n", 0600, why)) {
    dockerResumeSaved_ = dockerResume_;
  } else {
    log::error("cannot save the node resume point",
               {{log::field::kPath, options_.resumeFile}, {log::field::kError, why}});
  }
}

bool NodeService::pause(std::chrono::milliseconds d) {
  std::unique_lock lock(stopMu_);
  stopCv_.wait_for(lock, d, [this] { return stopping_.load(); });
  return !stopping_.load();
}

}  // namespace kc::node
