#include "controller/events/audit_ids.h"

#include <cstring>

#include "controller/events/siphash.h"

namespace kc::audit {
namespace {

// A fast multiply-mix of a short string (not keyed: it only tells requests with one auditID
// apart, and the receipt time in it is the server's, not the client's).
uint64_t mix(uint64_t h, std::string_view s) {
  constexpr uint64_t kMul = 0x9E3779B97F4A7C15ULL;
  h ^= s.size() * kMul;
  size_t i = 0;
  for (; i + 8 <= s.size(); i += 8) {
    uint64_t w;
    std::memcpy(&w, s.data() + i, 8);
    h = (h ^ w) * kMul;
    h ^= h >> 29;
  }
  uint64_t w = 0;
  if (i < s.size()) std::memcpy(&w, s.data() + i, s.size() - i);
  h = (h ^ w) * kMul;
  return h ^ (h >> 32);
}

}  // namespace

AuditIdMemory::Id AuditIdMemory::of(const DedupeSecret& k, const RequestIdentity& request) {
  SipHash13x128 h(k.k0, k.k1);
  h.update("I", 1);  // apart from the dedupe keys, which start with "R" or "E"
  h.update(request.auditID);
  Id id;
  id.tag = h.finish().lo | 1;
  id.request = mix(mix(mix(0, request.requestReceivedTimestamp), request.verb), request.username);
  return id;
}

AuditIdMemory::AuditIdMemory(size_t slots) {
  size_t n = 64;
  while (n < slots) n <<= 1;
  slots_.resize(n);
  mask_ = n - 1;
}

}  // namespace kc::audit
