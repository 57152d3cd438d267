#include "node/anomaly_watch.h"

#include <algorithm>
#include <cstdio>
#include <unordered_set>

#include "common/files.h"
#include "common/internal_errors.h"
#include "common/log.h"

namespace kc::node {

namespace {

constexpr double kMiB = 1024.0 * 1024.0;

std::string number(const char* format, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, format, v);
  return buf;
}

// A value of `m` for people, in its unit: "1.90 cores", "412.0 MiB", "52.3 MiB/s sent".
std::string quantity(Metric m, double v) {
  switch (m) {
    case Metric::kCpu:
      return number("%.2f", v) + " cores";
    case Metric::kMemory:
      return number("%.1f", v / kMiB) + " MiB";
    case Metric::kRxBytes:
      return number("%.2f", v / kMiB) + " MiB/s received";
    case Metric::kTxBytes:
      return number("%.2f", v / kMiB) + " MiB/s sent";
    case Metric::kRxPackets:
      return number("%.0f", v) + " packets/s received";
    case Metric::kTxPackets:
      return number("%.0f", v) + " packets/s sent";
  }
  return number("%g", v);
}

// "container web (nginx:1.25)" or "pod shop/web-1 (container app, image shop/web:1.2)".
std::string describe(const Container& c, const KubernetesInfo& k) {
  if (k.kubernetes && !k.podName.empty())
    return "pod " + k.podNamespace + "/" + k.podName + " (container " + k.containerName +
           ", image " + c.image + ")";
  return "container " + (c.name.empty() ? c.id.substr(0, 12) : c.name) + " (" + c.image + ")";
}

// Bytes sent are what exfiltration looks like (T1048): high. Bytes received and packets either
// way (a download, a tunnel's chatter, a scan) are medium, as CPU and memory are.
audit::Severity severityOf(Metric m) {
  return m == Metric::kTxBytes ? audit::Severity::kHigh : audit::Severity::kMedium;
}

std::int64_t steadyNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::int64_t systemMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

constexpr std::array<SampleError, 6> kErrors{SampleError::kPidGone,  SampleError::kNoCgroup,
                                             SampleError::kMissing,  SampleError::kMalformed,
                                             SampleError::kTooLarge, SampleError::kIo};

SamplerOptions withClock(SamplerOptions o, std::int64_t (*clockNs)()) {
  if (!o.clockNs) o.clockNs = clockNs;
  return o;
}

NormalsOptions withLearning(NormalsOptions o, std::chrono::milliseconds learning) {
  o.learningMicros = std::chrono::duration_cast<std::chrono::microseconds>(learning).count();
  return o;
}

}  // namespace

AnomalyWatch::AnomalyWatch(AnomalyWatchOptions options, prometheus::Registry& registry)
    : options_(std::move(options)),
      sampler_(withClock(options_.sampler, options_.clockNs)),
      normals_(withLearning(options_.normals, options_.learningPeriod)) {
  duration_ =
      &prometheus::BuildHistogram()
           .Name("kube_customs_node_sampling_duration_seconds")
           .Help("Wall time of one round sampling every tracked container")
           .Register(registry)
           .Add({}, prometheus::Histogram::BucketBoundaries{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                            0.1, 0.25, 0.5, 1, 2.5, 5, 10});
  overruns_ = &prometheus::BuildCounter()
                   .Name("kube_customs_node_sampling_overruns_total")
                   .Help("Sampling rounds that took longer than the sampling interval")
                   .Register(registry)
                   .Add({});
  sampled_ = &prometheus::BuildGauge()
                  .Name("kube_customs_node_sampled_containers")
                  .Help("Containers tracked for resource sampling")
                  .Register(registry)
                  .Add({});
  auto& errors = prometheus::BuildCounter()
                     .Name("kube_customs_node_sample_errors_total")
                     .Help("Container samples that failed, in part or whole, by reason")
                     .Register(registry);
  for (SampleError e : kErrors)
    errors_[static_cast<std::size_t>(e)] =
        &errors.Add({{"reason", std::string(sampleErrorName(e))}});
}

AnomalyWatch::~AnomalyWatch() { stop(); }

std::int64_t AnomalyWatch::nowNs() const {
  return options_.clockNs ? options_.clockNs() : steadyNs();
}

std::int64_t AnomalyWatch::nowWallMicros() const {
  return options_.wallMicros ? options_.wallMicros() : systemMicros();
}

bool AnomalyWatch::track(const Container& c) {
  const KubernetesInfo k = classify(c);
  if (k.sandbox || c.pid <= 0 || c.id.empty()) return false;
  auto t = std::make_shared<Tracked>();
  t->container = c;
  t->kubernetes = k;
  t->workload = workloadKey(k, c.image);
  t->sinceNs = nowNs();
  std::lock_guard lock(mu_);
  auto& slot = tracked_[c.id];
  if (slot && slot->container.pid == c.pid) t->sinceNs = slot->sinceNs;  // the same process
  if (slot && slot->container.pid != c.pid) forget_.push_back(slot->container.pid);
  slot = std::move(t);
  sampled_->Set(static_cast<double>(tracked_.size()));
  return true;
}

