#pragma once
// Follows the JSON-lines file the apiserver's log backend writes (`--audit-log-path`).
// Survives rotation by rename (the renamed file is read to its end before switching to the
// next one; rotated siblings, audit-<timestamp>.log as the apiserver names them or audit.log.1
// and audit.log-<date> as logrotate does, are read in order when the reader lags several
// rotations; other files sharing the stem, such as the consumer's state, are not) and
// copytruncate (a shrinking file, or changed first bytes, restarts at 0). The position is
// persisted as a Checkpoint (file identity, offset, hash of the first bytes), written
// atomically (temp file, fsync, rename, fsync of the directory).
//
// Delivery is at-least-once: lines after the last commit() are read again after a restart.
// LogIngest (log_ingest.h) adds the DedupeJournal that makes it "no loss, no repeat" across
// kill -9.
//
// Only a regular file is read: the path is opened non-blocking and refused when it is a FIFO (an
// open() that would block until a writer came, and a SIGTERM with it), a device (a link to
// /dev/zero never ends) or a directory. A refused path and a read error are counted in
// readErrors, kept in lastError(), and the path is opened again at the next call: at the
// position reached when it is the same file, from its start when it was replaced.
//
// NUL bytes (what a crash leaves where the writer's last blocks were allocated but not written)
// are read as line ends, so that the event written after them is not lost in their line.
//
// The API is poll-style and does no threading or sleeping of its own: call readAvailable()
// when the file may have grown (timer or inotify). One call reads at most maxBytesPerPoll
// bytes for at most maxPollTime, and stops early when asked to: a backlog is read over several
// calls (backlog() says there is more), so that the caller can save its state and stop in
// between. Thread-safety: not thread-safe; one thread owns a FileSource.

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kc::audit {

// A position in one file, identified by device and inode, with a check of its first bytes so
// that a truncated-and-regrown file or a reused inode is not mistaken for the same file.
struct Checkpoint {
  uint64_t dev = 0;
  uint64_t ino = 0;
  uint64_t offset = 0;      // bytes consumed: the start of the first line not handed off
  uint32_t headLength = 0;  // how many leading bytes headHash covers
  uint64_t headHash = 0;
  bool operator==(const Checkpoint&) const = default;
};

// Reads a checkpoint file. nullopt when it does not exist or cannot be read (reason in *error).
std::optional<Checkpoint> loadCheckpoint(const std::string& path, std::string* error = nullptr);
// Writes atomically: a crash leaves either the previous or the new checkpoint.
bool saveCheckpoint(const std::string& path, const Checkpoint& cp, std::string* error = nullptr);

struct FileSourceOptions {
  std::string path{};                // the audit log (--audit-log-path)
  std::string checkpointPath{};      // empty: positions are not persisted
  size_t maxLineBytes = 3u << 20;    // longer lines are skipped to the next newline, counted
  size_t readChunkBytes = 1u << 20;  // one read(2); also bounds a batch
  bool startAtEnd = false;           // without a checkpoint: skip the existing content
  // Bounds of one readAvailable(): what is left is read by the next call.
  uint64_t maxBytesPerPoll = 64u << 20;
  std::chrono::milliseconds maxPollTime{500};
};

struct FileSourceStats {
  uint64_t linesDelivered = 0;
  uint64_t bytesRead = 0;
  uint64_t linesTooLong = 0;       // skipped over maxLineBytes
  uint64_t unterminatedLines = 0;  // a rotated file ended without a newline (delivered)
  uint64_t rotations = 0;          // switches to a new file after a rename
  uint64_t truncations = 0;        // copytruncate detected (size shrank or head changed)
  uint64_t checkpointResets = 0;   // checkpoint's file not found or changed: read from 0
  uint64_t readErrors = 0;         // failed opens and reads, paths that are not regular files
  uint64_t nulBytes = 0;           // NUL bytes read as line ends
};

// Readable bytes guaranteed after LineBatch::text (simdjson's padding), so that it can be
// parsed in place: EventParser::parseLines(batch.text, callback, /*padded=*/true).
inline constexpr size_t kReadPadding = 64;

// A run of complete lines from one file. The views are valid only during the callback.
// commit(end) once the lines are handed off.
struct LineBatch {
  std::vector<std::string_view> lines;  // without '\n'; blank lines omitted
  std::string_view text;                // the same lines as one contiguous newline-separated block
  Checkpoint end;
};

class FileSource {
 public:
  explicit FileSource(FileSourceOptions options);
  ~FileSource();
  FileSource(const FileSource&) = delete;
  FileSource& operator=(const FileSource&) = delete;

  // Resumes from the checkpoint, looking for a file renamed while we were down (same dev and
  // inode in the same directory). A missing log file is not an error: it is opened later.
  // Without a checkpoint, the starting position is persisted as soon as a file is open.
  // Returns false when the checkpoint file exists but cannot be read (reason in *error); the
  // source is then positioned as without a checkpoint and checkpointResets is counted.
  bool start(std::string* error = nullptr);

  // Reads what is available now, within the bounds of one call (maxBytesPerPoll, maxPollTime)
  // and until stopRequested (optional, asked after each read) says to stop, calling onBatch
  // for each batch of complete lines (and for position-only batches after skipped lines). A
  // partial last line waits for its newline. Returns the number of lines delivered.
  size_t readAvailable(const std::function<void(const LineBatch&)>& onBatch,
                       const std::function<bool()>& stopRequested = {});
  // Whether the last readAvailable() stopped at its bounds, or was stopped, with more to read.
  bool backlog() const { return backlog_; }

  // Persists a position previously delivered in a LineBatch. No-op without checkpointPath.
  bool commit(const Checkpoint& position, std::string* error = nullptr);

  const FileSourceStats& stats() const { return stats_; }
  // The last open or read failure counted in readErrors (empty before the first).
  const std::string& lastError() const { return lastError_; }
  // Inode of the file being read (0 before one is open).
  uint64_t currentInode() const { return ino_; }

 private:
  // What is left of one readAvailable() call.
  struct Budget {
    uint64_t bytes;
    std::chrono::steady_clock::time_point deadline;
    const std::function<bool()>* stopRequested;
    bool spent() const;
  };
  enum class ReadResult { kEof, kBudgetSpent, kError };

  // Opens a regular file at `offset`; false when it is missing (not an error: it is created
  // later) or cannot be opened or is not a regular file (counted, see failed()).
  bool openCurrent(const std::string& path, uint64_t offset);
  // Opens the log path when no file is open: after a failure, at the position reached when
  // the path is still the same file; else from its start.
  bool reopen();
  void seekTo(uint64_t offset);
  // Counts a failure and keeps its text for lastError().
  void failed(std::string error);
  void closeCurrent();
  void resetToStart();
  bool headMatches(int fd, uint32_t length, uint64_t hash) const;
  void refreshHead();
  // Moves complete lines of buffer_ into batches; final=true flushes an unterminated tail.
  void drainBuffer(bool final, const std::function<void(const LineBatch&)>& onBatch,
                   size_t& delivered);
  Checkpoint position(uint64_t offset) const;
  // The file to read after the current one was renamed away: the next rotated sibling in
  // write order, else the log path itself (a reader that lags several rotations reads them
  // all in order).
  std::string nextFile() const;
  // Persists the first position of a run that had no checkpoint (see start()).
  void recordStartPosition();
  // Reads fd_ to EOF or until the budget is spent. On a read error, the file is closed, to be
  // opened again by the next call (reopen()).
  ReadResult readToEof(const std::function<void(const LineBatch&)>& onBatch, size_t& delivered,
                       Budget& budget);
  // Turns the NUL bytes of freshly read bytes into line ends (see the header comment).
  void nulsToLineEnds(char* data, size_t n);

  FileSourceOptions options_;
  FileSourceStats stats_;
  std::string lastError_;
  std::string currentPath_;             // the file fd_ reads (the log path, or a rotated one)
  std::optional<Checkpoint> resumeAt_;  // where to go on after a failure, if the same file
  bool backlog_ = false;
  int fd_ = -1;
  uint64_t dev_ = 0;
  uint64_t ino_ = 0;
  uint64_t readOffset_ = 0;    // file offset after the last byte read
  uint64_t bufferOffset_ = 0;  // file offset of buffer_[0]
  uint64_t lineBoundary_ = 0;  // file offset after the last newline consumed
  std::string buffer_;         // bytes read and not yet consumed (a partial line)
  size_t bufLen_ = 0;          // used bytes of buffer_ (its size is the capacity)
  bool skipping_ = false;      // inside an over-long line, discarding up to its newline
  bool recordStart_ = false;   // no checkpoint yet: persist the first position
  std::string head_;           // first bytes of the current file (up to kHeadBytes)
  LineBatch batch_;
};

}  // namespace kc::audit
