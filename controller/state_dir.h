#pragma once
// The audit door's state on disk, one load and one save per kind of state, for the audit role
// of `serve` (a state directory, with paths the configuration may move) and for `audit replay`
// (the files its flags name). A kind whose path is empty is not kept.
//
//   checkpoint        the followed log's position (FileSource reads and writes it), with the
//                     log's dedupe journal beside it (CHECKPOINT.journal, LogIngest)
//   baseline          the learned baseline (Baseline), saved under BASELINE.lock, the lock
//                     `kube-customs baseline accept` takes while it rewrites the file
//   memory            the detector's memory of workloads (object_memory.h)
//   reported requests the sessions already reported (Detector::reportedRequests), beside the
//                     memory: MEMORY without .jsonl plus .requests.journal, one DedupeJournal
//                     format for serve (appended as each is reported) and replay (rewritten
//                     at its end). Replay wrote them before as .requests.json
//                     (reported_requests.h): such a file is read when there is no journal and
//                     removed once the journal is written.
//   spool             the webhook batches acknowledged and not judged yet (Spool)
//
// The dedupe secret (dedupe.h) is chosen here, once, from what the state holds (adoptSecret).
// Thread-safety: none; the owner's thread (the audit worker, or replay's) calls it.

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/files.h"
#include "controller/detect/baseline.h"
#include "controller/detect/object_memory.h"
#include "controller/detect/ownership.h"
#include "controller/events/dedupe.h"

namespace kc::audit {

struct StatePaths {
  std::string checkpoint;
  std::string baseline;
  std::string memory;
  std::string spool;

  // The audit role's files under `dir` (audit-checkpoint.json, baseline.json,
  // audit-memory.jsonl, audit-webhook.spool).
  static StatePaths under(const std::string& dir);
  // Derived from the above ("" when their base is not kept).
  std::string baselineLock() const;         // BASELINE.lock, also taken by `baseline accept`
  std::string logJournal() const;           // CHECKPOINT.journal
  std::string reportedRequests() const;     // MEMORY-base.requests.journal
  std::string reportedRequestsOld() const;  // MEMORY-base.requests.json (read, then removed)
};

// Makes the state directory when it does not exist, for this process alone (0700). False and
// `error` when it cannot be made: running on would save nothing and, after a restart, report
// every finding again.
bool prepareStateDir(const std::string& dir, std::string& error);

// What loading the reported requests found.
struct ReportedRequestsState {
  bool ok = true;          // false: the old-format file exists and cannot be used (error says why)
  bool found = false;      // a file exists
  bool oldFormat = false;  // read from .requests.json
  std::optional<DedupeSecret> secret;  // the secret its keys were made with
  std::vector<DedupeKey> keys;         // oldest first
  size_t damaged = 0, stale = 0;
  std::string error;
};

class StateDir {
 public:
  explicit StateDir(StatePaths paths);

  const StatePaths& paths() const { return paths_; }

  // The secret the keys of this run are made with: the log's dedupe journal's (its keys must
  // match the events read again after a restart), else the reported requests' (`requests`,
  // from loadReportedRequests), else a new random one. The one place the secret is adopted.
  DedupeSecret adoptSecret(const ReportedRequestsState& requests) const;

  // --- baseline
  struct BaselineLoad {
    bool ok = false;
    std::string error;     // !ok: why; ok with movedTo: why the file was moved aside
    std::string movedTo;   // a damaged file moved aside (only with moveAsideDamaged)
    bool damaged = false;  // the file reads but is not a baseline
  };
  // Loads the baseline file (missing: empty). One that reads but is not a baseline is moved
  // aside when `moveAsideDamaged` (the caller starts learning over), else refused. A file that
  // cannot be read is refused.
  BaselineLoad loadBaseline(Baseline& baseline, bool moveAsideDamaged);
  struct BaselineSave {
    bool wrote = false;  // the file was written (or its write failed: see ok)
    bool ok = true;      // false: cannot lock or write (error)
    size_t adopted = 0;  // values accepted in the file since it was last read or written here
    std::string error;
    std::string adoptError;  // the file changed but could not be read for its accepts
  };
  // Under the baseline lock: takes in the values accepted in the file since this process last
  // read or wrote it (`kube-customs baseline accept` while it runs), then writes the baseline
  // when `changed` or something was adopted.
  BaselineSave saveBaseline(Baseline& baseline, bool changed);

  // --- object memory
  ObjectMemoryLoad loadMemory(ObjectTracker& tracker) const;
  bool saveMemory(const ObjectTracker& tracker, std::string* error) const;

  // --- reported requests
  ReportedRequestsState loadReportedRequests() const;
  // The journal the audit role appends each reported session to.
  std::unique_ptr<DedupeJournal> reportedRequestsJournal(const DedupeSecret& secret) const;
  // Replaces them with `keys` under `secret` (and removes a file of the old format).
  bool saveReportedRequests(const DedupeSecret& secret, const std::vector<DedupeKey>& keys,
                            std::string* error) const;

 private:
  StatePaths paths_;
  files::FileStamp baselineStamp_;  // the baseline file as this process last read or wrote it
};

}  // namespace kc::audit
