#pragma once
// The audit door's runtime, one for the audit role of `serve` and for `audit replay`: it owns
// the Detector (built from its options), the AuditPipeline, the learned Baseline (loaded, saved
// under its lock), the detector's memory and the journal of reported sessions (StateDir), the
// finding -> Alertmanager alert mapping and, for serve, the log follower, the webhook backend's
// queue and spool and the worker thread.
//
//   serve:  AuditService s(options, registry); s.start(error); s.routes(); ... s.stop(deadline)
//   replay: AuditService s(options, registry); s.open(error); s.replay(file, flush);
//           s.saveAtEnd(updateBaseline, error) (only when the findings were printed)
//
// Thread-safety: routes() handlers run on I/O threads (they only queue); the pipeline, the
// detector and the state run on the worker thread (serve) or the caller's (replay); start(),
// stop() and stateSaved() from the controlling thread.

#include <atomic>
#include <chrono>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "common/background_writer.h"
#include "common/http_server.h"
#include "controller/alert/alertmanager.h"
#include "controller/detect/baseline.h"
#include "controller/detect/detections.h"
#include "controller/detect/pipeline.h"
#include "controller/events/audit_metrics.h"
#include "controller/events/dedupe.h"
#include "controller/ingest/batch_queue.h"
#include "controller/ingest/file_watch.h"
#include "controller/ingest/log_ingest.h"
#include "controller/ingest/spool.h"
#include "controller/ingest/webhook_receiver.h"
#include "controller/state_dir.h"

namespace kc::audit {

// The Alertmanager alert for a finding: bounded labels (alertname, rule, severity, namespace),
// details as annotations.
Alert alertFor(const Finding& f, std::chrono::system_clock::time_point now);

// Writes the `audit_finding` log line of a finding.
void logFinding(const Finding& f);

struct AuditServiceOptions {
  // The detector's tuning and policies; its baseline is the service's when state.baseline is
  // set (the baseline rules run only then).
  DetectorOptions detector;
  int64_t learningPeriodMicros = BaselineOptions{}.learningMicros;
  PipelineOptions pipeline;  // its secret is the one the state holds (StateDir::adoptSecret)
  StatePaths state;          // a kind of state with an empty path is not kept
  // Replay: a state file that cannot be used refuses the run. Serve: a damaged baseline is
  // moved aside and learning starts over, an unreadable memory is left out (both counted).
  bool strictState = false;
  // Each finding, before its alert (serve: logFinding; replay: printing).
  std::function<void(const Finding&)> onFinding;

  // Serve only (start()). The checkpoint and the spool live at state.checkpoint and
  // state.spool, which the webhook backend needs set.
  std::string logPath;  // the followed log ("": none)
  size_t maxLineBytes = 3u << 20;
  size_t logMaxBytesPerPoll = 64u << 20;
  std::chrono::milliseconds pollInterval{1000};
  std::chrono::milliseconds stateSaveInterval{30'000};
  size_t queueMaxBytes = 64u << 20;
  bool webhook = false;  // the webhook backend runs (an authentication method is configured)
  ReceiverOptions receiver;
  size_t webhookMaxBodyBytes = 12u << 20;
  std::function<void(std::string_view reason)> badRequest;  // the HTTP server's counter
  AlertmanagerOptions alerts;                               // no urls: no alerts
};

class AuditService {
 public:
  AuditService(AuditServiceOptions options, prometheus::Registry& registry);
  ~AuditService();
  AuditService(const AuditService&) = delete;
  AuditService& operator=(const AuditService&) = delete;

  // Loads the baseline, the detector's memory and the reported sessions, adopts the dedupe
  // secret and builds the pipeline. False and `error` when a state file refuses the start.
  bool open(std::string& error);
  // Damaged lines skipped in the memory file by open() (replay says so).
  size_t memoryDamaged() const { return memoryDamaged_; }

