#include "controller/events/audit_metrics.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstring>
#include <mutex>
#include <utility>

namespace kc::audit {
namespace {

// Label values that are not in the fixed sets are folded into "other". The results view
// static storage or the argument: no allocation.
std::string_view bounded(std::string_view v, std::initializer_list<std::string_view> allowed) {
  for (auto a : allowed) {
    if (a == v) return a;
  }
  return "other";
}

std::string_view source(std::string_view s) { return bounded(s, {"log", "webhook", "replay"}); }

std::string_view severity(std::string_view s) {
  return bounded(s, {"critical", "high", "medium", "low", "info"});
}

// Rule ids are chosen by the code, but keep the label safe from anything odd.
std::string_view rule(std::string_view r) {
  if (r.empty() || r.size() > 64) return "other";
  for (char c : r) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-'))
      return "other";
  }
  return r;
}

// Cache key "<tag>|a[|b]" built on the stack (labels are at most 64 characters each).
class Key {
 public:
  Key(char tag, std::string_view a, std::string_view b = {}, bool two = false) {
    buf_[n_++] = tag;
    add(a);
    if (two) add(b);
  }
  std::string_view view() const { return {buf_, n_}; }

 private:
  void add(std::string_view v) {
    buf_[n_++] = '|';
    const size_t k = std::min(v.size(), sizeof(buf_) - n_);
    std::memcpy(buf_ + n_, v.data(), k);
    n_ += k;
  }
  char buf_[160];
  size_t n_ = 0;
};

// An event's own time, but never later than now. The gauge only rises, so one event dated in the
// future (a skewed clock, or a forged year 9999 in the log) would hold it above every real
// event's time and blind the audit-silence alert; clamped, it counts as received now.
double notAfterNow(double unixSeconds) {
  const double now =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  return std::min(unixSeconds, now);
}

}  // namespace

AlertCounters alertCounters(prometheus::Registry& registry) {
  AlertCounters c;
  c.sent = &prometheus::BuildCounter()
                .Name("kube_customs_alertmanager_alerts_sent_total")
                .Help("Alerts accepted by Alertmanager (re-sends included).")
                .Register(registry)
                .Add({});
  c.failures = &prometheus::BuildCounter()
                    .Name("kube_customs_alertmanager_send_failures_total")
                    .Help("Failed attempts to post alerts to Alertmanager.")
                    .Register(registry)
                    .Add({});
  c.dropped = &prometheus::BuildCounter()
                   .Name("kube_customs_alertmanager_alerts_dropped_total")
                   .Help("Alerts dropped because the send queue was full.")
                   .Register(registry)
                   .Add({});
  return c;
}

