#pragma once
// Each workload's learned normal of its containers' resource use (CPU cores, memory working set,
// network bytes and packets per second each way), and the verdict on a new value against it:
// container-cpu-anomaly, container-memory-anomaly (T1496), container-network-anomaly (T1048,
// T1572). Robust statistics (median and MAD of a decaying reservoir, see MetricNormal in
// normals.cc), a learning period per workload, a threshold with an absolute floor so that idle
// containers do not alert on noise, anomalous values never learned (a sustained attack does not
// become normal by itself), and an operator's accept() that raises the normal. Bounded: at most
// maxWorkloads workloads (the least recently seen evicted), fixed memory per workload.
// Persisted as versioned JSON (atomic replace) and reloaded; a damaged file is refused.
// Thread-safety: every public method is safe to call concurrently (one internal mutex), so a
// `respond accept` handler can accept while the sampling loop observes.

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <list>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "node/container.h"

namespace kc::node {

enum class Metric : std::uint8_t { kCpu, kMemory, kRxBytes, kTxBytes, kRxPackets, kTxPackets };
inline constexpr std::size_t kMetricCount = 6;
// "cpu" (cores), "memory" (bytes), "rx-bytes", "tx-bytes" (bytes/s), "rx-packets",
// "tx-packets" (packets/s).
std::string_view metricName(Metric m);
bool parseMetric(std::string_view name, Metric& out);
// The finding rule each metric's anomaly becomes: "container-cpu-anomaly",
// "container-memory-anomaly", "container-network-anomaly".
std::string_view metricRule(Metric m);

// How far above its normal a metric may go before it is anomalous.
struct MetricPolicy {
  double floor = 0;  // the threshold is never below median + floor (the metric's unit)
  double ratio = 1;  // nor below median * ratio
};

struct NormalsOptions {
  // threshold = max(median + k * 1.4826 * MAD, median * ratio, median + floor). 1.4826 * MAD
  // estimates the standard deviation of normally distributed values; k = 6 keeps a normal
  // workload's false positives to about one in 10^9 observations before the heavier tails
  // real workloads have.
  double k = 6.0;
  std::array<MetricPolicy, kMetricCount> policy{{
      {0.25, 2.0},                 // cpu: a quarter of a core above normal, and twice it
      {256.0 * 1024 * 1024, 1.5},  // memory: 256 MiB above normal, and 1.5 times it
      {1024.0 * 1024, 3.0},        // rx bytes/s: 1 MiB/s above normal, and 3 times it
      {1024.0 * 1024, 3.0},        // tx bytes/s
      {1000.0, 3.0},               // rx packets/s
      {1000.0, 3.0},               // tx packets/s
  }};
  // No verdict for a workload until learningMicros have passed since its first observation
  // and a metric has minSamples values learned. Set by the caller (its configuration).
  std::int64_t learningMicros = 24LL * 3600 * 1'000'000;
  std::uint32_t minSamples = 30;
  // Once a metric's reservoir is full, one learned value in keepEvery replaces a random slot:
  // a stored value lives keepEvery * kReservoir observations on average (1,024, about 2.8 h of
  // one container sampled every 10 s).
  std::uint32_t keepEvery = 8;
  // After this many consecutive anomalous observations of a metric, the value is accepted as
  // an operator's accept() would (the anomaly then says `adopted`). 0: never, only accept().
  std::uint32_t adoptAfter = 0;
  std::size_t maxWorkloads = 4096;
  std::size_t maxKeyBytes = 256;  // longer keys are cut on a UTF-8 boundary
};

// Values kept per workload and metric.
inline constexpr std::size_t kReservoir = 128;

struct Anomaly {
  Metric metric = Metric::kCpu;
  double value = 0;               // what was observed
  double median = 0;              // the learned normal
  double mad = 0;                 // median absolute deviation of the learned values (not scaled)
  double threshold = 0;           // what the value exceeded
  double accepted = 0;            // the operator's accepted value, 0 when none
  std::uint64_t samples = 0;      // values learned for this workload and metric so far
  std::uint32_t consecutive = 0;  // anomalous observations in a row, this one included
  bool adopted = false;           // adoptAfter reached: the value was accepted into the normal
};

// A snapshot of one workload's normal of one metric, for `show` and tests.
struct NormalView {
  bool known = false;  // the workload exists
  bool learning = true;
  double median = 0, mad = 0, threshold = 0, accepted = 0;
  std::uint64_t samples = 0;
  std::size_t stored = 0;  // values in the reservoir
};

struct NormalsStats {
  std::atomic<std::uint64_t> observed{0};
  std::atomic<std::uint64_t> learned{0};    // values that entered the normal's sample count
  std::atomic<std::uint64_t> anomalies{0};  // values judged anomalous (never learned)
  std::atomic<std::uint64_t> invalid{0};    // negative, NaN or infinite values refused
  std::atomic<std::uint64_t> evicted{0};    // workloads dropped for maxWorkloads
  std::atomic<std::uint64_t> adopted{0};    // accepted after adoptAfter anomalies in a row
  std::atomic<std::uint64_t> accepted{0};   // accept() calls that changed a normal
};

enum class NormalsLoadStatus : std::uint8_t {
  kLoaded,
  kMissing,     // no file: nothing learned yet (not an error)
  kUnreadable,  // the file could not be read (permissions, I/O, too large)
  kDamaged,     // not JSON, another format or version, or a field of the wrong type or range
};

struct NormalsLoadResult {
  NormalsLoadStatus status = NormalsLoadStatus::kLoaded;
  std::string error;  // "PATH: what is wrong (where)"; "" when loaded or missing
  std::size_t workloads = 0;
  bool ok() const {
    return status == NormalsLoadStatus::kLoaded || status == NormalsLoadStatus::kMissing;
  }
};

class Normals {
 public:
  explicit Normals(NormalsOptions options = {});
  Normals(const Normals&) = delete;
  Normals& operator=(const Normals&) = delete;

