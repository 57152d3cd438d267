#include "common/http_server.h"

#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <filesystem>
#include <stdexcept>
#include <thread>

#include "common/certgen.h"
#include "common/internal_errors.h"
#include "common/metrics.h"
#include "common/tls.h"
#include "test/test_util.h"

namespace {

using kc::testing::TempDir;
using kc::testing::TlsClient;
using namespace std::chrono_literals;

// Lays out certificates the way a Kubernetes Secret volume does: files are symlinks through
// `..data`, which points at a timestamped directory and is swapped atomically on update.
class SecretDir {
 public:
  // Pre-generates every version the test will install, so the client's trust bundle holds all
  // their CAs from the start.
  explicit SecretDir(const std::string& root, int versions = 3) : root_(root) {
    std::string bundle;
    for (int i = 0; i < versions; ++i) {
      kc::tls::CertRequest req;
      req.extraDnsNames = {"localhost"};
      req.extraIps = {"127.0.0.1"};
      kc::tls::GeneratedCerts certs;
      std::string error;
      REQUIRE(kc::tls::generateCerts(req, certs, error));
      bundle += certs.caCertPem;
      versions_.push_back(std::move(certs));
    }
    kc::testing::writeFile(trust(), bundle);
    swap();
  }

  void swap() {
    REQUIRE(generation_ < static_cast<int>(versions_.size()));
    const auto& certs = versions_[generation_++];
    const std::string version = "..v" + std::to_string(generation_);
    std::filesystem::create_directories(root_ + "/" + version);
    kc::testing::writeFile(root_ + "/" + version + "/tls.crt", certs.certPem);
    kc::testing::writeFile(root_ + "/" + version + "/tls.key", certs.keyPem);
    const std::string tmp = root_ + "/..data_tmp";
    std::filesystem::remove(tmp);
    std::filesystem::create_directory_symlink(version, tmp);
    std::filesystem::rename(tmp, root_ + "/..data");  // atomic, like the kubelet's writer
    if (generation_ == 1) {
      std::filesystem::create_symlink("..data/tls.crt", cert());
      std::filesystem::create_symlink("..data/tls.key", key());
    }
  }
  std::string cert() const { return root_ + "/tls.crt"; }
  std::string key() const { return root_ + "/tls.key"; }
  std::string trust() const { return root_ + "/trust.pem"; }

 private:
  std::string root_;
  std::vector<kc::tls::GeneratedCerts> versions_;
  int generation_ = 0;
};

struct Fixture {
  TempDir dir;
  SecretDir secret{dir.path()};
  std::shared_ptr<prometheus::Registry> registry = std::make_shared<prometheus::Registry>();
  kc::metrics::ServerMetrics metrics{*registry};
  std::shared_ptr<kc::tls::ReloadingContext> tls;
  std::unique_ptr<kc::http::Server> server;
  std::atomic<bool> slowEntered{false};

  std::atomic<int> authHandled{0};
  // What the /arrival route saw of its last request: Request::received and its own start.
  std::atomic<std::int64_t> arrivalReceived{0}, arrivalHandled{0};

