#include "common/tls.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "common/files.h"
#include "common/log.h"

namespace kc::tls {
namespace {

std::string opensslError() {
  std::string out;
  unsigned long e;
  while ((e = ERR_get_error()) != 0) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out.empty() ? "unknown OpenSSL error" : out;
}

std::time_t asn1ToTime(const ASN1_TIME* t) {
  struct tm tm {};
  if (ASN1_TIME_to_tm(t, &tm) != 1) return 0;
  return timegm(&tm);
}

}  // namespace

std::shared_ptr<boost::asio::ssl::context> makeServerContext(const TlsFiles& files,
                                                             std::string& error,
                                                             std::time_t* notAfter) {
  namespace ssl = boost::asio::ssl;
  ERR_clear_error();
  std::string certPem, keyPem;
  if (!files::readFile(files.certFile, certPem)) {
    error = "cannot read certificate file " + files::readError(files.certFile);
    return nullptr;
  }
  if (!files::readFile(files.keyFile, keyPem)) {
    error = "cannot read key file " + files::readError(files.keyFile);
    return nullptr;
  }
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
  SSL_CTX* native = ctx->native_handle();
  SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION);
  SSL_CTX_set_options(
      native, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  SSL_CTX_set_cipher_list(native,
                          "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
                          "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
                          "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305");
  SSL_CTX_set_session_cache_mode(native, SSL_SESS_CACHE_SERVER);

  BIO* certBio = BIO_new_mem_buf(certPem.data(), static_cast<int>(certPem.size()));
  X509* leaf = PEM_read_bio_X509(certBio, nullptr, nullptr, nullptr);
  BIO_free(certBio);
  if (leaf == nullptr) {
    error = "no PEM certificate in " + files.certFile + ": " + opensslError();
    return nullptr;
  }
  if (notAfter != nullptr) *notAfter = asn1ToTime(X509_get0_notAfter(leaf));
  X509_free(leaf);
  if (SSL_CTX_use_certificate_chain_file(native, files.certFile.c_str()) != 1) {
    error = "cannot use certificate chain " + files.certFile + ": " + opensslError();
    return nullptr;
  }
  BIO* keyBio = BIO_new_mem_buf(keyPem.data(), static_cast<int>(keyPem.size()));
  EVP_PKEY* key = PEM_read_bio_PrivateKey(keyBio, nullptr, nullptr, nullptr);
  BIO_free(keyBio);
  if (key == nullptr) {
    error = "no PEM private key in " + files.keyFile + ": " + opensslError();
    return nullptr;
  }
  const int used = SSL_CTX_use_PrivateKey(native, key);
  EVP_PKEY_free(key);
  if (used != 1 || SSL_CTX_check_private_key(native) != 1) {
    error = "private key " + files.keyFile + " does not match certificate " + files.certFile;
    ERR_clear_error();
    return nullptr;
  }
  if (!files.clientCAFile.empty()) {
    if (SSL_CTX_load_verify_locations(native, files.clientCAFile.c_str(), nullptr) != 1) {
      error = "cannot load client CA " + files.clientCAFile + ": " + opensslError();
      return nullptr;
    }
    STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(files.clientCAFile.c_str());
    if (names != nullptr) SSL_CTX_set_client_CA_list(native, names);
    // Ask for a certificate but do not require one: callers may also accept bearer tokens.
    // A certificate that is presented must verify, or the handshake fails.
    SSL_CTX_set_verify(native, SSL_VERIFY_PEER, nullptr);
  }
  return ctx;
}

ReloadingContext::ReloadingContext(TlsFiles files, Hooks hooks)
    : files_(std::move(files)), hooks_(std::move(hooks)) {}

std::string ReloadingContext::fingerprint() const {
  // The contents of every file as reached through symlinks (a few KiB), so a symlink swap and
  // an in-place rewrite are both seen, and a touch without change does not reload.
  std::string fp;
  for (const std::string* path : {&files_.certFile, &files_.keyFile, &files_.clientCAFile}) {
    if (path->empty()) continue;
    std::string content;
    if (!files::readFile(*path, content)) content = "<unreadable>";
    fp += content;
    fp.push_back('\0');
  }
  return fp;
}

bool ReloadingContext::load(std::string& error) {
  std::lock_guard<std::mutex> lock(mutex_);
  const std::string fp = fingerprint();
  std::time_t na = 0;
  auto ctx = makeServerContext(files_, error, &na);
  lastFingerprint_ = fp;
  if (!ctx) return false;
  current_ = std::move(ctx);
  notAfter_ = na;
  if (hooks_.onNotAfter) hooks_.onNotAfter(na);
  return true;
}

std::shared_ptr<boost::asio::ssl::context> ReloadingContext::current() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return current_;
}

std::time_t ReloadingContext::notAfter() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return notAfter_;
}

bool ReloadingContext::maybeReload() {
  std::string error;
  std::time_t na = 0;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    const std::string fp = fingerprint();
    if (fp == lastFingerprint_) return false;
    lastFingerprint_ = fp;
    auto ctx = makeServerContext(files_, error, &na);
    if (ctx) {
      current_ = std::move(ctx);
      notAfter_ = na;
    }
  }
  if (!error.empty()) {
    log::error(
        "TLS reload failed; keeping the previous certificate",
        {{log::field::kEventType, log::event::kTlsReloadFailed}, {log::field::kError, error}});
    if (hooks_.onFailure) hooks_.onFailure(error);
    return false;
  }
  log::info("TLS certificate reloaded", {{log::field::kEventType, log::event::kTlsReload},
                                         {log::field::kPath, files_.certFile},
                                         {log::field::kNotAfter, static_cast<long long>(na)}});
  if (hooks_.onReload) hooks_.onReload();
  if (hooks_.onNotAfter) hooks_.onNotAfter(na);
  return true;
}

}  // namespace kc::tls
