#pragma once
// Reads one series from a prometheus-cpp registry, for tests of the audit metrics.

#include <prometheus/registry.h>

#include <map>
#include <string>

namespace kc::testing {

// The value of the series of `family` whose labels are exactly `labels`; -1 when absent.
inline double seriesValue(prometheus::Registry& registry, const std::string& family,
                          const std::map<std::string, std::string>& labels) {
  for (const auto& f : registry.Collect()) {
    if (f.name != family) continue;
    for (const auto& m : f.metric) {
      std::map<std::string, std::string> got;
      for (const auto& l : m.label) got[l.name] = l.value;
      if (got != labels) continue;
      return f.type == prometheus::MetricType::Gauge ? m.gauge.value : m.counter.value;
    }
  }
  return -1;
}

}  // namespace kc::testing
