#pragma once
// The admission door: turns an HTTP request carrying an AdmissionReview into a policy
// evaluation and the AdmissionReview answer. Policies come from a snapshot source, so a reload
// never changes the set a request started with. Thread-safe: handle() runs on many threads.

#include <functional>
#include <memory>

#include "common/http_server.h"
#include "common/metrics.h"
#include "policies/engine.h"
#include "webhook/policy_metrics.h"
#include "webhook/webhook_metrics.h"

namespace kc::webhook {

using PolicySource = std::function<std::shared_ptr<const policy::PolicySet>()>;

class AdmissionHandler {
 public:
  AdmissionHandler(PolicySource policies, WebhookMetrics& metrics,
                   metrics::ServerMetrics& serverMetrics, PolicyMetrics* policyMetrics = nullptr);

  void handle(const http::Request& req, http::Response& res) const;

 private:
  PolicySource policies_;
  WebhookMetrics& metrics_;
  metrics::ServerMetrics& serverMetrics_;
  PolicyMetrics* policyMetrics_;
};

}  // namespace kc::webhook
