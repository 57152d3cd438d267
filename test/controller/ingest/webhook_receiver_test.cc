// The audit webhook backend endpoint over real HTTPS: client-certificate and bearer-token
// authentication, 200 as soon as a batch is queued, 429 with Retry-After when the queue is full.

#include "controller/ingest/webhook_receiver.h"

#include <catch2/catch.hpp>

#include "common/certgen.h"
#include "common/metrics.h"
#include "controller/events/audit_metrics.h"
#include "test/test_util.h"

namespace {

using kc::testing::TempDir;
using kc::testing::TlsClient;
using namespace std::chrono_literals;

struct Fixture {
  TempDir dir;
  kc::tls::GeneratedCerts server, apiserver, stranger;
  std::shared_ptr<prometheus::Registry> registry = std::make_shared<prometheus::Registry>();
  kc::metrics::ServerMetrics serverMetrics{*registry};
  kc::audit::AuditMetrics auditMetrics{*registry};
  kc::audit::BatchQueue queue{1000};
  std::unique_ptr<kc::audit::WebhookReceiver> receiver;
  std::unique_ptr<kc::http::Server> http;
  int spoolErrors = 0;

  explicit Fixture(kc::audit::Spool* spool = nullptr) {
    std::string error;
    kc::tls::CertRequest req;
    req.extraDnsNames = {"localhost"};
    REQUIRE(kc::tls::generateCerts(req, server, error));
    // Client certificates: the API server's (signed by the trusted CA) and a stranger's.
    kc::tls::CertRequest client;
    client.service = "kube-apiserver";
    client.namespace_ = "kube-system";
    client.clientAuth = true;
    REQUIRE(kc::tls::generateCerts(client, apiserver, error));
    REQUIRE(kc::tls::generateCerts(client, stranger, error));
    kc::testing::writeFile(dir.file("tls.crt"), server.certPem);
    kc::testing::writeFile(dir.file("tls.key"), server.keyPem);
    kc::testing::writeFile(dir.file("ca.crt"), server.caCertPem);
    kc::testing::writeFile(dir.file("client-ca.crt"), apiserver.caCertPem);
    kc::testing::writeFile(dir.file("apiserver.crt"), apiserver.certPem);
    kc::testing::writeFile(dir.file("apiserver.key"), apiserver.keyPem);
    kc::testing::writeFile(dir.file("stranger.crt"), stranger.certPem);
    kc::testing::writeFile(dir.file("stranger.key"), stranger.keyPem);
    auto tls = std::make_shared<kc::tls::ReloadingContext>(
        kc::tls::TlsFiles{dir.file("tls.crt"), dir.file("tls.key"), dir.file("client-ca.crt")},
        kc::tls::ReloadingContext::Hooks{});
    REQUIRE(tls->load(error));
    kc::audit::ReceiverOptions opts;
    opts.bearerTokens = {"s3cret-token"};
    opts.retryAfterSeconds = 7;
    receiver = std::make_unique<kc::audit::WebhookReceiver>(
        opts, queue,
        kc::audit::ReceiverHooks{[this](std::string_view r) { serverMetrics.badRequest(r); },
                                 [this] { auditMetrics.queueFull(); }, nullptr,
                                 [this](const std::string&) { ++spoolErrors; }},
        spool);
    kc::http::ServerOptions so;
    so.listen = "127.0.0.1:0";
    so.threads = 1;
    http = std::make_unique<kc::http::Server>(
        so, tls, std::vector<kc::http::Route>{receiver->route("/audit/webhook", 12u << 20)},
        kc::http::ServerHooks{[this](std::string_view r) { serverMetrics.badRequest(r); },
                              /*onBodyBytes=*/nullptr});
    REQUIRE(http->start(error));
  }
  ~Fixture() { http->shutdown(1s); }
};

const std::string kBatch = R"({"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[]})";

TEST_CASE("AcceptsBatchFromVerifiedClientCertificateAndQueuesIt", "[receiver]") {
  Fixture f;
  TlsClient c(f.dir.file("ca.crt"), f.http->port(), "localhost", f.dir.file("apiserver.crt"),
              f.dir.file("apiserver.key"));
  const auto r = c.request("POST", "/audit/webhook", kBatch);
  CHECK(r.status == 200);
  REQUIRE(f.queue.size() == 1);
  auto b = f.queue.pop(10ms);
  REQUIRE(b);
  CHECK(b->body == kBatch);
  CHECK(b->source == "webhook");
}

TEST_CASE("AcceptsBearerTokenWithoutClientCertificate", "[receiver]") {
  Fixture f;
  TlsClient c(f.dir.file("ca.crt"), f.http->port());
  CHECK(c.request("POST", "/audit/webhook", kBatch, "application/json",
                  {{"Authorization", "Bearer s3cret-token"}})
            .status == 200);
  CHECK(f.queue.size() == 1);
}

TEST_CASE("RejectsMissingCredentialsWith401AndWrongOnesWith403", "[receiver]") {
  Fixture f;
  TlsClient anonymous(f.dir.file("ca.crt"), f.http->port());
  auto r = anonymous.request("POST", "/audit/webhook", kBatch);
  CHECK(r.status == 401);
  CHECK(r.headers["WWW-Authenticate"] == "Bearer");
  r = anonymous.request("POST", "/audit/webhook", kBatch, "application/json",
                        {{"Authorization", "Bearer s3cret-tokeN"}});
  CHECK(r.status == 403);
  r = anonymous.request("POST", "/audit/webhook", kBatch, "application/json",
                        {{"Authorization", "Basic dXNlcjpwYXNz"}});
  CHECK(r.status == 403);
  CHECK(f.queue.size() == 0);
  CHECK(f.serverMetrics.badRequestCount("unauthenticated") == 1);
  CHECK(f.serverMetrics.badRequestCount("forbidden") == 2);
}

