#pragma once
// The node door's runtime, as `serve --roles node` runs it on every node: one watcher thread
// per container runtime (Docker Engine, containerd) that takes the runtime's inventory when it
// connects and then follows its event stream, judges each container that starts with the node
// rules (node/node_rules.h) and each exec with the exec scorer, and hands the findings to the
// same outputs as the audit door: one JSON log line each, counters by rule and severity, and an
// Alertmanager alert.
//
//   NodeService s(options, registry); s.start(error); ... s.ready() ...; s.stop(deadline)
//
// Every container is judged once: the ids judged are appended to a journal in the state
// directory (keyed with a secret of its own, like the audit door's reported sessions) before
// the next event is read, so a restart of the agent or of the runtime reports nothing twice;
// what started while the agent or the runtime was away is found in the inventory taken on
// every (re)connection and in the events since the last one seen.
// Thread-safety: start(), stop(), ready() and the accessors from any thread; the rest runs on
// the watcher threads.

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/files.h"
#include "controller/alert/alertmanager.h"
#include "controller/detect/finding.h"
#include "controller/events/dedupe.h"
#include "controller/events/key_set.h"
#include "node/anomaly_watch.h"
#include "node/containerd_client.h"
#include "node/docker_client.h"
#include "node/node_metrics.h"
#include "node/node_rules.h"
#include "policies/engine.h"

namespace kc::node {

struct NodeServiceOptions {
  NodeRuleOptions rules;
  // The policy set in force (the webhook's store, or the built-in defaults); null: none.
  std::function<std::shared_ptr<const policy::PolicySet>()> policies;
  std::string dockerSocket;  // "" disables the Docker Engine watcher
  DockerLimits dockerLimits;
  std::string containerdSocket;  // "" disables the containerd watcher
  ContainerdLimits containerdLimits;
  // containerd namespaces watched (empty: all). Docker's own ("moby") is left to the Docker
  // watcher whenever dockerSocket is set, so that no container is judged twice.
  std::vector<std::string> containerdNamespaces;
  // The host's /proc (where an exec's command line is read for containerd).
  std::string procRoot = "/proc";
  // The state directory's files: the journal of judged containers and the resume points. ""
  // keeps nothing (every start judges the running containers again).
  std::string judgedJournal;  // e.g. STATE_DIR/node-judged.journal
  std::string resumeFile;     // e.g. STATE_DIR/node-resume.json
  // What `kube-customs respond accept` took in (respond/accept.h): allow-list entries added to
  // rules.allowed and normals raised, read at start and again when the file changes (checked
  // at most once a second). "": none.
  std::string acceptedFile;        // e.g. STATE_DIR/node-accepted.json
  std::size_t maxJudged = 50'000;  // ids remembered; the oldest are forgotten first
  // Reconnecting: the first retry after this, doubling up to reconnectMax.
  std::chrono::milliseconds reconnectMin{100};
  std::chrono::milliseconds reconnectMax{5000};
  // How long a read of the event stream waits before the watcher looks at its other duties
  // (saving the resume point, stopping).
  std::chrono::milliseconds idleWait{250};
  // Resource use: every running container sampled and judged against its workload's normal
  // (node/anomaly_watch.h). Its emit and rules are the service's; off: no sampling.
  bool sample = true;
  AnomalyWatchOptions anomaly;
  // Each finding first, before its log line and alert: the responder (respond/auto_responder.h)
  // decides there and marks the finding with the evidence bundle it will get.
  // The findings of one judgement come together, so that those about one container share one
  // response.
  std::function<void(std::vector<audit::Finding>&)> respond;
  // Each finding before its alert (serve: the log line).
  std::function<void(const audit::Finding&)> onFinding;
  audit::AlertmanagerOptions alerts;  // no urls: no alerts
};

class NodeService {
 public:
  NodeService(NodeServiceOptions options, prometheus::Registry& registry);
  ~NodeService();
  NodeService(const NodeService&) = delete;
  NodeService& operator=(const NodeService&) = delete;

  // Loads the journal and the resume points, starts the Alertmanager client and a watcher per
  // configured runtime. False and `error` when the state cannot be used or nothing is
  // configured. A runtime that is not there yet is not an error: it is retried.
  bool start(std::string& error);
  // Stops the watchers (a runtime call under way ends by its timeout), saves the resume
  // points, flushes alerts until the deadline.
  void stop(std::chrono::milliseconds deadline);

  // Some configured runtime has its event stream open.
  bool ready() const;
  // For /readyz: what is not ready ("" when ready).
  std::string notReady() const;
  RuntimeState state(Runtime r) const;

  NodeMetrics& metrics() { return metrics_; }
  // Findings handed to the outputs since start (tests, benchmarks).
  std::uint64_t findings() const { return findings_.load(); }
  // The anomaly watch (null without sampling): its normals, for tests and tooling.
  AnomalyWatch* anomaly() { return anomaly_.get(); }
  // The clients' counters (null without that watcher).
  const DockerStats* dockerStats() const;
  const ContainerdStats* containerdStats() const;

 private:
  class Watcher;
  class DockerWatcher;
  class ContainerdWatcher;
  friend class Watcher;

  // Whether the container was judged before (by this process or an earlier one).
  bool judged(Runtime r, const std::string& id);
  // Records it as judged (journal append); the findings go out first.
  void markJudged(Runtime r, const std::string& id);
  void emit(std::vector<audit::Finding> findings);
  std::shared_ptr<const policy::PolicySet> policies() const;
  // The rules in force: the configured ones with the accepted allow-list entries (a snapshot,
  // replaced when the accepted file changes).
  std::shared_ptr<const NodeRuleOptions> rules();
  void setState(Runtime r, RuntimeState s);
  // The anomaly watch's view of the running containers (no-ops without sampling).
  void track(const Container& c);
  void untrack(const std::string& id);
  // Resume points: the newest event time seen per runtime (nanoseconds since the epoch).
  std::int64_t resumePoint(Runtime r) const;
  void saveResume(Runtime r, std::int64_t nano);
  // Sleeps up to `d`; false when stopping.
  bool pause(std::chrono::milliseconds d);

  NodeServiceOptions options_;
  NodeMetrics metrics_;
  std::unique_ptr<audit::AlertmanagerClient> alerts_;
  std::atomic<std::uint64_t> findings_{0};

  mutable std::mutex mu_;  // judged set, journal, resume points, outputs
  audit::DedupeSecret secret_;
  std::unique_ptr<audit::DedupeJournal> journal_;
  std::unique_ptr<audit::KeyFifoSet> judged_;
  std::int64_t judgedStamp_ = 0;
  std::size_t journalRecords_ = 0;
  std::int64_t dockerResume_ = 0;
  std::shared_ptr<const NodeRuleOptions> rules_;
  files::FileStamp acceptedStamp_;
  std::chrono::steady_clock::time_point acceptedChecked_{};
  std::int64_t dockerResumeSaved_ = 0;

  std::array<std::atomic<RuntimeState>, 2> states_{};  // by Runtime
  std::unique_ptr<DockerWatcher> docker_;
  std::unique_ptr<ContainerdWatcher> containerd_;
  std::unique_ptr<AnomalyWatch> anomaly_;

  std::mutex stopMu_;
  std::condition_variable stopCv_;
  std::atomic<bool> stopping_{false};
};

}  // namespace kc::node
