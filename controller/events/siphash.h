#pragma once
// SipHash with a 128-bit output (Aumasson and Bernstein, "SipHash: a fast short-input PRF",
// and the 128-bit variant of the reference implementation), fed incrementally, with C
// compression and D finalization rounds: SipHash-2-4 is the original, SipHash-1-3 the faster
// variant that Python's and Rust's hash tables use against hash flooding. A keyed hash: with a
// secret key, nobody who only sees or chooses the inputs can produce two inputs with the same
// output, which a plain hash (FNV, xxHash) cannot promise. Tested against OpenSSL's SIPHASH
// MAC, which takes the round counts as parameters.
//
// Thread-safety: a value type; one instance per hash.

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace kc::audit {

template <int C, int D>
class SipHash128T {
 public:
  SipHash128T(uint64_t k0, uint64_t k1);
  void update(const void* data, size_t len);
  void update(std::string_view s) { update(s.data(), s.size()); }
  // The 16 output bytes as two little-endian words: bytes 0-7 in `lo`, 8-15 in `hi`. Call once.
  struct Digest {
    uint64_t lo;
    uint64_t hi;
  };
  Digest finish();

 private:
  void compress(uint64_t m);
  uint64_t v0_, v1_, v2_, v3_;
  uint64_t tail_ = 0;  // bytes not yet compressed (fewer than 8), little-endian
  size_t tailLen_ = 0;
  uint64_t total_ = 0;  // bytes fed
};

using SipHash128 = SipHash128T<2, 4>;
using SipHash13x128 = SipHash128T<1, 3>;

extern template class SipHash128T<2, 4>;
extern template class SipHash128T<1, 3>;

}  // namespace kc::audit
