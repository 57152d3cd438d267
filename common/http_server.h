#pragma once
// An HTTPS/1.1 server (Boost.Beast over OpenSSL) for the admission and audit webhooks, and the
// same server in plain HTTP (no TLS context) for the metrics listener.
// Routes are exact paths; handlers run synchronously on the I/O thread that read the request,
// so they must be quick (policy evaluation is). Protocol-level bad input (headers too large or
// never finished, bodies over the route's cap, wrong content type, unknown paths) is answered
// with a 4xx, reported through hooks.onBadRequest, and never affects other connections.
// Memory: every body being received or handled holds its declared length (the route's cap when
// chunked) against one budget for the whole server; a request that would exceed it is answered
// 503 with Retry-After before its body is read, and a body is freed as soon as it is answered.
// An answer holds its size of the same budget until it is written (a client that does not read
// keeps it waiting); one that finds no room is replaced by a short 503.
// Thread-safe: start() and shutdown() from one controlling thread; handlers from many.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/tls.h"

namespace kc::http {

struct Request {
  std::string_view method;
  std::string_view target;  // path and query
  std::string_view path;
  std::string_view contentType;
  std::string_view authorization;
  std::string_view body;
  bool clientCertVerified = false;     // a client certificate was presented and verified
  std::string_view clientCertSubject;  // its subject CN, when verified
  // When the request arrived: the read that brought its first bytes (for requests pipelined
  // behind another, when the server turned to it). The connection's TLS handshake and the time
  // spent in the network and the socket buffer before that read are not seen. Unset (the
  // epoch) for a request not read by the server.
  std::chrono::steady_clock::time_point received{};
};

struct Response {
  unsigned status = 200;
  std::string contentType = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

using Handler = std::function<void(const Request&, Response&)>;

struct Route {
  std::string method;  // "GET" or "POST"
  std::string path;
  Handler handler;
  std::size_t maxBodyBytes = 0;  // 0: the server's default
  bool requireJson = false;      // answer 415 unless Content-Type is application/json
  // Called once the headers are in, before any of the body is read (Request::body is empty).
  // False: the route answered in `res` (e.g. 401), and the connection closes unread. Lets a
  // route refuse an unauthenticated caller without taking its body into memory.
  std::function<bool(const Request&, Response&)> admitHeaders = nullptr;
};

struct ServerOptions {
  std::string listen = ":8443";
  int threads = 0;  // 0: one per CPU the process may use (affinity mask, cgroup quota)
  std::size_t maxBodyBytes = 3 * 1024 * 1024;
  std::size_t maxHeaderBytes = 16 * 1024;
  std::chrono::milliseconds headerTimeout{10000};  // to read headers, then the body
  std::chrono::milliseconds idleTimeout{90000};    // between requests on a kept-alive connection
  std::size_t maxConnections = 4096;
  // Bytes of request bodies held at once, all connections together (0: no budget). Must be at
  // least the largest body cap, or that body could never be taken.
  std::size_t maxInFlightBodyBytes = 0;
};

struct ServerHooks {
  // Reason is one of a fixed set (see docs/metrics.md): safe as a metric label.
  std::function<void(std::string_view reason)> onBadRequest;
  // The bytes of the body budget held, after each change (from the I/O threads).
  std::function<void(std::size_t bytes)> onBodyBytes;
};

// File descriptors the process keeps for itself besides client connections (the metrics
// listener's connections, followed and state files, certificates and policies being read,
// Alertmanager connections).
inline constexpr std::size_t kReservedFileDescriptors = 384;

// Raises the soft limit on open files to the hard one (the default soft limit, 1024, is below
// a server's connection cap) and returns the soft limit now in force.
std::size_t raiseOpenFileLimit();

// The connection cap that leaves kReservedFileDescriptors of `fileLimit` for everything else:
// `wanted` when it fits, else what does (at least 1).
std::size_t connectionsWithin(std::size_t wanted, std::size_t fileLimit);

// Splits ":8443", "0.0.0.0:8443", "127.0.0.1:0", "[::1]:8443", "localhost:9090".
// An empty host means all IPv4 interfaces. False on a malformed address.
bool parseListen(std::string_view listen, std::string& host, std::uint16_t& port);

class Server {
 public:
  // `tls` null: plain HTTP.
  Server(ServerOptions options, std::shared_ptr<tls::ReloadingContext> tls,
         std::vector<Route> routes, ServerHooks hooks);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds, listens and starts the worker threads. False and `error` when it cannot bind.
  bool start(std::string& error);
  std::uint16_t port() const;
  // I/O threads running (server.threads, or the CPUs the process may use).
  std::size_t threads() const;

  // Graceful stop: stop accepting, close idle connections, let in-flight requests finish and
  // answer with `Connection: close`, wait at most `grace`, then stop. True when every
  // connection finished in time.
  bool shutdown(std::chrono::milliseconds grace);

  std::size_t activeConnections() const;
  // Bytes of the body budget held now (declared lengths of bodies being read or handled, and
  // answers waiting to be written).
  std::size_t bodyBytesInFlight() const;

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace kc::http
