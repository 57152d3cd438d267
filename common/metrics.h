#pragma once
// Process-wide Prometheus metrics owned by the shared runtime (build info, HTTP bad requests,
// TLS reloads) and the metrics listener. Components own their own metrics beside their code
// (webhook/webhook_metrics.h, controller/...); docs/metrics.md lists them all.
// Label values are always from fixed sets. Thread-safe.

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <ctime>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace kc::http {
class Server;
}

namespace kc::metrics {

// Buckets for request durations, 100 µs to 10 s.
std::vector<double> latencyBuckets();

// Every value the `reason` label of kube_customs_http_bad_requests_total can take.
const std::vector<std::string>& badRequestReasons();

class ServerMetrics {
 public:
  explicit ServerMetrics(prometheus::Registry& registry);

  // Unknown reasons are counted as "other", so the label stays bounded.
  void badRequest(std::string_view reason);
  double badRequestCount(std::string_view reason) const;

  void tlsReloaded() { tlsReloads_->Increment(); }
  void tlsReloadFailed() { tlsReloadFailures_->Increment(); }
  void tlsNotAfter(std::time_t t) { tlsExpiry_->Set(static_cast<double>(t)); }
  double tlsReloadCount() const { return tlsReloads_->Value(); }
  double tlsReloadFailureCount() const { return tlsReloadFailures_->Value(); }
  // Bytes of request bodies held now, against server.maxInFlightBodyBytes.
  void bodyBytesInFlight(std::size_t bytes) { bodyBytes_->Set(static_cast<double>(bytes)); }
  double bodyBytesInFlightValue() const { return bodyBytes_->Value(); }

 private:
  std::map<std::string, prometheus::Counter*, std::less<>> badRequests_;
  prometheus::Counter* tlsReloads_;
  prometheus::Counter* tlsReloadFailures_;
  prometheus::Gauge* tlsExpiry_;
  prometheus::Gauge* bodyBytes_;
};

// Sets kube_customs_build_info{version} to 1.
void registerBuildInfo(prometheus::Registry& registry);

// Serves GET /metrics over plain HTTP on `listen` (":9090", "127.0.0.1:0") from its own
// thread, with the HTTP server's limits (a slow or silent client holds one connection, never a
// scrape). Bad requests go to `onBadRequest` when set. Null and `error` on failure.
std::unique_ptr<http::Server> serveMetrics(const std::string& listen,
                                           const std::shared_ptr<prometheus::Registry>& reg,
                                           std::function<void(std::string_view)> onBadRequest,
                                           std::string& error);

}  // namespace kc::metrics
