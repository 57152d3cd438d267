#include "common/metrics.h"

#include <prometheus/text_serializer.h>

#include "common/http_server.h"
#include "common/internal_errors.h"

namespace kc::metrics {

std::vector<double> latencyBuckets() {
  return {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
          0.05,   0.1,     0.25,   0.5,   1,      2.5,   5,    10};
}

const std::vector<std::string>& badRequestReasons() {
  static const std::vector<std::string> kReasons = {
      // HTTP and TLS level (the server)
      "tls_handshake", "header_timeout", "header_too_large", "malformed_http", "not_found",
      "method_not_allowed", "unsupported_media_type", "body_too_large", "body_timeout",
      "body_incomplete", "too_many_connections", "body_budget", "response_budget",
      "handshake_timeout", "internal_error",
      // Payload level (the handlers)
      "invalid_json", "too_deep", "not_admission_review", "missing_request", "missing_uid",
      "invalid_field", "too_many_values", "unauthenticated", "forbidden", "other"};
  return kReasons;
}

ServerMetrics::ServerMetrics(prometheus::Registry& registry) {
  auto& bad = prometheus::BuildCounter()
                  .Name("kube_customs_http_bad_requests_total")
                  .Help("Requests refused as malformed or out of bounds, by reason.")
                  .Register(registry);
  for (const auto& r : badRequestReasons()) badRequests_[r] = &bad.Add({{"reason", r}});
  bodyBytes_ = &prometheus::BuildGauge()
                    .Name("kube_customs_http_body_bytes_in_flight")
                    .Help(
                        "Bytes of request bodies being read or handled (declared lengths) "
                        "and of answers not yet read by their clients, against "
                        "server.maxInFlightBodyBytes.")
                    .Register(registry)
                    .Add({});
  tlsReloads_ = &prometheus::BuildCounter()
                     .Name("kube_customs_tls_reloads_total")
                     .Help("Serving certificate reloads that took effect.")
                     .Register(registry)
                     .Add({});
  tlsReloadFailures_ = &prometheus::BuildCounter()
                            .Name("kube_customs_tls_reload_failures_total")
                            .Help(
                                "Serving certificate reloads that failed; the previous "
                                "certificate stays in use.")
                            .Register(registry)
                            .Add({});
  tlsExpiry_ = &prometheus::BuildGauge()
                    .Name("kube_customs_tls_certificate_expiry_timestamp_seconds")
                    .Help("Not-after time of the serving certificate in use, Unix seconds.")
                    .Register(registry)
                    .Add({});
}

void ServerMetrics::badRequest(std::string_view reason) {
  auto it = badRequests_.find(reason);
  if (it == badRequests_.end()) it = badRequests_.find(std::string_view("other"));
  it->second->Increment();
}

double ServerMetrics::badRequestCount(std::string_view reason) const {
  auto it = badRequests_.find(reason);
  return it == badRequests_.end() ? 0 : it->second->Value();
}

void registerBuildInfo(prometheus::Registry& registry) {
  prometheus::BuildGauge()
      .Name("kube_customs_build_info")
      .Help("Always 1; labels carry the build's version.")
      .Register(registry)
      .Add({{"version", KC_VERSION}})
      .Set(1);
}

std::unique_ptr<http::Server> serveMetrics(const std::string& listen,
                                           const std::shared_ptr<prometheus::Registry>& reg,
                                           std::function<void(std::string_view)> onBadRequest,
                                           std::string& error) {
  http::ServerOptions opts;
  opts.listen = listen;
  opts.threads = 1;
  opts.maxBodyBytes = 0;  // GET only
  opts.maxHeaderBytes = 8 * 1024;
  opts.maxConnections = 256;
  std::vector<http::Route> routes;
  routes.push_back({"GET", "/metrics", [reg](const http::Request&, http::Response& res) {
                      res.contentType = "text/plain; version=0.0.4; charset=utf-8";
                      auto families = reg->Collect();
                      families.push_back(internal::metricFamily());
                      res.body = prometheus::TextSerializer().Serialize(families);
                    }});
  auto server = std::make_unique<http::Server>(opts, nullptr, std::move(routes),
                                               http::ServerHooks{std::move(onBadRequest), {}});
  std::string why;
  if (!server->start(why)) {
    error = "cannot serve metrics on " + listen + ": " + why;
    return nullptr;
  }
  return server;
}

}  // namespace kc::metrics