  explicit Fixture(std::chrono::milliseconds idleTimeout = 5s, std::size_t bodyBudget = 0,
                   std::chrono::milliseconds headerTimeout = 1s) {
    tls = std::make_shared<kc::tls::ReloadingContext>(
        kc::tls::TlsFiles{secret.cert(), secret.key(), ""},
        kc::tls::ReloadingContext::Hooks{[this] { metrics.tlsReloaded(); },
                                         [this](const std::string&) { metrics.tlsReloadFailed(); },
                                         nullptr});
    std::string error;
    REQUIRE(tls->load(error));
    std::vector<kc::http::Route> routes;
    routes.push_back({"POST", "/echo",
                      [](const kc::http::Request& req, kc::http::Response& res) {
                        res.body = std::string(req.body);
                      },
                      1024, true});
    routes.push_back({"POST", "/slow",
                      [this](const kc::http::Request&, kc::http::Response& res) {
                        slowEntered = true;
                        std::this_thread::sleep_for(400ms);
                        res.body = "{\"slow\":true}";
                      },
                      0, false});
    routes.push_back({"POST", "/arrival",
                      [this](const kc::http::Request& req, kc::http::Response& res) {
                        arrivalHandled =
                            std::chrono::steady_clock::now().time_since_epoch().count();
                        arrivalReceived = req.received.time_since_epoch().count();
                        res.body = std::string(req.target);
                      },
                      1024, false});
    routes.push_back({"GET", "/ping", [](const kc::http::Request&, kc::http::Response& res) {
                        res.body = "pong";
                      }});
    // An answer of 8 MiB, far more than the kernel's socket buffers take from a client that
    // does not read.
    routes.push_back({"GET", "/big", [](const kc::http::Request&, kc::http::Response& res) {
                        res.body.assign(8u << 20, 'b');
                      }});
    // Refuses, from the headers alone, anyone without the token.
    routes.push_back({"POST", "/auth",
                      [this](const kc::http::Request& req, kc::http::Response& res) {
                        ++authHandled;
                        res.body = std::string(req.body);
                      },
                      1 << 20, true,
                      [](const kc::http::Request& req, kc::http::Response& res) {
                        if (req.authorization == "Bearer ok" && req.body.empty()) return true;
                        res.status = 401;
                        res.body = "{\"error\":\"token required\"}";
                        return false;
                      }});
    // Throws before its body is read, outside any handler's own catch: the I/O thread's
    // failure boundary catches it.
    routes.push_back({"POST", "/throws", [](const kc::http::Request&, kc::http::Response&) {}, 1024,
                      false,
                      [](const kc::http::Request&, kc::http::Response&) -> bool {
                        throw std::runtime_error("admitHeaders failed");
                      }});
    kc::http::ServerOptions opts;
    opts.listen = "127.0.0.1:0";
    opts.threads = 2;
    opts.headerTimeout = headerTimeout;  // 1 s: long enough for a handshake on a loaded machine
    opts.idleTimeout = idleTimeout;
    opts.maxHeaderBytes = 2048;
    opts.maxInFlightBodyBytes = bodyBudget;
    server = std::make_unique<kc::http::Server>(
        opts, tls, std::move(routes),
        kc::http::ServerHooks{[this](std::string_view r) { metrics.badRequest(r); },
                              [this](std::size_t bytes) { metrics.bodyBytesInFlight(bytes); }});
    REQUIRE(server->start(error));
  }
  ~Fixture() { server->shutdown(1s); }
  TlsClient client() { return TlsClient(secret.trust(), server->port()); }
};

// Waits (at most `limit`) until `done()` holds and returns it. The server counts a closed
// connection after the client has seen the close, so counts are awaited, not read at once.
template <typename Pred>
bool waitUntil(Pred done, std::chrono::milliseconds step = 1ms, std::chrono::seconds limit = 10s) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done() && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(step);
  return done();
}

TEST_CASE("ServesJsonRouteOverTlsWithKeepAlive", "[http]") {
  Fixture f;
  auto c = f.client();
  for (int i = 0; i < 3; ++i) {
    auto r = c.request("POST", "/echo", "{\"n\":1}");
    REQUIRE(r.error.empty());
    CHECK(r.status == 200);
    CHECK(r.body == "{\"n\":1}");
    CHECK(c.connected());  // kept alive
  }
}

// A request's arrival is the read that brought its first bytes: after the client started
// sending and before the handler runs, also for a body that comes later and for the next request
// of a kept-alive connection.
TEST_CASE("ARequestCarriesTheTimeItArrived", "[http]") {
  Fixture f;
  auto now = [] { return std::chrono::steady_clock::now().time_since_epoch().count(); };
  auto c = f.client();
  const std::string body = "{\"n\":1}";
  const auto beforeSlow = now();
  const std::string raw =
      c.rawPieces({"POST /arrival?timeout=5s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
                   "Content-Length: " +
                       std::to_string(body.size()) + "\r\n\r\n",
                   body},
                  200ms, 5s);
  REQUIRE(raw.find("HTTP/1.1 200") == 0);
  CHECK(raw.find("/arrival?timeout=5s") != std::string::npos);
  CHECK(f.arrivalReceived.load() >= beforeSlow);
  CHECK(f.arrivalReceived.load() <= f.arrivalHandled.load());
  for (int i = 0; i < 2; ++i) {
    const auto before = now();
    const auto r = c.request("POST", "/arrival", body);
    REQUIRE(r.status == 200);
    CHECK(f.arrivalReceived.load() >= before);
    CHECK(f.arrivalReceived.load() <= f.arrivalHandled.load());
  }
}

