// SipHash-2-4-128 and SipHash-1-3-128 against OpenSSL's SIPHASH MAC (the same function,
// independently written, with the round counts as parameters), over random keys and messages
// of every length up to 200 bytes, fed whole and in pieces.

#include "controller/events/siphash.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <catch2/catch.hpp>
#include <cstring>
#include <random>
#include <string>
#include <vector>

namespace {

std::vector<unsigned char> opensslSipHash128(const unsigned char key[16], const std::string& msg,
                                             unsigned int cRounds = 2, unsigned int dRounds = 4) {
  EVP_MAC* mac = EVP_MAC_fetch(nullptr, "SIPHASH", nullptr);
  REQUIRE(mac != nullptr);
  EVP_MAC_CTX* ctx = EVP_MAC_CTX_new(mac);
  unsigned int size = 16;
  OSSL_PARAM params[] = {OSSL_PARAM_construct_uint(OSSL_MAC_PARAM_SIZE, &size),
                         OSSL_PARAM_construct_uint(OSSL_MAC_PARAM_C_ROUNDS, &cRounds),
                         OSSL_PARAM_construct_uint(OSSL_MAC_PARAM_D_ROUNDS, &dRounds),
                         OSSL_PARAM_construct_end()};
  REQUIRE(EVP_MAC_init(ctx, key, 16, params) == 1);
  REQUIRE(EVP_MAC_update(ctx, reinterpret_cast<const unsigned char*>(msg.data()), msg.size()) == 1);
  std::vector<unsigned char> out(16);
  size_t outLen = 0;
  REQUIRE(EVP_MAC_final(ctx, out.data(), &outLen, out.size()) == 1);
  REQUIRE(outLen == 16);
  EVP_MAC_CTX_free(ctx);
  EVP_MAC_free(mac);
  return out;
}

template <class Digest>
std::vector<unsigned char> bytes(const Digest& d) {
  std::vector<unsigned char> out(16);
  for (int i = 0; i < 8; ++i) {
    out[i] = static_cast<unsigned char>(d.lo >> (8 * i));
    out[8 + i] = static_cast<unsigned char>(d.hi >> (8 * i));
  }
  return out;
}

uint64_t le64(const unsigned char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

TEST_CASE("SipHash128MatchesTheReferenceVectorForTheEmptyMessage") {
  // Key 00 01 .. 0f, empty message: the first 128-bit vector of the reference implementation.
  unsigned char key[16];
  for (int i = 0; i < 16; ++i) key[i] = static_cast<unsigned char>(i);
  kc::audit::SipHash128 h(le64(key), le64(key + 8));
  const std::vector<unsigned char> want = {0xa3, 0x81, 0x7f, 0x04, 0xba, 0x25, 0xa8, 0xe6,
                                           0x6d, 0xf6, 0x72, 0x14, 0xc7, 0x55, 0x02, 0x93};
  CHECK(bytes(h.finish()) == want);
  CHECK(opensslSipHash128(key, "") == want);
}

template <class Hash>
void matchOpenSsl(unsigned int cRounds, unsigned int dRounds) {
  std::mt19937_64 rng(11 + cRounds);
  for (size_t len = 0; len <= 200; ++len) {
    unsigned char key[16];
    for (auto& b : key) b = static_cast<unsigned char>(rng());
    std::string msg(len, '\0');
    for (auto& c : msg) c = static_cast<char>(rng());
    const auto want = opensslSipHash128(key, msg, cRounds, dRounds);
    Hash whole(le64(key), le64(key + 8));
    whole.update(msg);
    INFO("SipHash-" << cRounds << "-" << dRounds << ", length " << len);
    CHECK(bytes(whole.finish()) == want);
    // The same bytes fed in random pieces.
    Hash pieces(le64(key), le64(key + 8));
    size_t at = 0;
    while (at < len) {
      const size_t n = std::min<size_t>(len - at, rng() % 11);
      pieces.update(msg.data() + at, n);
      at += n;
    }
    CHECK(bytes(pieces.finish()) == want);
  }
}

TEST_CASE("SipHash24MatchesOpenSslForEveryLengthAndSplit") {
  matchOpenSsl<kc::audit::SipHash128>(2, 4);
}

TEST_CASE("SipHash13MatchesOpenSslForEveryLengthAndSplit") {
  matchOpenSsl<kc::audit::SipHash13x128>(1, 3);
  // And differs from 2-4: the round counts are really applied.
  const unsigned char key[16] = {1, 2, 3};
  CHECK(opensslSipHash128(key, "abc", 1, 3) != opensslSipHash128(key, "abc", 2, 4));
}

}  // namespace
