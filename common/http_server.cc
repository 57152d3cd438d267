#include "common/http_server.h"

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <atomic>
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>

#include "common/log.h"

namespace kc::http {

namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = net::ip::tcp;

bool parseListen(std::string_view listen, std::string& host, std::uint16_t& port) {
  std::string_view portPart;
  if (!listen.empty() && listen.front() == '[') {
    const auto close = listen.find(']');
    if (close == std::string_view::npos || close + 1 >= listen.size() || listen[close + 1] != ':')
      return false;
    host = std::string(listen.substr(1, close - 1));
    portPart = listen.substr(close + 2);
  } else {
    const auto colon = listen.rfind(':');
    if (colon == std::string_view::npos) return false;
    host = std::string(listen.substr(0, colon));
    if (host.find(':') != std::string::npos) return false;  // bare IPv6 needs brackets
    portPart = listen.substr(colon + 1);
  }
  if (portPart.empty() || portPart.size() > 5) return false;
  unsigned value = 0;
  for (char c : portPart) {
    if (c < '0' || c > '9') return false;
    value = value * 10 + static_cast<unsigned>(c - '0');
  }
  if (value > 65535) return false;
  port = static_cast<std::uint16_t>(value);
  return true;
}

namespace {

bool isJsonContentType(std::string_view ct) {
  const auto semi = ct.find(';');
  std::string_view media = ct.substr(0, semi);
  while (!media.empty() && media.back() == ' ') media.remove_suffix(1);
  if (media.size() != 16) return false;
  static constexpr std::string_view kJson = "application/json";
  for (size_t i = 0; i < media.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(media[i])) != kJson[i]) return false;
  }
  return true;
}

std::string errorBody(std::string_view message) {
  std::string out = "{\"error\":\"";
  for (char c : message) {
    if (c == '"' || c == '\\') out.push_back('\\');
    if (static_cast<unsigned char>(c) >= 0x20) out.push_back(c);
  }
  out += "\"}";
  return out;
}

}  // namespace

class Session;

struct Server::Impl : std::enable_shared_from_this<Server::Impl> {
  ServerOptions options;
  std::shared_ptr<tls::ReloadingContext> tls;
  std::vector<Route> routes;
  ServerHooks hooks;

  // Owned through pointers so that shutdown() can destroy them in order: the acceptor and timer
  // first, then the io_context, whose destruction frees handlers still queued (they hold
  // sessions, and sessions hold this object).
  std::unique_ptr<net::io_context> iocPtr = std::make_unique<net::io_context>();
  net::io_context& ioc = *iocPtr;
  std::optional<net::executor_work_guard<net::io_context::executor_type>> work;
  std::optional<tcp::acceptor> acceptorOpt{std::in_place, ioc};
  tcp::acceptor& acceptor = *acceptorOpt;
  std::optional<net::steady_timer> acceptRetryOpt{std::in_place, ioc};
  net::steady_timer& acceptRetry = *acceptRetryOpt;
  std::vector<std::thread> threads;
  std::atomic<bool> stopping{false};
  std::atomic<std::size_t> connections{0};
  std::uint16_t port = 0;
  std::size_t maxAnyBody = 0;  // the largest body cap of the server and its routes

  std::mutex sessionsMutex;
  std::unordered_map<Session*, std::weak_ptr<Session>> sessions;