void AnomalyWatch::untrack(const std::string& id) {
  std::lock_guard lock(mu_);
  const auto it = tracked_.find(id);
  if (it == tracked_.end()) return;
  forget_.push_back(it->second->container.pid);
  tracked_.erase(it);
  const std::string prefix = id + "\n";
  std::erase_if(rateLimit_, [&](const auto& e) { return e.first.starts_with(prefix); });
  sampled_->Set(static_cast<double>(tracked_.size()));
}

std::size_t AnomalyWatch::tracked() const {
  std::lock_guard lock(mu_);
  return tracked_.size();
}

void AnomalyWatch::start() {
  {
    std::lock_guard lock(runMu_);
    if (started_) return;
    started_ = true;
    stopping_ = false;
  }
  if (!options_.normalsPath.empty()) {
    const NormalsLoadResult r = normals_.load(options_.normalsPath);
    if (r.status == NormalsLoadStatus::kLoaded) {
      log::info("the workloads' learned normals were loaded",
                {{log::field::kPath, options_.normalsPath}, {"workloads", r.workloads}});
    } else if (r.status == NormalsLoadStatus::kDamaged) {
      std::string error;
      const std::string aside = files::moveAside(options_.normalsPath, error);
      stats_.movedAside = !aside.empty();
      log::warn("the workloads' learned normals are damaged: moved aside, learning starts over",
                {{log::field::kPath, options_.normalsPath},
                 {log::field::kError, r.error},
                 {"moved_to", aside.empty() ? "(not moved: " + error + ")" : aside}});
    } else if (r.status == NormalsLoadStatus::kUnreadable) {
      log::warn("the workloads' learned normals cannot be read: learning starts over",
                {{log::field::kPath, options_.normalsPath}, {log::field::kError, r.error}});
    }
  }
  thread_ = std::thread([this] { run(); });
}

void AnomalyWatch::stop() {
  {
    std::lock_guard lock(runMu_);
    if (!started_) return;
    started_ = false;
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
  save();
}

void AnomalyWatch::save() {
  if (options_.normalsPath.empty()) return;
  std::string error;
  if (normals_.save(options_.normalsPath, error)) {
    ++stats_.saves;
    return;
  }
  ++stats_.saveFailures;
  log::error("cannot save the workloads' learned normals",
             {{log::field::kPath, options_.normalsPath}, {log::field::kError, error}});
}

void AnomalyWatch::run() {
  const auto interval = std::chrono::duration_cast<std::chrono::nanoseconds>(options_.interval);
  auto lastSave = std::chrono::steady_clock::now();
  std::unique_lock lock(runMu_);
  while (!stopping_) {
    lock.unlock();
    const auto begin = std::chrono::steady_clock::now();
    internal::guarded(internal::Component::kNodeWatcher, "resource sampling round",
                      [this] { sampleOnce(); });
    const auto end = std::chrono::steady_clock::now();
    if (end - lastSave >= options_.saveInterval) {
      internal::guarded(internal::Component::kNodeWatcher, "saving the learned normals",
                        [this] { save(); });
      lastSave = end;
    }
    lock.lock();
    // A round longer than the interval is an overrun (sampleOnce counted it): the next starts
    // at once rather than queueing up.
    wake_.wait_until(lock, std::max(begin + interval, end), [this] { return stopping_; });
  }
}

void AnomalyWatch::sampleOnce() {
  const auto begin = std::chrono::steady_clock::now();
  std::vector<audit::Finding> findings;
  round(findings);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - begin).count();
  duration_->Observe(seconds);
  ++stats_.rounds;
  if (seconds > std::chrono::duration<double>(options_.interval).count()) {
    ++stats_.overruns;
    overruns_->Increment();
  }
  if (!findings.empty()) {
    stats_.findings += findings.size();
    if (options_.emit) options_.emit(std::move(findings));
  }
}

void AnomalyWatch::round(std::vector<audit::Finding>& out) {
  std::vector<std::shared_ptr<const Tracked>> list;
  std::vector<std::int64_t> forget;
  {
    std::lock_guard lock(mu_);
    list.reserve(tracked_.size());
    for (const auto& [id, t] : tracked_) list.push_back(t);
    forget.swap(forget_);
  }
  for (std::int64_t pid : forget) sampler_.forget(pid);
  // The per-container state of containers no longer tracked goes; a new pid starts afresh.
  std::unordered_set<std::string_view> ids;
  for (const auto& t : list) ids.insert(t->container.id);
  std::erase_if(state_, [&](const auto& e) { return !ids.contains(e.first); });

  for (const auto& t : list) {
    const Container& c = t->container;
    PerContainer& st = state_[c.id];
    if (st.pid != c.pid) {
      st.pid = c.pid;
      st.rates.reset();
    }
    const Sample s = sampler_.sample(c.pid);
    ++stats_.samples;
    if (!s.ok()) {
      ++stats_.sampleErrors;
      if (auto* counter = errors_[static_cast<std::size_t>(s.error)]) counter->Increment();
    }
    const auto rates = st.rates.update(s);
    const std::int64_t now = nowNs();
    if (now - t->sinceNs <
        std::chrono::duration_cast<std::chrono::nanoseconds>(options_.startupGrace).count()) {
      ++stats_.inGrace;
      continue;
    }
    if (rates) judge(*t, *rates, now, nowWallMicros(), out);
  }
}

