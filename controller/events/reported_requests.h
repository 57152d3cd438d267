#pragma once
// The format `audit replay --memory` kept the detector's reported long-running requests in
// (Detector::reportedRequests: exec, attach and portforward sessions and the like, reported on
// their ResponseStarted) before serve and replay shared the DedupeJournal of the state
// directory (state_dir.h): StateDir reads such a file when there is no journal, and removes it
// once the journal is written.
// The keys are keyed hashes (requestKey) and only mean something under the secret they were
// computed with, so the file carries it:
//   {"kind":"KubeCustomsReportedRequests","version":1,"secret":"<32 hex>","keys":["<32 hex>",..]}
// keys oldest first. The file is input like any other: over 64 MiB, not valid JSON, a wrong
// kind or version, or a malformed secret fails the load (replay starts without the keys);
// a malformed key is skipped and counted; beyond `maxKeys` the oldest are left out.

#include <cstddef>
#include <string>
#include <vector>

#include "controller/events/dedupe.h"

namespace kc::audit {

// Where they are kept beside the detector's memory file: "DIR/audit-memory.jsonl" ->
// "DIR/audit-memory.requests.json" (any other name gets ".requests.json" appended).
std::string reportedRequestsPathFor(const std::string& memoryPath);
// The audit role keeps them in a DedupeJournal instead, appended as each session is reported
// (a kill -9 loses none): "DIR/audit-memory.jsonl" -> "DIR/audit-memory.requests.journal".
std::string reportedRequestsJournalPathFor(const std::string& memoryPath);

std::string reportedRequestsText(const DedupeSecret& secret, const std::vector<DedupeKey>& keys);

struct ReportedRequestsLoad {
  bool ok = false;     // false: the file exists but cannot be used (error says why)
  bool found = false;  // the file exists
  DedupeSecret secret;
  std::vector<DedupeKey> keys;  // oldest first
  size_t damaged = 0;           // keys skipped as malformed
  std::string error;
};

// A missing file is ok and empty (found false).
ReportedRequestsLoad loadReportedRequests(const std::string& path, size_t maxKeys);
ReportedRequestsLoad parseReportedRequests(const std::string& text, size_t maxKeys);

}  // namespace kc::audit