  // Serve: open(), then the spool's pending batches, the log follower, the Alertmanager client
  // and the worker.
  bool start(std::string& error);
  // False while the state cannot be saved (the last save of the baseline or of the log
  // position failed): after a restart it would report again what it reported since.
  bool stateSaved() const { return baselineSaved_.load() && positionSaved_.load(); }
  // The webhook backend route, when enabled.
  std::vector<http::Route> routes();
  // Stops accepting, drains what is queued, saves the baseline and the detector's memory,
  // flushes alerts until the deadline. A poll of the log under way stops after its current
  // read and commits its position; the rest of a backlog is read after the restart.
  void stop(std::chrono::milliseconds deadline);

  // Replay: feeds `in` (a regular file through a memory map, else a stream read by a reader
  // thread) to the pipeline; `flush` runs after each chunk. Lines over the parser's document cap
  // are skipped and counted in tooLong. `onRejected` (optional) is called, in input order, with
  // the line number (from 1) and the reason (rejectReasonName; "too_large" for a line skipped
  // as too long) of each rejection counted in the pipeline's ParseStats or in tooLong; NUL bytes
  // count as line ends, as they are read.
  struct ReplayResult {
    bool ok = true;  // false: the input could not be read whole (error)
    uint64_t tooLong = 0;
    std::string error;
  };
  using RejectedLine = std::function<void(uint64_t line, std::string_view reason)>;
  ReplayResult replay(std::FILE* in, const std::function<void()>& flush,
                      const RejectedLine& onRejected = nullptr);
  // Replay's end: saves the baseline (when `baseline`, under its lock, taking in accepts), the
  // memory and the reported sessions. False and `error` at the first failure.
  bool saveAtEnd(bool baseline, std::string& error);

  AuditPipeline& pipeline() { return *pipeline_; }
  Detector& detector() { return *detector_; }
  AuditMetrics& metrics() { return metrics_; }
  const DedupeSecret& secret() const { return secret_; }

 private:
  void handleFinding(const Finding& f);
  bool recoverSpool(std::string& error);
  bool startLog();
  void startReportedRequestsJournal();
  // Polls the log every pollInterval, at once again while a backlog is read (one poll is
  // bounded by logMaxBytesPerPoll and time), saving the state in between.
  void run();
  void pollFile();
  // Logs the follower's read errors when they first appear or change, and at most once a
  // minute while they last (the path is tried again every poll).
  void logReadErrors();
  // The baseline and the detector's memory, every stateSaveInterval while events arrive or
  // the baseline file gained accepted values (force: now).
  void saveState(bool force);

  AuditServiceOptions options_;
  AuditMetrics metrics_;
  StateDir state_;
  Baseline baseline_;
  DedupeSecret secret_;
  std::unique_ptr<Detector> detector_;
  std::unique_ptr<AuditPipeline> pipeline_;
  size_t memoryDamaged_ = 0;
  ReportedRequestsState requests_;  // as open() found them, until start() rewrites them
  BatchQueue queue_;
  // Webhook batches are written here before they are acknowledged (null without the webhook
  // backend); the worker marks each done once judged.
  std::unique_ptr<Spool> spool_;
  std::unique_ptr<WebhookReceiver> receiver_;
  std::unique_ptr<LogIngest> ingest_;
  // Wakes the worker when the log changes (inotify); without it the log is only polled.
  std::unique_ptr<FileWatch> watch_;
  std::atomic<bool> logChanged_{false};
  std::unique_ptr<AlertmanagerClient> alerts_;
  // Writes the memory (tens of MB) off the worker thread.
  std::unique_ptr<files::BackgroundWriter> memoryWriter_;
  // The reported long-running requests (Detector::reportedRequests), appended as each is
  // reported and compacted at start and when it holds twice the detector's cap.
  std::unique_ptr<DedupeJournal> requestsJournal_;
  size_t requestsJournalRecords_ = 0;
  // Sessions the detector reported for the event in hand, journaled once its findings are out.
  std::vector<DedupeKey> decidedKeys_;
  uint64_t eventsAtLastSave_ = 0;
  std::chrono::steady_clock::time_point lastSave_;
  uint64_t readErrorsLogged_ = 0;  // FileSourceStats::readErrors when last logged
  std::string readErrorLogged_;
  std::chrono::steady_clock::time_point readErrorLoggedAt_;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> baselineSaved_{true};
  std::atomic<bool> positionSaved_{true};
  std::thread worker_;
};

}  // namespace kc::audit
