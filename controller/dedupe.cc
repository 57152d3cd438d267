#include "controller/dedupe.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>

namespace kc::audit {

namespace {

// The murmur3 64-bit finalizer.
uint64_t finalize(uint64_t h) {
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ULL;
  h ^= h >> 33;
  return h;
}

// 64-bit FNV-1a followed by the finalizer; two seeds give two independent halves, computed in
// one pass (two independent multiply chains run side by side). The journal stores these keys,
// so the function must not change.
DedupeKey hash128(std::string_view a, std::string_view b, uint64_t seedHi, uint64_t seedLo) {
  constexpr uint64_t kPrime = 1099511628211ULL;
  uint64_t hi = 1469598103934665603ULL ^ seedHi;
  uint64_t lo = 1469598103934665603ULL ^ seedLo;
  for (unsigned char c : a) {
    hi = (hi ^ c) * kPrime;
    lo = (lo ^ c) * kPrime;
  }
  hi = (hi ^ 0xff) * kPrime;  // separator that cannot appear in UTF-8 text
  lo = (lo ^ 0xff) * kPrime;
  for (unsigned char c : b) {
    hi = (hi ^ c) * kPrime;
    lo = (lo ^ c) * kPrime;
  }
  return {finalize(hi), finalize(lo)};
}

// Journal record: 16 bytes of key, 4 bytes of check, 4 bytes of magic.
constexpr size_t kRecordSize = 24;
constexpr uint32_t kMagic = 0x4b434a31;  // "KCJ1"

uint32_t check(const DedupeKey& k) {
  return static_cast<uint32_t>((k.hi * 0x9e3779b97f4a7c15ULL) ^ (k.lo >> 7) ^ 0x5bd1e995u);
}

}  // namespace

DedupeKey dedupeKey(std::string_view auditID, std::string_view stage) {
  return hash128(auditID, stage, 0x243f6a8885a308d3ULL, 0x13198a2e03707344ULL);
}

Deduper::Deduper(Options options) : options_(options), set_(options.maxEntries) {}

bool Deduper::firstSeen(std::string_view auditID, std::string_view stage, int64_t nowMicros) {
  return firstSeen(dedupeKey(auditID, stage), nowMicros);
}

bool Deduper::firstSeen(const DedupeKey& key, int64_t nowMicros) {
  expire(nowMicros);
  if (!set_.insert(key, nowMicros, &evictions_)) {
    ++duplicates_;
    return false;
  }
  return true;
}

void Deduper::expire(int64_t nowMicros) {
  while (!set_.empty() && nowMicros - set_.oldestStamp() > options_.windowMicros) {
    set_.popOldest();
    ++evictions_;
  }
}

DedupeJournal::DedupeJournal(std::string path) : path_(std::move(path)) {}

DedupeJournal::~DedupeJournal() {
  if (fd_ >= 0) ::close(fd_);
}

bool DedupeJournal::ensureOpen() {
  if (fd_ >= 0) return true;
  fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd_ < 0) return false;
  // Drop a torn tail so that later records stay aligned.
  off_t size = ::lseek(fd_, 0, SEEK_END);
  if (size > 0 && size % static_cast<off_t>(kRecordSize) != 0) {
    if (::ftruncate(fd_, size - size % static_cast<off_t>(kRecordSize)) != 0) return false;
  }
  return true;
}

std::vector<DedupeKey> DedupeJournal::load(size_t* damaged) const {
  std::vector<DedupeKey> keys;
  size_t bad = 0;
  std::ifstream in(path_, std::ios::binary);
  if (in) {
    std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    size_t full = data.size() / kRecordSize;
    for (size_t i = 0; i < full; ++i) {
      const char* r = data.data() + i * kRecordSize;
      DedupeKey k;
      uint32_t c, m;
      std::memcpy(&k.hi, r, 8);
      std::memcpy(&k.lo, r + 8, 8);
      std::memcpy(&c, r + 16, 4);
      std::memcpy(&m, r + 20, 4);
      if (m != kMagic || c != check(k)) {
        ++bad;
        continue;
      }
      keys.push_back(k);
    }
    if (data.size() % kRecordSize != 0) ++bad;
  }
  if (damaged) *damaged = bad;
  return keys;
}

bool DedupeJournal::append(const std::vector<DedupeKey>& keys) {
  if (keys.empty()) return true;
  if (!ensureOpen()) return false;
  std::string buf(keys.size() * kRecordSize, '\0');
  for (size_t i = 0; i < keys.size(); ++i) {
    char* r = buf.data() + i * kRecordSize;
    uint32_t c = check(keys[i]);
    std::memcpy(r, &keys[i].hi, 8);
    std::memcpy(r + 8, &keys[i].lo, 8);
    std::memcpy(r + 16, &c, 4);
    std::memcpy(r + 20, &kMagic, 4);
  }
  size_t off = 0;
  while (off < buf.size()) {
    ssize_t n = ::write(fd_, buf.data() + off, buf.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    off += static_cast<size_t>(n);
  }
  return true;
}

bool DedupeJournal::reset() {
  if (!ensureOpen()) return false;
  if (::ftruncate(fd_, 0) != 0) return false;
  return ::fsync(fd_) == 0;
}

}  // namespace kc::audit
