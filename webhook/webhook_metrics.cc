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
  auto& deadline = prometheus::BuildCounter()
                       .Name("kube_customs_admission_deadline_exceeded_total")
                       .Help(
                           "Admission reviews whose judging stopped at the deadline taken from "
                           "the API server's timeout, by the answer given (webhook.deadlineAction, "
                           "or denied for violations found in time).")
                       .Register(registry);
  deadlineExceeded_[0] = &deadline.Add({{"answer", "allowed"}});
  deadlineExceeded_[1] = &deadline.Add({{"answer", "denied"}});
  auto& timeouts = prometheus::BuildCounter()
                       .Name("kube_customs_admission_timeout_parameter_total")
                       .Help(
                           "Admission reviews by how the API server's timeout parameter was read "
                           "(read, absent, invalid, clamped to 1-30 s).")
                       .Register(registry);
  for (std::size_t i = 0; i < kTimeoutSources; ++i)
    timeouts_[i] =
        &timeouts.Add({{"result", std::string(timeoutSourceName(static_cast<TimeoutSource>(i)))}});
}

void WebhookMetrics::deadlineExceeded(bool denied) {
  deadlineExceeded_[denied ? 1 : 0]->Increment();
}

double WebhookMetrics::deadlineExceededCount(bool denied) const {
  return deadlineExceeded_[denied ? 1 : 0]->Value();
}

void WebhookMetrics::timeout(TimeoutSource source) {
  timeouts_[static_cast<std::size_t>(source)]->Increment();
}

double WebhookMetrics::timeoutCount(TimeoutSource source) const {
  return timeouts_[static_cast<std::size_t>(source)]->Value();
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
