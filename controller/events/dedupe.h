#pragma once
// Suppression of repeated audit events: the apiserver's webhook backend retries whole batches,
// both backends may be enabled at once, and the file source re-reads the lines after its last
// checkpoint when it restarts.
//
// An event is identified by its request and its stage. The API server takes a request's
// auditID from the client's Audit-ID header when the client sends one, so a client can give a
// new request (say, a privileged pod) the auditID of an earlier one of its own that it saw
// echoed back: keyed by (auditID, stage) alone, the new request would be dropped as a repeat
// and never judged. So the request is identified by auditID together with its verb, request
// URI, user and the time the server received it (microseconds, set by the server; the same in
// every stage of a request), and the event by that plus its stage and stage time. A real
// repeat (a retried batch, a line read again, the other backend) has all of them equal.
//
// The keys are 128-bit SipHash-1-3 values under a random secret: whoever chooses auditIDs and
// URIs cannot construct two requests with equal keys. The secret is a value handed to whoever
// makes or keeps keys (the pipeline, the journals); it is kept in the journals, so that keys
// persisted by one process mean the same to the next (the audit service adopts it from its
// state at start, see state_dir.h).
//
// Deduper is a bounded in-memory set: entries leave it when they are older than the window or
// when it holds maxEntries (oldest first). DedupeJournal persists the keys handed off since the
// last checkpoint so that a restarted process does not report them again.
//
// Thread-safety: neither class is thread-safe; guard them externally or use one per thread.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "controller/events/key_set.h"

namespace kc::audit {

// The secret of the dedupe keys.
struct DedupeSecret {
  uint64_t k0 = 0;
  uint64_t k1 = 0;
  bool operator==(const DedupeSecret&) const = default;
  static DedupeSecret random();  // from the OS's random source
  // One random secret drawn at the first call and never changed: the default of a pipeline
  // that is not handed one (tests, a replay without saved state).
  static const DedupeSecret& processDefault();
};

// What identifies one API request in its audit events (see above).
struct RequestIdentity {
  std::string_view auditID;
  std::string_view verb;
  std::string_view requestURI;
  std::string_view username;
  std::string_view requestReceivedTimestamp;  // as written
};

// The request's key: the same for each of its stages.
DedupeKey requestKey(const DedupeSecret& secret, const RequestIdentity& request);
// One event's key: the request, its stage and its stage time.
DedupeKey eventKey(const DedupeSecret& secret, const RequestIdentity& request,
                   std::string_view stage, std::string_view stageTimestamp);
// eventKey of an event known only by auditID and stage (the other fields empty).
DedupeKey dedupeKey(const DedupeSecret& secret, std::string_view auditID, std::string_view stage);
// The same under DedupeSecret::processDefault() (tests, tools).
DedupeKey requestKey(const RequestIdentity& request);
DedupeKey eventKey(const RequestIdentity& request, std::string_view stage,
                   std::string_view stageTimestamp);
DedupeKey dedupeKey(std::string_view auditID, std::string_view stage);

class Deduper {
 public:
  struct Options {
    size_t maxEntries = 500'000;                   // ~40 MB at most
    int64_t windowMicros = 15 * 60 * 1'000'000LL;  // retries and restarts fall well within
  };

  explicit Deduper(Options options);
  Deduper() : Deduper(Options{}) {}

  // True the first time a key is seen (and remembers it); false for a repeat within the
  // window. nowMicros is the caller's clock (injected for tests), non-decreasing. The first
  // form keys the event under currentDedupeSecret().
  bool firstSeen(std::string_view auditID, std::string_view stage, int64_t nowMicros);
  bool firstSeen(const DedupeKey& key, int64_t nowMicros);
  bool contains(const DedupeKey& key) const { return set_.contains(key); }
  // See KeyFifoSet::prefetch.
  void prefetch(const DedupeKey& key) const { set_.prefetch(key); }

  size_t size() const { return set_.size(); }
  uint64_t duplicates() const { return duplicates_; }
  uint64_t evictions() const { return evictions_; }

 private:
  void expire(int64_t nowMicros);

  Options options_;
  KeyFifoSet set_;  // stamps are insertion times
  uint64_t duplicates_ = 0;
  uint64_t evictions_ = 0;
};

// Append-only file of DedupeKeys, led by a record of the secret they were made with. append()
// is a single write(2) to an O_APPEND descriptor, so a crash of the process (kill -9) leaves
// whole records; a record torn by a power loss fails its checksum and is ignored on load.
// Use: load() at start-up (its secret decides which secret the keys are made with, see
// StateDir::adoptSecret) and give its keys to the Deduper, then rewrite() them under that
// secret; append() the keys of each batch as it is handed off; reset() after the source's
// checkpoint covers the batch.
class DedupeJournal {
 public:
  // `secret`: the one the keys written here are made with, recorded first in the file.
  DedupeJournal(std::string path, const DedupeSecret& secret);
  ~DedupeJournal();
  DedupeJournal(const DedupeJournal&) = delete;
  DedupeJournal& operator=(const DedupeJournal&) = delete;

  // Reads every intact key record. Missing file: empty. Counts damaged records in *damaged.
  // *secret (optional) receives the journal's secret, or nullopt when it has none; keys of a
  // journal without one (written by an older version, with another key function) are left out
  // and counted in *stale.
  std::vector<DedupeKey> load(size_t* damaged = nullptr,
                              std::optional<DedupeSecret>* secret = nullptr,
                              size_t* stale = nullptr) const;
  // Replaces the file, atomically, with the secret and `keys`. False and *error (optional) on
  // failure.
  bool rewrite(const std::vector<DedupeKey>& keys, std::string* error = nullptr);
  // Appends the keys in one write (after the secret record, when the file is new). Returns
  // false (errno set) on I/O error.
  bool append(const std::vector<DedupeKey>& keys);
  // Empties the journal but for the secret (truncate, rewrite it, fsync). Returns false on I/O
  // error.
  bool reset();

  const std::string& path() const { return path_; }
  const DedupeSecret& secret() const { return secret_; }

 private:
  bool ensureOpen();
  // The records of `keys`, led by the secret when withSecret.
  std::string records(const std::vector<DedupeKey>& keys, bool withSecret) const;
  // Writes records(keys, needsSecret_) at the end of the open file.
  bool writeRecords(const std::vector<DedupeKey>& keys);
  std::string path_;
  DedupeSecret secret_;
  int fd_ = -1;
  bool needsSecret_ = true;  // the file is empty: the secret record goes first
};

}  // namespace kc::audit
