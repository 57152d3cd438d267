#include "controller/events/dedupe.h"

#include <fcntl.h>
#include <openssl/rand.h>
#include <sys/random.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <random>

#include "common/files.h"
#include "controller/events/siphash.h"

namespace kc::audit {

namespace {

// Journal record: 16 bytes of payload, 4 bytes of check, 4 bytes of magic. The payload is a key
// (magic "KCJ2") or the secret (magic "KCJS"); "KCJ1" keys were made by an older key function.
constexpr size_t kRecordSize = 24;
constexpr uint32_t kMagicKeyV1 = 0x4b434a31;   // "KCJ1"
constexpr uint32_t kMagicKey = 0x4b434a32;     // "KCJ2"
constexpr uint32_t kMagicSecret = 0x4b434a53;  // "KCJS"

uint32_t check(const DedupeKey& k) {
  return static_cast<uint32_t>((k.hi * 0x9e3779b97f4a7c15ULL) ^ (k.lo >> 7) ^ 0x5bd1e995u);
}

void appendRecord(std::string& buf, const DedupeKey& k, uint32_t magic) {
  char r[kRecordSize];
  const uint32_t c = check(k);
  std::memcpy(r, &k.hi, 8);
  std::memcpy(r + 8, &k.lo, 8);
  std::memcpy(r + 16, &c, 4);
  std::memcpy(r + 20, &magic, 4);
  buf.append(r, kRecordSize);
}

DedupeKey secretRecord(const DedupeSecret& s) { return {s.k0, s.k1}; }

// The fields, each length first so that field boundaries are part of what is hashed, gathered
// in a buffer and handed to the hash in whole 8-byte words (fed piecemeal, most bytes would go
// through its byte-at-a-time tail path).
class Fields {
 public:
  explicit Fields(SipHash13x128& h) : h_(h) {}
  void add(std::string_view v) {
    const auto n = static_cast<uint32_t>(v.size());
    const char len[4] = {static_cast<char>(n), static_cast<char>(n >> 8),
                         static_cast<char>(n >> 16), static_cast<char>(n >> 24)};
    put(len, 4);
    put(v.data(), v.size());
  }
  void finish() { h_.update(buf_, n_); }

 private:
  void put(const char* p, size_t len) {
    while (len > 0) {
      const size_t take = std::min(len, sizeof buf_ - n_);
      std::memcpy(buf_ + n_, p, take);
      n_ += take;
      p += take;
      len -= take;
      if (n_ == sizeof buf_) {
        h_.update(buf_, n_);
        n_ = 0;
      }
    }
  }
  SipHash13x128& h_;
  char buf_[256];  // a multiple of 8
  size_t n_ = 0;
};

void requestFields(Fields& f, const RequestIdentity& r) {
  f.add(r.auditID);
  f.add(r.verb);
  f.add(r.requestURI);
  f.add(r.username);
  f.add(r.requestReceivedTimestamp);
}

DedupeKey toKey(const SipHash13x128::Digest& d) { return {d.hi, d.lo}; }

}  // namespace

DedupeSecret DedupeSecret::random() {
  DedupeSecret s;
  unsigned char b[16];
  // The kernel's source directly (OpenSSL's generator costs milliseconds to set up); OpenSSL
  // when that is unavailable.
  if (::getrandom(b, sizeof b, 0) != static_cast<ssize_t>(sizeof b) &&
      RAND_bytes(b, sizeof b) != 1) {
    std::random_device rd;  // the OS source too, without OpenSSL's DRBG
    for (auto& x : b) x = static_cast<unsigned char>(rd());
  }
  std::memcpy(&s.k0, b, 8);
  std::memcpy(&s.k1, b + 8, 8);
  return s;
}

const DedupeSecret& DedupeSecret::processDefault() {
  static const DedupeSecret secret = DedupeSecret::random();
  return secret;
}

DedupeKey requestKey(const DedupeSecret& k, const RequestIdentity& request) {
  SipHash13x128 h(k.k0, k.k1);
  Fields f(h);
  f.add("R");
  requestFields(f, request);
  f.finish();
  return toKey(h.finish());
}

DedupeKey eventKey(const DedupeSecret& k, const RequestIdentity& request, std::string_view stage,
                   std::string_view stageTimestamp) {
  SipHash13x128 h(k.k0, k.k1);
  Fields f(h);
  f.add("E");
  requestFields(f, request);
  f.add(stage);
  f.add(stageTimestamp);
  f.finish();
  return toKey(h.finish());
}

DedupeKey dedupeKey(const DedupeSecret& secret, std::string_view auditID, std::string_view stage) {
  RequestIdentity r;
  r.auditID = auditID;
  return eventKey(secret, r, stage, {});
}

DedupeKey requestKey(const RequestIdentity& request) {
  return requestKey(DedupeSecret::processDefault(), request);
}

DedupeKey eventKey(const RequestIdentity& request, std::string_view stage,
                   std::string_view stageTimestamp) {
  return eventKey(DedupeSecret::processDefault(), request, stage, stageTimestamp);
}

DedupeKey dedupeKey(std::string_view auditID, std::string_view stage) {
  return dedupeKey(DedupeSecret::processDefault(), auditID, stage);
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

DedupeJournal::DedupeJournal(std::string path, const DedupeSecret& secret)
    : path_(std::move(path)), secret_(secret) {}

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
    size -= size % static_cast<off_t>(kRecordSize);
    if (::ftruncate(fd_, size) != 0) return false;
  }
  needsSecret_ = size == 0;
  return true;
}

