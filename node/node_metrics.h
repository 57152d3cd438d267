#pragma once
// Metrics of the node door: runtime events by runtime and type, each runtime's connection
// state and newest event, the containers watched, runtime call errors, execs seen, findings by
// rule and severity. Label values are fixed sets (runtimes, event types, states, error
// reasons); rules and severities come from the catalogue. Thread-safe.

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <string_view>

#include "controller/events/audit_metrics.h"
#include "node/container.h"

namespace kc::node {

// What the node door knows of a runtime's socket.
enum class RuntimeState : std::uint8_t {
  kDisabled,     // not configured
  kAbsent,       // no socket at the path: the runtime is not on this node (or not yet)
  kUnreachable,  // a socket is there but refuses us, times out or answers nonsense
  kConnected,    // its event stream is open
};
std::string_view runtimeStateName(RuntimeState s);

class NodeMetrics {
 public:
  explicit NodeMetrics(prometheus::Registry& registry);

  // `type`: the event's kind ("create", "start", "exec_start", ...).
  void event(Runtime r, std::string_view type);
  // The newest event's own time (clamped to now).
  void lastEvent(Runtime r, double unixSeconds);
  void state(Runtime r, RuntimeState s);
  // Containers running now, made by the kubelet or not.
  void containers(Runtime r, std::size_t kubernetes, std::size_t outside);
  // A runtime call that failed, by reason (the client's error name).
  void error(Runtime r, std::string_view reason);
  // An exec seen; `reported` when it became a finding.
  void exec(Runtime r, bool reported);
  void finding(std::string_view rule, std::string_view severity);
  // Reconnections to a runtime after its stream ended or it could not be reached.
  void reconnect(Runtime r);

  const audit::AlertCounters& alerts() const { return alerts_; }

 private:
  prometheus::Family<prometheus::Counter>* events_;
  prometheus::Family<prometheus::Gauge>* lastEvent_;
  prometheus::Family<prometheus::Gauge>* state_;
  prometheus::Family<prometheus::Gauge>* containers_;
  prometheus::Family<prometheus::Counter>* errors_;
  prometheus::Family<prometheus::Counter>* execs_;
  prometheus::Family<prometheus::Counter>* findings_;
  prometheus::Family<prometheus::Counter>* reconnects_;
  audit::AlertCounters alerts_;
};

}  // namespace kc::node
