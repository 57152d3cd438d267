#include "webhook/admission_handler.h"

#include <chrono>
#include <mutex>
#include <optional>

#include "common/json_writer.h"
#include "common/log.h"
#include "common/utf8.h"
#include "webhook/admission_review.h"
#include "webhook/review_deadline.h"

namespace kc::webhook {
namespace {

// Caps of an admission log line (see handle()).
constexpr std::size_t kMaxLoggedViolations = 64;
constexpr std::size_t kMaxLoggedField = 512;
// The part of an unreadable timeout parameter's query string that is logged.
constexpr std::size_t kMaxLoggedQuery = 128;

policy::Deadline::Clock::time_point steadyNow() { return std::chrono::steady_clock::now(); }

// What a review answered at its deadline says, whichever way it goes.
std::string deadlineText(std::chrono::milliseconds timeout, DeadlineAction action) {
  return "kube-customs could not finish judging this request within the API server's " +
         formatTimeout(timeout) + " timeout; " +
         (action == DeadlineAction::kDeny ? "denied unjudged (webhook.deadlineAction: deny)"
                                          : "admitted unjudged (webhook.deadlineAction: allow)") +
         "; retry, and if it persists ask the cluster's administrators to look at kube-customs' "
         "latency";
}

}  // namespace

bool parseDeadlineAction(std::string_view text, DeadlineAction& out) {
  if (text == "deny") {
    out = DeadlineAction::kDeny;
    return true;
  }
  if (text == "allow") {
    out = DeadlineAction::kAllow;
    return true;
  }
  return false;
}

AdmissionHandler::AdmissionHandler(PolicySource policies, WebhookMetrics& metrics,
                                   metrics::ServerMetrics& serverMetrics,
                                   PolicyMetrics* policyMetrics, HandlerOptions options)
    : policies_(std::move(policies)),
      metrics_(metrics),
      serverMetrics_(serverMetrics),
      policyMetrics_(policyMetrics),
      options_(options) {
  if (options_.clock == nullptr) options_.clock = &steadyNow;
}

void AdmissionHandler::handle(const http::Request& req, http::Response& res) const {
  const auto start = std::chrono::steady_clock::now();
  // The deadline counts from the request's arrival: time spent waiting for a thread, reading
  // the body or waiting for the large-review parser is the API server's time too.
  const ReviewTimeout timeout = reviewTimeout(req.target);
  metrics_.timeout(timeout.source);
  if (timeout.source == TimeoutSource::kInvalid) {
    const std::string_view target = req.target;
    const auto q = target.find('?');
    log::warn("admission review timeout parameter not read; the API server's default applies",
              {{log::field::kReason, "invalid_timeout"},
               {log::field::kQuery,
                std::string(utf8::prefix(
                    q == std::string_view::npos ? std::string_view() : target.substr(q + 1),
                    kMaxLoggedQuery))},
               {log::field::kTimeoutSeconds,
                std::chrono::duration<double>(kDefaultReviewTimeout).count()}});
  }
  const auto arrived =
      req.received != policy::Deadline::Clock::time_point{} ? req.received : options_.clock();
  const policy::Deadline deadline{arrived + timeout.timeout - answerMargin(timeout.timeout),
                                  options_.clock};
  // A parser keeps the memory of the largest document it parsed, and a DOM can take many
  // times its text. Reviews up to kLargeBodyBytes use the thread's parser; larger ones are
  // parsed one at a time, each in a parser freed when its answer is ready, so the process
  // holds at most one large DOM whatever the traffic.
  thread_local AdmissionDecoder threadDecoder;
  static std::mutex largeReviews;
  std::unique_lock<std::mutex> largeTurn;
  std::optional<AdmissionDecoder> largeDecoder;
  if (req.body.size() > AdmissionDecoder::kLargeBodyBytes) {
    largeTurn = std::unique_lock<std::mutex>(largeReviews);
    largeDecoder.emplace();
  }
  AdmissionDecoder& decoder = largeDecoder ? *largeDecoder : threadDecoder;
  AdmissionRequest ar;
  const DecodeResult decoded = decoder.decode(req.body, ar);
  if (!decoded.ok()) {
    serverMetrics_.badRequest(reasonOf(decoded.error));
    log::warn("bad admission review", {{log::field::kEventType, log::event::kBadRequest},
                                       {log::field::kReason, reasonOf(decoded.error)},
                                       {log::field::kError, decoded.message}});
    res.status = decoded.error == DecodeError::kTooManyValues ? 413 : 400;
    res.body.clear();
    res.body += "{\"error\":";
    kc::json::appendJsonString(res.body, decoded.message);
    res.body += "}";
    return;
  }

  policy::EvalInput in = evalInputOf(ar);
  in.now = std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
  in.deadline = deadline;

  const std::shared_ptr<const policy::PolicySet> policies = policies_();
  policy::Verdict verdict;
  Outcome outcome;
  try {
    verdict = policies->evaluate(in);
    if (verdict.deadlineExceeded) {
      // A violation found in time denies, as more time would not have made it go away; else
      // the answer is deadlineAction's. Either way it says why judging stopped.
      std::string why;
      if (!verdict.allowed) {
        why = "kube-customs stopped judging this request at the API server's " +
              formatTimeout(timeout.timeout) +
              " timeout and denied it for the violations found until then";
        verdict.message += " (judging stopped at the API server's " +
                           formatTimeout(timeout.timeout) +
                           " timeout; there may be more violations)";
      } else {
        why = deadlineText(timeout.timeout, options_.deadlineAction);
        if (options_.deadlineAction == DeadlineAction::kDeny) {
          verdict.allowed = false;
          verdict.message = why;
        } else {
          verdict.warnings.push_back(why);  // after the engine's 16 at most
        }
      }
      verdict.auditAnnotations[std::string(kAuditAnnotationDeadline)] = why;
      metrics_.deadlineExceeded(!verdict.allowed);
      log::warn(
          "admission review answered at its deadline",
          {{log::field::kEventType, log::event::kAdmissionDeadlineExceeded},
           {log::field::kUid, ar.uid},
           {log::field::kKind, utf8::prefix(ar.kind.kind, kMaxLoggedField)},
           {log::field::kNamespace, utf8::prefix(ar.namespace_, kMaxLoggedField)},
           {log::field::kName, utf8::prefix(ar.name, kMaxLoggedField)},
           {log::field::kOperation, utf8::prefix(ar.operation, kMaxLoggedField)},
           {log::field::kAllowed, verdict.allowed},
           {log::field::kTimeoutSeconds, std::chrono::duration<double>(timeout.timeout).count()},
           {log::field::kDurationSeconds,
            std::chrono::duration<double>(options_.clock() - arrived).count()}});
    }
    if (policyMetrics_ != nullptr) policyMetrics_->evaluated(*policies, verdict, ar.kind.kind);
    outcome = !verdict.allowed            ? Outcome::kDenied
              : !verdict.warnings.empty() ? Outcome::kWarned
                                          : Outcome::kAllowed;
  } catch (const std::exception& e) {
    // Evaluation must not throw; if it does, answer an error so failurePolicy decides.
    log::error("policy evaluation failed",
               {{log::field::kUid, std::string(ar.uid)}, {log::field::kError, e.what()}});
    metrics_.request(Outcome::kError, 0);
    res.status = 500;
    res.body = "{\"error\":\"policy evaluation failed\"}";
    return;
  }

  AdmissionResponse out;
  out.uid = ar.uid;
  out.allowed = verdict.allowed;
  if (!verdict.allowed) {
    out.code = 403;
    out.reason = "Forbidden";
    out.message = verdict.message;
  }
  out.warnings = &verdict.warnings;
  out.auditAnnotations = &verdict.auditAnnotations;
  res.status = 200;
  res.body = encodeResponse(out);

  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  metrics_.request(outcome, seconds);

  if (outcome != Outcome::kAllowed || log::enabled(log::Level::kDebug)) {
    // The line stays under 64 KiB whatever the review: the deny message has its own cap, the
    // rule ids are listed up to kMaxLoggedViolations and the rest counted, and the fields that
    // come from the request are cut on a character boundary.
    nlohmann::json rules = nlohmann::json::array();
    for (std::size_t i = 0; i < verdict.violations.size() && i < kMaxLoggedViolations; ++i)
      rules.push_back(verdict.violations[i].rule);
    const char* event = outcome == Outcome::kDenied   ? log::event::kAdmissionDenied
                        : outcome == Outcome::kWarned ? log::event::kAdmissionWarned
                                                      : log::event::kAdmissionAllowed;
    log::write(outcome == Outcome::kAllowed ? log::Level::kDebug : log::Level::kInfo,
               outcome == Outcome::kDenied ? std::string_view(verdict.message)
                                           : std::string_view("admission review answered"),
               {{log::field::kEventType, event},
                {log::field::kUid, ar.uid},
                {log::field::kKind, utf8::prefix(ar.kind.kind, kMaxLoggedField)},
                {log::field::kNamespace, utf8::prefix(ar.namespace_, kMaxLoggedField)},
                {log::field::kName, utf8::prefix(ar.name, kMaxLoggedField)},
                {log::field::kOperation, utf8::prefix(ar.operation, kMaxLoggedField)},
                {log::field::kUser, utf8::prefix(ar.userInfo.username, kMaxLoggedField)},
                {log::field::kAllowed, verdict.allowed},
                {log::field::kDryRun, ar.dryRun},
                {log::field::kViolations, rules},
                {log::field::kViolationsOmitted, verdict.violations.size() - rules.size()},
                {log::field::kDurationSeconds, seconds}});
  }
}

}  // namespace kc::webhook