AuditMetrics::AuditMetrics(prometheus::Registry& registry) {
  receivedFamily_ = &prometheus::BuildCounter()
                         .Name("kube_customs_audit_events_received_total")
                         .Help("Audit events parsed and handed to detection, by source.")
                         .Register(registry);
  droppedFamily_ = &prometheus::BuildCounter()
                        .Name("kube_customs_audit_events_dropped_total")
                        .Help("Audit events dropped before detection, by source and reason.")
                        .Register(registry);
  unparsableFamily_ = &prometheus::BuildCounter()
                           .Name("kube_customs_audit_events_unparsable_total")
                           .Help("Audit documents or events that could not be parsed, by source.")
                           .Register(registry);
  duplicateFamily_ = &prometheus::BuildCounter()
                          .Name("kube_customs_audit_events_duplicate_total")
                          .Help(
                              "Audit events seen again (same auditID and stage: API server "
                              "retries, re-read lines after a restart) and skipped, by source.")
                          .Register(registry);
  lastEventFamily_ = &prometheus::BuildGauge()
                          .Name("kube_customs_audit_last_event_timestamp_seconds")
                          .Help(
                              "Time of the newest audit event received, by source, Unix "
                              "seconds (the event's own timestamp, never later than the time "
                              "it was received).")
                          .Register(registry);
  findingsFamily_ = &prometheus::BuildCounter()
                         .Name("kube_customs_audit_findings_total")
                         .Help("Audit findings, by detection rule and severity.")
                         .Register(registry);
  stateFileErrorsFamily_ =
      &prometheus::BuildCounter()
           .Name("kube_customs_audit_state_file_errors_total")
           .Help(
               "Audit state files (baseline, memory, checkpoint) that could not be used at "
               "start: damaged or unreadable; the role went on without them.")
           .Register(registry);
  queueFull_ = &prometheus::BuildCounter()
                    .Name("kube_customs_audit_webhook_rejected_batches_total")
                    .Help("Audit webhook batches answered 429 because the queue was full.")
                    .Register(registry)
                    .Add({});
  spoolErrors_ = &prometheus::BuildCounter()
                      .Name("kube_customs_audit_webhook_spool_errors_total")
                      .Help(
                          "Audit webhook batches answered 503 because they could not be "
                          "written to the spool (so not acknowledged), and spool marks that "
                          "failed.")
                      .Register(registry)
                      .Add({});
  queueBytes_ = &prometheus::BuildGauge()
                     .Name("kube_customs_audit_queue_bytes")
                     .Help("Bytes of audit batches waiting for detection.")
                     .Register(registry)
                     .Add({});
  const AlertCounters alerts = alertCounters(registry);
  alertsSent_ = alerts.sent;
  alertFailures_ = alerts.failures;
  alertsDropped_ = alerts.dropped;
  auto logCounter = [&](const char* name, const char* help) {
    return &prometheus::BuildCounter().Name(name).Help(help).Register(registry).Add({});
  };
  logReadErrors_ = logCounter(
      "kube_customs_audit_log_read_errors_total",
      "Failures to open or read the followed audit log, and paths that are not a regular file "
      "(FIFO, device, directory); the path is opened again at the next poll.");
  logBytesRead_ = logCounter("kube_customs_audit_log_bytes_read_total",
                             "Bytes read from the followed audit log and its rotated files.");
  logRotations_ = logCounter("kube_customs_audit_log_rotations_total",
                             "Switches of the audit log follower to a new file after a rename.");
  logTruncations_ = logCounter(
      "kube_customs_audit_log_truncations_total",
      "Audit log truncations (copytruncate, changed first bytes): read again from the start.");
  logCheckpointResets_ = logCounter(
      "kube_customs_audit_log_checkpoint_resets_total",
      "Audit log checkpoints unreadable or whose file was not found: read from the start.");
  logUnterminatedLines_ = logCounter(
      "kube_customs_audit_log_unterminated_lines_total",
      "Rotated audit log files that ended without a newline (their last line delivered).");
  logNulBytes_ = logCounter("kube_customs_audit_log_nul_bytes_total",
                            "NUL bytes in the audit log (a crash's leftovers), read as line ends.");
  for (const char* s : {"log", "webhook"}) {
    received(s, 0);
    unparsable(s, 0);
  }
  // Present at zero from the start, so that an alert on increase() sees the first error.
  for (const char* f : {"baseline", "memory", "checkpoint"})
    child(*stateFileErrorsFamily_, counters_, Key('s', f).view(), "file", f);
}

void AuditMetrics::logFile(const FileSourceStats& added) {
  const std::pair<prometheus::Counter*, uint64_t> counts[] = {
      {logReadErrors_, added.readErrors},
      {logBytesRead_, added.bytesRead},
      {logRotations_, added.rotations},
      {logTruncations_, added.truncations},
      {logCheckpointResets_, added.checkpointResets},
      {logUnterminatedLines_, added.unterminatedLines},
      {logNulBytes_, added.nulBytes}};
  for (const auto& [counter, n] : counts) {
    if (n > 0) counter->Increment(static_cast<double>(n));
  }
}

template <typename T>
T& AuditMetrics::child(prometheus::Family<T>& family, std::map<std::string, T*, std::less<>>& cache,
                       std::string_view key, const char* name1, std::string_view value1,
                       const char* name2, std::string_view value2) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = cache.find(key);
  if (it != cache.end()) return *it->second;
  std::map<std::string, std::string> labels{{name1, std::string(value1)}};
  if (name2 != nullptr) labels.emplace(name2, std::string(value2));
  T& c = family.Add(labels);
  cache.emplace(std::string(key), &c);
  return c;
}

