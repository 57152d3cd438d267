#pragma once
// The audit door's processing chain, shared by every source (log file, webhook backend,
// offline replay): parse (EventParser), count, drop repeats of (auditID, stage), detect
// (Detector) and hand each finding to the caller. Bad documents and events are counted by
// reason and skipped; the stream goes on.
// Thread-safety: not thread-safe (parser, deduper and detector state); one thread owns it.

#include <array>
#include <chrono>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "controller/detect/detections.h"
#include "controller/events/audit_event.h"
#include "controller/events/audit_ids.h"
#include "controller/events/audit_metrics.h"
#include "controller/events/dedupe.h"

namespace kc::audit {

struct PipelineOptions {
  ParserLimits limits;
  Deduper::Options dedupe;
  bool stage1Thread = false;  // EventParser::setStage1Thread
  // The secret of the dedupe keys (dedupe.h): the one the state's journals were written with
  // (the audit service adopts it, StateDir::adoptSecret). Handed to the Detector as well, for
  // its request keys (Detector::setRequestSecret).
  DedupeSecret secret = DedupeSecret::processDefault();
};

class AuditPipeline {
 public:
  using FindingCallback = std::function<void(const Finding&)>;
  // Clock for the deduper's window; injected in tests.
  using Clock = std::function<int64_t()>;

  AuditPipeline(PipelineOptions options, Detector& detector, AuditMetrics* metrics,
                FindingCallback onFinding, Clock clock = nullptr);

  // Called with an event's key right after its findings were handed to the FindingCallback,
  // so that a DedupeJournal can record it before the next event is handled: a crash then
  // repeats at most the findings of the event in hand (see LogIngest).
  using ReportedHook = std::function<void(const DedupeKey&)>;

  // One JSON document: a webhook batch (EventList), one event, an array. `seen` (optional)
  // receives the keys of events handled for the first time, for a DedupeJournal.
  void processDocument(std::string_view doc, std::string_view source,
                       std::vector<DedupeKey>* seen = nullptr);
  // JSON lines (the log backend). `padded`: simdjson padding readable after the buffer.
  // `reported` (optional): see ReportedHook; a key handed to it is not put in `seen` as well.
  void processLines(std::string_view text, std::string_view source, bool padded,
                    std::vector<DedupeKey>* seen = nullptr, const ReportedHook* reported = nullptr);

  // Called once an event's findings were all handed to the FindingCallback (only for events
  // with findings), before its ReportedHook: what must be recorded only after a finding is out
  // (the reported sessions of Detector::setDecidedHook) is recorded here, so a kill -9 between
  // the two can repeat a finding but never lose one.
  void setAfterFindings(std::function<void()> hook) { afterFindings_ = std::move(hook); }

  // Called on each rejection of the parser (EventParser::setRejectHook).
  void setRejectHook(EventParser::RejectHook hook) { parser_.setRejectHook(std::move(hook)); }

  // Marks keys as already handled (from a DedupeJournal at start-up).
  void remember(const std::vector<DedupeKey>& keys);

  const DedupeSecret& secret() const { return secret_; }
  uint64_t events() const { return events_; }
  uint64_t duplicates() const { return duplicates_; }
  uint64_t findings() const { return findings_; }
  const ParseStats& parseStats() const { return stats_; }

 private:
  void onEvent(const Event& e, std::string_view source, std::vector<DedupeKey>* seen,
               const ReportedHook* reported, int64_t now);
  // Counts an event seen for the first time (and hands its key to `seen`).
  void countNew(int64_t eventMicros, const DedupeKey& key, std::vector<DedupeKey>* seen);
  // Looks up the deferred events (see onEvent) and counts them.
  void settleDeferred(int64_t now, std::vector<DedupeKey>* seen);
  void account(const ParseStats& s, std::string_view source);
  // The per-event metric handles of `source` (re-resolved when the source changes).
  SourceMetrics& sourceMetrics(std::string_view source) {
    if (!metricsResolved_ || source != metricsSource_) {
      metricsResolved_ = true;
      metricsSource_.assign(source);
      sourceMetrics_ = metrics_->forSource(source);
    }
    return sourceMetrics_;
  }

  const DedupeSecret secret_;
  EventParser parser_;
  Deduper deduper_;
  AuditIdMemory auditIds_;
  Detector& detector_;
  AuditMetrics* metrics_;
  FindingCallback onFinding_;
  std::function<void()> afterFindings_;
  Clock clock_;
  std::vector<Finding> scratch_;
  std::string metricsSource_;
  bool metricsResolved_ = false;
  SourceMetrics sourceMetrics_;  // for metricsSource_
  ParseStats stats_;
  uint64_t events_ = 0, duplicates_ = 0, findings_ = 0;
  // Events no rule reports or remembers anything for (an empty Detector::Plan): whether they
  // were seen before only changes counts, so their lookups wait in a small group, each slot
  // prefetched as the event is deferred. Settled before the next event a rule acts on, and
  // before a document or buffer is accounted.
  struct Deferred {
    DedupeKey key;
    AuditIdMemory::Id id;
    int64_t micros;
  };
  static constexpr size_t kMaxDeferred = 16;
  std::array<Deferred, kMaxDeferred> deferred_;
  size_t deferredCount_ = 0;
  // Counted per event, added to the metrics once per document or buffer of lines.
  struct BatchCounts {
    uint64_t received = 0, duplicates = 0;
    int64_t lastMicros = 0;
  } batch_;
};

}  // namespace kc::audit
