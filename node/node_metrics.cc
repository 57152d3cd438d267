#include "node/node_metrics.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <string>

namespace kc::node {

namespace {

constexpr std::array<RuntimeState, 4> kStates = {RuntimeState::kDisabled, RuntimeState::kAbsent,
                                                 RuntimeState::kUnreachable,
                                                 RuntimeState::kConnected};

std::string label(Runtime r) { return std::string(runtimeName(r)); }

}  // namespace

std::string_view runtimeStateName(RuntimeState s) {
  switch (s) {
    case RuntimeState::kDisabled:
      return "disabled";
    case RuntimeState::kAbsent:
      return "absent";
    case RuntimeState::kUnreachable:
      return "unreachable";
    case RuntimeState::kConnected:
      return "connected";
  }
  return "disabled";
}

NodeMetrics::NodeMetrics(prometheus::Registry& registry)
    : events_(&prometheus::BuildCounter()
                   .Name("kube_customs_node_runtime_events_total")
                   .Help("Container events received from a runtime, by runtime and type.")
                   .Register(registry)),
      lastEvent_(&prometheus::BuildGauge()
                      .Name("kube_customs_node_runtime_last_event_timestamp_seconds")
                      .Help("Time of the newest event received from a runtime, Unix seconds (its "
                            "own time, never later than when it was received).")
                      .Register(registry)),
      state_(&prometheus::BuildGauge()
                  .Name("kube_customs_node_runtime_state")
                  .Help("1 for the state each runtime's socket is in: disabled, absent (no "
                        "socket), unreachable, connected.")
                  .Register(registry)),
      containers_(&prometheus::BuildGauge()
                       .Name("kube_customs_node_containers")
                       .Help("Containers running on the node, by runtime and origin (kubernetes: "
                             "made by the kubelet; outside: anything else).")
                       .Register(registry)),
      errors_(&prometheus::BuildCounter()
                   .Name("kube_customs_node_runtime_errors_total")
                   .Help("Runtime API calls and streams that failed, by runtime and reason.")
                   .Register(registry)),
      execs_(&prometheus::BuildCounter()
                  .Name("kube_customs_node_execs_total")
                  .Help("Commands run in containers through their runtime, by runtime and "
                        "whether they were reported (container-exec).")
                  .Register(registry)),
      findings_(&prometheus::BuildCounter()
                     .Name("kube_customs_node_findings_total")
                     .Help("Node findings, by detection rule and severity.")
                     .Register(registry)),
      reconnects_(&prometheus::BuildCounter()
                       .Name("kube_customs_node_runtime_reconnects_total")
                       .Help("Connections to a runtime opened again after a loss, by runtime.")
                       .Register(registry)),
      alerts_(audit::alertCounters(registry)) {}

void NodeMetrics::event(Runtime r, std::string_view type) {
  events_->Add({{"runtime", label(r)}, {"type", std::string(type)}}).Increment();
}

void NodeMetrics::lastEvent(Runtime r, double unixSeconds) {
  const double now =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  auto& g = lastEvent_->Add({{"runtime", label(r)}});
  g.Set(std::max(g.Value(), std::min(unixSeconds, now)));
}

void NodeMetrics::state(Runtime r, RuntimeState s) {
  for (RuntimeState each : kStates) {
    state_->Add({{"runtime", label(r)}, {"state", std::string(runtimeStateName(each))}})
        .Set(each == s ? 1 : 0);
  }
}

void NodeMetrics::containers(Runtime r, std::size_t kubernetes, std::size_t outside) {
  containers_->Add({{"runtime", label(r)}, {"origin", "kubernetes"}})
      .Set(static_cast<double>(kubernetes));
  containers_->Add({{"runtime", label(r)}, {"origin", "outside"}})
      .Set(static_cast<double>(outside));
}

void NodeMetrics::error(Runtime r, std::string_view reason) {
  errors_->Add({{"runtime", label(r)}, {"reason", std::string(reason)}}).Increment();
}

void NodeMetrics::exec(Runtime r, bool reported) {
  execs_->Add({{"runtime", label(r)}, {"reported", reported ? "true" : "false"}}).Increment();
}

void NodeMetrics::finding(std::string_view rule, std::string_view severity) {
  findings_->Add({{"rule", std::string(rule)}, {"severity", std::string(severity)}}).Increment();
}

void NodeMetrics::reconnect(Runtime r) { reconnects_->Add({{"runtime", label(r)}}).Increment(); }

}  // namespace kc::node
