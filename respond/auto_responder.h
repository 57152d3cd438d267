#pragma once
// The node role's automatic response to its own findings: an evidence bundle for findings at or
// above node.respond.evidenceMinSeverity (a token bucket of evidencePerMinute, one bundle per
// container in ten minutes), and isolation for findings at or above node.respond.isolate (high
// or critical). The watcher threads only decide and queue (onFinding marks the finding with the
// bundle it will get, so that its log line and alert point to it); one responder thread does
// the work: isolations first (every pending one before any bundle, so a burst of findings does
// not keep a container running), then the evidence. Each response is one log
// line (`node_response`) and a count in kube_customs_node_responses_total{action,outcome}.
// Thread-safety: onFinding from any thread; start and stop from the owner's.

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "controller/detect/finding.h"
#include "respond/responder.h"

namespace kc::respond {

struct AutoResponderOptions {
  RespondOptions respond;
  std::optional<audit::Severity> evidenceMin;  // nullopt: no automatic evidence
  double evidencePerMinute = 6;
  bool includeEnv = false;
  std::size_t queueMax = 1024;                 // containers waiting; more are dropped, counted
  std::chrono::seconds samePerContainer{600};  // one bundle per container in this long
  std::function<void(const nlohmann::json&)> onResponse;  // each response's log line
};

// The severity at which node.respond.isolate isolates automatically (nullopt: never).
std::optional<audit::Severity> autoIsolateSeverity(IsolateMode m);

class AutoResponder {
 public:
  AutoResponder(AutoResponderOptions options, prometheus::Registry& registry);
  ~AutoResponder();
  AutoResponder(const AutoResponder&) = delete;
  AutoResponder& operator=(const AutoResponder&) = delete;

  void start();
  // Finishes the job under way and what is queued until `deadline`, then stops.
  void stop(std::chrono::milliseconds deadline);

  // A node finding about to go out. When it calls for a response, the finding gets
  // details["evidence"] (the bundle's path) and/or details["isolation"] ("requested"), and the
  // work is queued. Findings without a container are ignored.
  void onFinding(audit::Finding& f);
  // The findings of one judgement together (a container's outside and policy findings): the
  // ones about the same container share one job and one bundle.
  void onFindings(std::vector<audit::Finding>& findings);

  // Responses finished (any outcome; an isolation and a bundle are one each), for tests and
  // benchmarks.
  std::uint64_t finished() const;

 private:
  struct Job {
    ContainerRef container;
    std::string bundle;  // "" when no evidence
    bool isolate = false;
    IsolationReason reason;
    std::vector<std::string> findings;  // JSON of each finding that asked for it
  };
  // Under mu_: decides for one finding, marks it, queues or joins a job. True when queued.
  bool decide(audit::Finding& f);
  void run();
  void handle(Job& job);
  void count(std::string_view action, std::string_view outcome);
  void report(std::string_view action, const Job& job, const Outcome& o);

  AutoResponderOptions options_;
  std::optional<audit::Severity> isolateMin_;
  prometheus::Family<prometheus::Counter>* responses_;
  prometheus::Family<prometheus::Gauge>* isolated_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job> queue_;
  std::map<std::string, std::pair<std::chrono::steady_clock::time_point, std::string>> recent_;
  double tokens_ = 0;
  std::chrono::steady_clock::time_point refilled_;
  bool stopping_ = false;
  std::chrono::steady_clock::time_point deadline_{};
  std::uint64_t finished_ = 0;
  std::thread thread_;
};

}  // namespace kc::respond