void AnomalyWatch::judge(const Tracked& t, const Rates& r, std::int64_t now, std::int64_t wall,
                         std::vector<audit::Finding>& out) {
  std::vector<Anomaly> anomalies;
  auto observe = [&](Metric m, bool ok, double value) {
    if (!ok) return;
    if (auto a = normals_.observe(t.workload, m, value, wall)) {
      ++stats_.anomalies;
      anomalies.push_back(*a);
    }
  };
  observe(Metric::kCpu, r.cpu, r.cpuCores);
  observe(Metric::kMemory, r.memory, r.memoryBytes);
  observe(Metric::kRxBytes, r.network, r.rxBytesPerSec);
  observe(Metric::kTxBytes, r.network, r.txBytesPerSec);
  observe(Metric::kRxPackets, r.network, r.rxPacketsPerSec);
  observe(Metric::kTxPackets, r.network, r.txPacketsPerSec);
  if (anomalies.empty()) return;

  // One finding per rule: the network's four metrics are one rule, reported by the most
  // severe of its anomalies, then the one furthest over its threshold; the others are listed.
  std::vector<std::string_view> rules;
  for (const Anomaly& a : anomalies) {
    if (std::find(rules.begin(), rules.end(), metricRule(a.metric)) == rules.end())
      rules.push_back(metricRule(a.metric));
  }
  for (std::string_view rule : rules) {
    const Anomaly* best = nullptr;
    std::string metrics;
    for (const Anomaly& a : anomalies) {
      if (metricRule(a.metric) != rule) continue;
      if (!metrics.empty()) metrics += ",";
      metrics += metricName(a.metric);
      const auto over = [](const Anomaly& x) {
        return x.threshold > 0 ? x.value / x.threshold : x.value;
      };
      if (!best || severityOf(a.metric) > severityOf(best->metric) ||
          (severityOf(a.metric) == severityOf(best->metric) && over(a) > over(*best)))
        best = &a;
    }
    if (!allowed(t.container.id, rule, now)) {
      ++stats_.rateLimited;
      continue;
    }
    const Anomaly& a = *best;
    audit::Finding f =
        containerFinding(rule, t.container, t.kubernetes, options_.rules,
                         std::chrono::system_clock::time_point(std::chrono::microseconds(wall)));
    f.severity = severityOf(a.metric);
    f.summary = describe(t.container, t.kubernetes) +
                (options_.rules.nodeName.empty() ? "" : " on node " + options_.rules.nodeName) +
                " used " + quantity(a.metric, a.value) + ", its workload's normal " +
                quantity(a.metric, a.median) + " (threshold " + quantity(a.metric, a.threshold) +
                ")";
    f.details["metric"] = std::string(metricName(a.metric));
    f.details["metrics"] = metrics;
    f.details["value"] = number("%.6g", a.value);
    f.details["normal"] = number("%.6g", a.median);
    f.details["threshold"] = number("%.6g", a.threshold);
    f.details["mad"] = number("%.6g", a.mad);
    f.details["samples"] = std::to_string(a.samples);
    f.details["consecutive"] = std::to_string(a.consecutive);
    f.details["workload"] = t.workload;
    if (a.accepted > 0) f.details["accepted"] = number("%.6g", a.accepted);
    if (a.adopted) f.details["adopted"] = "true";
    out.push_back(std::move(f));
  }
}

bool AnomalyWatch::allowed(const std::string& id, std::string_view rule, std::int64_t now) {
  const std::int64_t window =
      std::chrono::duration_cast<std::chrono::nanoseconds>(options_.rateLimit).count();
  std::string key = id + "\n" + std::string(rule);
  std::lock_guard lock(mu_);
  if (const auto it = rateLimit_.find(key); it != rateLimit_.end()) {
    if (now - it->second < window) return false;
    it->second = now;
    return true;
  }
  if (rateLimit_.size() >= options_.maxRateLimited) {
    std::erase_if(rateLimit_, [&](const auto& e) { return now - e.second >= window; });
    while (rateLimit_.size() >= options_.maxRateLimited && !rateLimit_.empty()) {
      auto oldest =
          std::min_element(rateLimit_.begin(), rateLimit_.end(),
                           [](const auto& a, const auto& b) { return a.second < b.second; });
      rateLimit_.erase(oldest);
    }
  }
  if (options_.maxRateLimited > 0) rateLimit_.emplace(std::move(key), now);
  return true;
}

}  // namespace kc::node
