#include "controller/ingest/log_ingest.h"

#include <optional>
#include <utility>
#include <vector>

namespace kc::audit {

LogIngest::LogIngest(LogIngestOptions options, AuditPipeline& pipeline, AuditMetrics* metrics)
    : options_(std::move(options)),
      pipeline_(pipeline),
      metrics_(metrics),
      source_(options_.file),
      journal_(journalPathFor(options_.file.checkpointPath), pipeline.secret()) {}

std::string LogIngest::journalPathFor(const std::string& checkpointPath) {
  return checkpointPath + ".journal";
}

LogIngestStart LogIngest::start() {
  LogIngestStart r;
  std::optional<DedupeSecret> secret;
  const std::vector<DedupeKey> keys = journal_.load(&r.journalDamaged, &secret, &r.journalStale);
  // Keys persisted by the previous process only match under its secret: the pipeline's must be
  // that one (StateDir::adoptSecret); under another, they are left out as stale.
  std::vector<DedupeKey> kept;
  if (secret && *secret == pipeline_.secret())
    kept = keys;
  else
    r.journalStale += keys.size();
  pipeline_.remember(kept);
  r.journalKeys = kept.size();
  // Rewritten whole: a torn last record of the killed process goes, the secret stays first.
  journal_.rewrite(kept, &r.journalError);
  source_.start(&r.checkpointError);
  reportFileStats();  // a checkpoint reset or a truncation found at start
  return r;
}

bool LogIngest::commit(const Checkpoint& position, std::string* error) {
  if (!source_.commit(position, error)) return false;
  ++commits_;
  // Everything before the position is never read again: its keys are no longer needed.
  journal_.reset();
  return true;
}

size_t LogIngest::poll(std::string* commitError, const std::function<bool()>& stopRequested) {
  std::optional<Checkpoint> uncommitted;
  size_t keysSinceCommit = 0, batchesSinceCommit = 0;
  std::vector<DedupeKey> seen;
  const AuditPipeline::ReportedHook reported = [this](const DedupeKey& key) {
    journal_.append({key});
  };
  std::string error;
  const size_t delivered = source_.readAvailable(
      [&](const LineBatch& batch) {
        seen.clear();
        pipeline_.processLines(batch.text, "log", /*padded=*/true, &seen, &reported);
        if (!seen.empty()) journal_.append(seen);
        uncommitted = batch.end;
        keysSinceCommit += seen.size();
        ++batchesSinceCommit;
        if (keysSinceCommit >= options_.commitEveryKeys ||
            batchesSinceCommit >= options_.commitEveryBatches) {
          if (commit(*uncommitted, &error)) uncommitted.reset();
          keysSinceCommit = batchesSinceCommit = 0;
        }
      },
      stopRequested);
  if (uncommitted) commit(*uncommitted, &error);
  if (!error.empty() && commitError != nullptr) *commitError = error;
  reportFileStats();
  return delivered;
}

void LogIngest::reportFileStats() {
  const FileSourceStats& now = source_.stats();
  if (metrics_ != nullptr) {
    if (now.linesTooLong > reported_.linesTooLong) {
      metrics_->dropped("log", rejectReasonName(RejectReason::kTooLarge),
                        static_cast<double>(now.linesTooLong - reported_.linesTooLong));
    }
    FileSourceStats added;
    added.bytesRead = now.bytesRead - reported_.bytesRead;
    added.readErrors = now.readErrors - reported_.readErrors;
    added.rotations = now.rotations - reported_.rotations;
    added.truncations = now.truncations - reported_.truncations;
    added.checkpointResets = now.checkpointResets - reported_.checkpointResets;
    added.unterminatedLines = now.unterminatedLines - reported_.unterminatedLines;
    added.nulBytes = now.nulBytes - reported_.nulBytes;
    metrics_->logFile(added);
  }
  reported_ = now;
}

}  // namespace kc::audit
