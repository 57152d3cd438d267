#include "controller/audit_metrics.h"

#include <cctype>
#include <mutex>

namespace kc::audit {
namespace {

// Label values that are not in the fixed sets are folded into "other".
std::string bounded(std::string_view v, std::initializer_list<std::string_view> allowed) {
  for (auto a : allowed) {
    if (a == v) return std::string(v);
  }
  return "other";
}

std::string source(std::string_view s) { return bounded(s, {"log", "webhook", "replay"}); }

std::string severity(std::string_view s) {
  return bounded(s, {"critical", "high", "medium", "low", "info"});
}

// Rule ids are chosen by the code, but keep the label safe from anything odd.
std::string rule(std::string_view r) {
  if (r.empty() || r.size() > 64) return "other";
  for (char c : r) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-'))
      return "other";
  }
  return std::string(r);
}

}  // namespace

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
                         .Help("Audit events seen again (same auditID and stage: API server "
                               "retries, re-read lines after a restart) and skipped, by source.")
                         .Register(registry);
  lastEventFamily_ = &prometheus::BuildGauge()
                          .Name("kube_customs_audit_last_event_timestamp_seconds")
                          .Help("Time of the newest audit event received, by source, Unix "
                                "seconds (the event's own timestamp).")
                          .Register(registry);
  findingsFamily_ = &prometheus::BuildCounter()
                         .Name("kube_customs_audit_findings_total")
                         .Help("Audit findings, by detection rule and severity.")
                         .Register(registry);
  queueFull_ = &prometheus::BuildCounter()
                    .Name("kube_customs_audit_webhook_rejected_batches_total")
                    .Help("Audit webhook batches answered 429 because the queue was full.")
                    .Register(registry)
                    .Add({});
  queueBytes_ = &prometheus::BuildGauge()
                     .Name("kube_customs_audit_queue_bytes")
                     .Help("Bytes of audit batches waiting for detection.")
                     .Register(registry)
                     .Add({});
  alertsSent_ = &prometheus::BuildCounter()
                     .Name("kube_customs_alertmanager_alerts_sent_total")
                     .Help("Alerts accepted by Alertmanager (re-sends included).")
                     .Register(registry)
                     .Add({});
  alertFailures_ = &prometheus::BuildCounter()
                        .Name("kube_customs_alertmanager_send_failures_total")
                        .Help("Failed attempts to post alerts to Alertmanager.")
                        .Register(registry)
                        .Add({});
  alertsDropped_ = &prometheus::BuildCounter()
                        .Name("kube_customs_alertmanager_alerts_dropped_total")
                        .Help("Alerts dropped because the send queue was full.")
                        .Register(registry)
                        .Add({});
  for (const char* s : {"log", "webhook"}) {
    received(s, 0);
    unparsable(s, 0);
  }
}

template <typename T>
T& AuditMetrics::child(prometheus::Family<T>& family, std::map<std::string, T*, std::less<>>& cache,
                       const std::map<std::string, std::string>& labels, const std::string& key) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = cache.find(key);
  if (it != cache.end()) return *it->second;
  T& c = family.Add(labels);
  cache.emplace(key, &c);
  return c;
}

void AuditMetrics::received(std::string_view s, double n) {
  const std::string src = source(s);
  child(*receivedFamily_, counters_, {{"source", src}}, "r|" + src).Increment(n);
}

void AuditMetrics::dropped(std::string_view s, std::string_view reason, double n) {
  const std::string src = source(s);
  const std::string r = rule(reason);
  child(*droppedFamily_, counters_, {{"source", src}, {"reason", r}}, "d|" + src + "|" + r)
      .Increment(n);
}

void AuditMetrics::unparsable(std::string_view s, double n) {
  const std::string src = source(s);
  child(*unparsableFamily_, counters_, {{"source", src}}, "u|" + src).Increment(n);
}

void AuditMetrics::duplicate(std::string_view s, double n) {
  const std::string src = source(s);
  child(*duplicateFamily_, counters_, {{"source", src}}, "p|" + src).Increment(n);
}

void AuditMetrics::lastEvent(std::string_view s, double unixSeconds) {
  const std::string src = source(s);
  auto& g = child(*lastEventFamily_, gauges_, {{"source", src}}, "t|" + src);
  if (unixSeconds > g.Value()) g.Set(unixSeconds);
}

void AuditMetrics::finding(std::string_view r, std::string_view sev) {
  const std::string ru = rule(r), se = severity(sev);
  child(*findingsFamily_, counters_, {{"rule", ru}, {"severity", se}}, "f|" + ru + "|" + se)
      .Increment();
}

namespace {
double valueOf(const std::map<std::string, prometheus::Counter*, std::less<>>& m,
               const std::string& key) {
  auto it = m.find(key);
  return it == m.end() ? 0 : it->second->Value();
}
}  // namespace

double AuditMetrics::receivedCount(std::string_view s) const {
  std::lock_guard<std::mutex> lock(mutex_);
  return valueOf(counters_, "r|" + source(s));
}
double AuditMetrics::droppedCount(std::string_view s, std::string_view reason) const {
  std::lock_guard<std::mutex> lock(mutex_);
  return valueOf(counters_, "d|" + source(s) + "|" + rule(reason));
}
double AuditMetrics::unparsableCount(std::string_view s) const {
  std::lock_guard<std::mutex> lock(mutex_);
  return valueOf(counters_, "u|" + source(s));
}
double AuditMetrics::findingCount(std::string_view r, std::string_view sev) const {
  std::lock_guard<std::mutex> lock(mutex_);
  return valueOf(counters_, "f|" + rule(r) + "|" + severity(sev));
}

}  // namespace kc::audit