  void badRequest(std::string_view reason) {
    if (hooks.onBadRequest) hooks.onBadRequest(reason);
  }
  const Route* findRoute(std::string_view method, std::string_view path, bool& pathKnown) const {
    pathKnown = false;
    for (const auto& r : routes) {
      if (r.path != path) continue;
      pathKnown = true;
      if (r.method == method) return &r;
    }
    return nullptr;
  }
  void doAccept();
  void onAccept(beast::error_code ec, tcp::socket socket);
};

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket&& socket, std::shared_ptr<ssl::context> ctx,
          std::shared_ptr<Server::Impl> server)
      : ctx_(std::move(ctx)), stream_(std::move(socket), *ctx_), server_(std::move(server)) {
    server_->connections.fetch_add(1);
  }
  ~Session() {
    {
      std::lock_guard<std::mutex> lock(server_->sessionsMutex);
      server_->sessions.erase(this);
    }
    server_->connections.fetch_sub(1);
  }

  void start() {
    {
      std::lock_guard<std::mutex> lock(server_->sessionsMutex);
      server_->sessions.emplace(this, weak_from_this());
    }
    net::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->doHandshake(); });
  }

  // Posted by shutdown(): closes the connection now if it is between requests.
  void closeIfIdle() {
    net::post(stream_.get_executor(), [self = shared_from_this()] {
      if (self->idle_) self->lowest().cancel();
    });
  }

  // Posted by shutdown() once the grace period is over: closes the connection whatever it does.
  void forceClose() {
    net::post(stream_.get_executor(), [self = shared_from_this()] { self->doClose(); });
  }

 private:
  beast::tcp_stream& lowest() { return beast::get_lowest_layer(stream_); }

  void doHandshake() {
    lowest().expires_after(server_->options.headerTimeout);
    stream_.async_handshake(ssl::stream_base::server,
                            [self = shared_from_this()](beast::error_code ec) {
                              self->onHandshake(ec);
                            });
  }

  void onHandshake(beast::error_code ec) {
    if (ec) {
      if (ec != beast::error::timeout && ec != net::error::eof &&
          ec != net::error::operation_aborted)
        server_->badRequest("tls_handshake");
      return doClose();
    }
    SSL* ssl = stream_.native_handle();
    if (X509* peer = SSL_get1_peer_certificate(ssl)) {
      if (SSL_get_verify_result(ssl) == X509_V_OK) {
        clientCertVerified_ = true;
        char cn[256] = {0};
        X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName, cn, sizeof cn);
        clientCertSubject_ = cn;
      }
      X509_free(peer);
    }
    doWaitRequest();
  }

  void doWaitRequest() {
    idle_ = true;
    if (server_->stopping.load()) return doShutdownTls();
    if (buffer_.size() > 0) return doReadHeader();
    lowest().expires_after(server_->options.idleTimeout);
    stream_.async_read_some(buffer_.prepare(8192), [self = shared_from_this()](
                                                       beast::error_code ec, std::size_t n) {
      self->buffer_.commit(n);
      if (ec) return self->doClose();  // idle timeout, peer closed, or shutdown
      self->doReadHeader();
    });
  }

  void doReadHeader() {
    idle_ = false;
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(server_->options.maxHeaderBytes));
    // The route is not known yet: allow the largest cap of any route; onHeader narrows it.
    parser_->body_limit(server_->maxAnyBody);
    lowest().expires_after(server_->options.headerTimeout);
    bhttp::async_read_header(stream_, buffer_, *parser_,
                             [self = shared_from_this()](beast::error_code ec, std::size_t) {
                               self->onHeader(ec);
                             });
  }

  void onHeader(beast::error_code ec) {
    if (ec == bhttp::error::end_of_stream || ec == net::error::eof ||
        ec == net::error::operation_aborted || ec == ssl::error::stream_truncated)
      return doClose();
    if (ec == beast::error::timeout) {
      server_->badRequest("header_timeout");
      return doClose();
    }
    if (ec == bhttp::error::header_limit)
      return fail("header_too_large", 431, "request headers exceed the size limit");
    if (ec == bhttp::error::body_limit)
      return fail("body_too_large", 413, "request body exceeds the size limit");
    if (ec) return fail("malformed_http", 400, "malformed HTTP request");

    auto& req = parser_->get();
    const std::string_view target = req.target();
    path_ = target.substr(0, target.find('?'));
    bool pathKnown = false;
    route_ = server_->findRoute(req.method_string(), path_, pathKnown);
    if (route_ == nullptr) {
      if (pathKnown) return fail("method_not_allowed", 405, "method not allowed");
      return fail("not_found", 404, "no such path");
    }
    if (route_->requireJson && !isJsonContentType(req[bhttp::field::content_type]))
      return fail("unsupported_media_type", 415, "Content-Type must be application/json");
    const std::size_t limit =
        route_->maxBodyBytes != 0 ? route_->maxBodyBytes : server_->options.maxBodyBytes;
    if (parser_->content_length() && *parser_->content_length() > limit)
      return fail("body_too_large", 413,
                  "request body exceeds the limit of " + std::to_string(limit) + " bytes");
    parser_->body_limit(limit);
    if (parser_->is_done()) return handle();
    lowest().expires_after(server_->options.headerTimeout);
    bhttp::async_read(stream_, buffer_, *parser_,
                      [self = shared_from_this()](beast::error_code ec, std::size_t) {
                        self->onBody(ec);
                      });
  }

  void onBody(beast::error_code ec) {
    if (ec == bhttp::error::body_limit)
      return fail("body_too_large", 413, "request body exceeds the size limit");
    if (ec == beast::error::timeout) {
      server_->badRequest("body_timeout");
      return doClose();
    }
    if (ec == bhttp::error::end_of_stream || ec == net::error::eof ||
        ec == net::error::operation_aborted || ec == ssl::error::stream_truncated) {
      server_->badRequest("body_incomplete");
      return doClose();
    }
    if (ec) return fail("malformed_http", 400, "malformed HTTP request body");
    handle();
  }

  void handle() {
    auto& req = parser_->get();
    Request r;
    r.method = req.method_string();
    r.target = req.target();
    r.path = path_;
    r.contentType = req[bhttp::field::content_type];
    r.authorization = req[bhttp::field::authorization];
    r.body = req.body();
    r.clientCertVerified = clientCertVerified_;
    r.clientCertSubject = clientCertSubject_;
    Response out;
    try {
      route_->handler(r, out);
    } catch (const std::exception& e) {
      log::error("request handler failed", {{log::field::kPath, std::string(path_)},
                                            {log::field::kError, e.what()}});
      server_->badRequest("internal_error");
      out = Response{};
      out.status = 500;
      out.body = errorBody("internal error");
    }
    const bool keepAlive = req.keep_alive() && !server_->stopping.load();
    write(out.status, std::move(out.contentType), std::move(out.body), out.headers, keepAlive);
  }

  void fail(std::string_view reason, unsigned status, const std::string& message) {
    server_->badRequest(reason);
    write(status, "application/json", errorBody(message), {}, false);
  }

  void write(unsigned status, std::string contentType, std::string body,
             const std::vector<std::pair<std::string, std::string>>& headers, bool keepAlive) {
    const unsigned version = parser_ ? parser_->get().version() : 11;
    res_ = {};
    res_.version(version == 10 ? 10 : 11);
    res_.result(status);
    res_.set(bhttp::field::server, "kube-customs");
    res_.set(bhttp::field::content_type, contentType);
    for (const auto& [k, v] : headers) res_.set(k, v);
    res_.body() = std::move(body);
    res_.keep_alive(keepAlive);
    res_.prepare_payload();
    lowest().expires_after(server_->options.headerTimeout);
    bhttp::async_write(stream_, res_,
                       [self = shared_from_this()](beast::error_code ec, std::size_t) {
                         if (ec) return self->doClose();
                         if (!self->res_.keep_alive()) return self->doShutdownTls();
                         self->doWaitRequest();
                       });
  }

  void doShutdownTls() {
    lowest().expires_after(std::chrono::seconds(1));
    stream_.async_shutdown([self = shared_from_this()](beast::error_code) { self->doClose(); });
  }

  void doClose() {
    idle_ = false;
    beast::error_code ec;
    lowest().socket().shutdown(tcp::socket::shutdown_both, ec);
    lowest().close();
  }

  std::shared_ptr<ssl::context> ctx_;  // keeps the context this connection started with
  beast::ssl_stream<beast::tcp_stream> stream_;
  std::shared_ptr<Server::Impl> server_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  bhttp::response<bhttp::string_body> res_;
  const Route* route_ = nullptr;
  std::string_view path_;
  bool idle_ = false;
  bool clientCertVerified_ = false;
  std::string clientCertSubject_;
};

