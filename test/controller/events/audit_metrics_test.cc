#include "controller/events/audit_metrics.h"

#include <prometheus/registry.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <string>

#include "test/controller/series_value.h"

namespace kc::audit {
namespace {

using kc::testing::seriesValue;

TEST_CASE("SourceHandlesUpdateTheSameSeriesAsTheNamedCalls") {
  prometheus::Registry registry;
  AuditMetrics metrics(registry);
  SourceMetrics h = metrics.forSource("replay");
  // Nothing is created before first use: no zero-valued last-event gauge for the silence alert.
  CHECK(seriesValue(registry, "kube_customs_audit_last_event_timestamp_seconds",
                    {{"source", "replay"}}) == -1);
  CHECK(seriesValue(registry, "kube_customs_audit_events_duplicate_total",
                    {{"source", "replay"}}) == -1);
  h.received();
  h.received(2);
  metrics.received("replay");
  CHECK(metrics.receivedCount("replay") == 4);
  h.duplicate();
  metrics.duplicate("replay", 2);
  CHECK(seriesValue(registry, "kube_customs_audit_events_duplicate_total",
                    {{"source", "replay"}}) == 3);
  h.lastEvent(100);
  h.lastEvent(50);  // never goes back
  CHECK(seriesValue(registry, "kube_customs_audit_last_event_timestamp_seconds",
                    {{"source", "replay"}}) == 100);
  metrics.lastEvent("replay", 120);
  h.lastEvent(110);
  CHECK(seriesValue(registry, "kube_customs_audit_last_event_timestamp_seconds",
                    {{"source", "replay"}}) == 120);
}

TEST_CASE("UnknownSourcesFoldIntoOther") {
  prometheus::Registry registry;
  AuditMetrics metrics(registry);
  SourceMetrics h = metrics.forSource("something-else");
  h.received();
  metrics.received("also-unknown");
  CHECK(metrics.receivedCount("other") == 2);
  CHECK(seriesValue(registry, "kube_customs_audit_events_received_total", {{"source", "other"}}) ==
        2);
  // The fixed sources exist from the start at zero.
  CHECK(seriesValue(registry, "kube_customs_audit_events_received_total", {{"source", "log"}}) ==
        0);
}

TEST_CASE("FindingsAndDropsKeepTheirLabels") {
  prometheus::Registry registry;
  AuditMetrics metrics(registry);
  metrics.finding("pod-exec", "high");
  metrics.finding("pod-exec", "high");
  metrics.finding("bad rule!", "weird");
  CHECK(metrics.findingCount("pod-exec", "high") == 2);
  CHECK(metrics.findingCount("other", "other") == 1);
  CHECK(seriesValue(registry, "kube_customs_audit_findings_total",
                    {{"rule", "pod-exec"}, {"severity", "high"}}) == 2);
  CHECK(seriesValue(registry, "kube_customs_audit_findings_total",
                    {{"rule", "other"}, {"severity", "other"}}) == 1);
  metrics.dropped("log", "too_large", 3);
  CHECK(metrics.droppedCount("log", "too_large") == 3);
  CHECK(seriesValue(registry, "kube_customs_audit_events_dropped_total",
                    {{"source", "log"}, {"reason", "too_large"}}) == 3);
  metrics.unparsable("webhook", 2);
  CHECK(metrics.unparsableCount("webhook") == 2);
  // A 64-character rule is a label; a longer one is folded.
  const std::string longest(64, 'a');
  metrics.finding(longest, "low");
  metrics.finding(longest + "a", "low");
  CHECK(metrics.findingCount(longest, "low") == 1);
  CHECK(metrics.findingCount("other", "low") == 1);
}

double nowSeconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// The gauge only rises: an event dated in the future must not hold it up (the audit-silence
// alert would never fire again), so its time is taken as the time it was received.
TEST_CASE("AnEventDatedInTheFutureCountsAsReceivedNow") {
  prometheus::Registry registry;
  AuditMetrics metrics(registry);
  SourceMetrics h = metrics.forSource("log");
  constexpr double kYear9999 = 253402300799;  // 9999-12-31T23:59:59Z
  const double before = nowSeconds();
  h.lastEvent(kYear9999);
  metrics.lastEvent("webhook", kYear9999);
  const double after = nowSeconds();
  for (const char* source : {"log", "webhook"}) {
    INFO(source);
    const double v = seriesValue(registry, "kube_customs_audit_last_event_timestamp_seconds",
                                 {{"source", source}});
    CHECK(v >= before);
    CHECK(v <= after);
  }
  // A past event's own time is kept.
  SourceMetrics replay = metrics.forSource("replay");
  replay.lastEvent(1714557600);
  CHECK(seriesValue(registry, "kube_customs_audit_last_event_timestamp_seconds",
                    {{"source", "replay"}}) == 1714557600);
}

}  // namespace
}  // namespace kc::audit
