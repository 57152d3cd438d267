#include "common/certgen.h"

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>

#include "common/files.h"

namespace kc::tls {
namespace {

struct Deleter {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
  void operator()(X509* p) const { X509_free(p); }
  void operator()(BIO* p) const { BIO_free(p); }
};
using KeyPtr = std::unique_ptr<EVP_PKEY, Deleter>;
using CertPtr = std::unique_ptr<X509, Deleter>;
using BioPtr = std::unique_ptr<BIO, Deleter>;

KeyPtr newKey() { return KeyPtr(EVP_EC_gen("P-256")); }

bool setSerial(X509* cert) {
  unsigned char bytes[16];
  if (RAND_bytes(bytes, sizeof bytes) != 1) return false;
  bytes[0] &= 0x7f;  // positive
  BIGNUM* bn = BN_bin2bn(bytes, sizeof bytes, nullptr);
  if (bn == nullptr) return false;
  const bool ok = BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert)) != nullptr;
  BN_free(bn);
  return ok;
}

bool addExt(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  if (ext == nullptr) return false;
  const bool ok = X509_add_ext(cert, ext, -1) == 1;
  X509_EXTENSION_free(ext);
  return ok;
}

CertPtr newCert(const std::string& cn, EVP_PKEY* key, int days) {
  CertPtr cert(X509_new());
  if (!cert) return nullptr;
  X509_set_version(cert.get(), 2);
  if (!setSerial(cert.get())) return nullptr;
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -300);  // tolerate small clock skew
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), static_cast<long>(days) * 24 * 3600);
  X509_set_pubkey(cert.get(), key);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  return cert;
}

std::string certPem(X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509(bio.get(), cert);
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(n));
}

std::string keyPem(EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(n));
}

}  // namespace

std::vector<std::string> serviceDnsNames(const std::string& service, const std::string& ns) {
  return {service, service + "." + ns, service + "." + ns + ".svc",
          service + "." + ns + ".svc.cluster.local"};
}

bool generateCerts(const CertRequest& req, GeneratedCerts& out, std::string& error) {
  if (req.service.empty() || req.namespace_.empty()) {
    error = "service and namespace must not be empty";
    return false;
  }
  KeyPtr caKey = newKey();
  KeyPtr leafKey = newKey();
  if (!caKey || !leafKey) {
    error = "key generation failed";
    return false;
  }
  CertPtr ca = newCert("kube-customs-ca", caKey.get(), req.validDays * 10);
  if (!ca) {
    error = "CA certificate creation failed";
    return false;
  }
  X509_set_issuer_name(ca.get(), X509_get_subject_name(ca.get()));
  if (!addExt(ca.get(), ca.get(), NID_basic_constraints, "critical,CA:TRUE,pathlen:0") ||
      !addExt(ca.get(), ca.get(), NID_key_usage, "critical,keyCertSign,cRLSign") ||
      !addExt(ca.get(), ca.get(), NID_subject_key_identifier, "hash") ||
      X509_sign(ca.get(), caKey.get(), EVP_sha256()) == 0) {
    error = "CA certificate signing failed";
    return false;
  }

  const std::string cn = req.clientAuth ? req.service : req.service + "." + req.namespace_ + ".svc";
  CertPtr leaf = newCert(cn, leafKey.get(), req.validDays);
  if (!leaf) {
    error = "serving certificate creation failed";
    return false;
  }
  X509_set_issuer_name(leaf.get(), X509_get_subject_name(ca.get()));
  std::string san;
  for (const auto& dns : serviceDnsNames(req.service, req.namespace_)) san += "DNS:" + dns + ",";
  for (const auto& dns : req.extraDnsNames) san += "DNS:" + dns + ",";
  for (const auto& ip : req.extraIps) san += "IP:" + ip + ",";
  san.pop_back();
  if (!addExt(leaf.get(), ca.get(), NID_basic_constraints, "critical,CA:FALSE") ||
      !addExt(leaf.get(), ca.get(), NID_key_usage, "critical,digitalSignature,keyEncipherment") ||
      !addExt(leaf.get(), ca.get(), NID_ext_key_usage,
              req.clientAuth ? "clientAuth" : "serverAuth") ||
      !addExt(leaf.get(), ca.get(), NID_subject_alt_name, san) ||
      !addExt(leaf.get(), ca.get(), NID_authority_key_identifier, "keyid:always") ||
      X509_sign(leaf.get(), caKey.get(), EVP_sha256()) == 0) {
    error = "serving certificate signing failed (names: " + san + ")";
    return false;
  }
  out.caCertPem = certPem(ca.get());
  out.caKeyPem = keyPem(caKey.get());
  out.certPem = certPem(leaf.get());
  out.keyPem = keyPem(leafKey.get());
  return true;
}

bool writeCerts(const GeneratedCerts& certs, const std::string& dir, std::string& error) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    error = "cannot create " + dir + ": " + ec.message();
    return false;
  }
  return files::writeFileAtomic(dir + "/ca.crt", certs.caCertPem, 0644, error) &&
         files::writeFileAtomic(dir + "/tls.key", certs.keyPem, 0600, error) &&
         files::writeFileAtomic(dir + "/tls.crt", certs.certPem, 0644, error);
}

std::string base64(const std::string& data) {
  std::string out(4 * ((data.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(data.data()),
                                static_cast<int>(data.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

}  // namespace kc::tls