void Server::Impl::doAccept() {
  acceptor.async_accept(net::make_strand(ioc),
                        [self = shared_from_this()](beast::error_code ec, tcp::socket socket) {
                          self->onAccept(ec, std::move(socket));
                        });
}

void Server::Impl::onAccept(beast::error_code ec, tcp::socket socket) {
  if (stopping.load() || ec == net::error::operation_aborted) return;
  if (ec) {
    // Usually out of file descriptors: back off briefly instead of spinning.
    log::warn("accept failed", {{log::field::kError, ec.message()}});
    acceptRetry.expires_after(std::chrono::milliseconds(50));
    acceptRetry.async_wait([self = shared_from_this()](beast::error_code e) {
      if (!e) self->doAccept();
    });
    return;
  }
  if (connections.load() >= options.maxConnections) {
    badRequest("too_many_connections");
    beast::error_code ignored;
    socket.close(ignored);
  } else {
    socket.set_option(tcp::no_delay(true), ec);
    auto ctx = tls->current();
    std::make_shared<Session>(std::move(socket), std::move(ctx), shared_from_this())->start();
  }
  doAccept();
}

Server::Server(ServerOptions options, std::shared_ptr<tls::ReloadingContext> tls,
               std::vector<Route> routes, ServerHooks hooks)
    : impl_(std::make_shared<Impl>()) {
  impl_->options = std::move(options);
  impl_->tls = std::move(tls);
  impl_->routes = std::move(routes);
  impl_->hooks = std::move(hooks);
  impl_->maxAnyBody = impl_->options.maxBodyBytes;
  for (const auto& r : impl_->routes)
    impl_->maxAnyBody = std::max(impl_->maxAnyBody, r.maxBodyBytes);
}

