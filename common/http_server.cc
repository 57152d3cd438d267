#include "common/http_server.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/resource.h>

#include <atomic>
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <limits>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>

#include "common/cpus.h"
#include "common/internal_errors.h"
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

std::size_t raiseOpenFileLimit() {
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) != 0) return 1024;
  if (lim.rlim_cur < lim.rlim_max) {
    rlimit raised = lim;
    raised.rlim_cur = lim.rlim_max;
    // An unlimited hard limit is not a valid soft one for open files: take the kernel's cap.
    if (setrlimit(RLIMIT_NOFILE, &raised) != 0 && lim.rlim_max == RLIM_INFINITY) {
      raised.rlim_cur = 1u << 20;
      setrlimit(RLIMIT_NOFILE, &raised);
    }
    getrlimit(RLIMIT_NOFILE, &lim);
  }
  return lim.rlim_cur == RLIM_INFINITY ? std::numeric_limits<std::size_t>::max()
                                       : static_cast<std::size_t>(lim.rlim_cur);
}

std::size_t connectionsWithin(std::size_t wanted, std::size_t fileLimit) {
  const std::size_t room =
      fileLimit > kReservedFileDescriptors ? fileLimit - kReservedFileDescriptors : 1;
  return std::max<std::size_t>(1, std::min(wanted, room));
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

  // One io_context per worker thread, each run by exactly that thread: a connection lives on
  // one context, so its handlers never run concurrently and need no strand. `ioc` is the first
  // (it also runs the acceptor); `workers` the others. Owned through pointers so that
  // shutdown() can destroy them in order: the acceptor and timer first, then the contexts,
  // whose destruction frees handlers still queued (they hold sessions, and sessions hold this
  // object).
  std::unique_ptr<net::io_context> iocPtr = std::make_unique<net::io_context>(1);
  net::io_context& ioc = *iocPtr;
  std::vector<std::unique_ptr<net::io_context>> workers;
  std::vector<net::executor_work_guard<net::io_context::executor_type>> work;
  std::size_t nextContext = 0;  // round-robin over ioc and workers; acceptor thread only
  std::optional<tcp::acceptor> acceptorOpt{std::in_place, ioc};
  tcp::acceptor& acceptor = *acceptorOpt;
  std::optional<net::steady_timer> acceptRetryOpt{std::in_place, ioc};
  net::steady_timer& acceptRetry = *acceptRetryOpt;
  std::vector<std::thread> threads;
  std::atomic<bool> stopping{false};
  std::atomic<std::size_t> connections{0};
  std::uint16_t port = 0;
  std::size_t maxAnyBody = 0;             // the largest body cap of the server and its routes
  std::atomic<std::size_t> bodyBytes{0};  // held by bodies being received or handled

  // Takes `n` bytes of the body budget; false when that would exceed it.
  bool reserveBody(std::size_t n) {
    const std::size_t budget = options.maxInFlightBodyBytes;
    std::size_t cur = bodyBytes.load();
    do {
      if (budget != 0 && (n > budget || cur > budget - n)) return false;
    } while (!bodyBytes.compare_exchange_weak(cur, cur + n));
    if (hooks.onBodyBytes) hooks.onBodyBytes(bodyBytes.load());
    return true;
  }
  void releaseBody(std::size_t n) {
    bodyBytes.fetch_sub(n);
    if (hooks.onBodyBytes) hooks.onBodyBytes(bodyBytes.load());
  }

  std::chrono::steady_clock::time_point lastAcceptLog{};  // acceptor thread only
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

// One HTTPS connection. TLS is OpenSSL driven directly over the non-blocking socket: SSL_read
// and SSL_write move bytes between the kernel and OpenSSL's record buffers without a BIO pair
// in between, and the reactor is asked to wait only when OpenSSL wants more bytes or room to
// write. Deadlines are lazy: setting one stores a time; the connection's single timer fires at
// the earliest pending deadline and re-arms itself if the deadline has moved, so a request
// costs no timer operations in the common case.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket&& socket, std::shared_ptr<ssl::context> ctx,
          std::shared_ptr<Server::Impl> server)
      : ctx_(std::move(ctx)),
        sock_(std::move(socket)),
        timer_(sock_.get_executor()),
        server_(std::move(server)) {
    server_->connections.fetch_add(1);
    beast::error_code ec;
    sock_.non_blocking(true, ec);
    if (ctx_ == nullptr) {  // plain HTTP
      plainReady_ = !ec;
      return;
    }
    ssl_ = SSL_new(ctx_->native_handle());
    if (ssl_ != nullptr && !ec && SSL_set_fd(ssl_, sock_.native_handle()) == 1) {
      SSL_set_mode(ssl_, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
      SSL_set_accept_state(ssl_);
    } else if (ssl_ != nullptr) {
      SSL_free(ssl_);
      ssl_ = nullptr;
    }
  }
  ~Session() {
    releaseBody();
    if (ssl_ != nullptr) SSL_free(ssl_);
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
    net::dispatch(sock_.get_executor(), [self = shared_from_this()] { self->doHandshake(); });
  }

  // Posted by shutdown(): closes the connection now if it is between requests.
  void closeIfIdle() {
    net::post(sock_.get_executor(), [self = shared_from_this()] {
      if (self->idle_) {
        beast::error_code ec;
        self->sock_.cancel(ec);
      }
    });
  }

  // Posted by shutdown() once the grace period is over: closes the connection whatever it does.
  void forceClose() {
    net::post(sock_.get_executor(), [self = shared_from_this()] { self->doClose(); });
  }

 private:
  using Clock = std::chrono::steady_clock;

  // --- deadlines -------------------------------------------------------------------------------

  void setDeadline(std::chrono::milliseconds d) {
    deadline_ = Clock::now() + d;
    if (timerPending_ && timer_.expiry() <= deadline_) return;  // fires in time and re-checks
    armTimer();
  }
  void clearDeadline() { deadline_ = Clock::time_point::max(); }

  void armTimer() {
    timerPending_ = true;
    const unsigned gen = ++timerGen_;
    timer_.expires_at(deadline_);  // cancels a pending wait, whose handler sees an old generation
    timer_.async_wait([self = shared_from_this(), gen](beast::error_code) {
      if (gen != self->timerGen_) return;
      self->timerPending_ = false;
      if (self->closed_ || self->deadline_ == Clock::time_point::max()) return;
      if (Clock::now() < self->deadline_) return self->armTimer();
      self->timedOut_ = true;
      beast::error_code ec;
      self->sock_.cancel(ec);  // the pending wait completes with operation_aborted
    });
  }

  // --- TLS over the socket ---------------------------------------------------------------------

  // Waits for the socket to become readable or writable as OpenSSL asked, then calls `retry`.
  // A wait ended by the deadline or by shutdown reports `timeout` or `operation_aborted`.
  template <typename Retry, typename Fail>
  void waitFor(int sslError, Retry retry, Fail failed) {
    const auto what =
        sslError == SSL_ERROR_WANT_WRITE ? tcp::socket::wait_write : tcp::socket::wait_read;
    sock_.async_wait(what, [self = shared_from_this(), retry = std::move(retry),
                            failed = std::move(failed)](beast::error_code ec) mutable {
      if (self->timedOut_) return failed(beast::error::timeout);
      if (ec) return failed(ec);
      retry();
    });
  }

  // Maps a failed SSL call to an error code; clean and unclean closes by the peer are eof.
  beast::error_code sslFailure(int sslError) {
    ERR_clear_error();
    if (sslError == SSL_ERROR_ZERO_RETURN) return net::error::eof;
    if (sslError == SSL_ERROR_SYSCALL) return net::error::eof;
    return ssl::error::stream_truncated;
  }

  void doHandshake() {
    if (ctx_ == nullptr) return plainReady_ ? doFirstPlainRead() : doClose();
    if (ssl_ == nullptr) return doClose();
    setDeadline(server_->options.headerTimeout);
    continueHandshake();
  }

  void continueHandshake() {
    ERR_clear_error();
    const int r = SSL_do_handshake(ssl_);
    if (r == 1) {
      clearDeadline();
      return onHandshake({});
    }
    const int err = SSL_get_error(ssl_, r);
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE)
      return waitFor(
          err, [this] { continueHandshake(); }, [this](beast::error_code ec) { onHandshake(ec); });
    // A client that connects and goes away is eof, not a bad handshake.
    onHandshake(sslFailure(err));
  }

  void onHandshake(beast::error_code ec) {
    if (ec) {
      // A silent connection or a ClientHello that never finishes holds a connection slot
      // until headerTimeout: counted, so a slow-loris at the TLS layer shows.
      if (ec == beast::error::timeout)
        server_->badRequest("handshake_timeout");
      else if (ec != net::error::eof && ec != net::error::operation_aborted)
        server_->badRequest("tls_handshake");
      return doClose();
    }
    if (X509* peer = SSL_get1_peer_certificate(ssl_)) {
      if (SSL_get_verify_result(ssl_) == X509_V_OK) {
        clientCertVerified_ = true;
        char cn[256] = {0};
        X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName, cn, sizeof cn);
        clientCertSubject_ = cn;
      }
      X509_free(peer);
    }
    doWaitRequest();
  }

  // Reads what is available into buffer_, waiting when there is nothing yet, then calls done(ec).
  template <typename Done>
  void readSome(Done done) {
    if (ssl_ == nullptr) return readSomePlain(std::move(done));
    ERR_clear_error();
    auto space = buffer_.prepare(kReadSize);
    std::size_t n = 0;
    const int r = SSL_read_ex(ssl_, space.data(), space.size(), &n);
    if (r == 1) {
      buffer_.commit(n);
      return done(beast::error_code{});
    }
    const int err = SSL_get_error(ssl_, r);
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE)
      return waitFor(
          err, [this, done]() mutable { readSome(std::move(done)); },
          [done](beast::error_code ec) mutable { done(ec); });
    done(sslFailure(err));
  }

  // Writes all of out_, waiting for room when the socket is full, then calls done(ec).
  template <typename Done>
  void writeAll(Done done) {
    if (ssl_ == nullptr) return writeAllPlain(std::move(done));
    while (written_ < out_.size()) {
      ERR_clear_error();
      std::size_t n = 0;
      const int r = SSL_write_ex(ssl_, out_.data() + written_, out_.size() - written_, &n);
      if (r == 1) {
        written_ += n;
        continue;
      }
      const int err = SSL_get_error(ssl_, r);
      if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
        // Only a client that stops reading gets here: give it headerTimeout to make room.
        setDeadline(server_->options.headerTimeout);
        return waitFor(
            err, [this, done]() mutable { writeAll(std::move(done)); },
            [done](beast::error_code ec) mutable { done(ec); });
      }
      return done(sslFailure(err));
    }
    done(beast::error_code{});
  }

  // --- plain HTTP over the socket (the metrics listener)
  // ------------------------------------------

  // A new plain connection must start its request within headerTimeout (not the idle timeout
  // of a kept-alive one), as a TLS client must finish its handshake.
  void doFirstPlainRead() {
    idle_ = true;
    setDeadline(server_->options.headerTimeout);
    readSome([self = shared_from_this()](beast::error_code ec) {
      if (ec == beast::error::timeout) self->server_->badRequest("header_timeout");
      if (ec) return self->doClose();
      self->startRequest();
    });
  }

  template <typename Done>
  void readSomePlain(Done done) {
    auto space = buffer_.prepare(kReadSize);
    beast::error_code ec;
    const std::size_t n = sock_.read_some(space, ec);
    if (!ec) {
      buffer_.commit(n);
      return done(beast::error_code{});
    }
    if (ec == net::error::would_block || ec == net::error::try_again)
      return waitFor(
          SSL_ERROR_WANT_READ, [this, done]() mutable { readSomePlain(std::move(done)); },
          [done](beast::error_code e) mutable { done(e); });
    done(ec);
  }

  template <typename Done>
  void writeAllPlain(Done done) {
    while (written_ < out_.size()) {
      beast::error_code ec;
      written_ += sock_.write_some(net::buffer(out_.data() + written_, out_.size() - written_), ec);
      if (!ec) continue;
      if (ec == net::error::would_block || ec == net::error::try_again) {
        setDeadline(server_->options.headerTimeout);
        return waitFor(
            SSL_ERROR_WANT_WRITE, [this, done]() mutable { writeAllPlain(std::move(done)); },
            [done](beast::error_code e) mutable { done(e); });
      }
      return done(ec);
    }
    done(beast::error_code{});
  }

  // The request loop drives Beast's parser by hand over the connection's buffer: a request
  // that arrived whole (the usual case: one TLS record) is parsed and answered without another
  // read, timer or composed operation. Reads happen only when the parser needs more bytes.
  void doWaitRequest() {
    idle_ = true;
    if (server_->stopping.load()) return doShutdownTls();
    if (buffer_.size() > 0) return startRequest();
    if (buffer_.capacity() > kKeptBufferBytes) buffer_.shrink_to_fit();
    setDeadline(server_->options.idleTimeout);
    readSome([self = shared_from_this()](beast::error_code ec) {
      if (ec) return self->doClose();  // idle timeout, peer closed, or shutdown
      self->startRequest();
    });
  }

  void startRequest() {
    releaseBody();
    received_ = Clock::now();  // its first bytes are in (Request::received)
    idle_ = false;
    headerDone_ = false;
    timerArmed_ = false;
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(server_->options.maxHeaderBytes));
    // The route is not known yet: allow the largest cap of any route; onHeader narrows it.
    parser_->body_limit(server_->maxAnyBody);
    parseBuffered();
  }

  void parseBuffered() {
    for (;;) {
      if (buffer_.size() == 0) return readMore();
      beast::error_code ec;
      const std::size_t used = parser_->put(buffer_.data(), ec);
      buffer_.consume(used);
      if (ec == bhttp::error::need_more) return readMore();
      if (ec == bhttp::error::header_limit)
        return fail("header_too_large", 431, "request headers exceed the size limit");
      if (ec == bhttp::error::body_limit)
        return fail("body_too_large", 413, "request body exceeds the size limit");
      if (ec)
        return fail("malformed_http", 400,
                    headerDone_ ? "malformed HTTP request body" : "malformed HTTP request");
      if (!headerDone_ && parser_->is_header_done()) {
        headerDone_ = true;
        if (!onHeader()) return;
        timerArmed_ = false;  // the body gets its own headerTimeout, as the headers did
      }
      if (parser_->is_done()) return handle();
      if (used == 0) return readMore();
    }
  }

  void readMore() {
    if (!timerArmed_) {
      setDeadline(server_->options.headerTimeout);
      timerArmed_ = true;
    }
    readSome([self = shared_from_this()](beast::error_code ec) {
      if (!ec) return self->parseBuffered();
      self->onReadError(ec);
    });
  }

  void onReadError(beast::error_code ec) {
    if (ec == beast::error::timeout) {
      server_->badRequest(headerDone_ ? "body_timeout" : "header_timeout");
      return doClose();
    }
    const bool cutShort = ec == net::error::eof || ec == net::error::operation_aborted ||
                          ec == ssl::error::stream_truncated || ec == net::error::connection_reset;
    if (headerDone_ && cutShort) server_->badRequest("body_incomplete");
    doClose();
  }

  // Route, content type and body cap, once the headers are in. False when it answered an error.
  bool onHeader() {
    auto& req = parser_->get();
    const std::string_view target = req.target();
    path_ = target.substr(0, target.find('?'));
    bool pathKnown = false;
    route_ = server_->findRoute(req.method_string(), path_, pathKnown);
    if (route_ == nullptr) {
      if (pathKnown)
        fail("method_not_allowed", 405, "method not allowed");
      else
        fail("not_found", 404, "no such path");
      return false;
    }
    if (route_->requireJson && !isJsonContentType(req[bhttp::field::content_type])) {
      fail("unsupported_media_type", 415, "Content-Type must be application/json");
      return false;
    }
    const std::size_t limit =
        route_->maxBodyBytes != 0 ? route_->maxBodyBytes : server_->options.maxBodyBytes;
    const auto declared = parser_->content_length();
    if (declared && *declared > limit) {
      fail("body_too_large", 413,
           "request body exceeds the limit of " + std::to_string(limit) + " bytes");
      return false;
    }
    if (route_->admitHeaders) {
      Request r = requestView();
      Response out;
      if (!route_->admitHeaders(r, out)) {
        write(out.status, out.contentType, out.body, out.headers, false);
        return false;
      }
    }
    // A chunked body may grow to the cap, so it holds the cap.
    const std::size_t want = declared ? static_cast<std::size_t>(*declared) : limit;
    if (!server_->reserveBody(want)) {
      server_->badRequest("body_budget");
      write(503, "application/json",
            errorBody("request bodies in flight exceed the server's memory budget; retry"),
            {{"Retry-After", "1"}}, false);
      return false;
    }
    reserved_ = want;
    parser_->body_limit(limit);
    return true;
  }

  // The request's fields; the body only once it is complete.
  Request requestView() {
    auto& req = parser_->get();
    Request r;
    r.method = req.method_string();
    r.target = req.target();
    r.path = path_;
    r.contentType = req[bhttp::field::content_type];
    r.authorization = req[bhttp::field::authorization];
    r.clientCertVerified = clientCertVerified_;
    r.clientCertSubject = clientCertSubject_;
    r.received = received_;
    return r;
  }

  void releaseBody() {
    if (reserved_ == 0) return;
    server_->releaseBody(reserved_);
    reserved_ = 0;
  }

  void handle() {
    auto& req = parser_->get();
    Request r = requestView();
    r.body = req.body();
    Response out;
    try {
      route_->handler(r, out);
    } catch (const std::exception& e) {
      log::error("request handler failed",
                 {{log::field::kPath, std::string(path_)}, {log::field::kError, e.what()}});
      server_->badRequest("internal_error");
      out = Response{};
      out.status = 500;
      out.body = errorBody("internal error");
    }
    const bool keepAlive = req.keep_alive() && !server_->stopping.load();
    write(out.status, out.contentType, out.body, out.headers, keepAlive);
  }

  void fail(std::string_view reason, unsigned status, const std::string& message) {
    server_->badRequest(reason);
    write(status, "application/json", errorBody(message), {}, false);
  }

  // Serializes the response into one buffer (one TLS record for small answers) and sends it.
  void write(unsigned status, std::string_view contentType, std::string_view body,
             const std::vector<std::pair<std::string, std::string>>& headers, bool keepAlive) {
    const unsigned version = parser_ && headerDone_ ? parser_->get().version() : 11;
    keepAlive_ = keepAlive;
    std::string& w = out_;
    w.clear();
    w.reserve(160 + body.size());
    w += version == 10 ? "HTTP/1.0 " : "HTTP/1.1 ";
    w += std::to_string(status);
    w += ' ';
    w += bhttp::obsolete_reason(bhttp::int_to_status(status));
    w += "\r\nServer: kube-customs\r\nContent-Type: ";
    appendHeaderValue(w, contentType);
    w += "\r\n";
    for (const auto& [k, v] : headers) {
      appendHeaderValue(w, k);
      w += ": ";
      appendHeaderValue(w, v);
      w += "\r\n";
    }
    w += "Content-Length: ";
    w += std::to_string(body.size());
    if (version == 10 && keepAlive) w += "\r\nConnection: keep-alive";
    if (version != 10 && !keepAlive) w += "\r\nConnection: close";
    w += "\r\n\r\n";
    w += body;
    // The request is answered: free its body now, not when the connection's next request
    // comes (a kept-alive connection may idle for minutes).
    parser_.reset();
    chargeAnswer(body.size());
    clearDeadline();
    written_ = 0;
    writeAll([self = shared_from_this()](beast::error_code ec) {
      // The answer is sent (or will never be): its share of the budget and its buffer go.
      self->releaseBody();
      if (self->out_.capacity() > kKeptBufferBytes) std::string().swap(self->out_);
      if (ec) return self->doClose();
      if (!self->keepAlive_) return self->doShutdownTls();
      self->doWaitRequest();
    });
  }

  // An answer waiting for a client to read it holds memory as a body does, so it holds the size
  // of its body (its headers are a few hundred bytes) of the same budget until it is written:
  // the request's share becomes the answer's.
  // A client that never reads cannot make the server hold more than the budget. When the
  // budget has no room, the answer is replaced by a short 503 (not charged) and the
  // connection closes after it.
  void chargeAnswer(std::size_t need) {
    // Short answers (errors, small reviews' answers) of a request that held nothing are not
    // charged: at most maxConnections of them, and refusing them would only say the same.
    if (reserved_ == 0 && need <= kUnchargedAnswerBytes) return;
    if (need <= reserved_) {
      server_->releaseBody(reserved_ - need);
      reserved_ = need;
      return;
    }
    if (server_->reserveBody(need - reserved_)) {
      reserved_ = need;
      return;
    }
    releaseBody();
    server_->badRequest("response_budget");
    const std::string body =
        errorBody("answers waiting to be read exceed the server's memory budget; retry");
    out_ =
        "HTTP/1.1 503 Service Unavailable\r\nServer: kube-customs\r\n"
        "Content-Type: application/json\r\nRetry-After: 1\r\nContent-Length: " +
        std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
    keepAlive_ = false;
  }

  // Header names and values are the server's own; CR, LF and NUL are dropped all the same.
  static void appendHeaderValue(std::string& out, std::string_view v) {
    for (char c : v) {
      if (c != '\r' && c != '\n' && c != '\0') out.push_back(c);
    }
  }

  // Sends close_notify (waiting at most a second for room to send it), then closes. The
  // client's close_notify is not awaited: nothing more is read from a connection being closed.
  void doShutdownTls() {
    if (ssl_ == nullptr) return doClose();
    setDeadline(std::chrono::seconds(1));
    continueShutdown();
  }

  void continueShutdown() {
    if (closed_) return;
    ERR_clear_error();
    const int r = SSL_shutdown(ssl_);
    if (r >= 0) return doClose();
    const int err = SSL_get_error(ssl_, r);
    if (err == SSL_ERROR_WANT_WRITE)
      return waitFor(
          err, [this] { continueShutdown(); }, [this](beast::error_code) { doClose(); });
    ERR_clear_error();
    doClose();
  }

  void doClose() {
    idle_ = false;
    if (closed_) return;
    closed_ = true;
    releaseBody();
    clearDeadline();
    ++timerGen_;
    timer_.cancel();
    beast::error_code ec;
    sock_.shutdown(tcp::socket::shutdown_both, ec);
    sock_.close(ec);
  }

  std::shared_ptr<ssl::context> ctx_;  // keeps the context this connection started with
  Clock::time_point received_;         // when the current request arrived (Request::received)
  tcp::socket sock_;
  SSL* ssl_ = nullptr;
  net::steady_timer timer_;
  Clock::time_point deadline_ = Clock::time_point::max();
  unsigned timerGen_ = 0;
  bool timerPending_ = false;
  bool timedOut_ = false;
  bool closed_ = false;
  std::size_t written_ = 0;   // bytes of out_ already handed to SSL_write
  std::size_t reserved_ = 0;  // this request's share of the server's body budget
  std::shared_ptr<Server::Impl> server_;
  static constexpr std::size_t kReadSize = 16 * 1024;
  // Buffers grown past this by one large request are freed once it is done with.
  static constexpr std::size_t kKeptBufferBytes = 64 * 1024;
  static constexpr std::size_t kUnchargedAnswerBytes = 1024;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  std::string out_;  // the serialized response being written
  const Route* route_ = nullptr;
  std::string_view path_;
  bool idle_ = false;
  bool headerDone_ = false;  // the current request's headers are parsed
  bool timerArmed_ = false;  // the read deadline of the current phase is set
  bool keepAlive_ = true;
  bool clientCertVerified_ = false;
  std::string clientCertSubject_;
  bool plainReady_ = false;  // plain HTTP: the socket is set up
};

