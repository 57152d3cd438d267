#include "controller/ingest/spool.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "controller/events/siphash.h"

namespace kc::audit {
namespace {

constexpr std::uint32_t kMagic = 0x5053434B;  // "KCSP" little-endian
constexpr std::uint32_t kBatch = 1, kDone = 2;
constexpr std::size_t kHeaderBytes = 32;
constexpr std::uint32_t kMaxBody = 64u << 20;

// Integrity of a record against a torn or partial write (not against an adversary: the file is
// the process's own).
std::uint64_t checksum(const char* header24, std::string_view body) {
  SipHash13x128 h(0x6b632d73706f6f6cULL, 0x61756469742d7631ULL);
  h.update(header24, 24);
  h.update(body);
  return h.finish().lo;
}

void put32(char* p, std::uint32_t v) { std::memcpy(p, &v, 4); }
void put64(char* p, std::uint64_t v) { std::memcpy(p, &v, 8); }
std::uint32_t get32(const char* p) {
  std::uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
std::uint64_t get64(const char* p) {
  std::uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

std::string record(std::uint32_t type, std::uint64_t seq, std::string_view body) {
  std::string out(kHeaderBytes, '\0');
  put32(out.data(), kMagic);
  put32(out.data() + 4, type);
  put64(out.data() + 8, seq);
  put32(out.data() + 16, static_cast<std::uint32_t>(body.size()));
  put64(out.data() + 24, checksum(out.data(), body));
  out += body;
  return out;
}

std::string errnoText(const std::string& what) { return what + ": " + std::strerror(errno); }

bool readAt(int fd, char* buf, std::size_t n, std::uint64_t offset) {
  std::size_t got = 0;
  while (got < n) {
    const ssize_t r = ::pread(fd, buf + got, n - got, static_cast<off_t>(offset + got));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    got += static_cast<std::size_t>(r);
  }
  return true;
}

// Cuts the file back after a failed write; a failure here leaves a damaged tail, which the
// next open() cuts off.
void cutBack(int fd, std::uint64_t size) {
  [[maybe_unused]] const int r = ::ftruncate(fd, static_cast<off_t>(size));
}

bool syncDirectoryOf(const std::string& path) {
  const auto slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? "." : path.substr(0, slash ? slash : 1);
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return false;
  const bool ok = ::fsync(fd) == 0;
  ::close(fd);
  return ok;
}

}  // namespace

Spool::Spool(std::string path, std::size_t compactBytes)
    : path_(std::move(path)), compactBytes_(compactBytes) {}

Spool::~Spool() {
  if (fd_ >= 0) ::close(fd_);
}

bool Spool::open(Recovery& out, std::string& error) {
  std::lock_guard<std::mutex> lock(mutex_);
  out = {};
  fd_ = ::open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd_ < 0) {
    error = errnoText(path_);
    return false;
  }
  struct stat st {};
  if (::fstat(fd_, &st) != 0) {
    error = errnoText(path_);
    return false;
  }
  const std::uint64_t fileSize = static_cast<std::uint64_t>(st.st_size);
  std::uint64_t offset = 0;
  std::vector<Pending> bodies;
  char header[kHeaderBytes];
  while (offset < fileSize) {
    if (fileSize - offset < kHeaderBytes || !readAt(fd_, header, kHeaderBytes, offset)) break;
    const std::uint32_t type = get32(header + 4), length = get32(header + 16);
    const std::uint64_t seq = get64(header + 8);
    if (get32(header) != kMagic || (type != kBatch && type != kDone) || length > kMaxBody ||
        (type == kDone && length != 0) || fileSize - offset - kHeaderBytes < length)
      break;
    std::string body(length, '\0');
    if (length > 0 && !readAt(fd_, body.data(), length, offset + kHeaderBytes)) break;
    if (checksum(header, body) != get64(header + 24)) break;
    const std::uint32_t whole = static_cast<std::uint32_t>(kHeaderBytes + length);
    if (type == kBatch) {
      pending_.push_back({seq, offset, whole});
      bodies.push_back({seq, std::move(body)});
    } else {
      auto it = std::find_if(pending_.begin(), pending_.end(),
                             [&](const Place& p) { return p.seq == seq; });
      if (it != pending_.end()) {
        bodies.erase(bodies.begin() + (it - pending_.begin()));
        pending_.erase(it);
      }
    }
    nextSeq_ = std::max(nextSeq_, seq + 1);
    offset += whole;
  }
  if (offset < fileSize) {
    // What follows the last whole record was never acknowledged: cut it off, so new records
    // follow whole ones.
    out.damaged = 1;
    if (::ftruncate(fd_, static_cast<off_t>(offset)) != 0 || ::fdatasync(fd_) != 0) {
      error = errnoText(path_);
      return false;
    }
  }
  size_ = offset;
  out.pending = std::move(bodies);
  return true;
}

bool Spool::writeAll(const std::string& bytes, std::string& error) {
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n =
        ::pwrite(fd_, bytes.data() + done, bytes.size() - done, static_cast<off_t>(size_ + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      error = errnoText(path_);
      cutBack(fd_, size_);  // leave no partial record for the next one to follow
      return false;
    }
    done += static_cast<std::size_t>(n);
  }
  size_ += bytes.size();
  return true;
}

std::uint64_t Spool::append(std::string_view body, std::string& error) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (fd_ < 0) {
    error = "spool " + path_ + " is not open";
    return 0;
  }
  if (body.size() > kMaxBody) {
    error = "batch of " + std::to_string(body.size()) + " bytes is over the spool's record size";
    return 0;
  }
  const std::uint64_t seq = nextSeq_;
  const std::uint64_t offset = size_;
  const std::string rec = record(kBatch, seq, body);
  if (!writeAll(rec, error)) return 0;
  if (::fdatasync(fd_) != 0) {
    error = errnoText(path_);
    size_ = offset;
    cutBack(fd_, offset);
    return 0;
  }
  ++nextSeq_;
  pending_.push_back({seq, offset, static_cast<std::uint32_t>(rec.size())});
  return seq;
}

bool Spool::done(std::uint64_t seq, std::string& error) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it =
      std::find_if(pending_.begin(), pending_.end(), [&](const Place& p) { return p.seq == seq; });
  if (it == pending_.end() || fd_ < 0) return true;
  pending_.erase(it);
  if (!writeAll(record(kDone, seq, {}), error)) return false;
  if (size_ > compactBytes_) return compactLocked(error);
  return true;
}

