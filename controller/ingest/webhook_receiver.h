#pragma once
// The audit webhook backend's endpoint: the API server POSTs EventList batches
// (--audit-webhook-config-file). The caller is authenticated by a verified client certificate
// (optionally restricted to given common names) or a bearer token; others get 401 (nothing
// presented) or 403 (wrong credentials). A batch is answered 200 once it is durable (written
// and synced to the spool, when there is one) and queued, before detection runs: the API server
// never resends a batch it got 200 for. When the queue is full the answer is 429 with
// Retry-After, and when the spool cannot take it 503: the API server retries non-2xx answers a
// few times and then drops the batch, so refusing is counted and alerted on, never silent.
// Thread-safe: handle() runs on many I/O threads.

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "common/http_server.h"
#include "controller/ingest/batch_queue.h"
#include "controller/ingest/spool.h"

namespace kc::audit {

struct ReceiverOptions {
  std::vector<std::string> bearerTokens;
  std::vector<std::string> allowedClientNames;  // empty: any certificate the CA verified
  int retryAfterSeconds = 5;
};

struct ReceiverHooks {
  std::function<void(std::string_view reason)> onBadRequest;  // unauthenticated, forbidden
  std::function<void()> onQueueFull;
  std::function<void(std::size_t bytes)> onAccepted;
  std::function<void(const std::string& error)> onSpoolError;
};

enum class AuthResult { kAllowed, kUnauthenticated, kForbidden };

// Decides whether a request comes from the API server. Tokens are compared in constant time.
AuthResult authenticate(const http::Request& req, const ReceiverOptions& opts);

class WebhookReceiver {
 public:
  // `spool` null: batches are acknowledged once queued (lost if the process dies before
  // detection; tests and replay).
  WebhookReceiver(ReceiverOptions opts, BatchQueue& queue, ReceiverHooks hooks,
                  Spool* spool = nullptr)
      : opts_(std::move(opts)), queue_(queue), hooks_(std::move(hooks)), spool_(spool) {}

  // Authentication alone, from the headers (the route calls it before reading the body, so
  // an unauthenticated caller never gets a batch into memory). False: `res` holds the 401/403.
  bool admitHeaders(const http::Request& req, http::Response& res) const;
  // Authenticates again (the headers are the same) and queues the batch.
  void handle(const http::Request& req, http::Response& res) const;
  // POST `path`, bodies up to `maxBodyBytes`, authenticated before the body is read.
  http::Route route(std::string path, std::size_t maxBodyBytes) const;

 private:
  ReceiverOptions opts_;
  BatchQueue& queue_;
  ReceiverHooks hooks_;
  Spool* spool_;
};

}  // namespace kc::audit