Server::~Server() {
  if (!impl_->threads.empty()) shutdown(std::chrono::milliseconds(0));
}

bool Server::start(std::string& error) {
  std::string host;
  std::uint16_t port = 0;
  if (!parseListen(impl_->options.listen, host, port)) {
    error = "invalid listen address \"" + impl_->options.listen + "\"";
    return false;
  }
  if (!impl_->tls || !impl_->tls->current()) {
    error = "no TLS certificate loaded";
    return false;
  }
  beast::error_code ec;
  net::ip::address addr;
  if (host.empty()) {
    addr = net::ip::address_v4::any();
  } else if (host == "localhost") {
    addr = net::ip::address_v4::loopback();
  } else {
    addr = net::ip::make_address(host, ec);
    if (ec) {
      error = "invalid listen host \"" + host + "\"";
      return false;
    }
  }
  const tcp::endpoint ep(addr, port);
  impl_->acceptor.open(ep.protocol(), ec);
  if (!ec) impl_->acceptor.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) impl_->acceptor.bind(ep, ec);
  if (!ec) impl_->acceptor.listen(net::socket_base::max_listen_connections, ec);
  if (ec) {
    error = "cannot listen on " + impl_->options.listen + ": " + ec.message();
    return false;
  }
  impl_->port = impl_->acceptor.local_endpoint().port();
  impl_->work.emplace(net::make_work_guard(impl_->ioc));
  impl_->doAccept();
  int n = impl_->options.threads;
  if (n <= 0) n = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  for (int i = 0; i < n; ++i) impl_->threads.emplace_back([impl = impl_] { impl->ioc.run(); });
  return true;
}

std::uint16_t Server::port() const { return impl_->port; }

std::size_t Server::activeConnections() const { return impl_->connections.load(); }

bool Server::shutdown(std::chrono::milliseconds grace) {
  if (impl_->threads.empty()) return true;
  impl_->stopping.store(true);
  net::post(impl_->ioc, [impl = impl_] {
    beast::error_code ec;
    impl->acceptor.close(ec);
    impl->acceptRetry.cancel();
  });
  auto liveSessions = [this] {
    std::vector<std::shared_ptr<Session>> live;
    std::lock_guard<std::mutex> lock(impl_->sessionsMutex);
    for (auto& [ptr, weak] : impl_->sessions) {
      if (auto s = weak.lock()) live.push_back(std::move(s));
    }
    return live;
  };
  auto waitUntil = [this](std::chrono::steady_clock::time_point deadline) {
    while (impl_->connections.load() > 0 && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
  };
  for (auto& s : liveSessions()) s->closeIfIdle();
  waitUntil(std::chrono::steady_clock::now() + grace);
  const bool clean = impl_->connections.load() == 0;
  if (!clean) {
    // Past the deadline: close what is left so every session and handler is released.
    for (auto& s : liveSessions()) s->forceClose();
    waitUntil(std::chrono::steady_clock::now() + std::chrono::seconds(2));
  }
  impl_->work.reset();
  impl_->ioc.stop();
  for (auto& t : impl_->threads) t.join();
  impl_->threads.clear();
  impl_->acceptorOpt.reset();
  impl_->acceptRetryOpt.reset();
  impl_->iocPtr.reset();  // frees queued handlers, and with them the last sessions
  return clean;
}

}  // namespace kc::http
