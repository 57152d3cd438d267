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

// One Docker Engine: inventory at every connection, then its event stream, until it ends or
// the service stops; then again after a backoff.
class NodeService::DockerWatcher {
 public:
  explicit DockerWatcher(NodeService& s)
      : s_(s), client_(s.options_.dockerSocket, s.options_.dockerLimits) {}

  void start() {
    thread_ = std::thread([this] { run(); });
  }
  void join() {
    if (thread_.joinable()) thread_.join();
  }
  const DockerStats& stats() { return client_.stats(); }

 private:
  void run() {
    auto backoff = s_.options_.reconnectMin;
    bool everConnected = false;
    while (!s_.stopping_.load()) {
      bool connected = false;
      internal::guarded(internal::Component::kNodeWatcher, "docker",
                        [&] { connected = session(everConnected); });
      if (connected) {
        everConnected = true;
        backoff = s_.options_.reconnectMin;
      }
      if (!s_.pause(backoff)) break;
      backoff = std::min(backoff * 2, s_.options_.reconnectMax);
    }
  }

  void failed(DockerError e, const std::string& message) {
    s_.metrics_.error(Runtime::kDocker, dockerErrorName(e));
    RuntimeState state = RuntimeState::kUnreachable;
    struct stat st {};
    if (e == DockerError::kConnect && ::stat(client_.socketPath().c_str(), &st) != 0 &&
        errno == ENOENT)
      state = RuntimeState::kAbsent;
    if (s_.state(Runtime::kDocker) != state || message != lastError_) {
      log::warn(state == RuntimeState::kAbsent
                    ? "Docker Engine socket absent: retrying (node.dockerSocket)"
                    : "Docker Engine unreachable: retrying",
                {{log::field::kEventType, log::event::kNodeRuntime},
                 {"runtime", "docker"},
                 {log::field::kPath, client_.socketPath()},
                 {log::field::kError, message}});
      lastError_ = message;
    }
    s_.setState(Runtime::kDocker, state);
  }

  // True when the stream was open at some point.
  bool session(bool everConnected) {
    const auto version = client_.negotiate();
    if (!version.ok()) {
      failed(version.error, version.message);
      return false;
    }
    // The stream first, from the last event seen (or from now), then the inventory: what
    // starts between the two comes on the stream, what the inventory saw already is judged.
    std::int64_t since = s_.resumePoint(Runtime::kDocker);
    if (since == 0) since = nowNano() - 1'000'000'000;
    auto stream = client_.events(since);
    if (!stream.ok()) {
      failed(stream.error, stream.message);
      return false;
    }
    if (everConnected) s_.metrics_.reconnect(Runtime::kDocker);
    s_.setState(Runtime::kDocker, RuntimeState::kConnected);
    lastError_.clear();
    log::info("Docker Engine connected", {{log::field::kEventType, log::event::kNodeRuntime},
                                          {"runtime", "docker"},
                                          {log::field::kPath, client_.socketPath()},
                                          {log::field::kVersion, version.value.version},
                                          {"api_version", version.value.used}});
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
          failed(stream.value->errorCode(), stream.value->error());
        else
          failed(DockerError::kTruncated, "the daemon ended the event stream");
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
      if (s_.judged(Runtime::kDocker, row.id)) continue;
      internal::guarded(internal::Component::kNodeWatcher, row.id,
                        [&] { started(row.id, nullptr); });
    }
    publishCounts();
  }

  void handle(const DockerEvent& ev) {
    switch (ev.kind) {
      case DockerEventKind::kStart: {
        const bool k8s = classifyLabels(Runtime::kDocker, "", ev.attributes).kubernetes;
        running_[ev.containerId] = k8s;
        publishCounts();
        if (!s_.judged(Runtime::kDocker, ev.containerId)) started(ev.containerId, &ev);
        break;
      }
      case DockerEventKind::kDie:
        running_.erase(ev.containerId);
        publishCounts();
        break;
      case DockerEventKind::kDestroy:
        running_.erase(ev.containerId);
        forget(ev.containerId);
        publishCounts();
        break;
      case DockerEventKind::kExecStart:
        exec(ev);
        break;
      default:
        break;
    }
  }

  void publishCounts() {
    std::size_t k8s = 0;
    for (const auto& [id, kubernetes] : running_) k8s += kubernetes ? 1 : 0;
    s_.metrics_.containers(Runtime::kDocker, k8s, running_.size() - k8s);
  }

  // A container seen started (event) or found in the inventory (`ev` null): judged once.
  void started(const std::string& id, const DockerEvent* ev) {
    auto inspected = client_.inspectContainer(id);
    bool gone = false;
    Container c;
    if (inspected.ok()) {
      c = std::move(inspected.value);
      // Created but never started (an inventory row): nothing ran.
      if (!ev && c.startedAt.empty()) return;
    } else {
      s_.metrics_.error(Runtime::kDocker, dockerErrorName(inspected.error));
      if (!ev) return;  // an inventory row gone meanwhile: its events say the rest
      // Gone before it could be inspected (`docker run --rm` of a short command): judged from
      // what its event said.
      gone = true;
      c.runtime = Runtime::kDocker;
      c.id = ev->containerId;
      c.name = ev->name;
      c.image = ev->image;
      c.labels = ev->attributes;
      c.clamped = ev->clamped;
    }
    std::vector<Finding> findings =
        judgeContainer(c, s_.policies().get(), s_.options_.rules, Clock::now(), gone);
    remember(c);
    s_.emit(std::move(findings));
    s_.markJudged(Runtime::kDocker, id);
  }

  void exec(const DockerEvent& ev) {
    const Container* c = cached(ev.containerId);
    if (!c) {
      auto inspected = client_.inspectContainer(ev.containerId);
      if (!inspected.ok()) {
        s_.metrics_.error(Runtime::kDocker, dockerErrorName(inspected.error));
        Container partial;
        partial.runtime = Runtime::kDocker;
        partial.id = ev.containerId;
        partial.name = ev.name;
        partial.image = ev.image;
        partial.labels = ev.attributes;
        remember(partial);
      } else {
        remember(inspected.value);
      }
      c = cached(ev.containerId);
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
    auto f = judgeExec(*c, seen, s_.options_.rules, Clock::now());
    s_.metrics_.exec(Runtime::kDocker, f.has_value());
    if (f) s_.emit({std::move(*f)});
  }

  const Container* cached(const std::string& id) const {
    auto it = cache_.find(id);
    return it == cache_.end() ? nullptr : &it->second;
  }
  void remember(const Container& c) {
    if (cache_.count(c.id)) {
      cache_[c.id] = c;
      return;
    }
    while (cache_.size() >= kMaxCached && !cacheOrder_.empty()) {
      cache_.erase(cacheOrder_.front());
      cacheOrder_.pop_front();
    }
    cache_.emplace(c.id, c);
    cacheOrder_.push_back(c.id);
  }
  void forget(const std::string& id) {
    if (cache_.erase(id) == 0) return;
    std::erase(cacheOrder_, id);
  }

  NodeService& s_;
  DockerClient client_;
  EventResume resume_;
  std::string lastError_;
  std::unordered_map<std::string, bool> running_;  // running containers: made by the kubelet?
  std::unordered_map<std::string, Container> cache_;
  std::deque<std::string> cacheOrder_;
  std::thread thread_;
};

