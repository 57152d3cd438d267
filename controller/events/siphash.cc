#include "controller/events/siphash.h"

#include <cstring>

namespace kc::audit {
namespace {

inline uint64_t rotl(uint64_t x, int b) { return (x << b) | (x >> (64 - b)); }

inline void sipRound(uint64_t& v0, uint64_t& v1, uint64_t& v2, uint64_t& v3) {
  v0 += v1;
  v1 = rotl(v1, 13);
  v1 ^= v0;
  v0 = rotl(v0, 32);
  v2 += v3;
  v3 = rotl(v3, 16);
  v3 ^= v2;
  v0 += v3;
  v3 = rotl(v3, 21);
  v3 ^= v0;
  v2 += v1;
  v1 = rotl(v1, 17);
  v1 ^= v2;
  v2 = rotl(v2, 32);
}

inline uint64_t load64le(const unsigned char* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  if constexpr (__BYTE_ORDER__ == __ORDER_BIG_ENDIAN__) v = __builtin_bswap64(v);
  return v;
}

}  // namespace

template <int C, int D>
SipHash128T<C, D>::SipHash128T(uint64_t k0, uint64_t k1)
    : v0_(0x736f6d6570736575ULL ^ k0),
      v1_(0x646f72616e646f6dULL ^ k1 ^ 0xee),  // 0xee: the 128-bit output variant
      v2_(0x6c7967656e657261ULL ^ k0),
      v3_(0x7465646279746573ULL ^ k1) {}

template <int C, int D>
void SipHash128T<C, D>::compress(uint64_t m) {
  v3_ ^= m;
  for (int i = 0; i < C; ++i) sipRound(v0_, v1_, v2_, v3_);
  v0_ ^= m;
}

template <int C, int D>
void SipHash128T<C, D>::update(const void* data, size_t len) {
  const auto* p = static_cast<const unsigned char*>(data);
  total_ += len;
  // Complete a pending partial word first.
  while (tailLen_ > 0 && len > 0) {
    tail_ |= static_cast<uint64_t>(*p++) << (8 * tailLen_);
    --len;
    if (++tailLen_ == 8) {
      compress(tail_);
      tail_ = 0;
      tailLen_ = 0;
    }
  }
  for (; len >= 8; len -= 8, p += 8) compress(load64le(p));
  for (size_t i = 0; i < len; ++i) tail_ |= static_cast<uint64_t>(p[i]) << (8 * tailLen_++);
}

template <int C, int D>
typename SipHash128T<C, D>::Digest SipHash128T<C, D>::finish() {
  const uint64_t b = (total_ << 56) | tail_;
  compress(b);
  v2_ ^= 0xee;
  for (int i = 0; i < D; ++i) sipRound(v0_, v1_, v2_, v3_);
  Digest d;
  d.lo = v0_ ^ v1_ ^ v2_ ^ v3_;
  v1_ ^= 0xdd;
  for (int i = 0; i < D; ++i) sipRound(v0_, v1_, v2_, v3_);
  d.hi = v0_ ^ v1_ ^ v2_ ^ v3_;
  return d;
}

template class SipHash128T<2, 4>;
template class SipHash128T<1, 3>;

}  // namespace kc::audit
