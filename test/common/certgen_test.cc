#include "common/certgen.h"

#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <catch2/catch.hpp>

#include "common/tls.h"
#include "test/test_util.h"

namespace {

X509* parse(const std::string& pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  return cert;
}

TEST_CASE("GeneratedServingCertificateVerifiesAgainstItsCaForServiceNames", "[certgen]") {
  kc::tls::CertRequest req;
  req.service = "kube-customs-webhook";
  req.namespace_ = "security";
  kc::tls::GeneratedCerts certs;
  std::string error;
  REQUIRE(kc::tls::generateCerts(req, certs, error));
  X509* ca = parse(certs.caCertPem);
  X509* leaf = parse(certs.certPem);
  REQUIRE(ca);
  REQUIRE(leaf);
  X509_STORE* store = X509_STORE_new();
  X509_STORE_add_cert(store, ca);
  X509_STORE_CTX* ctx = X509_STORE_CTX_new();
  X509_STORE_CTX_init(ctx, store, leaf, nullptr);
  CHECK(X509_verify_cert(ctx) == 1);
  for (const auto& name : kc::tls::serviceDnsNames("kube-customs-webhook", "security"))
    CHECK(X509_check_host(leaf, name.c_str(), 0, 0, nullptr) == 1);
  CHECK(X509_check_host(leaf, "evil.example.com", 0, 0, nullptr) == 0);
  CHECK(X509_check_ca(ca) >= 1);
  CHECK(X509_check_ca(leaf) == 0);
  X509_STORE_CTX_free(ctx);
  X509_STORE_free(store);
  X509_free(ca);
  X509_free(leaf);
}

TEST_CASE("WrittenCertsLoadIntoAServerContextAndKeyIsPrivate", "[certgen]") {
  kc::testing::TempDir dir;
  kc::tls::GeneratedCerts certs;
  std::string error;
  REQUIRE(kc::tls::generateCerts({}, certs, error));
  REQUIRE(kc::tls::writeCerts(certs, dir.path() + "/tls", error));
  struct stat st {};
  REQUIRE(stat((dir.path() + "/tls/tls.key").c_str(), &st) == 0);
  CHECK((st.st_mode & 0077) == 0);
  CHECK(kc::tls::makeServerContext({dir.path() + "/tls/tls.crt", dir.path() + "/tls/tls.key", ""},
                                   error) != nullptr);
}

TEST_CASE("ServerContextRejectsKeyThatDoesNotMatchCertificate", "[certgen]") {
  kc::testing::TempDir dir;
  kc::tls::GeneratedCerts a, b;
  std::string error;
  REQUIRE(kc::tls::generateCerts({}, a, error));
  REQUIRE(kc::tls::generateCerts({}, b, error));
  kc::testing::writeFile(dir.file("tls.crt"), a.certPem);
  kc::testing::writeFile(dir.file("tls.key"), b.keyPem);
  CHECK(kc::tls::makeServerContext({dir.file("tls.crt"), dir.file("tls.key"), ""}, error) ==
        nullptr);
  CHECK(error.find("does not match") != std::string::npos);
}

TEST_CASE("Base64EncodesLikeRfc4648", "[certgen]") {
  CHECK(kc::tls::base64("") == "");
  CHECK(kc::tls::base64("f") == "Zg==");
  CHECK(kc::tls::base64("foob") == "Zm9vYg==");
  CHECK(kc::tls::base64("foobar") == "Zm9vYmFy");
}

}  // namespace
