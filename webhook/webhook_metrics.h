#pragma once
// Metrics of the admission webhook: requests by outcome and their duration, reviews answered
// at their deadline, and how the API server's timeout was read. Label values come from fixed
// sets. Thread-safe.

#include <prometheus/counter.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include "webhook/review_deadline.h"

namespace kc::webhook {

enum class Outcome { kAllowed, kDenied, kWarned, kError };

class WebhookMetrics {
 public:
  explicit WebhookMetrics(prometheus::Registry& registry);
  void request(Outcome o, double seconds);
  double count(Outcome o) const;
  double durationCount() const;
  // A review answered by webhook.deadlineAction (or denied by what was found in time) because
  // its judging reached the deadline; `denied`: the answer.
  void deadlineExceeded(bool denied);
  double deadlineExceededCount(bool denied) const;
  void timeout(TimeoutSource source);
  double timeoutCount(TimeoutSource source) const;

 private:
  prometheus::Counter* requests_[4];
  prometheus::Histogram* duration_;
  prometheus::Counter* deadlineExceeded_[2];  // allowed, denied
  prometheus::Counter* timeouts_[kTimeoutSources];
};

}  // namespace kc::webhook