TEST_CASE("AcceptsJsonContentTypeWithParameters", "[http]") {
  Fixture f;
  auto c = f.client();
  auto r = c.request("POST", "/echo", "{}", "Application/JSON; charset=utf-8");
  CHECK(r.status == 200);
}

TEST_CASE("RejectsOversizedBodyWith413AndCountsIt", "[http]") {
  Fixture f;
  auto c = f.client();
  auto r = c.request("POST", "/echo", std::string(2000, 'x'));
  CHECK(r.status == 413);
  CHECK(f.metrics.badRequestCount("body_too_large") == 1);
  auto again = f.client().request("POST", "/echo", "{}");
  CHECK(again.status == 200);
}

TEST_CASE("RejectsChunkedBodyOverTheCapWith413", "[http]") {
  Fixture f;
  std::string chunk(1500, 'y');
  char size[16];
  std::snprintf(size, sizeof size, "%zx", chunk.size());
  const std::string raw =
      "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
      "Transfer-Encoding: chunked\r\n\r\n" +
      std::string(size) + "\r\n" + chunk + "\r\n0\r\n\r\n";
  const std::string got = f.client().raw(raw, 2s);
  CHECK(got.rfind("HTTP/1.1 413", 0) == 0);
  CHECK(f.metrics.badRequestCount("body_too_large") == 1);
}

