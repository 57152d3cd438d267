#include "controller/ingest/webhook_receiver.h"

#include <openssl/crypto.h>

#include <algorithm>

namespace kc::audit {
namespace {

bool tokenMatches(std::string_view presented, const std::string& expected) {
  if (presented.size() != expected.size() || expected.empty()) return false;
  return CRYPTO_memcmp(presented.data(), expected.data(), expected.size()) == 0;
}

}  // namespace

AuthResult authenticate(const http::Request& req, const ReceiverOptions& opts) {
  if (req.clientCertVerified) {
    if (opts.allowedClientNames.empty()) return AuthResult::kAllowed;
    const bool listed = std::find(opts.allowedClientNames.begin(), opts.allowedClientNames.end(),
                                  req.clientCertSubject) != opts.allowedClientNames.end();
    if (listed) return AuthResult::kAllowed;
    if (req.authorization.empty()) return AuthResult::kForbidden;
  }
  if (req.authorization.empty()) return AuthResult::kUnauthenticated;
  constexpr std::string_view kBearer = "Bearer ";
  if (req.authorization.size() <= kBearer.size() ||
      req.authorization.substr(0, kBearer.size()) != kBearer)
    return AuthResult::kForbidden;
  const std::string_view token = req.authorization.substr(kBearer.size());
  bool ok = false;
  for (const auto& t : opts.bearerTokens) ok |= tokenMatches(token, t);
  return ok ? AuthResult::kAllowed : AuthResult::kForbidden;
}

bool WebhookReceiver::admitHeaders(const http::Request& req, http::Response& res) const {
  switch (authenticate(req, opts_)) {
    case AuthResult::kUnauthenticated:
      if (hooks_.onBadRequest) hooks_.onBadRequest("unauthenticated");
      res.status = 401;
      res.headers.emplace_back("WWW-Authenticate", "Bearer");
      res.body = "{\"error\":\"client certificate or bearer token required\"}";
      return false;
    case AuthResult::kForbidden:
      if (hooks_.onBadRequest) hooks_.onBadRequest("forbidden");
      res.status = 403;
      res.body = "{\"error\":\"credentials not accepted\"}";
      return false;
    case AuthResult::kAllowed:
      break;
  }
  return true;
}

void WebhookReceiver::handle(const http::Request& req, http::Response& res) const {
  if (!admitHeaders(req, res)) return;
  const std::size_t size = req.body.size();
  auto queueFull = [&] {
    if (hooks_.onQueueFull) hooks_.onQueueFull();
    res.status = 429;
    res.headers.emplace_back("Retry-After", std::to_string(opts_.retryAfterSeconds));
    res.body = "{\"error\":\"audit queue full, retry later\"}";
  };
  if (!queue_.wouldFit(size)) return queueFull();
  std::uint64_t seq = 0;
  if (spool_ != nullptr) {
    std::string error;
    seq = spool_->append(req.body, error);
    if (seq == 0) {
      // Not durable, so not acknowledged: the API server retries.
      if (hooks_.onSpoolError) hooks_.onSpoolError(error);
      res.status = 503;
      res.headers.emplace_back("Retry-After", std::to_string(opts_.retryAfterSeconds));
      res.body = "{\"error\":\"audit batch could not be stored, retry later\"}";
      return;
    }
  }
  if (!queue_.tryPush(Batch{std::string(req.body), "webhook", seq})) {
    std::string ignored;
    if (seq != 0) spool_->done(seq, ignored);  // refused, so the API server sends it again
    return queueFull();
  }
  if (hooks_.onAccepted) hooks_.onAccepted(size);
  res.status = 200;
  res.body = "{}";
}

http::Route WebhookReceiver::route(std::string path, std::size_t maxBodyBytes) const {
  http::Route r;
  r.method = "POST";
  r.path = std::move(path);
  r.handler = [this](const http::Request& req, http::Response& res) { handle(req, res); };
  r.maxBodyBytes = maxBodyBytes;
  r.requireJson = true;
  r.admitHeaders = [this](const http::Request& req, http::Response& res) {
    return admitHeaders(req, res);
  };
  return r;
}

}  // namespace kc::audit
