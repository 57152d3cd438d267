#pragma once
// The audit webhook's spool: a batch is written to disk (and fdatasync'ed) before the API
// server gets its 200, so an acknowledged batch survives kill -9. The API server does not resend
// a batch it got 200 for; without the spool, a batch acknowledged while only in memory was lost
// with the process.
//
// One append-only file of records: a batch (its body and sequence number) or a "done" mark for
// a batch the detection worker finished. At start, the batches without a done mark are handed
// back, in order, to be processed again (the deduplication by audit ID drops events that had
// already been processed). Every record carries a checksum: a record cut short by a crash (only
// ever the last, and never acknowledged) is left out and the file cut back to the last whole
// record. Done marks are not synced on their own (the next batch's sync covers them): a crash
// can only make a finished batch be processed again, never lose one. The file is rewritten with
// the pending batches alone once it has grown past its compaction size.
//
// Thread-safety: append() from any thread, done() from any thread; all under one mutex.

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace kc::audit {

class Spool {
 public:
  struct Pending {
    std::uint64_t seq = 0;
    std::string body;
  };
  struct Recovery {
    std::vector<Pending> pending;  // batches acknowledged but not marked done, in order
    std::size_t damaged = 0;       // records left out (cut short or corrupt)
  };

  // `compactBytes`: rewrite the file with its pending batches when it grows past this.
  explicit Spool(std::string path, std::size_t compactBytes = 64u << 20);
  ~Spool();
  Spool(const Spool&) = delete;
  Spool& operator=(const Spool&) = delete;

  // Opens (creating, mode 0600) and reads the file. False and `error` when it cannot be opened
  // or read; a damaged record is not an error (it is counted and cut off).
  bool open(Recovery& out, std::string& error);

  // Writes a batch and syncs it to disk. Returns its sequence number, or 0 and `error` when the
  // batch could not be made durable (then it must not be acknowledged).
  std::uint64_t append(std::string_view body, std::string& error);

  // Marks a batch processed. Compacts when the file is over its compaction size. False and
  // `error` on an I/O error (the batch may then be processed again after a restart).
  bool done(std::uint64_t seq, std::string& error);

  std::size_t pendingCount() const;
  std::size_t fileBytes() const;
  const std::string& path() const { return path_; }

 private:
  bool writeAll(const std::string& bytes, std::string& error);
  bool compactLocked(std::string& error);

  const std::string path_;
  const std::size_t compactBytes_;
  mutable std::mutex mutex_;
  int fd_ = -1;
  std::uint64_t nextSeq_ = 1;
  std::size_t size_ = 0;
  // Pending batches by sequence number with their bodies' places in the file, for compaction.
  struct Place {
    std::uint64_t seq;
    std::uint64_t offset;  // of the record
    std::uint32_t length;  // of the whole record
  };
  std::vector<Place> pending_;
};

}  // namespace kc::audit
