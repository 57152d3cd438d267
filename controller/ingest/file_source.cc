#include "controller/ingest/file_source.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <tuple>
#include <utility>

namespace kc::audit {

namespace fs = std::filesystem;

namespace {

constexpr uint32_t kHeadBytes = 1024;
constexpr std::string_view kCheckpointMagic = "kube-customs-audit-checkpoint v1";

uint64_t fnv1a(std::string_view s) {
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ULL;
  return h;
}

std::string errnoText(const char* what, const std::string& path) {
  return std::string(what) + " " + path + ": " + std::strerror(errno);
}

bool isBlank(const char* p, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r') return false;
  }
  return true;
}

std::string dirOf(const std::string& path) {
  fs::path p(path);
  auto parent = p.parent_path();
  return parent.empty() ? std::string(".") : parent.string();
}

}  // namespace

std::optional<Checkpoint> loadCheckpoint(const std::string& path, std::string* error) {
  FILE* f = std::fopen(path.c_str(), "re");
  if (!f) {
    if (error) *error = errno == ENOENT ? std::string() : errnoText("open", path);
    return std::nullopt;
  }
  char magic[64] = {0};
  Checkpoint cp;
  unsigned long long dev, ino, offset, headHash;
  unsigned headLength;
  int n =
      std::fscanf(f, "%63[^\n]\ndev=%llu\nino=%llu\noffset=%llu\nheadLength=%u\nheadHash=%llx\n",
                  magic, &dev, &ino, &offset, &headLength, &headHash);
  std::fclose(f);
  if (n != 6 || kCheckpointMagic != magic || headLength > kHeadBytes) {
    if (error) *error = "malformed checkpoint " + path;
    return std::nullopt;
  }
  cp.dev = dev;
  cp.ino = ino;
  cp.offset = offset;
  cp.headLength = headLength;
  cp.headHash = headHash;
  return cp;
}

bool saveCheckpoint(const std::string& path, const Checkpoint& cp, std::string* error) {
  std::string tmp = path + ".tmp";
  char text[256];
  int len = std::snprintf(text, sizeof text,
                          "%s\ndev=%" PRIu64 "\nino=%" PRIu64 "\noffset=%" PRIu64
                          "\nheadLength=%u\nheadHash=%" PRIx64 "\n",
                          std::string(kCheckpointMagic).c_str(), cp.dev, cp.ino, cp.offset,
                          cp.headLength, cp.headHash);
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    if (error) *error = errnoText("open", tmp);
    return false;
  }
  bool ok = ::write(fd, text, len) == len && ::fsync(fd) == 0;
  if (!ok && error) *error = errnoText("write", tmp);
  ::close(fd);
  if (!ok) return false;
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    if (error) *error = errnoText("rename", tmp);
    return false;
  }
  std::string dir = dirOf(path);
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return true;
}

FileSource::FileSource(FileSourceOptions options) : options_(std::move(options)) {
  if (options_.readChunkBytes == 0) options_.readChunkBytes = 1u << 20;
  if (options_.maxBytesPerPoll == 0) options_.maxBytesPerPoll = 64u << 20;
}

FileSource::~FileSource() { closeCurrent(); }

void FileSource::closeCurrent() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  bufLen_ = 0;
  skipping_ = false;
  head_.clear();
}

void FileSource::failed(std::string error) {
  ++stats_.readErrors;
  lastError_ = std::move(error);
}