TEST_CASE("AnswersPipelinedRequestsInOrderFromOneWrite", "[http]") {
  Fixture f;
  auto req = [](const std::string& body, bool close) {
    return "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" +
           std::string(close ? "Connection: close\r\n" : "") +
           "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  };
  // Three requests in one TLS write: the server must answer each, in order, from its buffer.
  const std::string got = f.client().raw(
      req("{\"n\":1}", false) + req("{\"n\":22}", false) + req("{\"n\":333}", true), 5s);
  const auto first = got.find("{\"n\":1}");
  const auto second = got.find("{\"n\":22}");
  const auto third = got.find("{\"n\":333}");
  REQUIRE(first != std::string::npos);
  REQUIRE(second != std::string::npos);
  REQUIRE(third != std::string::npos);
  CHECK(first < second);
  CHECK(second < third);
  size_t statuses = 0;
  for (auto at = got.find("HTTP/1.1 200 OK"); at != std::string::npos;
       at = got.find("HTTP/1.1 200 OK", at + 1))
    ++statuses;
  CHECK(statuses == 3);
  CHECK(got.find("Connection: close") != std::string::npos);  // only on the last answer
  CHECK(got.find("Connection: close") > second);
}

TEST_CASE("ReadsABodyThatArrivesInPieces", "[http]") {
  Fixture f;
  // The request line and headers first, then the body in two writes: the parser needs more
  // bytes twice and must ask for them without losing what it already has.
  const std::string got =
      f.client().rawPieces({"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                            "Connection: close\r\nContent-Length: 12\r\n\r\n",
                            "{\"abc\":", "\"de\"}"},
                           100ms, 5s);
  CHECK(got.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
  CHECK(got.size() >= 12);
  CHECK(got.substr(got.size() - 12) == "{\"abc\":\"de\"}");
  CHECK(f.metrics.badRequestCount("body_timeout") == 0);
}

// Bodies being received hold their declared length against the server's budget: with 1,536
// bytes and a connection holding 1,024 (headers sent, body unfinished), a request announcing
// 600 more is refused with 503 before its body is read, one announcing 400 fits, and a
// chunked body (which may grow to the route's cap of 1,024) does not. Once the holder is closed
// (body timeout), its share returns. The holder has 4 s to send its body (the time the other
// requests have to see it there, each a new TLS connection: slow under the sanitizers).
TEST_CASE("RefusesBodiesOverTheInFlightBudgetWith503AndRetryAfter", "[http]") {
  Fixture f(5s, 1536, 4s);
  std::thread holder([&] {
    f.client().raw(
        "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        "Content-Length: 1024\r\n\r\n{\"a\":",
        10s);
  });
  struct Join {
    std::thread& t;
    ~Join() {
      if (t.joinable()) t.join();
    }
  } joinHolder{holder};
  // The holder's headers are in once a request of 600 is refused (it fits on its own).
  auto post = [&](std::size_t n) {
    return f.client().request("POST", "/echo", "\"" + std::string(n - 2, 'x') + "\"");
  };
  auto postChunked = [&] {
    return f.client().raw(
        "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
        5s);
  };
  REQUIRE(waitUntil([&] { return post(600).status == 503; }, 20ms));
  CHECK(f.metrics.bodyBytesInFlightValue() == 1024);  // the holder's share, on the gauge
  auto refused = post(600);
  CHECK(refused.status == 503);
  CHECK(refused.headers["Retry-After"] == "1");
  CHECK(refused.body.find("memory budget") != std::string::npos);
  const auto small = post(400);
  CHECK(small.status == 200);
  CHECK(small.body.size() == 400);
  CHECK(postChunked().rfind("HTTP/1.1 503 ", 0) == 0);
  holder.join();  // closed by the body timeout (4 s)
  REQUIRE(waitUntil([&] { return f.metrics.badRequestCount("body_timeout") >= 1; }));
  CHECK(post(1000).status == 200);
  // The answer's share goes when the server's write completes, which may be just after the
  // client has read it.
  CHECK(waitUntil([&] { return f.metrics.bodyBytesInFlightValue() == 0; }));
  CHECK(postChunked().rfind("HTTP/1.1 200 ", 0) == 0);
  CHECK(f.metrics.badRequestCount("body_budget") >= 2);
}

// A kept-alive connection gives its body's share back as soon as it is answered: two requests
// of 1,000 bytes in turn on one connection fit a budget of 1,536, and so does a third from
// another connection while the first stays open and idle.
// Every way a request can end gives its share of the budget back: answered, refused for its
// size while chunked, malformed, timed out, cut off by the client, refused from its headers.
TEST_CASE("EveryEndOfARequestReturnsItsBodyBudget", "[http]") {
  Fixture f(5s, 4096);
  const std::string head = "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n";
  CHECK(f.client().request("POST", "/echo", "{\"a\":1}").status == 200);
  // Chunked, over the route's cap of 1,024 as it arrives: 413.
  std::string chunks = head + "Transfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 5; ++i) chunks += "100\r\n" + std::string(256, ' ') + "\r\n";
  CHECK(f.client().raw(chunks, 5s).rfind("HTTP/1.1 413 ", 0) == 0);
  // A malformed chunk size.
  CHECK(f.client()
            .raw(head + "Transfer-Encoding: chunked\r\n\r\nzz\r\n", 5s)
            .rfind("HTTP/1.1 400 ", 0) == 0);
  // The body never finishes (closed at the 1 s deadline).
  CHECK(f.client().raw(head + "Content-Length: 900\r\n\r\n{\"a\":", 5s).empty());
  // The client goes away mid-body.
  {
    TlsClient gone = f.client();
    gone.rawPieces({head + "Content-Length: 900\r\n\r\n", "{\"a\":"}, 50ms, 100ms);
  }
  // Refused from the headers.
  CHECK(f.client()
            .raw("POST /auth HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 "Content-Length: 900\r\n\r\n",
                 5s)
            .rfind("HTTP/1.1 401 ", 0) == 0);
  REQUIRE(waitUntil([&] { return f.server->activeConnections() == 0; }));
  CHECK(f.server->bodyBytesInFlight() == 0);
  // And the whole budget is there to take.
  CHECK(f.client()
            .request("POST", "/auth", std::string(4000, ' '), "application/json",
                     {{"Authorization", "Bearer ok"}})
            .status == 200);
}

TEST_CASE("AnsweredBodiesLeaveTheBudgetAtOnce", "[http]") {
  Fixture f(5s, 1536);
  auto body = "\"" + std::string(998, 'y') + "\"";
  TlsClient kept = f.client();
  CHECK(kept.request("POST", "/echo", body).status == 200);
  CHECK(kept.request("POST", "/echo", body).status == 200);
  // Freed when the answer's write completes (the client may read it a moment before), well
  // inside the connection's idle timeout of 5 s.
  CHECK(waitUntil([&] { return f.server->bodyBytesInFlight() == 0; }, 1ms, 1s));
  CHECK(f.client().request("POST", "/echo", body).status == 200);
  CHECK(f.metrics.badRequestCount("body_budget") == 0);
}

// A route that refuses from the headers answers before the body arrives: the client announces
// 500 KB and sends none of it, and still gets its 401 at once, not after the body timeout.
TEST_CASE("ARouteRefusesFromTheHeadersWithoutReadingTheBody", "[http]") {
  Fixture f;
  const std::string got = f.client().raw(
      "POST /auth HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
      "Content-Length: 500000\r\n\r\n",
      5s);
  // Waiting for the body would have ended in the body timeout (1 s): closed, unanswered.
  CHECK(got.rfind("HTTP/1.1 401 ", 0) == 0);
  CHECK(got.find("Connection: close") != std::string::npos);
  CHECK(f.authHandled == 0);
  CHECK(f.metrics.badRequestCount("body_timeout") == 0);
  const auto ok = f.client().request("POST", "/auth", "{\"k\":1}", "application/json",
                                     {{"Authorization", "Bearer ok"}});
  CHECK(ok.status == 200);
  CHECK(ok.body == "{\"k\":1}");
  CHECK(f.authHandled == 1);
}

TEST_CASE("AnswersHttp10WithoutKeepAliveAndCloses", "[http]") {
  Fixture f;
  const std::string got = f.client().raw(
      "POST /echo HTTP/1.0\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}", 5s);
  CHECK(got.rfind("HTTP/1.0 200 OK\r\n", 0) == 0);
  CHECK(got.find("Content-Length: 2\r\n") != std::string::npos);
  CHECK(got.find("keep-alive") == std::string::npos);
  CHECK(got.size() >= 2);
  CHECK(got.substr(got.size() - 2) == "{}");
}

TEST_CASE("ClosesABodyThatNeverFinishesAndCountsIt", "[http]") {
  Fixture f;
  // Headers promise 100 bytes, 10 arrive: the body deadline closes the connection, unanswered.
  const std::string got = f.client().raw(
      "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
      "Content-Length: 100\r\n\r\n{\"a\":\"123",
      5s);
  CHECK(got.empty());
  waitUntil([&] { return f.metrics.badRequestCount("body_timeout") >= 1; });
  CHECK(f.metrics.badRequestCount("body_timeout") == 1);
  CHECK(f.client().request("GET", "/ping").status == 200);
}

TEST_CASE("ClosesAnIdleKeepAliveConnectionAfterTheIdleTimeout", "[http]") {
  Fixture f(700ms);
  auto c = f.client();
  REQUIRE(c.request("GET", "/ping").status == 200);
  REQUIRE(c.connected());
  REQUIRE(f.server->activeConnections() == 1);
  // Requests inside the timeout keep the connection; it is the same one each time.
  for (int i = 0; i < 3; ++i) {
    std::this_thread::sleep_for(300ms);
    CHECK(c.request("GET", "/ping").status == 200);
  }
  CHECK(f.server->activeConnections() == 1);
  waitUntil([&] { return f.server->activeConnections() == 0; }, 10ms);
  CHECK(f.server->activeConnections() == 0);
  CHECK(f.metrics.badRequestCount("header_timeout") == 0);  // idle is not a bad request
}

TEST_CASE("CountsAClientThatDoesNotSpeakTlsAndServesOthers", "[http]") {
  Fixture f;
  // Plain HTTP to the TLS port: a failed handshake, counted, the connection closed.
  const auto plain = kc::testing::httpGet(f.server->port(), "/ping");
  CHECK_FALSE(plain.error.empty());
  waitUntil([&] { return f.metrics.badRequestCount("tls_handshake") >= 1; });
  CHECK(f.metrics.badRequestCount("tls_handshake") == 1);
  CHECK(f.client().request("GET", "/ping").status == 200);
}

TEST_CASE("RejectsWrongContentTypeWith415", "[http]") {
  Fixture f;
  auto r = f.client().request("POST", "/echo", "{}", "text/plain");
  CHECK(r.status == 415);
  CHECK(r.body.find("application/json") != std::string::npos);
  CHECK(f.metrics.badRequestCount("unsupported_media_type") == 1);
}

TEST_CASE("AnswersUnknownPathWith404AndWrongMethodWith405", "[http]") {
  Fixture f;
  CHECK(f.client().request("GET", "/nope").status == 404);
  CHECK(f.client().request("GET", "/echo").status == 405);
  CHECK(f.metrics.badRequestCount("not_found") == 1);
  CHECK(f.metrics.badRequestCount("method_not_allowed") == 1);
}

TEST_CASE("AnswersOversizedHeadersWith431", "[http]") {
  Fixture f;
  auto r = f.client().request("GET", "/ping", "", "", {{"X-Filler", std::string(4000, 'a')}});
  CHECK(r.status == 431);
  CHECK(f.metrics.badRequestCount("header_too_large") == 1);
}

TEST_CASE("AnswersMalformedRequestLineWith400", "[http]") {
  Fixture f;
  const std::string got = f.client().raw("GARBAGE\x01 / HTTP/9.9\r\n\r\n", 2s);
  CHECK(got.rfind("HTTP/1.1 400", 0) == 0);
  CHECK(f.metrics.badRequestCount("malformed_http") == 1);
}

TEST_CASE("ClosesConnectionWhoseHeadersNeverFinishWithoutBlockingOthers", "[http]") {
  Fixture f;
  std::string received = "unset";
  std::thread slowloris([&] {
    // Sends part of a header block and never finishes it.
    received = f.client().raw("POST /echo HTTP/1.1\r\nHost: x\r\nContent-", 5s);
  });
  // While that connection hangs, others are served.
  for (int i = 0; i < 5; ++i) CHECK(f.client().request("GET", "/ping").status == 200);
  slowloris.join();
  CHECK(received.empty());  // closed by the server, no response
  // The deadline closes the socket before the server's read completes and counts it: the
  // client can see the close first, so wait (bounded) for the count.
  waitUntil([&] { return f.metrics.badRequestCount("header_timeout") >= 1; });
  CHECK(f.metrics.badRequestCount("header_timeout") == 1);
}

TEST_CASE("CertificateSwapBySymlinkIsPickedUpWithNoFailedRequest", "[http][tls]") {
  Fixture f;
  const std::string before = f.client().request("GET", "/ping").peerCertSerialHex;
  REQUIRE_FALSE(before.empty());
  std::atomic<bool> stop{false};
  std::atomic<int> ok{0}, failed{0};
  std::string lastError;
  std::vector<std::thread> clients;
  for (int t = 0; t < 4; ++t) {
    clients.emplace_back([&, t] {
      int n = 0;
      while (!stop) {
        // Half the clients keep one connection; the others reconnect every request.
        TlsClient c(f.secret.trust(), f.server->port());
        do {
          auto r = c.request("POST", "/echo", "{}");
          if (r.status == 200) {
            ++ok;
          } else {
            ++failed;
            lastError = r.error;
          }
          ++n;
        } while (t % 2 == 0 && !stop && n % 50 != 0);
      }
    });
  }
  // Progress is counted, not timed: the swap happens while requests are flowing, and the
  // clients go on until many more have been answered after it.
  auto waitFor = [](auto done) { return waitUntil(done, 1ms, 60s); };
  REQUIRE(waitFor([&] { return ok >= 20 || failed > 0; }));
  f.secret.swap();
  CHECK(f.tls->maybeReload());
  const int atSwap = ok;
  CHECK(waitFor([&] { return ok >= atSwap + 60 || failed > 0; }));
  stop = true;
  for (auto& c : clients) c.join();
  INFO("last error: " << lastError);
  CHECK(failed == 0);
  const std::string after = f.client().request("GET", "/ping").peerCertSerialHex;
  CHECK(after != before);
  CHECK(f.metrics.tlsReloadCount() == 1);
  CHECK_FALSE(f.tls->maybeReload());  // unchanged files: no second reload
}

TEST_CASE("UnusableCertificateOnReloadKeepsThePreviousOne", "[http][tls]") {
  Fixture f;
  const std::string before = f.client().request("GET", "/ping").peerCertSerialHex;
  // Replace the certificate with garbage (not through ..data: an in-place rewrite).
  const std::string target = std::filesystem::canonical(f.secret.cert());
  kc::testing::writeFile(target, "not a certificate");
  CHECK_FALSE(f.tls->maybeReload());
  CHECK(f.metrics.tlsReloadFailureCount() == 1);
  CHECK_FALSE(f.tls->maybeReload());  // not retried until the files change again
  CHECK(f.metrics.tlsReloadFailureCount() == 1);
  auto r = f.client().request("GET", "/ping");
  CHECK(r.status == 200);
  CHECK(r.peerCertSerialHex == before);
}

TEST_CASE("ShutdownLetsInFlightRequestFinish", "[http][shutdown]") {
  Fixture f;
  kc::testing::HttpResult result;
  std::thread inflight([&] { result = f.client().request("POST", "/slow", "{}"); });
  while (!f.slowEntered) std::this_thread::sleep_for(1ms);
  CHECK(f.server->shutdown(5s));
  inflight.join();
  CHECK(result.status == 200);
  CHECK(result.body == "{\"slow\":true}");
  CHECK(result.headers["Connection"] == "close");
}

TEST_CASE("ShutdownClosesIdleKeepAliveConnections", "[http][shutdown]") {
  Fixture f;
  auto c = f.client();
  REQUIRE(c.request("GET", "/ping").status == 200);
  REQUIRE(c.connected());
  const auto start = std::chrono::steady_clock::now();
  CHECK(f.server->shutdown(5s));
  CHECK(std::chrono::steady_clock::now() - start < 4s);
  CHECK(f.server->activeConnections() == 0);
}

// A silent TCP connection (or a ClientHello that never finishes) is closed at headerTimeout and
// counted, as a slow-loris at the HTTP layer is.
TEST_CASE("CountsAConnectionThatNeverStartsItsHandshake", "[http]") {
  Fixture f;
  const int fd = kc::testing::tcpConnect(f.server->port());
  REQUIRE(fd >= 0);
  REQUIRE(waitUntil([&] { return f.metrics.badRequestCount("handshake_timeout") >= 1; }, 10ms));
  CHECK(f.metrics.badRequestCount("handshake_timeout") == 1);
  CHECK(f.metrics.badRequestCount("tls_handshake") == 0);
  char byte;
  CHECK(::read(fd, &byte, 1) == 0);  // closed by the server
  ::close(fd);
  CHECK(f.client().request("GET", "/ping").status == 200);
}

// Answers waiting for clients that do not read hold the same budget as bodies: two answers of
// 8 MiB fit a budget of 20 MiB; the third gets a short 503 instead, and so does a reading client
// until the first two go away. Without this, 50 such clients held 412 MB.
TEST_CASE("AnswersWaitingForClientsThatDoNotReadHoldTheBudget", "[http]") {
  Fixture f(5s, 20u << 20);
  const std::string get = "GET /big HTTP/1.1\r\nHost: x\r\n\r\n";
  TlsClient a = f.client(), b = f.client(), c = f.client();
  REQUIRE(a.sendWithoutReading(get));
  REQUIRE(waitUntil([&] { return f.server->bodyBytesInFlight() == (8u << 20); }));
  REQUIRE(b.sendWithoutReading(get));
  REQUIRE(waitUntil([&] { return f.server->bodyBytesInFlight() == (16u << 20); }));
  CHECK(f.metrics.bodyBytesInFlightValue() == (16u << 20));
  REQUIRE(c.sendWithoutReading(get));
  REQUIRE(waitUntil([&] { return f.metrics.badRequestCount("response_budget") == 1; }));
  auto refused = f.client().request("GET", "/big");
  CHECK(refused.status == 503);
  CHECK(refused.headers["Retry-After"] == "1");
  CHECK(refused.body.find("memory budget") != std::string::npos);
  CHECK(f.server->bodyBytesInFlight() == (16u << 20));
  a.close();
  b.close();
  c.close();
  REQUIRE(waitUntil([&] { return f.server->bodyBytesInFlight() == 0; }));
  const auto served = f.client().request("GET", "/big");
  CHECK(served.status == 200);
  CHECK(served.body.size() == (8u << 20));
  CHECK(waitUntil([&] { return f.server->bodyBytesInFlight() == 0; }));
}

// The metrics listener is the same server in plain HTTP, with its limits: clients that connect
// and send nothing, or half a request, never keep a scrape waiting (with two worker threads and
// no timeouts, two such clients blocked every scrape).
TEST_CASE("SlowClientsDoNotStarveTheMetricsListener", "[http][metrics]") {
  auto registry = std::make_shared<prometheus::Registry>();
  kc::metrics::ServerMetrics metrics(*registry);
  std::string error;
  auto server = kc::metrics::serveMetrics(
      "127.0.0.1:0", registry, [&](std::string_view r) { metrics.badRequest(r); }, error);
  REQUIRE(server != nullptr);
  std::vector<int> slow;
  for (int i = 0; i < 8; ++i) {
    const int fd = kc::testing::tcpConnect(server->port());
    REQUIRE(fd >= 0);
    if (i % 2 == 1) {
      const std::string half = "GET /metrics HTTP/1.1\r\nHost: x\r\n";
      REQUIRE(::write(fd, half.data(), half.size()) == static_cast<ssize_t>(half.size()));
    }
    slow.push_back(fd);
  }
  for (int i = 0; i < 9; ++i) {
    auto scrape = kc::testing::httpGet(server->port(), "/metrics");
    REQUIRE(scrape.status == 200);
    CHECK(scrape.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8");
    CHECK(scrape.body.find("# TYPE kube_customs_http_bad_requests_total counter") !=
          std::string::npos);
  }
  CHECK(kc::testing::httpGet(server->port(), "/other").status == 404);
  for (int fd : slow) ::close(fd);
  server->shutdown(1s);
}

TEST_CASE("ConnectionsLeaveRoomForTheProcesssOwnFiles", "[http]") {
  using kc::http::connectionsWithin;
  CHECK(connectionsWithin(4096, 1'048'576) == 4096);
  CHECK(connectionsWithin(4096, 1024) == 1024 - kc::http::kReservedFileDescriptors);
  CHECK(connectionsWithin(100, 1024) == 100);
  CHECK(connectionsWithin(4096, 10) == 1);
}

// An exception that escapes a completion handler costs that connection, is counted, and the I/O
// thread goes on serving (it used to end the process).
TEST_CASE("AnIoThreadSurvivesAnExceptionOutsideTheHandlers", "[http]") {
  Fixture f;
  const auto before = kc::internal::errorCount(kc::internal::Component::kHttp);
  for (int i = 0; i < 4; ++i) {
    const auto r = f.client().request("POST", "/throws", "{}");
    CHECK(r.status == 0);  // the connection closed, no answer
  }
  CHECK(kc::internal::errorCount(kc::internal::Component::kHttp) == before + 4);
  for (int i = 0; i < 4; ++i) CHECK(f.client().request("GET", "/ping").status == 200);
}

TEST_CASE("ParsesListenAddresses", "[http]") {
  std::string host;
  std::uint16_t port = 0;
  CHECK(kc::http::parseListen(":8443", host, port));
  CHECK(host.empty());
  CHECK(port == 8443);
  CHECK(kc::http::parseListen("[::1]:9090", host, port));
  CHECK(host == "::1");
  CHECK(kc::http::parseListen("127.0.0.1:0", host, port));
  CHECK(port == 0);
  CHECK_FALSE(kc::http::parseListen("8443", host, port));
  CHECK_FALSE(kc::http::parseListen(":99999", host, port));
  CHECK_FALSE(kc::http::parseListen("::1:80", host, port));
  CHECK_FALSE(kc::http::parseListen("host:", host, port));
}

}  // namespace
