#pragma once
// The failure boundary of every long-lived thread: an exception that escapes the handling of
// one request, event, alert or file write is logged with its context, counted in
// kube_customs_internal_errors_total{component}, and costs that one item, never the process.
// Counts are process-wide, kept from the start.
// Thread-safe.

#include <prometheus/metric_family.h>

#include <cstdint>
#include <exception>
#include <string_view>

namespace kc::internal {

enum class Component {
  kHttp,
  kAuditWorker,
  kAlertmanager,
  kBackgroundWriter,
  kNodeWatcher,
  kResponder
};
inline constexpr int kComponentCount = 6;

// The `component` label value: "http", "audit_worker", "alertmanager", "background_writer",
// "node_watcher", "responder".
std::string_view componentName(Component c);

// Logs `what` (with `context`, e.g. an auditID or a path) and counts it.
void reportError(Component c, std::string_view context, std::string_view what);
std::uint64_t errorCount(Component c);

// kube_customs_internal_errors_total, read at each scrape (the metrics listener adds it to the
// registry's families).
prometheus::MetricFamily metricFamily();

// Runs `fn()`; an exception it throws is reported and swallowed. True when it returned.
template <typename Fn>
bool guarded(Component c, std::string_view context, Fn&& fn) {
  try {
    fn();
    return true;
  } catch (const std::exception& e) {
    reportError(c, context, e.what());
  } catch (...) {
    reportError(c, context, "unknown exception");
  }
  return false;
}

}  // namespace kc::internal