// The caller is refused from its headers: a stranger announcing a 12 MiB batch gets its 401
// at once, with none of the body read (waiting for it would end in the body timeout, closed
// unanswered), and holds no memory meanwhile.
TEST_CASE("RefusesAnUnauthenticatedCallerBeforeReadingItsBody", "[receiver]") {
  Fixture f;
  TlsClient anonymous(f.dir.file("ca.crt"), f.http->port());
  const std::string got = anonymous.raw(
      "POST /audit/webhook HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
      "Content-Length: 12582912\r\n\r\n{\"kind\":\"EventList\",",
      5s);
  CHECK(got.rfind("HTTP/1.1 401 ", 0) == 0);
  CHECK(got.find("Connection: close") != std::string::npos);
  CHECK(f.serverMetrics.badRequestCount("unauthenticated") == 1);
  CHECK(f.serverMetrics.badRequestCount("body_timeout") == 0);
  CHECK(f.queue.size() == 0);
}

TEST_CASE("ClientCertificateFromAnotherCaFailsTheHandshake", "[receiver]") {
  Fixture f;
  TlsClient c(f.dir.file("ca.crt"), f.http->port(), "localhost", f.dir.file("stranger.crt"),
              f.dir.file("stranger.key"));
  const auto r = c.request("POST", "/audit/webhook", kBatch);
  CHECK(r.status == 0);  // no HTTP exchange at all
  CHECK(f.queue.size() == 0);
}

TEST_CASE("FullQueueAnswers429WithRetryAfterAndCounts", "[receiver]") {
  Fixture f;
  TlsClient c(f.dir.file("ca.crt"), f.http->port());
  const std::map<std::string, std::string> auth = {{"Authorization", "Bearer s3cret-token"}};
  const std::string big(600, ' ');
  CHECK(c.request("POST", "/audit/webhook", big + kBatch, "application/json", auth).status == 200);
  auto r = c.request("POST", "/audit/webhook", big + kBatch, "application/json", auth);
  CHECK(r.status == 429);
  CHECK(r.headers["Retry-After"] == "7");
  CHECK(f.auditMetrics.queueFullCount() == 1);
  // Once the worker drains the queue, batches are accepted again.
  REQUIRE(f.queue.pop(10ms));
  CHECK(c.request("POST", "/audit/webhook", big + kBatch, "application/json", auth).status == 200);
}

// An acknowledged batch is on disk before the 200 leaves: a new process finds it in the spool
// (the API server never resends a batch it got 200 for). A batch the spool cannot store is not
// acknowledged (503, retried by the API server), and one the queue refuses is not left pending.
TEST_CASE("AnAcknowledgedBatchIsInTheSpoolBeforeItsAnswer", "[receiver][spool]") {
  TempDir state;
  std::string error;
  kc::audit::Spool spool(state.file("audit-webhook.spool"));
  kc::audit::Spool::Recovery none;
  REQUIRE(spool.open(none, error));
  Fixture f(&spool);
  TlsClient c(f.dir.file("ca.crt"), f.http->port());
  const std::map<std::string, std::string> auth = {{"Authorization", "Bearer s3cret-token"}};
  const std::string batch = std::string(100, ' ') + kBatch;
  REQUIRE(c.request("POST", "/audit/webhook", batch, "application/json", auth).status == 200);
  {
    kc::audit::Spool reader(state.file("audit-webhook.spool"));
    kc::audit::Spool::Recovery r;
    REQUIRE(reader.open(r, error));
    REQUIRE(r.pending.size() == 1);
    CHECK(r.pending[0].body == batch);
  }
  auto queued = f.queue.pop(10ms);
  REQUIRE(queued);
  CHECK(queued->spoolSeq == 1);
  // The queue refuses the next one (over its 1000 bytes): nothing of it stays pending.
  CHECK(
      c.request("POST", "/audit/webhook", std::string(990, ' ') + kBatch, "application/json", auth)
          .status == 429);
  REQUIRE(c.request("POST", "/audit/webhook", batch, "application/json", auth).status == 200);
  CHECK(spool.pendingCount() == 2);  // the first (not processed yet) and the third
  REQUIRE(spool.done(queued->spoolSeq, error));
  CHECK(spool.pendingCount() == 1);

  // A spool that cannot be written: 503 with Retry-After, nothing queued.
  kc::audit::Spool broken(state.file("gone/spool"));
  kc::audit::Spool::Recovery r;
  CHECK_FALSE(broken.open(r, error));
  Fixture g(&broken);
  TlsClient d(g.dir.file("ca.crt"), g.http->port());
  auto refused = d.request("POST", "/audit/webhook", batch, "application/json", auth);
  CHECK(refused.status == 503);
  CHECK(refused.headers["Retry-After"] == "7");
  CHECK(g.spoolErrors == 1);
  CHECK(g.queue.size() == 0);
}

TEST_CASE("BatchQueueIsBoundedByBytesAndDrainsAfterClose", "[receiver]") {
  kc::audit::BatchQueue q(10);
  CHECK(q.tryPush({"12345", "log"}));
  CHECK(q.tryPush({"12345", "log"}));
  CHECK_FALSE(q.tryPush({"1", "log"}));
  CHECK(q.bytes() == 10);
  q.close();
  CHECK_FALSE(q.tryPush({"", "log"}));
  CHECK(q.pop(1ms));
  CHECK(q.pop(1ms));
  CHECK_FALSE(q.pop(1ms));
}

}  // namespace