// Writes the pending batches alone to a new file, syncs it and renames it over the spool.
bool Spool::compactLocked(std::string& error) {
  const std::string tmp = path_ + ".tmp";
  const int out = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (out < 0) {
    error = errnoText(tmp);
    return false;
  }
  std::vector<Place> moved;
  std::uint64_t offset = 0;
  std::string buf;
  bool ok = true;
  for (const Place& p : pending_) {
    buf.resize(p.length);
    if (!readAt(fd_, buf.data(), p.length, p.offset)) {
      ok = false;
      error = errnoText(path_);
      break;
    }
    std::size_t done = 0;
    while (ok && done < buf.size()) {
      const ssize_t n = ::write(out, buf.data() + done, buf.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        ok = false;
        error = errnoText(tmp);
      } else {
        done += static_cast<std::size_t>(n);
      }
    }
    if (!ok) break;
    moved.push_back({p.seq, offset, p.length});
    offset += p.length;
  }
  if (ok && ::fdatasync(out) != 0) {
    ok = false;
    error = errnoText(tmp);
  }
  if (ok && ::rename(tmp.c_str(), path_.c_str()) != 0) {
    ok = false;
    error = errnoText(path_);
  }
  if (!ok) {
    ::close(out);
    ::unlink(tmp.c_str());
    return false;
  }
  syncDirectoryOf(path_);
  ::close(fd_);
  fd_ = ::open(path_.c_str(), O_RDWR | O_CLOEXEC);
  ::close(out);
  if (fd_ < 0) {
    error = errnoText(path_);
    return false;
  }
  pending_ = std::move(moved);
  size_ = offset;
  return true;
}

std::size_t Spool::pendingCount() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return pending_.size();
}

std::size_t Spool::fileBytes() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return size_;
}

}  // namespace kc::audit
