#pragma once
// Metrics of the audit consumer: events received, dropped and unparsable by source, the time
// of the last event per source (for the audit-silence alert), findings by rule and severity,
// the webhook queue, the log file follower. Sources are a fixed set ("log", "webhook",
// "replay"); reasons, rules and severities too. Thread-safe.

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <tuple>

#include "controller/ingest/file_source.h"

namespace kc::audit {

class AuditMetrics;

// kube_customs_alertmanager_{alerts_sent,send_failures,alerts_dropped}_total: one set per
// process, counted by every door that sends alerts (registering again returns the same series).
struct AlertCounters {
  prometheus::Counter* sent = nullptr;
  prometheus::Counter* failures = nullptr;
  prometheus::Counter* dropped = nullptr;
};
AlertCounters alertCounters(prometheus::Registry& registry);

// The per-event metrics of one source, resolved once: received, duplicate and last-event
// updates go straight to the prometheus child without a lookup, a lock or an allocation.
// A child is created (through AuditMetrics) the first time it is used, so series appear
// exactly when the name-based calls would have created them. Not thread-safe: one owner
// (AuditPipeline keeps one for its current source); the counters themselves are atomic.
class SourceMetrics {
 public:
  SourceMetrics() = default;
  void received(double n = 1);
  void duplicate(double n = 1);
  // The newest event's own time; a time later than now is taken as now (see AuditMetrics).
  void lastEvent(double unixSeconds);

 private:
  friend class AuditMetrics;
  AuditMetrics* metrics_ = nullptr;
  std::string_view source_;  // one of the static label values
  prometheus::Counter* received_ = nullptr;
  prometheus::Counter* duplicate_ = nullptr;
  prometheus::Gauge* lastEvent_ = nullptr;
};

class AuditMetrics {
 public:
  explicit AuditMetrics(prometheus::Registry& registry);

  // Handles for `source` (folded into the bounded set like the calls below).
  SourceMetrics forSource(std::string_view source);

  void received(std::string_view source, double n = 1);
  void dropped(std::string_view source, std::string_view reason, double n = 1);
  void unparsable(std::string_view source, double n = 1);
  void duplicate(std::string_view source, double n = 1);
  // Raises the source's last-event gauge to the event's time, clamped to now: an event dated
  // in the future must not hold the gauge up and hide a silence that follows it.
  void lastEvent(std::string_view source, double unixSeconds);
  void finding(std::string_view rule, std::string_view severity);
  void queueFull() { queueFull_->Increment(); }
  void spoolError() { spoolErrors_->Increment(); }
  void queueBytes(double b) { queueBytes_->Set(b); }
  void alertSent(double n = 1) { alertsSent_->Increment(n); }
  void alertSendFailed() { alertFailures_->Increment(); }
  void alertDropped(double n = 1) { alertsDropped_->Increment(n); }
  // A state file (`baseline`, `memory`, `checkpoint`) that could not be used at start.
  void stateFileError(std::string_view file);
  // Adds the log file follower's counters grown since the last call (`added` holds the
  // differences): read errors, bytes, rotations, truncations, checkpoint resets, unterminated
  // lines, NUL bytes. Lines over the cap are counted by dropped().
  void logFile(const FileSourceStats& added);

  double receivedCount(std::string_view source) const;
  double droppedCount(std::string_view source, std::string_view reason) const;
  double unparsableCount(std::string_view source) const;
  double findingCount(std::string_view rule, std::string_view severity) const;
  double queueFullCount() const { return queueFull_->Value(); }
  double spoolErrorCount() const { return spoolErrors_->Value(); }
  double stateFileErrorCount(std::string_view file) const;

 private:
  friend class SourceMetrics;
  // The cached child for `key`; on a miss, adds it to `family` with the labels
  // {name1: value1[, name2: value2]}. Allocation-free on a hit.
  template <typename T>
  T& child(prometheus::Family<T>& family, std::map<std::string, T*, std::less<>>& cache,
           std::string_view key, const char* name1, std::string_view value1,
           const char* name2 = nullptr, std::string_view value2 = {});
  prometheus::Counter& receivedChild(std::string_view src);
  prometheus::Counter& duplicateChild(std::string_view src);
  prometheus::Gauge& lastEventChild(std::string_view src);

  mutable std::mutex mutex_;
  prometheus::Family<prometheus::Counter>* receivedFamily_;
  prometheus::Family<prometheus::Counter>* droppedFamily_;
  prometheus::Family<prometheus::Counter>* unparsableFamily_;
  prometheus::Family<prometheus::Counter>* duplicateFamily_;
  prometheus::Family<prometheus::Gauge>* lastEventFamily_;
  prometheus::Family<prometheus::Counter>* findingsFamily_;
  prometheus::Family<prometheus::Counter>* stateFileErrorsFamily_;
  std::map<std::string, prometheus::Counter*, std::less<>> counters_;
  std::map<std::string, prometheus::Gauge*, std::less<>> gauges_;
  prometheus::Counter* queueFull_;
  prometheus::Counter* spoolErrors_;
  prometheus::Gauge* queueBytes_;
  prometheus::Counter* alertsSent_;
  prometheus::Counter* alertFailures_;
  prometheus::Counter* alertsDropped_;
  prometheus::Counter* logReadErrors_;
  prometheus::Counter* logBytesRead_;
  prometheus::Counter* logRotations_;
  prometheus::Counter* logTruncations_;
  prometheus::Counter* logCheckpointResets_;
  prometheus::Counter* logUnterminatedLines_;
  prometheus::Counter* logNulBytes_;
};

}  // namespace kc::audit