NodeService::NodeService(NodeServiceOptions options, prometheus::Registry& registry)
    : options_(std::move(options)), metrics_(registry) {
  metrics_.state(Runtime::kDocker, RuntimeState::kDisabled);
}

NodeService::~NodeService() { stop(std::chrono::milliseconds(0)); }

bool NodeService::start(std::string& error) {
  if (options_.dockerSocket.empty()) {
    error = "the node role needs a container runtime: set node.dockerSocket";
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
  setState(Runtime::kDocker, RuntimeState::kAbsent);
  docker_ = std::make_unique<DockerWatcher>(*this);
  docker_->start();
  return true;
}

void NodeService::stop(std::chrono::milliseconds deadline) {
  {
    std::lock_guard lock(stopMu_);
    if (stopping_.exchange(true) && !docker_ && !alerts_) return;
  }
  stopCv_.notify_all();
  if (docker_) {
    docker_->join();
    docker_.reset();
  }
  if (alerts_) {
    alerts_->stop(deadline);
    alerts_.reset();
  }
}

bool NodeService::ready() const { return dockerState_.load() == RuntimeState::kConnected; }

std::string NodeService::notReady() const {
  if (ready()) return {};
  return "node: no container runtime reachable (docker: " +
         std::string(runtimeStateName(dockerState_.load())) + ")";
}

RuntimeState NodeService::state(Runtime r) const {
  return r == Runtime::kDocker ? dockerState_.load() : RuntimeState::kDisabled;
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
  for (Finding& f : findings) {
    metrics_.finding(f.rule, audit::severityName(f.severity));
    findings_.fetch_add(1);
    if (options_.onFinding)
      internal::guarded(internal::Component::kNodeWatcher, f.containerID,
                        [&] { options_.onFinding(f); });
    if (alerts_) alerts_->fire(audit::alertFor(f, Clock::now()));
  }
}

std::shared_ptr<const policy::PolicySet> NodeService::policies() const {
  return options_.policies ? options_.policies() : nullptr;
}

void NodeService::setState(Runtime r, RuntimeState s) {
  if (r != Runtime::kDocker) return;
  dockerState_.store(s);
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
