#pragma once
// Server TLS contexts built from a certificate and key on disk, reloaded when the files change
// (a Kubernetes Secret mount changes by symlink swap). New connections take the newest context;
// connections already open keep the one they started with, so a reload drops nothing.
// Thread-safe: current() and maybeReload() may be called from any thread.

#include <boost/asio/ssl/context.hpp>
#include <ctime>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

namespace kc::tls {

struct TlsFiles {
  std::string certFile;
  std::string keyFile;
  std::string clientCAFile;  // optional: verify client certificates against this CA
};

// Builds a server context: TLS 1.2 minimum, forward-secret AEAD ciphers for TLS 1.2, no
// compression or renegotiation. Returns nullptr and sets `error` on failure (unreadable
// files, a key that does not match the certificate, an invalid CA).
std::shared_ptr<boost::asio::ssl::context> makeServerContext(const TlsFiles& files,
                                                             std::string& error,
                                                             std::time_t* notAfter = nullptr);

class ReloadingContext {
 public:
  struct Hooks {
    std::function<void()> onReload;
    std::function<void(const std::string&)> onFailure;
    std::function<void(std::time_t)> onNotAfter;
  };

  ReloadingContext(TlsFiles files, Hooks hooks);

  // Loads the files; false (and `error`) when they are unusable.
  bool load(std::string& error);

  // The context new connections should use. Never null after a successful load().
  std::shared_ptr<boost::asio::ssl::context> current() const;

  // Reloads if the files' identity or contents changed since the last attempt. Returns true
  // when a new context was installed. A failed reload keeps the previous context and is not
  // retried until the files change again.
  bool maybeReload();

  std::time_t notAfter() const;

 private:
  std::string fingerprint() const;

  const TlsFiles files_;
  const Hooks hooks_;
  mutable std::mutex mutex_;
  std::shared_ptr<boost::asio::ssl::context> current_;
  std::string lastFingerprint_;
  std::time_t notAfter_ = 0;
};

}  // namespace kc::tls
