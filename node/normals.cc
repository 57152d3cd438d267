#include "node/normals.h"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <nlohmann/json.hpp>
#include <set>
#include <vector>

#include "common/files.h"
#include "common/utf8.h"

namespace kc::node {

// Why a decaying reservoir of 128 values, median and MAD:
// - Median and MAD ignore up to half of the values being wild (a load test, a deploy, a burst
//   that slipped through while learning), where a mean and standard deviation are dragged by a
//   single one. MAD needs the median first, so one-pass quantile sketches (P-square, t-digest)
//   would need a second sketch of deviations from a median that moves; a small sample of the
//   values themselves gives both exactly over that sample, and is persisted as it is.
// - Until the reservoir is full every learned value is stored; after that one learned value in
//   keepEvery replaces a slot chosen at random, so each stored value survives a geometric
//   number of replacements: the sample is weighted towards the recent past with a mean age of
//   kReservoir * keepEvery observations (1,024 by default, hours rather than the 21 minutes a
//   plain window of the last 128 would cover at 10 s), so a slow ramp is not learned as fast
//   as it climbs, yet a real change (once accepted) takes over within that time.
// - 128 floats per metric and workload is fixed memory (3 KiB for the six metrics); the median
//   of 128 has a standard error of about 0.11 standard deviations, and nth_element over them is
//   about a microsecond, recomputed only when the reservoir changed.
// - Anomalous values are not learned. A workload whose normal really changed (a new version, a
//   bigger tenant) keeps being reported until an operator accepts the new value (accept(), for
//   `respond accept`), or, when adoptAfter is set, after that many anomalous rounds in a row.

namespace {

constexpr int kFormatVersion = 1;
constexpr std::string_view kFormat = "kube-customs-node-normals";
constexpr double kMadToSigma = 1.4826;

std::uint64_t seedOf(std::string_view key) {
  std::uint64_t h = 1469598103934665603ULL;  // FNV-1a: a reproducible stream per workload
  for (unsigned char c : key) h = (h ^ c) * 1099511628211ULL;
  return h ? h : 1;
}

std::uint64_t nextRandom(std::uint64_t& s) {  // xorshift64
  s ^= s << 13;
  s ^= s >> 7;
  s ^= s << 17;
  return s;
}

// The shortest decimal of a float, as a double, so that the JSON is short and reads back to
// the same float.
double shortest(float v) {
  char buf[32];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  double d = 0;
  std::from_chars(buf, r.ptr, d);
  return d;
}

bool validValue(double v) { return std::isfinite(v) && v >= 0 && v <= 3.0e38; }

}  // namespace

std::string_view metricName(Metric m) {
  switch (m) {
    case Metric::kCpu:
      return "cpu";
    case Metric::kMemory:
      return "memory";
    case Metric::kRxBytes:
      return "rx-bytes";
    case Metric::kTxBytes:
      return "tx-bytes";
    case Metric::kRxPackets:
      return "rx-packets";
    case Metric::kTxPackets:
      return "tx-packets";
  }
  return "unknown";
}

bool parseMetric(std::string_view name, Metric& out) {
  for (std::size_t i = 0; i < kMetricCount; ++i) {
    if (metricName(static_cast<Metric>(i)) == name) {
      out = static_cast<Metric>(i);
      return true;
    }
  }
  return false;
}

std::string_view metricRule(Metric m) {
  switch (m) {
    case Metric::kCpu:
      return "container-cpu-anomaly";
    case Metric::kMemory:
      return "container-memory-anomaly";
    default:
      return "container-network-anomaly";
  }
}

Normals::Normals(NormalsOptions options) : options_(options) {
  if (options_.keepEvery == 0) options_.keepEvery = 1;
  if (options_.maxWorkloads == 0) options_.maxWorkloads = 1;
}

Normals::Workload& Normals::workloadLocked(std::string_view key, std::int64_t nowMicros) {
  key = utf8::prefix(key, options_.maxKeyBytes);
  auto it = workloads_.find(key);
  if (it != workloads_.end()) {
    lru_.splice(lru_.begin(), lru_, it->second.lru);
    if (nowMicros > it->second.lastMicros) it->second.lastMicros = nowMicros;
    return it->second;
  }
  while (workloads_.size() >= options_.maxWorkloads && !lru_.empty()) {
    workloads_.erase(lru_.back());
    lru_.pop_back();
    ++stats_.evicted;
  }
  lru_.emplace_front(key);
  Workload& w = workloads_[std::string(key)];
  w.key = std::string(key);
  w.firstMicros = w.lastMicros = nowMicros;
  w.rng = seedOf(key);
  w.lru = lru_.begin();
  return w;
}

void Normals::learnLocked(Workload& w, MetricState& m, float value) {
  ++m.learned;
  ++stats_.learned;
  if (m.stored < kReservoir) {
    m.values[m.stored++] = value;
    m.dirty = true;
    return;
  }
  if (nextRandom(w.rng) % options_.keepEvery != 0) return;
  m.values[nextRandom(w.rng) % kReservoir] = value;
  m.dirty = true;
}

double Normals::thresholdLocked(Metric metric, const MetricState& m) const {
  if (m.dirty) {
    std::array<float, kReservoir> scratch;
    const std::size_t n = m.stored;
    if (n == 0) {
      m.median = m.mad = 0;
    } else {
      std::copy_n(m.values.begin(), n, scratch.begin());
      auto mid = scratch.begin() + n / 2;
      std::nth_element(scratch.begin(), mid, scratch.begin() + n);
      float median = *mid;
      if (n % 2 == 0) median = (median + *std::max_element(scratch.begin(), mid)) / 2;
      for (std::size_t i = 0; i < n; ++i) scratch[i] = std::fabs(m.values[i] - median);
      std::nth_element(scratch.begin(), mid, scratch.begin() + n);
      float mad = *mid;
      if (n % 2 == 0) mad = (mad + *std::max_element(scratch.begin(), mid)) / 2;
      m.median = median;
      m.mad = mad;
    }
    m.dirty = false;
  }
  const MetricPolicy& p = options_.policy[static_cast<std::size_t>(metric)];
  const double median = m.median;
  double t =
      std::max({median + options_.k * kMadToSigma * m.mad, median * p.ratio, median + p.floor});
  if (m.accepted > 0) {
    // As if the accepted value were the median of a workload that never varies.
    const double a = m.accepted;
    t = std::max({t, a * p.ratio, a + p.floor});
  }
  return t;
}

std::optional<Anomaly> Normals::observe(std::string_view key, Metric metric, double value,
                                        std::int64_t nowMicros) {
  ++stats_.observed;
  if (!validValue(value) || static_cast<std::size_t>(metric) >= kMetricCount) {
    ++stats_.invalid;
    return std::nullopt;
  }
  std::lock_guard<std::mutex> lock(mu_);
  Workload& w = workloadLocked(key, nowMicros);
  MetricState& m = w.metrics[static_cast<std::size_t>(metric)];
  const bool learning =
      nowMicros - w.firstMicros < options_.learningMicros || m.learned < options_.minSamples;
  if (learning) {
    learnLocked(w, m, static_cast<float>(value));
    return std::nullopt;
  }
  const double threshold = thresholdLocked(metric, m);
  if (value <= threshold) {
    m.consecutive = 0;
    learnLocked(w, m, static_cast<float>(value));
    return std::nullopt;
  }
  ++stats_.anomalies;
  Anomaly a;
  a.metric = metric;
  a.value = value;
  a.median = m.median;
  a.mad = m.mad;
  a.threshold = threshold;
  a.accepted = m.accepted;
  a.samples = m.learned;
  a.consecutive = ++m.consecutive;
  if (options_.adoptAfter > 0 && m.consecutive >= options_.adoptAfter) {
    m.accepted = std::max(m.accepted, static_cast<float>(value));
    m.consecutive = 0;
    a.adopted = true;
    ++stats_.adopted;
  }
  return a;
}

bool Normals::accept(std::string_view key, Metric metric, double value, std::int64_t nowMicros) {
  if (!validValue(value) || static_cast<std::size_t>(metric) >= kMetricCount) return false;
  std::lock_guard<std::mutex> lock(mu_);
  Workload& w = workloadLocked(key, nowMicros);
  MetricState& m = w.metrics[static_cast<std::size_t>(metric)];
  m.consecutive = 0;
  if (static_cast<float>(value) > m.accepted) {
    m.accepted = static_cast<float>(value);
    ++stats_.accepted;
  }
  return true;
}

NormalView Normals::view(std::string_view key, Metric metric, std::int64_t nowMicros) const {
  NormalView v;
  std::lock_guard<std::mutex> lock(mu_);
  auto it = workloads_.find(utf8::prefix(key, options_.maxKeyBytes));
  if (it == workloads_.end() || static_cast<std::size_t>(metric) >= kMetricCount) return v;
  const MetricState& m = it->second.metrics[static_cast<std::size_t>(metric)];
  v.known = true;
  v.learning = nowMicros - it->second.firstMicros < options_.learningMicros ||
               m.learned < options_.minSamples;
  v.threshold = thresholdLocked(metric, m);
  v.median = m.median;
  v.mad = m.mad;
  v.accepted = m.accepted;
  v.samples = m.learned;
  v.stored = m.stored;
  return v;
}

std::size_t Normals::workloads() const {
  std::lock_guard<std::mutex> lock(mu_);
  return workloads_.size();
}

bool Normals::save(const std::string& path, std::string& error) const {
  nlohmann::json list = nlohmann::json::array();
  {
    std::lock_guard<std::mutex> lock(mu_);
    // Least recently seen first, so that a load that meets the cap keeps the most recent.
    for (auto key = lru_.rbegin(); key != lru_.rend(); ++key) {
      const Workload& w = workloads_.at(*key);
      nlohmann::json metrics = nlohmann::json::object();
      for (std::size_t i = 0; i < kMetricCount; ++i) {
        const MetricState& m = w.metrics[i];
        if (m.learned == 0 && m.accepted == 0) continue;
        nlohmann::json values = nlohmann::json::array();
        for (std::size_t j = 0; j < m.stored; ++j) values.push_back(shortest(m.values[j]));
        nlohmann::json entry = {{"learned", m.learned}, {"values", std::move(values)}};
        if (m.accepted > 0) entry["accepted"] = shortest(m.accepted);
        metrics[std::string(metricName(static_cast<Metric>(i)))] = std::move(entry);
      }
      list.push_back({{"key", w.key},
                      {"firstSeenMicros", w.firstMicros},
                      {"lastSeenMicros", w.lastMicros},
                      {"metrics", std::move(metrics)}});
    }
  }
  nlohmann::json doc = {{"format", kFormat},
                        {"version", kFormatVersion},
                        {"reservoir", kReservoir},
                        {"workloads", std::move(list)}};
  // Keys were cut on character boundaries; replace stands guard for any invalid byte left.
  std::string text = doc.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  text.push_back('\n');
  return files::writeFileAtomic(path, text, 0600, error);
}

NormalsLoadResult Normals::load(const std::string& path) {
  NormalsLoadResult r;
  std::string text;
  // Bounded by the caps (workloads, 128 values of 6 metrics each) to far less than 1 GiB.
  if (!files::readFile(path, text, std::size_t{1} << 30)) {
    if (errno == ENOENT) {
      r.status = NormalsLoadStatus::kMissing;
      return r;
    }
    r.status = NormalsLoadStatus::kUnreadable;
    r.error = files::readError(path);
    return r;
  }
  auto damaged = [&](const std::string& why) {
    r.status = NormalsLoadStatus::kDamaged;
    r.error = path + ": " + why;
    return r;
  };
  const nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return damaged("not valid JSON");
  if (!j.is_object() || j.value("format", "") != kFormat)
    return damaged("not a kube-customs node normals file (format \"" + std::string(kFormat) +
                   "\" expected)");
  const auto version = j.find("version");
  if (version == j.end() || !version->is_number_integer() || *version != kFormatVersion)
    return damaged("version " + std::to_string(kFormatVersion) + " expected");
  const auto list = j.find("workloads");
  if (list == j.end() || !list->is_array()) return damaged("workloads: array expected");

  Map loaded;
  std::list<std::string> order;  // most recent first, as lru_
  std::set<std::string> seen;
  std::size_t index = 0;
  for (const auto& item : *list) {
    const std::string where = "workloads[" + std::to_string(index++) + "]";
    if (!item.is_object()) return damaged(where + ": object expected");
    const auto key = item.find("key");
    if (key == item.end() || !key->is_string() || key->get_ref<const std::string&>().empty() ||
        key->get_ref<const std::string&>().size() > options_.maxKeyBytes)
      return damaged(where + ".key: a string of 1 to " + std::to_string(options_.maxKeyBytes) +
                     " bytes expected");
    const std::string& k = key->get_ref<const std::string&>();
    if (!seen.insert(k).second) return damaged(where + ".key: \"" + k + "\" appears twice");
    Workload w;
    w.key = k;
    w.rng = seedOf(k);
    for (const char* field : {"firstSeenMicros", "lastSeenMicros"}) {
      const auto f = item.find(field);
      if (f == item.end() || !f->is_number_integer())
        return damaged(where + "." + field + ": integer expected");
      (std::string_view(field) == "firstSeenMicros" ? w.firstMicros : w.lastMicros) =
          f->get<std::int64_t>();
    }
    const auto metrics = item.find("metrics");
    if (metrics == item.end() || !metrics->is_object())
      return damaged(where + ".metrics: object expected");
    for (const auto& [name, entry] : metrics->items()) {
      const std::string at = where + ".metrics." + name;
      Metric metric;
      if (!parseMetric(name, metric)) return damaged(at + ": unknown metric");
      MetricState& m = w.metrics[static_cast<std::size_t>(metric)];
      if (!entry.is_object()) return damaged(at + ": object expected");
      const auto learned = entry.find("learned");
      if (learned == entry.end() || !learned->is_number_unsigned())
        return damaged(at + ".learned: non-negative integer expected");
      m.learned = learned->get<std::uint64_t>();
      const auto values = entry.find("values");
      if (values == entry.end() || !values->is_array() || values->size() > kReservoir)
        return damaged(at + ".values: array of at most " + std::to_string(kReservoir) +
                       " numbers expected");
      if (values->size() > m.learned) return damaged(at + ".values: more values than learned");
      for (const auto& v : *values) {
        if (!v.is_number() || !validValue(v.get<double>()))
          return damaged(at + ".values: finite non-negative numbers expected");
        m.values[m.stored++] = static_cast<float>(v.get<double>());
      }
      if (const auto acc = entry.find("accepted"); acc != entry.end()) {
        if (!acc->is_number() || !validValue(acc->get<double>()))
          return damaged(at + ".accepted: finite non-negative number expected");
        m.accepted = static_cast<float>(acc->get<double>());
      }
    }
    order.push_front(k);
    loaded.emplace(k, std::move(w));
  }
  // Over the cap (a smaller maxWorkloads than the writer's): the least recently seen go.
  while (loaded.size() > options_.maxWorkloads) {
    loaded.erase(order.back());
    order.pop_back();
  }
  for (auto it = order.begin(); it != order.end(); ++it) loaded.at(*it).lru = it;
  std::lock_guard<std::mutex> lock(mu_);
  workloads_ = std::move(loaded);
  lru_ = std::move(order);
  // The iterators into `order` stay valid in lru_ (std::list move keeps its nodes).
  r.workloads = workloads_.size();
  return r;
}

namespace {

// The characters of Kubernetes' generated name suffixes (k8s.io/apimachinery rand.String:
// no vowels, no 0, 1, 3, so that no word is spelt).
bool generatedSuffix(std::string_view s, std::size_t minLen, std::size_t maxLen) {
  if (s.size() < minLen || s.size() > maxLen) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::string_view("bcdfghjklmnpqrstvwxz2456789").find(c) != std::string_view::npos;
  });
}