bool FileSource::openCurrent(const std::string& path, uint64_t offset) {
  // Non-blocking: opening a FIFO for reading would wait for a writer, for ever.
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd < 0) {
    if (errno != ENOENT) failed(errnoText("open", path));  // missing: created later
    return false;
  }
  struct stat st;
  const bool opened = ::fstat(fd, &st) == 0;
  if (opened && !S_ISREG(st.st_mode)) {
    // A FIFO, a device (a link to /dev/zero never ends), a directory: not a log file.
    ::close(fd);
    failed("open " + path + ": not a regular file");
    return false;
  }
  if (!opened || ::lseek(fd, static_cast<off_t>(offset), SEEK_SET) < 0) {
    failed(errnoText("open", path));
    ::close(fd);
    return false;
  }
  closeCurrent();
  fd_ = fd;
  dev_ = st.st_dev;
  ino_ = st.st_ino;
  currentPath_ = path;
  readOffset_ = bufferOffset_ = lineBoundary_ = offset;
  refreshHead();
  return true;
}

void FileSource::seekTo(uint64_t offset) {
  ::lseek(fd_, static_cast<off_t>(offset), SEEK_SET);
  readOffset_ = bufferOffset_ = lineBoundary_ = offset;
  bufLen_ = 0;
  skipping_ = false;
}

bool FileSource::reopen() {
  if (!openCurrent(options_.path, 0)) return false;
  // After a failure: go on where it stopped if the path is the same file, unchanged before the
  // position; a file that replaced it is read from its start, like a new file after rotation.
  if (const std::optional<Checkpoint> at = std::exchange(resumeAt_, std::nullopt)) {
    struct stat st;
    if (at->dev == dev_ && at->ino == ino_ && ::fstat(fd_, &st) == 0 &&
        static_cast<uint64_t>(st.st_size) >= at->offset &&
        headMatches(fd_, at->headLength, at->headHash)) {
      seekTo(at->offset);
    }
  }
  recordStartPosition();
  return true;
}

void FileSource::resetToStart() {
  ::lseek(fd_, 0, SEEK_SET);
  readOffset_ = bufferOffset_ = lineBoundary_ = 0;
  bufLen_ = 0;
  skipping_ = false;
  head_.clear();
  refreshHead();
}

void FileSource::refreshHead() {
  char buf[kHeadBytes];
  ssize_t n = ::pread(fd_, buf, kHeadBytes, 0);
  head_.assign(buf, n > 0 ? static_cast<size_t>(n) : 0);
}

bool FileSource::headMatches(int fd, uint32_t length, uint64_t hash) const {
  if (length == 0) return true;
  char buf[kHeadBytes];
  ssize_t n = ::pread(fd, buf, length, 0);
  return n == static_cast<ssize_t>(length) && fnv1a(std::string_view(buf, length)) == hash;
}

Checkpoint FileSource::position(uint64_t offset) const {
  Checkpoint cp;
  cp.dev = dev_;
  cp.ino = ino_;
  cp.offset = offset;
  cp.headLength = static_cast<uint32_t>(head_.size());
  cp.headHash = fnv1a(head_);
  return cp;
}

