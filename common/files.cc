#include "common/files.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <ctime>

namespace kc::files {

bool readFile(const std::string& path, std::string& out, size_t maxBytes) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  std::string data;
  struct stat st {};
  // One read for a regular file, into storage of its size; anything else (a file growing
  // meanwhile, a pipe, /proc) is read in steps until the end.
  if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0) {
    if (static_cast<uint64_t>(st.st_size) > maxBytes) {
      ::close(fd);
      errno = EFBIG;
      return false;
    }
    data.reserve(static_cast<size_t>(st.st_size) + 1);
  }
  for (;;) {
    const size_t old = data.size();
    if (old > maxBytes) break;  // one byte past the cap: refused below
    // Never more than one byte past the cap: enough to tell that the file is over it.
    size_t left = maxBytes - old;
    if (left < SIZE_MAX) ++left;
    const size_t room = std::min(std::max<size_t>(data.capacity() - old, 64u << 10), left);
    data.resize(old + room);
    const ssize_t n = ::read(fd, data.data() + old, room);
    if (n < 0 && errno == EINTR) {
      data.resize(old);
      continue;
    }
    if (n < 0) {  // EISDIR for a directory, EIO, ...
      ::close(fd);
      return false;
    }
    data.resize(old + static_cast<size_t>(n));
    if (n == 0) break;
  }
  ::close(fd);
  if (data.size() > maxBytes) {
    errno = EFBIG;
    return false;
  }
  out = std::move(data);
  return true;
}

std::string readError(const std::string& path) { return path + ": " + std::strerror(errno); }

bool writeFileAtomic(const std::string& path, const std::string& data, mode_t mode,
                     std::string& error) {
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) {
    error = "cannot write " + tmp + ": " + std::strerror(errno);
    return false;
  }
  ::fchmod(fd, mode);
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      error = "cannot write " + tmp + ": " + std::strerror(errno);
      ::close(fd);
      ::unlink(tmp.c_str());
      return false;
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    error = "cannot flush " + tmp + ": " + std::strerror(errno);
    ::unlink(tmp.c_str());
    return false;
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    error = "cannot rename " + tmp + " to " + path + ": " + std::strerror(errno);
    ::unlink(tmp.c_str());
    return false;
  }
  return true;
}

FileStamp stampOf(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return {};
  return {static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino),
          static_cast<uint64_t>(st.st_size),
          static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec};
}

ExclusiveLock::ExclusiveLock(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    error_ = path + ": " + std::strerror(errno);
    return;
  }
  int rc;
  do {
    rc = ::flock(fd, LOCK_EX);
  } while (rc != 0 && errno == EINTR);
  if (rc != 0) {
    error_ = path + ": " + std::strerror(errno);
    ::close(fd);
    return;
  }
  fd_ = fd;
}

ExclusiveLock::~ExclusiveLock() {
  if (fd_ >= 0) ::close(fd_);  // releases the lock
}

std::string moveAside(const std::string& path, std::string& error) {
  // The time in the name keeps an earlier damaged copy: each one may hold what an operator
  // accepted and wants back.
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
  const std::string aside = path + ".damaged-" + stamp;
  if (std::rename(path.c_str(), aside.c_str()) != 0) {
    error = "cannot rename " + path + " to " + aside + ": " + std::strerror(errno);
    return "";
  }
  return aside;
}

std::unique_ptr<PidLock> PidLock::tryLock(const std::string& path, std::string& error) {
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    error = "cannot open the lock file " + path + ": " + std::strerror(errno);
    return nullptr;
  }
  int rc;
  do {
    rc = ::flock(fd, LOCK_EX | LOCK_NB);
  } while (rc != 0 && errno == EINTR);
  if (rc != 0) {
    const int err = errno;
    if (err != EWOULDBLOCK) {
      error = "cannot lock " + path + ": " + std::strerror(err);
      ::close(fd);
      return nullptr;
    }
    // The holder wrote its pid right after locking; a few digits, read as they are.
    char buf[32] = {};
    const ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
    ::close(fd);
    std::string pid(buf, n > 0 ? static_cast<size_t>(n) : 0);
    while (!pid.empty() && (pid.back() == '\n' || pid.back() == ' ')) pid.pop_back();
    const bool digits = !pid.empty() && pid.find_first_not_of("0123456789") == std::string::npos;
    error = path + " is held by " + (digits ? "pid " + pid : "another process");
    return nullptr;
  }
  const std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd, 0) != 0 ||
      ::pwrite(fd, pid.data(), pid.size(), 0) != static_cast<ssize_t>(pid.size())) {
    error = "cannot write the pid to the lock file " + path + ": " + std::strerror(errno);
    ::close(fd);
    return nullptr;
  }
  return std::unique_ptr<PidLock>(new PidLock(fd));
}

PidLock::~PidLock() { ::close(fd_); }  // releases the lock

}  // namespace kc::files
