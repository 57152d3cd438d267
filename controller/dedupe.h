#pragma once
// Suppression of repeated audit events: the apiserver's webhook backend retries whole batches,
// both backends may be enabled at once, and the file source re-reads the lines after its last
// checkpoint when it restarts. An event is identified by (auditID, stage).
//
// Deduper is a bounded in-memory set: entries leave it when they are older than the window or
// when it holds maxEntries (oldest first). DedupeJournal persists the keys handed off since the
// last checkpoint so that a restarted process does not report them again.
//
// Thread-safety: neither class is thread-safe; guard them externally or use one per thread.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "controller/key_set.h"

namespace kc::audit {

// 128-bit hash of (auditID, stage) (DedupeKey is in key_set.h). Collisions are negligible at
// the sizes held here.
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
  // window. nowMicros is the caller's clock (injected for tests), non-decreasing.
  bool firstSeen(std::string_view auditID, std::string_view stage, int64_t nowMicros);
  bool firstSeen(const DedupeKey& key, int64_t nowMicros);
  bool contains(const DedupeKey& key) const { return set_.contains(key); }
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

// Append-only file of DedupeKeys. append() is a single write(2) to an O_APPEND descriptor, so a
// crash of the process (kill -9) leaves whole records; a record torn by a power loss fails its
// checksum and is ignored on load. Use: load() into a Deduper at start-up; append() the keys
// of each batch as it is handed off; reset() after the source's checkpoint covers the batch.
class DedupeJournal {
 public:
  explicit DedupeJournal(std::string path);
  ~DedupeJournal();
  DedupeJournal(const DedupeJournal&) = delete;
  DedupeJournal& operator=(const DedupeJournal&) = delete;

  // Reads every intact record. Missing file: empty. Counts damaged records in *damaged.
  std::vector<DedupeKey> load(size_t* damaged = nullptr) const;
  // Appends the keys in one write. Returns false (errno set) on I/O error.
  bool append(const std::vector<DedupeKey>& keys);
  // Empties the journal (truncate + fsync). Returns false on I/O error.
  bool reset();

  const std::string& path() const { return path_; }

 private:
  bool ensureOpen();
  std::string path_;
  int fd_ = -1;
};

}  // namespace kc::audit