void Server::Impl::doAccept() {
  net::io_context& target = nextContext == 0 ? ioc : *workers[nextContext - 1];
  nextContext = (nextContext + 1) % (workers.size() + 1);
  acceptor.async_accept(target.get_executor(),
                        [self = shared_from_this()](beast::error_code ec, tcp::socket socket) {
                          self->onAccept(ec, std::move(socket));
                        });
}

void Server::Impl::onAccept(beast::error_code ec, tcp::socket socket) {
  if (stopping.load() || ec == net::error::operation_aborted) return;
  if (ec) {
    // Usually out of file descriptors: counted as a connection refused for lack of room, logged
    // at most every 10 s, and retried after a short back-off instead of spinning.
    badRequest("too_many_connections");
    const auto now = std::chrono::steady_clock::now();
    if (now - lastAcceptLog >= std::chrono::seconds(10)) {
      lastAcceptLog = now;
      log::warn("accept failed", {{log::field::kError, ec.message()}});
    }
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
    auto ctx = tls ? tls->current() : nullptr;
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
  if (impl_->tls && !impl_->tls->current()) {
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
  int n = impl_->options.threads;
  if (n <= 0) n = static_cast<int>(std::min<std::size_t>(cpus::usable(), 256));
  impl_->work.push_back(net::make_work_guard(impl_->ioc));
  for (int i = 1; i < n; ++i) {
    impl_->workers.push_back(std::make_unique<net::io_context>(1));
    impl_->work.push_back(net::make_work_guard(*impl_->workers.back()));
  }
  impl_->doAccept();
  // The failure boundary of an I/O thread: an exception that escapes a completion handler
  // costs that connection (its handler and session are gone), is logged and counted, and the
  // thread goes on running its context.
  auto run = [](net::io_context& ctx) {
    while (!internal::guarded(internal::Component::kHttp, "I/O thread", [&] { ctx.run(); })) {
    }
  };
  impl_->threads.emplace_back([impl = impl_, run] { run(impl->ioc); });
  for (auto& w : impl_->workers)
    impl_->threads.emplace_back([impl = impl_, ctx = w.get(), run] { run(*ctx); });
  return true;
}

std::uint16_t Server::port() const { return impl_->port; }

std::size_t Server::threads() const { return impl_->threads.size(); }

std::size_t Server::activeConnections() const { return impl_->connections.load(); }

std::size_t Server::bodyBytesInFlight() const { return impl_->bodyBytes.load(); }

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
  impl_->work.clear();
  impl_->ioc.stop();
  for (auto& w : impl_->workers) w->stop();
  for (auto& t : impl_->threads) t.join();
  impl_->threads.clear();
  impl_->acceptorOpt.reset();
  impl_->acceptRetryOpt.reset();
  // The acceptor's context first: a pending accept holds a socket made for a worker's context.
  // Destroying a context frees its queued handlers, and with them the last sessions.
  impl_->iocPtr.reset();
  impl_->workers.clear();
  return clean;
}

}  // namespace kc::http
