#pragma once
// The audit door as `serve` runs it: the log-file follower and the webhook backend endpoint
// feed one worker thread that owns the pipeline (parse, dedupe, detect), the learned baseline
// and the checkpoint; findings go to the log, metrics and Alertmanager.
// Thread-safety: routes() handlers run on I/O threads (they only queue); everything else runs
// on the worker thread; start() and stop() from the controlling thread.

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "common/background_writer.h"
#include "common/config.h"
#include "common/files.h"
#include "common/http_server.h"
#include "common/metrics.h"
#include "controller/alertmanager.h"
#include "controller/audit_metrics.h"
#include "controller/baseline.h"
#include "controller/batch_queue.h"
#include "controller/dedupe.h"
#include "controller/detections.h"
#include "controller/file_watch.h"
#include "controller/log_ingest.h"
#include "controller/pipeline.h"
#include "controller/spool.h"
#include "controller/webhook_receiver.h"

namespace kc::cmd {

// The Alertmanager alert for a finding: bounded labels (alertname, rule, severity, namespace),
// details as annotations.
audit::Alert alertFor(const audit::Finding& f, std::chrono::system_clock::time_point now);

// Writes the `audit_finding` log line of a finding.
void logFinding(const audit::Finding& f);

// The detector's tuning from the configuration (audit.detections.*): trusted and privileged
// identities, what else to report, memory bounds. Leaves policies and baseline unset.
audit::DetectorOptions detectorOptionsFrom(const Config& cfg);

class AuditRole {
 public:
  AuditRole(const Config& cfg, prometheus::Registry& registry,
            audit::DetectorOptions::PolicySource policies, metrics::ServerMetrics& serverMetrics);
  ~AuditRole();

  // Loads the baseline and the detector's memory, starts the file follower, the Alertmanager
  // client and the worker.
  bool start(std::string& error);
  // False while the role's state cannot be saved (the last save of the baseline or of the log
  // position failed): after a restart it would report again what it reported since, so the
  // pod is not ready until a save succeeds.
  bool stateSaved() const { return baselineSaved_.load() && positionSaved_.load(); }
  // The webhook backend route, when an authentication method is configured.
  std::vector<http::Route> routes();
  // Stops accepting, drains what is queued, saves the baseline and the detector's memory,
  // flushes alerts until the deadline. A poll of the log under way stops after its current
  // read and commits its position; the rest of a backlog is read after the restart.
  void stop(std::chrono::milliseconds deadline);

 private:
  // Polls the log every audit.pollIntervalSeconds, at once again while a backlog is read (one
  // poll is bounded by audit.logMaxBytesPerPoll and time), saving the state in between.
  void run();
  // Opens the spool and queues the batches acknowledged before a stop but not judged.
  bool recoverSpool(std::string& error);
  // Loads the baseline file; one that is damaged is moved aside, warned about and counted, and
  // the role starts with an empty baseline. False only when the file cannot be read or moved.
  bool loadBaseline(std::string& error);
  void pollFile();
  // Logs the follower's read errors when they first appear or change, and at most once a
  // minute while they last (the path is tried again every poll).
  void logReadErrors();
  // The baseline and the detector's memory, every audit.stateSaveIntervalSeconds while events
  // arrive or the baseline file gained accepted values (force: now).
  void saveState(bool force);
  // Takes in the values accepted in the baseline file since this process last read or wrote
  // it (`kube-customs baseline accept` while the role runs). Returns how many.
  size_t adoptBaselineAccepts();

  const Config cfg_;
  audit::AuditMetrics metrics_;
  metrics::ServerMetrics& serverMetrics_;
  audit::Baseline baseline_;
  std::unique_ptr<audit::Detector> detector_;
  std::unique_ptr<audit::AuditPipeline> pipeline_;
  audit::BatchQueue queue_;
  // Webhook batches are written here before they are acknowledged (null without the webhook
  // backend); the worker marks each done once judged.
  std::unique_ptr<audit::Spool> spool_;
  std::unique_ptr<audit::WebhookReceiver> receiver_;
  std::unique_ptr<audit::LogIngest> ingest_;
  // Wakes the worker when the log changes (inotify); without it the log is only polled.
  std::unique_ptr<audit::FileWatch> watch_;
  std::atomic<bool> logChanged_{false};
  std::unique_ptr<audit::AlertmanagerClient> alerts_;
  std::string baselinePath_;
  std::string memoryPath_;
  // Writes the memory (tens of MB) off the worker thread.
  std::unique_ptr<files::BackgroundWriter> memoryWriter_;
  // The reported long-running requests (Detector::reportedRequests), appended as each is
  // reported and compacted at start and when it holds twice the detector's cap.
  std::unique_ptr<audit::DedupeJournal> requestsJournal_;
  size_t requestsJournalRecords_ = 0;
  // Sessions the detector reported for the event in hand, journaled once its findings are out.
  std::vector<audit::DedupeKey> decidedKeys_;
  files::FileStamp baselineStamp_;  // the baseline file as this process last read or wrote it
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

}  // namespace kc::cmd
