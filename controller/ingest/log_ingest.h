#pragma once
// The log backend's ingest loop: a FileSource read through an AuditPipeline, with the
// DedupeJournal that makes it "no event lost, no finding repeated" across kill -9.
//
//   start():  the journal's keys (events handled after the last committed position) go into
//             the pipeline's deduper when they were hashed under the pipeline's secret (the
//             audit service builds the pipeline with the journal's, StateDir::adoptSecret);
//             the source resumes from its checkpoint.
//   poll():   every batch of lines goes through the pipeline. The keys of the events it
//             handled are appended to the journal after the batch, and the key of an event
//             with findings at once, right after its findings were handed off. The position
//             is committed, and the journal emptied, every commitEveryKeys keys or
//             commitEveryBatches batches and at the end of the poll: a long backlog (a first
//             start on an existing log, a restart after downtime) never leaves more keys in the
//             journal than the deduper can hold. One poll reads within the FileSource's bounds
//             (bytes, time, a stop request); backlog() says when more is waiting.
//
// After a kill, the lines after the committed position are read again and the journal's keys
// mark the events among them that were already handled. The one window left is between a
// finding's hand-off and the journal write that follows it: a kill there repeats the findings
// of that one event (never loses them).
// Thread-safety: not thread-safe; the pipeline's owner thread owns it.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "controller/detect/pipeline.h"
#include "controller/events/audit_metrics.h"
#include "controller/events/dedupe.h"
#include "controller/ingest/file_source.h"

namespace kc::audit {

struct LogIngestOptions {
  FileSourceOptions file;  // the journal lives next to file.checkpointPath (".journal")
  // Commit the position after this many journal keys (keep it well under the deduper's
  // capacity, Deduper::Options::maxEntries) or this many batches, whichever comes first.
  size_t commitEveryKeys = 65'536;
  size_t commitEveryBatches = 16;
};

// What start() found, for the caller to log.
struct LogIngestStart {
  size_t journalKeys = 0;  // keys taken from the journal into the deduper
  size_t journalDamaged = 0;
  size_t journalStale = 0;      // keys of an older key function or another secret, left out
  std::string journalError;     // the journal could not be rewritten
  std::string checkpointError;  // the checkpoint could not be read: reading from the start
};

class LogIngest {
 public:
  // metrics (optional): lines over the size cap are counted as dropped{source="log",
  // reason="too_large"}; the file follower's counters as kube_customs_audit_log_*.
  LogIngest(LogIngestOptions options, AuditPipeline& pipeline, AuditMetrics* metrics);
  // The dedupe journal kept beside a checkpoint file.
  static std::string journalPathFor(const std::string& checkpointPath);

  LogIngestStart start();
  // Reads what the log holds now, within the bounds of one poll and until stopRequested
  // (optional) says to stop. Returns the lines delivered; *commitError (optional) gets the
  // last failure to persist the position.
  size_t poll(std::string* commitError = nullptr, const std::function<bool()>& stopRequested = {});
  // Whether the last poll left lines to read: poll again without waiting.
  bool backlog() const { return source_.backlog(); }

  const FileSourceStats& fileStats() const { return source_.stats(); }
  // The last failure to open or read the log (FileSourceStats::readErrors counts them).
  const std::string& lastReadError() const { return source_.lastError(); }
  uint64_t commits() const { return commits_; }
  const std::string& journalPath() const { return journal_.path(); }

 private:
  bool commit(const Checkpoint& position, std::string* error);
  // Adds what the file follower counted since the last report to the metrics.
  void reportFileStats();

  LogIngestOptions options_;
  AuditPipeline& pipeline_;
  AuditMetrics* metrics_;
  FileSource source_;
  DedupeJournal journal_;
  uint64_t commits_ = 0;
  FileSourceStats reported_;  // the follower's counters as last added to the metrics
};

}  // namespace kc::audit