prometheus::Counter& AuditMetrics::receivedChild(std::string_view src) {
  return child(*receivedFamily_, counters_, Key('r', src).view(), "source", src);
}

prometheus::Counter& AuditMetrics::duplicateChild(std::string_view src) {
  return child(*duplicateFamily_, counters_, Key('p', src).view(), "source", src);
}

prometheus::Gauge& AuditMetrics::lastEventChild(std::string_view src) {
  return child(*lastEventFamily_, gauges_, Key('t', src).view(), "source", src);
}

void AuditMetrics::received(std::string_view s, double n) { receivedChild(source(s)).Increment(n); }

void AuditMetrics::dropped(std::string_view s, std::string_view reason, double n) {
  const std::string_view src = source(s), r = rule(reason);
  child(*droppedFamily_, counters_, Key('d', src, r, true).view(), "source", src, "reason", r)
      .Increment(n);
}

void AuditMetrics::unparsable(std::string_view s, double n) {
  const std::string_view src = source(s);
  child(*unparsableFamily_, counters_, Key('u', src).view(), "source", src).Increment(n);
}

void AuditMetrics::duplicate(std::string_view s, double n) {
  duplicateChild(source(s)).Increment(n);
}

void AuditMetrics::lastEvent(std::string_view s, double unixSeconds) {
  auto& g = lastEventChild(source(s));
  const double t = notAfterNow(unixSeconds);
  if (t > g.Value()) g.Set(t);
}

void AuditMetrics::finding(std::string_view r, std::string_view sev) {
  const std::string_view ru = rule(r), se = severity(sev);
  child(*findingsFamily_, counters_, Key('f', ru, se, true).view(), "rule", ru, "severity", se)
      .Increment();
}

void AuditMetrics::stateFileError(std::string_view file) {
  const std::string_view f = bounded(file, {"baseline", "memory", "checkpoint"});
  child(*stateFileErrorsFamily_, counters_, Key('s', f).view(), "file", f).Increment();
}

SourceMetrics AuditMetrics::forSource(std::string_view s) {
  SourceMetrics m;
  m.metrics_ = this;
  m.source_ = source(s);
  return m;
}

void SourceMetrics::received(double n) {
  if (metrics_ == nullptr) return;
  if (received_ == nullptr) received_ = &metrics_->receivedChild(source_);
  received_->Increment(n);
}

void SourceMetrics::duplicate(double n) {
  if (metrics_ == nullptr) return;
  if (duplicate_ == nullptr) duplicate_ = &metrics_->duplicateChild(source_);
  duplicate_->Increment(n);
}

void SourceMetrics::lastEvent(double unixSeconds) {
  if (metrics_ == nullptr) return;
  if (lastEvent_ == nullptr) lastEvent_ = &metrics_->lastEventChild(source_);
  const double t = notAfterNow(unixSeconds);
  if (t > lastEvent_->Value()) lastEvent_->Set(t);
}

namespace {
double valueOf(const std::map<std::string, prometheus::Counter*, std::less<>>& m,
               std::string_view key) {
  auto it = m.find(key);
  return it == m.end() ? 0 : it->second->Value();
}
}  // namespace

double AuditMetrics::receivedCount(std::string_view s) const {
  std::lock_guard<std::mutex> lock(mutex_);
  return valueOf(counters_, Key('r', source(s)).view());
}
double AuditMetrics::droppedCount(std::string_view s, std::string_view reason) const {
  std::lock_guard<std::mutex> lock(mutex_);
  return valueOf(counters_, Key('d', source(s), rule(reason), true).view());
}
double AuditMetrics::unparsableCount(std::string_view s) const {
  std::lock_guard<std::mutex> lock(mutex_);
  return valueOf(counters_, Key('u', source(s)).view());
}
double AuditMetrics::findingCount(std::string_view r, std::string_view sev) const {
  std::lock_guard<std::mutex> lock(mutex_);
  return valueOf(counters_, Key('f', rule(r), severity(sev), true).view());
}

double AuditMetrics::stateFileErrorCount(std::string_view file) const {
  std::lock_guard<std::mutex> lock(mutex_);
  return valueOf(counters_, Key('s', bounded(file, {"baseline", "memory", "checkpoint"})).view());
}

}  // namespace kc::audit
