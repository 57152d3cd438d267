#include "controller/detect/pipeline.h"

#include <algorithm>

#include "common/internal_errors.h"

namespace kc::audit {
namespace {

int64_t wallMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

AuditPipeline::AuditPipeline(PipelineOptions options, Detector& detector, AuditMetrics* metrics,
                             FindingCallback onFinding, Clock clock)
    : secret_(options.secret),
      parser_(options.limits),
      deduper_(options.dedupe),
      detector_(detector),
      metrics_(metrics),
      onFinding_(std::move(onFinding)),
      clock_(clock ? std::move(clock) : Clock(wallMicros)) {
  parser_.setStage1Thread(options.stage1Thread);
  detector_.setRequestSecret(secret_);  // its request keys are journaled with this secret
}

void AuditPipeline::remember(const std::vector<DedupeKey>& keys) {
  const int64_t now = clock_();
  for (const auto& k : keys) deduper_.firstSeen(k, now);
}

void AuditPipeline::countNew(int64_t eventMicros, const DedupeKey& key,
                             std::vector<DedupeKey>* seen) {
  if (seen != nullptr) seen->push_back(key);
  ++events_;
  ++batch_.received;
  batch_.lastMicros = std::max(batch_.lastMicros, eventMicros);
}

void AuditPipeline::settleDeferred(int64_t now, std::vector<DedupeKey>* seen) {
  for (size_t i = 0; i < deferredCount_; ++i) {
    const Deferred& d = deferred_[i];
    if (deduper_.firstSeen(d.key, now)) {
      countNew(d.micros, d.key, seen);
      auditIds_.remember(d.id);
    } else {
      ++duplicates_;
      ++batch_.duplicates;
    }
  }
  deferredCount_ = 0;
}

void AuditPipeline::onEvent(const Event& e, std::string_view source, std::vector<DedupeKey>* seen,
                            const ReportedHook* reported, int64_t now) {
  const Detector::Plan plan = detector_.planFor(e);
  const RequestIdentity request = e.request();
  // Hashed once, used twice (the deduper, the journal).
  const DedupeKey key = eventKey(secret_, request, e.stage, e.stageTimestamp);
  if (plan.empty()) {
    const AuditIdMemory::Id id = AuditIdMemory::of(secret_, request);
    deduper_.prefetch(key);
    auditIds_.prefetch(id);
    deferred_[deferredCount_++] = {key, id, e.timeMicros};
    if (deferredCount_ == kMaxDeferred) settleDeferred(now, seen);
    return;
  }
  // The deferred events come first, so that everything stays in input order: the deduper's
  // memory, and the auditIDs. Their slots have been loading since they were deferred.
  settleDeferred(now, seen);
  if (!deduper_.firstSeen(key, now)) {
    ++duplicates_;
    ++batch_.duplicates;
    return;
  }
  countNew(e.timeMicros, key, seen);
  // Only requests some rule acts on are checked for a reused auditID: reusing the ID of an
  // earlier request to have this one dropped is what matters (the earlier one may be anything).
  const AuditIdMemory::Id id = AuditIdMemory::of(secret_, request);
  const bool reused = auditIds_.reused(id);
  auditIds_.remember(id);
  scratch_.clear();
  // The event's failure boundary: an exception while judging it, or while reporting one of its
  // findings, costs that event or finding (logged with its auditID, counted), not the stream.
  internal::guarded(internal::Component::kAuditWorker, e.auditID, [&] {
    if (reused) detector_.reportAuditIdReuse(e, scratch_);
    detector_.onEvent(e, plan, scratch_);
  });
  for (const auto& f : scratch_) {
    ++findings_;
    if (metrics_ != nullptr) metrics_->finding(f.rule, severityName(f.severity));
    if (onFinding_)
      internal::guarded(internal::Component::kAuditWorker, e.auditID, [&] { onFinding_(f); });
  }
  if (!scratch_.empty() && afterFindings_)
    internal::guarded(internal::Component::kAuditWorker, e.auditID, [&] { afterFindings_(); });
  if (!scratch_.empty() && reported != nullptr && *reported) {
    (*reported)(key);
    // Recorded: not handed to `seen` as well (countNew just put it last there).
    if (seen != nullptr && !seen->empty() && seen->back() == key) seen->pop_back();
  }
}

void AuditPipeline::account(const ParseStats& s, std::string_view source) {
  stats_ += s;
  // The per-event counters of the batch, added once.
  if (metrics_ != nullptr) {
    SourceMetrics& m = sourceMetrics(source);
    if (batch_.received > 0) m.received(static_cast<double>(batch_.received));
    if (batch_.duplicates > 0) m.duplicate(static_cast<double>(batch_.duplicates));
    if (batch_.lastMicros > 0) m.lastEvent(static_cast<double>(batch_.lastMicros) / 1e6);
  }
  batch_ = {};
  if (metrics_ == nullptr) return;
  for (size_t i = 0; i < kRejectReasonCount; ++i) {
    const auto reason = static_cast<RejectReason>(i);
    const uint64_t n = s.rejectedFor(reason);
    if (n == 0) continue;
    // Events too large for the caps are dropped on purpose; the rest could not be read.
    if (reason == RejectReason::kTooLarge || reason == RejectReason::kTooDeep)
      metrics_->dropped(source, rejectReasonName(reason), static_cast<double>(n));
    else
      metrics_->unparsable(source, static_cast<double>(n));
  }
}

void AuditPipeline::processDocument(std::string_view doc, std::string_view source,
                                    std::vector<DedupeKey>* seen) {
  const int64_t now = clock_();  // once per batch: the window is minutes long
  const ParseStats stats =
      parser_.parse(doc, [&](const Event& e) { onEvent(e, source, seen, nullptr, now); });
  settleDeferred(now, seen);
  account(stats, source);
}

void AuditPipeline::processLines(std::string_view text, std::string_view source, bool padded,
                                 std::vector<DedupeKey>* seen, const ReportedHook* reported) {
  const int64_t now = clock_();  // once per batch: the window is minutes long
  const ParseStats stats = parser_.parseLines(
      text, [&](const Event& e) { onEvent(e, source, seen, reported, now); }, padded);
  settleDeferred(now, seen);
  account(stats, source);
}

}  // namespace kc::audit