std::vector<DedupeKey> DedupeJournal::load(size_t* damaged, std::optional<DedupeSecret>* secret,
                                           size_t* stale) const {
  std::vector<DedupeKey> keys;
  std::optional<DedupeSecret> found;
  size_t bad = 0, old = 0;
  std::string data;
  if (!files::readFile(path_, data) && errno == EFBIG) {
    ++bad;  // far larger than any journal this process writes: left out whole
  } else {
    const size_t full = data.size() / kRecordSize;
    for (size_t i = 0; i < full; ++i) {
      const char* r = data.data() + i * kRecordSize;
      DedupeKey k;
      uint32_t c, m;
      std::memcpy(&k.hi, r, 8);
      std::memcpy(&k.lo, r + 8, 8);
      std::memcpy(&c, r + 16, 4);
      std::memcpy(&m, r + 20, 4);
      if (c != check(k) || (m != kMagicKey && m != kMagicSecret && m != kMagicKeyV1)) {
        ++bad;
      } else if (m == kMagicSecret) {
        found = DedupeSecret{k.hi, k.lo};
      } else if (m == kMagicKey && found) {
        keys.push_back(k);
      } else {
        ++old;  // made with another key function, or with no secret to go with
      }
    }
    if (data.size() % kRecordSize != 0) ++bad;
  }
  if (damaged) *damaged = bad;
  if (secret) *secret = found;
  if (stale) *stale = old;
  return keys;
}

std::string DedupeJournal::records(const std::vector<DedupeKey>& keys, bool withSecret) const {
  std::string buf;
  buf.reserve((keys.size() + 1) * kRecordSize);
  if (withSecret) appendRecord(buf, secretRecord(secret_), kMagicSecret);
  for (const auto& k : keys) appendRecord(buf, k, kMagicKey);
  return buf;
}

bool DedupeJournal::rewrite(const std::vector<DedupeKey>& keys, std::string* error) {
  // The descriptor would go on appending to the replaced file: reopen after.
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
  std::string why;
  if (files::writeFileAtomic(path_, records(keys, true), 0600, why)) return true;
  if (error) *error = why;
  return false;
}

bool DedupeJournal::writeRecords(const std::vector<DedupeKey>& keys) {
  const std::string buf = records(keys, needsSecret_);
  size_t off = 0;
  while (off < buf.size()) {
    ssize_t n = ::write(fd_, buf.data() + off, buf.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    off += static_cast<size_t>(n);
  }
  needsSecret_ = false;
  return true;
}

bool DedupeJournal::append(const std::vector<DedupeKey>& keys) {
  if (keys.empty()) return true;
  return ensureOpen() && writeRecords(keys);
}

bool DedupeJournal::reset() {
  if (!ensureOpen()) return false;
  if (::ftruncate(fd_, 0) != 0) return false;
  // The secret goes back at once: a journal is never without it.
  needsSecret_ = true;
  return writeRecords({}) && ::fsync(fd_) == 0;
}

}  // namespace kc::audit
