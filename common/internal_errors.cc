#include "common/internal_errors.h"

#include <prometheus/client_metric.h>

#include <array>
#include <atomic>
#include <string>

#include "common/log.h"

namespace kc::internal {
namespace {

std::array<std::atomic<std::uint64_t>, kComponentCount> gCounts{};

}  // namespace

std::string_view componentName(Component c) {
  switch (c) {
    case Component::kHttp:
      return "http";
    case Component::kAuditWorker:
      return "audit_worker";
    case Component::kAlertmanager:
      return "alertmanager";
    case Component::kBackgroundWriter:
      return "background_writer";
    case Component::kNodeWatcher:
      return "node_watcher";
    case Component::kResponder:
      return "responder";
  }
  return "http";
}

void reportError(Component c, std::string_view context, std::string_view what) {
  const auto i = static_cast<std::size_t>(c);
  gCounts[i].fetch_add(1);
  log::error("internal error: the item is skipped and the process goes on",
             {{log::field::kComponent, componentName(c)},
              {"context", context},
              {log::field::kError, what}});
}

std::uint64_t errorCount(Component c) { return gCounts[static_cast<std::size_t>(c)].load(); }

prometheus::MetricFamily metricFamily() {
  prometheus::MetricFamily family;
  family.name = "kube_customs_internal_errors_total";
  family.help =
      "Unexpected exceptions caught at a thread's failure boundary, by component; each cost "
      "one request, event, alert or write.";
  family.type = prometheus::MetricType::Counter;
  for (int i = 0; i < kComponentCount; ++i) {
    prometheus::ClientMetric m;
    m.label.push_back({"component", std::string(componentName(static_cast<Component>(i)))});
    m.counter.value = static_cast<double>(gCounts[i].load());
    family.metric.push_back(std::move(m));
  }
  return family;
}

}  // namespace kc::internal
