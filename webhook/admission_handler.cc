#include "webhook/admission_handler.h"

#include <chrono>
#include <mutex>
#include <optional>

#include "common/json_writer.h"
#include "common/log.h"
#include "common/utf8.h"
#include "webhook/admission_review.h"

namespace kc::webhook {
namespace {

// Caps of an admission log line (see handle()).
constexpr std::size_t kMaxLoggedViolations = 64;
constexpr std::size_t kMaxLoggedField = 512;

}  // namespace

AdmissionHandler::AdmissionHandler(PolicySource policies, WebhookMetrics& metrics,
                                   metrics::ServerMetrics& serverMetrics,
                                   PolicyMetrics* policyMetrics)
    : policies_(std::move(policies)),
      metrics_(metrics),
      serverMetrics_(serverMetrics),
      policyMetrics_(policyMetrics) {}

void AdmissionHandler::handle(const http::Request& req, http::Response& res) const {
  const auto start = std::chrono::steady_clock::now();
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

  const std::shared_ptr<const policy::PolicySet> policies = policies_();
  policy::Verdict verdict;
  Outcome outcome;
  try {
    verdict = policies->evaluate(in);
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