bool FileSource::start(std::string* error) {
  closeCurrent();
  std::optional<Checkpoint> cp;
  bool ok = true;
  if (!options_.checkpointPath.empty()) {
    std::string err;
    cp = loadCheckpoint(options_.checkpointPath, &err);
    if (!cp && !err.empty()) {
      ok = false;
      ++stats_.checkpointResets;
      if (error) *error = err;
    }
  }
  if (!cp) {
    if (openCurrent(options_.path, 0) && options_.startAtEnd) {
      // Skip existing content, up to its last complete line.
      struct stat st;
      if (::fstat(fd_, &st) == 0) {
        uint64_t size = static_cast<uint64_t>(st.st_size);
        std::string tail(std::min<uint64_t>(size, 64 * 1024), '\0');
        ssize_t n = ::pread(fd_, tail.data(), tail.size(), static_cast<off_t>(size - tail.size()));
        size_t nl = n == static_cast<ssize_t>(tail.size()) ? tail.rfind('\n') : std::string::npos;
        uint64_t boundary = size;
        if (nl != std::string::npos) {
          boundary = size - tail.size() + nl + 1;
        } else if (size > 0) {
          skipping_ = true;  // inside a line longer than the tail: skip to its end
        }
        ::lseek(fd_, static_cast<off_t>(boundary), SEEK_SET);
        readOffset_ = bufferOffset_ = lineBoundary_ = boundary;
      }
    }
    // Record where this first run starts, so that a restart before the first commit still
    // finds this file after a rotation instead of starting over at the new one.
    recordStart_ = !options_.checkpointPath.empty();
    recordStartPosition();
    return ok;
  }

  auto usable = [&](const std::string& candidate) {
    struct stat st;
    if (::stat(candidate.c_str(), &st) != 0 || !S_ISREG(st.st_mode) ||
        static_cast<uint64_t>(st.st_dev) != cp->dev ||
        static_cast<uint64_t>(st.st_ino) != cp->ino) {
      return 0;  // not this file
    }
    int fd = ::open(candidate.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0) return 0;
    bool same = static_cast<uint64_t>(st.st_size) >= cp->offset &&
                headMatches(fd, cp->headLength, cp->headHash);
    ::close(fd);
    return same ? 1 : -1;  // -1: same inode, different content (truncated or reused)
  };

  int current = usable(options_.path);
  if (current == 1) {
    openCurrent(options_.path, cp->offset);
    return ok;
  }
  if (current == -1) {
    ++stats_.truncations;
    openCurrent(options_.path, 0);
    return ok;
  }
  // The checkpoint's file is no longer at path: look for it renamed in the same directory.
  // A directory listing taken while another file is renamed in it may miss entries (readdir
  // gives no guarantee for entries renamed during the walk), and the writer rotates while we
  // restart: look again before giving the file up.
  for (int attempt = 0; attempt < 3; ++attempt) {
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(dirOf(options_.path), ec)) {
      std::string candidate = entry.path().string();
      if (candidate == options_.checkpointPath) continue;
      if (usable(candidate) == 1 && openCurrent(candidate, cp->offset)) return ok;
    }
    if (usable(options_.path) == 1) {  // renamed back, or the rename had not happened yet
      openCurrent(options_.path, cp->offset);
      return ok;
    }
  }
  ++stats_.checkpointResets;
  openCurrent(options_.path, 0);
  return ok;
}

bool FileSource::Budget::spent() const {
  return bytes == 0 || std::chrono::steady_clock::now() >= deadline ||
         (stopRequested != nullptr && *stopRequested && (*stopRequested)());
}

size_t FileSource::readAvailable(const std::function<void(const LineBatch&)>& onBatch,
                                 const std::function<bool()>& stopRequested) {
  size_t delivered = 0;
  backlog_ = false;
  Budget budget{options_.maxBytesPerPoll, std::chrono::steady_clock::now() + options_.maxPollTime,
                &stopRequested};
  if (fd_ < 0 && !reopen()) return 0;
  // Whether to go on after a read: the budget spent leaves a backlog for the next call.
  auto goOn = [&](ReadResult r) {
    if (r == ReadResult::kBudgetSpent) backlog_ = true;
    return r == ReadResult::kEof;
  };
  for (int round = 0; round < 16; ++round) {
    // Copytruncate: the file shrank below what we read, or its first bytes changed.
    struct stat st;
    if (::fstat(fd_, &st) == 0 &&
        (static_cast<uint64_t>(st.st_size) < readOffset_ ||
         !headMatches(fd_, static_cast<uint32_t>(head_.size()), fnv1a(head_)))) {
      ++stats_.truncations;
      resetToStart();
    }
    if (!goOn(readToEof(onBatch, delivered, budget))) return delivered;
    if (::stat(options_.path.c_str(), &st) != 0) return delivered;  // renamed, no new file yet
    if (static_cast<uint64_t>(st.st_dev) == dev_ && static_cast<uint64_t>(st.st_ino) == ino_) {
      return delivered;
    }
    // Rotated by rename: the writer has moved on, so finish the old file, then switch.
    if (!goOn(readToEof(onBatch, delivered, budget))) return delivered;
    drainBuffer(true, onBatch, delivered);
    ++stats_.rotations;
    if (!openCurrent(nextFile(), 0)) {
      closeCurrent();
      return delivered;
    }
  }
  backlog_ = true;  // more rotated files may wait
  return delivered;
}