bool allDigits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::string_view lastPart(std::string_view name, std::string_view& rest) {
  const std::size_t dash = name.rfind('-');
  if (dash == std::string_view::npos || dash == 0) {
    rest = name;
    return {};
  }
  rest = name.substr(0, dash);
  return name.substr(dash + 1);
}

}  // namespace

std::string workloadKey(const KubernetesInfo& k, std::string_view image) {
  if (k.kubernetes && !k.podName.empty()) {
    std::string_view owner = k.podName;
    std::string_view rest;
    std::string_view last = lastPart(owner, rest);
    if (generatedSuffix(last, 5, 5)) {
      // <owner>-<5>: a DaemonSet's or Job's pod; <deployment>-<pod-template-hash>-<5>;
      // <cronjob>-<scheduled minute>-<5>.
      owner = rest;
      std::string_view before;
      const std::string_view middle = lastPart(owner, before);
      if (generatedSuffix(middle, 6, 10) || (allDigits(middle) && middle.size() >= 8))
        owner = before;
    } else if (allDigits(last)) {
      owner = rest;  // <statefulset>-<ordinal>
    }
    std::string key = "k8s/";
    key += k.podNamespace;
    key += '/';
    key += owner;
    key += '/';
    key += k.containerName;
    return key;
  }
  // The repository: without the digest, and without a tag (a ':' after the last '/').
  std::string_view repo = image.substr(0, image.find('@'));
  const std::size_t slash = repo.rfind('/');
  const std::size_t colon = repo.rfind(':');
  if (colon != std::string_view::npos && (slash == std::string_view::npos || colon > slash))
    repo = repo.substr(0, colon);
  return "image/" + std::string(repo);
}

}  // namespace kc::node
