#pragma once
// The admission door: turns an HTTP request carrying an AdmissionReview into a policy
// evaluation and the AdmissionReview answer. Policies come from a snapshot source, so a reload
// never changes the set a request started with. Thread-safe: handle() runs on many threads.

#include <functional>
#include <memory>
#include <string_view>

#include "common/http_server.h"
#include "common/metrics.h"
#include "policies/engine.h"
#include "webhook/policy_metrics.h"
#include "webhook/webhook_metrics.h"

namespace kc::webhook {

using PolicySource = std::function<std::shared_ptr<const policy::PolicySet>()>;

// The answer to a review whose judging reaches its deadline (webhook.deadlineAction).
enum class DeadlineAction { kDeny, kAllow };
// "deny" or "allow"; false for anything else.
bool parseDeadlineAction(std::string_view text, DeadlineAction& out);

// Audit annotation set on a review answered at its deadline: why it was not fully judged.
inline constexpr std::string_view kAuditAnnotationDeadline = "kube-customs.io/deadline-exceeded";

struct HandlerOptions {
  DeadlineAction deadlineAction = DeadlineAction::kDeny;
  // The clock of deadlines; steady_clock's when null. Tests give their own.
  policy::Deadline::Clock::time_point (*clock)() = nullptr;
};

class AdmissionHandler {
 public:
  AdmissionHandler(PolicySource policies, WebhookMetrics& metrics,
                   metrics::ServerMetrics& serverMetrics, PolicyMetrics* policyMetrics = nullptr,
                   HandlerOptions options = {});

  // Answers a review before the API server stops waiting for it: the deadline is the
  // request's arrival (Request::received, else now) plus the `timeout` of its query string
  // (review_deadline.h) less the answer margin. Judging that reaches it stops and answers by
  // options.deadlineAction, counted and logged.
  void handle(const http::Request& req, http::Response& res) const;

 private:
  PolicySource policies_;
  WebhookMetrics& metrics_;
  metrics::ServerMetrics& serverMetrics_;
  PolicyMetrics* policyMetrics_;
  HandlerOptions options_;
};

}  // namespace kc::webhook
