#pragma once
// Small file helpers shared by the runtime. Thread-safe: no shared state.

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace kc::files {

// What readFile reads at most unless told otherwise: policies, configuration, certificates and
// state files are far smaller; a larger file is a mistake or an attack, not something to load.
constexpr std::size_t kMaxReadBytes = 64u << 20;

// Reads a whole file (following symlinks), of at most `maxBytes`: a larger file (also one that
// grows past it while read) is refused with errno EFBIG, before its size is allocated. False
// when it cannot be opened or read, errno set; `out` is then untouched.
bool readFile(const std::string& path, std::string& out, std::size_t maxBytes = kMaxReadBytes);
// "PATH: <the reason of errno>", for the error message after a failed readFile.
std::string readError(const std::string& path);

// Writes `data` to `path` atomically: a temporary file in the same directory, fsync, chmod to
// `mode`, rename over `path`. False and `error` on failure; `path` is then untouched.
bool writeFileAtomic(const std::string& path, const std::string& data, mode_t mode,
                     std::string& error);

// What identifies a version of a file: a rewrite (atomic rename) changes the inode, an
// in-place write the size or modification time. All zero when the file does not exist.
struct FileStamp {
  uint64_t dev = 0, ino = 0, size = 0;
  int64_t mtimeNs = 0;
  bool operator==(const FileStamp&) const = default;
};
FileStamp stampOf(const std::string& path);

// Renames a damaged file out of the way, to PATH.damaged-<UTC time> in the same directory, so
// that its contents stay for an operator while the process goes on without them. Returns the
// new path, or "" with `error` set when the rename failed.
std::string moveAside(const std::string& path, std::string& error);

// An exclusive advisory lock (flock) on `path` (created, mode 0600), held until destruction,
// for processes that read, change and rewrite the same file. Blocks until it is free.
// locked() is false when the lock file cannot be opened or locked (error in error()).
class ExclusiveLock {
 public:
  explicit ExclusiveLock(const std::string& path);
  ~ExclusiveLock();
  ExclusiveLock(const ExclusiveLock&) = delete;
  ExclusiveLock& operator=(const ExclusiveLock&) = delete;
  bool locked() const { return fd_ >= 0; }
  const std::string& error() const { return error_; }

 private:
  int fd_ = -1;
  std::string error_;
};

// An exclusive advisory lock (flock) on `path` (created, mode 0600) taken without waiting, for
// one process that owns a directory: the file holds the holder's pid, so that a second process
// can say who holds it. Held until destruction (or the holder's death: the kernel releases
// it, and the next holder rewrites the pid).
class PidLock {
 public:
  // The lock, or null with `error` naming the file and, when another process holds it, its
  // pid ("... is held by pid 1234").
  static std::unique_ptr<PidLock> tryLock(const std::string& path, std::string& error);
  ~PidLock();
  PidLock(const PidLock&) = delete;
  PidLock& operator=(const PidLock&) = delete;

 private:
  explicit PidLock(int fd) : fd_(fd) {}
  int fd_;
};

}  // namespace kc::files
