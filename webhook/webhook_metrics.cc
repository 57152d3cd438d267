#include "webhook/webhook_metrics.h"

#include "common/metrics.h"

namespace kc::webhook {

WebhookMetrics::WebhookMetrics(prometheus::Registry& registry) {
  auto& requests = prometheus::BuildCounter()
                       .Name("kube_customs_admission_requests_total")
                       .Help(
                           "Admission reviews answered, by outcome (allowed, denied, warned: "
                           "allowed with warnings, error: could not be evaluated).")
                       .Register(registry);
  requests_[static_cast<int>(Outcome::kAllowed)] = &requests.Add({{"outcome", "allowed"}});
  requests_[static_cast<int>(Outcome::kDenied)] = &requests.Add({{"outcome", "denied"}});
  requests_[static_cast<int>(Outcome::kWarned)] = &requests.Add({{"outcome", "warned"}});
  requests_[static_cast<int>(Outcome::kError)] = &requests.Add({{"outcome", "error"}});
  duration_ = &prometheus::BuildHistogram()
                   .Name("kube_customs_admission_request_duration_seconds")
                   .Help("Time from a decoded admission review to its encoded answer.")
                   .Register(registry)
                   .Add({}, metrics::latencyBuckets());
}

void WebhookMetrics::request(Outcome o, double seconds) {
  requests_[static_cast<int>(o)]->Increment();
  duration_->Observe(seconds);
}

double WebhookMetrics::count(Outcome o) const { return requests_[static_cast<int>(o)]->Value(); }

double WebhookMetrics::durationCount() const {
  return static_cast<double>(duration_->Collect().histogram.sample_count);
}

}  // namespace kc::webhook