  // Judges `value` of `metric` for the workload `key` at `nowMicros` (wall clock, microseconds
  // since the epoch), and learns it unless it is anomalous. No verdict while learning.
  std::optional<Anomaly> observe(std::string_view key, Metric metric, double value,
                                 std::int64_t nowMicros);
  // Raises the normal: values up to `value` (and its margin, the threshold of a workload whose
  // median is `value` and never varies) are normal from now on, and learned again, so that the
  // learned median moves to them. False for a value that is negative or not finite. A workload
  // not seen yet is created, its learning period starting at `nowMicros`.
  bool accept(std::string_view key, Metric metric, double value, std::int64_t nowMicros);

  NormalView view(std::string_view key, Metric metric, std::int64_t nowMicros) const;
  std::size_t workloads() const;

  // Versioned JSON, written atomically (common/files.h), mode 0600.
  bool save(const std::string& path, std::string& error) const;
  // Replaces the contents with the file's; a damaged file leaves them untouched and says why:
  // the caller decides (start empty, keep what it has, move the file aside).
  NormalsLoadResult load(const std::string& path);

  NormalsStats& stats() { return stats_; }
  const NormalsOptions& options() const { return options_; }

  struct MetricState {
    std::array<float, kReservoir> values{};
    std::uint16_t stored = 0;
    mutable bool dirty = true;  // median and mad to recompute
    std::uint32_t consecutive = 0;
    std::uint64_t learned = 0;
    mutable float median = 0, mad = 0;
    float accepted = 0;
  };
  struct Workload {
    std::string key;
    std::int64_t firstMicros = 0, lastMicros = 0;
    std::uint64_t rng = 0;
    std::array<MetricState, kMetricCount> metrics;
    std::list<std::string>::iterator lru;
  };

 private:
  Workload& workloadLocked(std::string_view key, std::int64_t nowMicros);
  void learnLocked(Workload& w, MetricState& m, float value);
  double thresholdLocked(Metric metric, const MetricState& m) const;

  // Heterogeneous lookup: observe() finds a workload by its string_view key without a copy.
  struct KeyHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  using Map = std::unordered_map<std::string, Workload, KeyHash, std::equal_to<>>;

  NormalsOptions options_;
  mutable std::mutex mu_;
  Map workloads_;
  std::list<std::string> lru_;  // most recently seen first
  NormalsStats stats_;
};

// The workload a container's values are learned for: a Kubernetes container by its pod's
// owner as the pod name tells it ("k8s/<namespace>/<owner>/<container>": the generated suffixes
// of a Deployment's, DaemonSet's, Job's, CronJob's or StatefulSet's pods removed), any other by
// its image repository ("image/<repository>", tag and digest removed).
std::string workloadKey(const KubernetesInfo& k, std::string_view image);

}  // namespace kc::node
