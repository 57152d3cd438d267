#pragma once
// Metrics of the admission webhook: requests by outcome and their duration.
// Label values come from fixed sets. Thread-safe.

#include <prometheus/counter.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

namespace kc::webhook {

enum class Outcome { kAllowed, kDenied, kWarned, kError };

class WebhookMetrics {
 public:
  explicit WebhookMetrics(prometheus::Registry& registry);
  void request(Outcome o, double seconds);
  double count(Outcome o) const;
  double durationCount() const;

 private:
  prometheus::Counter* requests_[4];
  prometheus::Histogram* duration_;
};

}  // namespace kc::webhook
