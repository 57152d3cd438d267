#pragma once
// From samples to findings: the running containers the node service tracks are sampled every
// interval (node/sampler.h), each sample turned into rates (RateTracker), each rate judged
// against its workload's learned normal (node/normals.h), and each anomaly reported as a node
// finding: container-cpu-anomaly, container-memory-anomaly (T1496), container-network-anomaly
// (T1048, T1572). One sampling thread with a failure boundary; the normals loaded at start,
// saved every saveInterval and at stop. A container's first startupGrace is neither judged nor
// learned (deploy-time spikes), and a container reports a rule at most once per rateLimit while
// its anomaly lasts. Metrics: kube_customs_node_sampling_duration_seconds,
// kube_customs_node_sampling_overruns_total, kube_customs_node_sampled_containers,
// kube_customs_node_sample_errors_total{reason}.
// Thread-safety: track(), untrack() and the accessors may be called from any thread; start()
// and stop() from one owner thread.

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "controller/detect/finding.h"
#include "node/container.h"
#include "node/node_rules.h"
#include "node/normals.h"
#include "node/sampler.h"

namespace kc::node {

struct AnomalyWatchOptions {
  std::chrono::milliseconds interval{10'000};  // between the starts of two rounds
  // Overrides normals.learningMicros: no verdict for a workload before it has been seen this
  // long.
  std::chrono::milliseconds learningPeriod{24LL * 3600 * 1000};
  SamplerOptions sampler;
  NormalsOptions normals;
  std::string normalsPath;  // the normals' state file; "" keeps them in memory only
  std::chrono::milliseconds saveInterval{5 * 60 * 1000};
  // A container's first startupGrace after track() is neither judged nor learned: the spikes
  // of a deployment (image unpacking, caches warming, JIT compilation) are not its normal.
  std::chrono::milliseconds startupGrace{60'000};
  // At most one finding per container and rule per rateLimit: a sustained anomaly is one alert,
  // sent again while it lasts. At most maxRateLimited (container, rule) pairs are remembered.
  std::chrono::milliseconds rateLimit{10 * 60 * 1000};
  std::size_t maxRateLimited = 4096;
  NodeRuleOptions rules;  // for containerFinding (the node's name)
  std::function<void(std::vector<audit::Finding>)> emit;
  // Clocks, injected by tests: monotonic nanoseconds (grace, rate limit, rounds; the sampler's
  // own unless sampler.clockNs is set) and wall microseconds since the epoch (the normals, the
  // findings' time). Null: steady_clock and system_clock.
  std::int64_t (*clockNs)() = nullptr;
  std::int64_t (*wallMicros)() = nullptr;
};

struct AnomalyWatchStats {
  std::atomic<std::uint64_t> rounds{0};
  std::atomic<std::uint64_t> overruns{0};
  std::atomic<std::uint64_t> samples{0};
  std::atomic<std::uint64_t> sampleErrors{0};
  std::atomic<std::uint64_t> inGrace{0};       // samples not judged for the startup grace
  std::atomic<std::uint64_t> anomalies{0};     // anomalous values seen (every metric)
  std::atomic<std::uint64_t> findings{0};      // findings emitted
  std::atomic<std::uint64_t> rateLimited{0};   // findings held back by the rate limit
  std::atomic<std::uint64_t> saves{0};         // normals saved
  std::atomic<std::uint64_t> saveFailures{0};  // normals that could not be saved
  std::atomic<bool> movedAside{false};         // a damaged normals file was moved aside at start
};

class AnomalyWatch {
 public:
  AnomalyWatch(AnomalyWatchOptions options, prometheus::Registry& registry);
  ~AnomalyWatch();  // stops
  AnomalyWatch(const AnomalyWatch&) = delete;
  AnomalyWatch& operator=(const AnomalyWatch&) = delete;

  // A running container to sample (again: its pid or labels may have changed; a new pid starts
  // a new startup grace). False, and nothing tracked, for a pod's sandbox container or one
  // without a pid.
  bool track(const Container& c);
  // The container died or was destroyed: no more samples, its rate-limit entries dropped, and
  // the sampler forgets its pid at the next round (the sampler belongs to the sampling thread).
  void untrack(const std::string& id);

  // Loads the normals (a damaged file is moved aside and logged: learning starts over) and
  // starts the sampling thread. Once.
  void start();
  // Stops and joins the sampling thread and saves the normals. Idempotent.
  void stop();

  // One round now, as the sampling thread does it: for tests and benchmarks, never while the
  // thread runs (a watch that was not started, or was stopped).
  void sampleOnce();

  std::size_t tracked() const;
  Normals& normals() { return normals_; }
  AnomalyWatchStats& stats() { return stats_; }
  Sampler& sampler() { return sampler_; }  // the sampling thread's: its stats only, while it runs
  const AnomalyWatchOptions& options() const { return options_; }

 private:
  struct Tracked {
    Container container;
    KubernetesInfo kubernetes;
    std::string workload;
    std::int64_t sinceNs = 0;  // track() time of this pid
  };
  struct PerContainer {
    std::int64_t pid = 0;
    RateTracker rates;
  };

  std::int64_t nowNs() const;
  std::int64_t nowWallMicros() const;
  void run();
  void round(std::vector<audit::Finding>& out);
  void judge(const Tracked& t, const Rates& r, std::int64_t now, std::int64_t wall,
             std::vector<audit::Finding>& out);
  bool allowed(const std::string& id, std::string_view rule, std::int64_t now);
  void save();

  AnomalyWatchOptions options_;
  Sampler sampler_;
  Normals normals_;
  AnomalyWatchStats stats_;

  mutable std::mutex mu_;  // tracked_, forget_, rateLimit_ (shared with untrack)
  std::unordered_map<std::string, std::shared_ptr<const Tracked>> tracked_;
  std::vector<std::int64_t> forget_;                         // pids untracked since the last round
  std::unordered_map<std::string, std::int64_t> rateLimit_;  // id + '\n' + rule -> last sent (ns)

  std::unordered_map<std::string, PerContainer> state_;  // the sampling thread's

  std::mutex runMu_;
  std::condition_variable wake_;
  bool stopping_ = false;
  bool started_ = false;
  std::thread thread_;

  prometheus::Histogram* duration_;
  prometheus::Counter* overruns_;
  prometheus::Gauge* sampled_;
  std::array<prometheus::Counter*, 7> errors_{};  // by SampleError (kNone unused)
};

}  // namespace kc::node