namespace {

// Whether `name` is how a rotation names the log `self` (stem, extension): the apiserver's
// audit-<timestamp>.log, logrotate's audit.log.1 and audit.log-20240501. Other files that
// share the stem (the consumer's own state next to the log: audit-checkpoint.json.journal,
// audit-memory.jsonl) are not logs.
bool isRotatedName(std::string_view name, std::string_view self, std::string_view stem,
                   std::string_view ext) {
  if (name.ends_with(".tmp") || name.ends_with(".gz") || name.ends_with(".journal")) return false;
  if (name.size() > self.size() + 1 && name.starts_with(self) &&
      (name[self.size()] == '.' || name[self.size()] == '-')) {
    return true;
  }
  return !ext.empty() && name.size() > stem.size() + 1 + ext.size() && name.starts_with(stem) &&
         name[stem.size()] == '-' && name.ends_with(ext);
}

}  // namespace

std::string FileSource::nextFile() const {
  // Rotated siblings (audit-<timestamp>.log for audit.log) in write order: by modification
  // time, then by name (lumberjack's timestamped names sort chronologically).
  fs::path logPath(options_.path);
  std::string stem = logPath.stem().string();
  std::string ext = logPath.extension().string();
  std::string self = logPath.filename().string();
  struct Candidate {
    int64_t mtimeNs;
    std::string name;
    std::string full;
    bool current;
  };
  std::vector<Candidate> rotated;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dirOf(options_.path), ec)) {
    std::string name = entry.path().filename().string();
    std::string full = entry.path().string();
    if (name == self || !isRotatedName(name, self, stem, ext) || full == options_.checkpointPath) {
      continue;
    }
    struct stat st;
    if (::stat(full.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
    bool current =
        static_cast<uint64_t>(st.st_dev) == dev_ && static_cast<uint64_t>(st.st_ino) == ino_;
    rotated.push_back({static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec,
                       name, full, current});
  }
  std::sort(rotated.begin(), rotated.end(), [](const Candidate& a, const Candidate& b) {
    return std::tie(a.mtimeNs, a.name) < std::tie(b.mtimeNs, b.name);
  });
  for (size_t i = 0; i + 1 < rotated.size(); ++i) {
    if (rotated[i].current) return rotated[i + 1].full;  // rotated after the one we finished
  }
  return options_.path;
}

FileSource::ReadResult FileSource::readToEof(const std::function<void(const LineBatch&)>& onBatch,
                                             size_t& delivered, Budget& budget) {
  size_t chunk = options_.readChunkBytes;
  if (buffer_.size() < chunk + options_.maxLineBytes + 1 + kReadPadding) {
    buffer_.resize(chunk + options_.maxLineBytes + 1 + kReadPadding);
  }
  while (true) {
    size_t room = buffer_.size() - kReadPadding - bufLen_;
    if (room > chunk) room = chunk;
    if (room > budget.bytes) room = static_cast<size_t>(budget.bytes);
    ssize_t n = ::read(fd_, buffer_.data() + bufLen_, room);
    if (n < 0) {
      if (errno == EINTR) continue;
      // The path may be something else by now (briefly a directory, say): start over from it.
      failed(errnoText("read", currentPath_));
      resumeAt_ = position(lineBoundary_);
      closeCurrent();
      return ReadResult::kError;
    }
    if (n == 0) return ReadResult::kEof;
    nulsToLineEnds(buffer_.data() + bufLen_, static_cast<size_t>(n));
    bufLen_ += static_cast<size_t>(n);
    readOffset_ += static_cast<uint64_t>(n);
    stats_.bytesRead += static_cast<uint64_t>(n);
    budget.bytes -= static_cast<uint64_t>(n);
    if (head_.size() < kHeadBytes) refreshHead();
    drainBuffer(false, onBatch, delivered);
    // Asked after a read, not before: every call makes progress.
    if (budget.spent()) return ReadResult::kBudgetSpent;
  }
}

void FileSource::nulsToLineEnds(char* data, size_t n) {
  char* end = data + n;
  for (char* p = data; (p = static_cast<char*>(std::memchr(p, '\0', end - p))) != nullptr;) {
    *p++ = '\n';
    ++stats_.nulBytes;
  }
}

void FileSource::drainBuffer(bool final, const std::function<void(const LineBatch&)>& onBatch,
                             size_t& delivered) {
  const char* data = buffer_.data();
  size_t pos = 0;
  size_t textStart = 0;  // where the current batch's text begins in buffer_
  uint64_t deliveredBoundary = lineBoundary_;
  batch_.lines.clear();
  // Hands off the lines collected so far (or just the new position after skipped lines).
  auto flush = [&](size_t textEnd) {
    if (lineBoundary_ == deliveredBoundary && batch_.lines.empty()) return;
    batch_.text = std::string_view(data + textStart, textEnd - textStart);
    batch_.end = position(lineBoundary_);
    onBatch(batch_);
    delivered += batch_.lines.size();
    stats_.linesDelivered += batch_.lines.size();
    batch_.lines.clear();
    deliveredBoundary = lineBoundary_;
  };
  while (pos < bufLen_) {
    const char* nl = static_cast<const char*>(std::memchr(data + pos, '\n', bufLen_ - pos));
    if (!nl) break;
    size_t len = static_cast<size_t>(nl - (data + pos));
    if (skipping_ || len > options_.maxLineBytes) {
      // The end of an over-long line: keep it out of any batch's text.
      flush(pos);
      if (!skipping_) ++stats_.linesTooLong;
      skipping_ = false;
      pos += len + 1;
      lineBoundary_ = bufferOffset_ + pos;
      textStart = pos;
      continue;
    }
    if (!isBlank(data + pos, len)) batch_.lines.emplace_back(data + pos, len);
    pos += len + 1;
    lineBoundary_ = bufferOffset_ + pos;
  }
  size_t rest = bufLen_ - pos;
  if (rest > 0 && final) {
    if (!skipping_ && rest <= options_.maxLineBytes && !isBlank(data + pos, rest)) {
      batch_.lines.emplace_back(data + pos, rest);
      ++stats_.unterminatedLines;
      pos = bufLen_;
      lineBoundary_ = bufferOffset_ + pos;
      flush(pos);
    } else {
      flush(pos);  // then step over the tail (blank, or the end of an over-long line)
      pos = bufLen_;
      lineBoundary_ = bufferOffset_ + pos;
      textStart = pos;
      flush(pos);
    }
    skipping_ = false;
  } else {
    flush(pos);
    if (rest > options_.maxLineBytes || (skipping_ && rest > 0)) {
      // Over-long partial line: drop its bytes, keep the checkpoint at the line's start.
      if (!skipping_) ++stats_.linesTooLong;
      skipping_ = true;
      pos = bufLen_;
    }
  }
  if (pos > 0) {
    std::memmove(buffer_.data(), buffer_.data() + pos, bufLen_ - pos);
    bufLen_ -= pos;
    bufferOffset_ += pos;
  }
}

void FileSource::recordStartPosition() {
  if (!recordStart_ || fd_ < 0) return;
  if (saveCheckpoint(options_.checkpointPath, position(lineBoundary_))) recordStart_ = false;
}

bool FileSource::commit(const Checkpoint& position, std::string* error) {
  if (options_.checkpointPath.empty()) return true;
  return saveCheckpoint(options_.checkpointPath, position, error);
}

}  // namespace kc::audit
