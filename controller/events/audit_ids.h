#pragma once
// Which request each recently seen auditID belonged to, to notice a client that reuses one.
//
// The API server takes a request's auditID from the client's `Audit-ID` header when one is
// sent. Events are keyed by far more than the auditID (see dedupe.h), so a reused ID cannot
// hide a request from the detections; sending one is still a sign of a client trying to make
// audit consumers drop or merge its request, and the pipeline reports it (rule
// audit-id-reused).
//
// A direct-mapped table: a slot per keyed hash of the auditID (SipHash-1-3 under the dedupe
// secret, so nobody can choose IDs that evict a given one) holding a fingerprint of the
// request (its verb, user and receipt time, which the server sets to the microsecond). A newer
// ID takes an older one's slot: the memory is fixed (16 bytes a slot) and covers roughly the
// last `slots` requests, far more than the seconds between a request and one that reuses its ID.
//
// Thread-safety: not thread-safe.

#include <cstddef>
#include <cstdint>
#include <vector>

#include "controller/events/dedupe.h"
#include "controller/events/huge_pages.h"

namespace kc::audit {

class AuditIdMemory {
 public:
  struct Id {
    uint64_t tag = 0;      // keyed hash of the auditID, never 0
    uint64_t request = 0;  // fingerprint of the request that carries it
  };
  // Under the dedupe secret (the pipeline's).
  static Id of(const DedupeSecret& secret, const RequestIdentity& request);

  // slots: rounded up to a power of two, at least 64.
  explicit AuditIdMemory(size_t slots = size_t{1} << 18);

  void prefetch(const Id& id) const { __builtin_prefetch(&slots_[id.tag & mask_]); }
  // True when the auditID was last remembered with another request.
  bool reused(const Id& id) const {
    const Slot& s = slots_[id.tag & mask_];
    return s.tag == id.tag && s.request != id.request;
  }
  void remember(const Id& id) { slots_[id.tag & mask_] = {id.tag, id.request}; }

 private:
  struct Slot {
    uint64_t tag = 0;
    uint64_t request = 0;
  };
  std::vector<Slot, HugePageAllocator<Slot>> slots_;
  size_t mask_;
};

}  // namespace kc::audit
