// The anomaly watch on synthetic /proc and cgroup trees (test/node/synthetic_node.h): idle
// noise is learned and never reported; after learning, a CPU burner, a memory balloon and a
// network burst become "container-cpu-anomaly", "container-memory-anomaly" and
// "container-network-anomaly"; a sustained anomaly is one finding per rate-limit window; the
// startup grace, untrack, the normals saved at stop and reloaded, a damaged normals file moved
// aside, a pid that vanished. Most cases drive rounds one at a time with injected clocks (10 s
// a round); the thread's cases run it with a 50 ms interval.

#include "node/anomaly_watch.h"

#include <prometheus/registry.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <filesystem>
#include <mutex>
#include <thread>

#include "test/node/synthetic_node.h"
#include "test/test_util.h"

namespace {

using kc::audit::Finding;
using kc::node::AnomalyWatch;
using kc::node::AnomalyWatchOptions;
using kc::node::Container;
using kc::testing::CgroupLayout;
using kc::testing::SyntheticNode;
using kc::testing::TempDir;
using namespace std::chrono_literals;

constexpr std::uint64_t kMiB = 1024 * 1024;
constexpr std::int64_t kRoundNs = 10'000'000'000;  // 10 s a round

// The injected clocks: monotonic nanoseconds and wall microseconds, moved by the tests.
std::atomic<std::int64_t> fakeNs{1'000'000'000'000};
std::int64_t clockNs() { return fakeNs.load(); }
std::int64_t wallMicros() { return 1'800'000'000'000'000 + fakeNs.load() / 1000; }

// One container in the synthetic tree, its counters moved by the test.
struct Fake {
  SyntheticNode& node;
  std::int64_t pid;
  std::string id;
  std::uint64_t cpuNs = 0, memory = 50 * kMiB, rx = 0, tx = 0;

  Fake(SyntheticNode& n, std::int64_t p, std::string i) : node(n), pid(p), id(std::move(i)) {
    node.addContainer(pid, CgroupLayout::kV2, id, cpuNs, memory, 0);
  }
  // One round of `cores` CPU, `memoryBytes` working set, and bytes moved each way.
  void step(double cores, std::uint64_t memoryBytes, std::uint64_t rxPerSec = 1000,
            std::uint64_t txPerSec = 1000) {
    cpuNs += static_cast<std::uint64_t>(cores * static_cast<double>(kRoundNs));
    memory = memoryBytes;
    rx += rxPerSec * 10;
    tx += txPerSec * 10;
    node.setCpu(CgroupLayout::kV2, id, cpuNs);
    node.setMemory(CgroupLayout::kV2, id, memory, 0);
    SyntheticNode::write(node.proc() + "/" + std::to_string(pid) + "/net/dev",
                         SyntheticNode::netDev(rx, rx / 100, tx, tx / 100));
  }
  Container container(const std::string& image = "shop/worker:1.0") const {
    Container c;
    c.id = id;
    c.name = "c-" + id;
    c.image = image;
    c.running = true;
    c.pid = pid;
    return c;
  }
};

struct Fixture {
  TempDir dir;
  SyntheticNode node{dir.path()};
  prometheus::Registry registry;
  std::mutex mu;
  std::vector<Finding> findings;

  AnomalyWatchOptions options(bool fakeClocks = true) {
    AnomalyWatchOptions o;
    o.sampler.procRoot = node.proc();
    o.sampler.cgroupRoot = node.cgroup();
    o.learningPeriod = 50s;  // five rounds of 10 s
    o.normals.minSamples = 5;
    o.startupGrace = 0ms;
    o.rules.nodeName = "node-1";
    o.emit = [this](std::vector<Finding> fs) {
      std::lock_guard lock(mu);
      for (auto& f : fs) findings.push_back(std::move(f));
    };
    if (fakeClocks) {
      o.clockNs = clockNs;
      o.wallMicros = wallMicros;
    }
    return o;
  }
  std::vector<Finding> take() {
    std::lock_guard lock(mu);
    return std::exchange(findings, {});
  }
  double metric(const std::string& name, const std::string& label = "") {
    for (const auto& family : registry.Collect()) {
      if (family.name != name) continue;
      for (const auto& m : family.metric) {
        if (!label.empty() && (m.label.empty() || m.label[0].value != label)) continue;
        switch (family.type) {
          case prometheus::MetricType::Counter:
            return m.counter.value;
          case prometheus::MetricType::Gauge:
            return m.gauge.value;
          case prometheus::MetricType::Histogram:
            return static_cast<double>(m.histogram.sample_count);
          default:
            return -1;
        }
      }
    }
    return -1;
  }
};

// Rounds of idle noise: 0.01-0.03 cores, 50-52 MiB, about 1 KB/s each way.
void idle(AnomalyWatch& w, std::vector<Fake*> fakes, int rounds) {
  for (int i = 0; i < rounds; ++i) {
    for (Fake* f : fakes)
      f->step(0.01 + 0.01 * (i % 3), (50 + i % 3) * kMiB, 1000 + 100 * (i % 4),
              900 + 100 * (i % 5));
    fakeNs += kRoundNs;
    w.sampleOnce();
  }
}

TEST_CASE("IdleNoiseIsLearnedAndNeverReported", "[node][anomaly]") {
  Fixture fx;
  AnomalyWatch w(fx.options(), fx.registry);
  Fake a(fx.node, 100, "aaa"), b(fx.node, 101, "bbb");
  REQUIRE(w.track(a.container()));
  REQUIRE(w.track(b.container()));
  CHECK(w.tracked() == 2);
  CHECK(fx.metric("kube_customs_node_sampled_containers") == 2);
  idle(w, {&a, &b}, 30);
  CHECK(fx.take().empty());
  CHECK(w.stats().sampleErrors == 0);
  CHECK(w.stats().rounds == 30);
  CHECK(fx.metric("kube_customs_node_sampling_duration_seconds") == 30);
  CHECK(fx.metric("kube_customs_node_sampling_overruns_total") == 0);
  const auto view = w.normals().view("image/shop/worker", kc::node::Metric::kCpu, wallMicros());
  CHECK(view.known);
  CHECK_FALSE(view.learning);
}

TEST_CASE("ACpuBurnerAfterLearningIsOneCpuAnomaly", "[node][anomaly]") {
  Fixture fx;
  AnomalyWatch w(fx.options(), fx.registry);
  Fake a(fx.node, 100, "aaa");
  w.track(a.container());
  idle(w, {&a}, 10);
  REQUIRE(fx.take().empty());

  a.step(1.9, 51 * kMiB);
  fakeNs += kRoundNs;
  w.sampleOnce();
  const auto fs = fx.take();
  REQUIRE(fs.size() == 1);
  const Finding& f = fs[0];
  CHECK(f.rule == "container-cpu-anomaly");
  CHECK(f.technique == "T1496");
  CHECK(f.severity == kc::audit::Severity::kMedium);
  CHECK(f.runtime == "docker");
  CHECK(f.containerID == "aaa");
  CHECK(f.node == "node-1");
  INFO(f.summary);
  CHECK(
      f.summary.starts_with("container c-aaa (shop/worker:1.0) on node node-1 used 1.90 cores,"
                            " its workload's normal 0.02 cores (threshold "));
  CHECK(std::stod(f.details.at("value")) == Approx(1.9).epsilon(0.01));
  CHECK(std::stod(f.details.at("normal")) == Approx(0.02).margin(0.011));
  CHECK(std::stod(f.details.at("threshold")) >= 0.25);
  CHECK(std::stod(f.details.at("threshold")) < 1.0);
  CHECK(f.details.at("metric") == "cpu");
  CHECK(f.details.at("workload") == "image/shop/worker");
  CHECK(f.details.count("mad") == 1);
  CHECK(std::stoul(f.details.at("samples")) >= 5);
}

TEST_CASE("AMemoryBalloonIsAMemoryAnomaly", "[node][anomaly]") {
  Fixture fx;
  AnomalyWatch w(fx.options(), fx.registry);
  Fake a(fx.node, 100, "aaa");
  w.track(a.container());
  idle(w, {&a}, 10);
  a.step(0.02, 600 * kMiB);
  fakeNs += kRoundNs;
  w.sampleOnce();
  const auto fs = fx.take();
  REQUIRE(fs.size() == 1);
  CHECK(fs[0].rule == "container-memory-anomaly");
  CHECK(fs[0].technique == "T1496");
  CHECK(fs[0].severity == kc::audit::Severity::kMedium);
  CHECK(fs[0].details.at("metric") == "memory");
  CHECK(fs[0].summary.find("used 600.0 MiB") != std::string::npos);
}

TEST_CASE("ANetworkBurstIsANetworkAnomaly", "[node][anomaly]") {
  Fixture fx;
  AnomalyWatch w(fx.options(), fx.registry);
  Fake a(fx.node, 100, "aaa");
  w.track(a.container());
  idle(w, {&a}, 10);

  SECTION("bytes sent: high") {
    a.step(0.02, 51 * kMiB, 1000, 50 * kMiB);
    fakeNs += kRoundNs;
    w.sampleOnce();
    const auto fs = fx.take();
    REQUIRE(fs.size() == 1);  // bytes and packets sent: one finding of the rule
    CHECK(fs[0].rule == "container-network-anomaly");
    CHECK(fs[0].technique == "T1048");
    CHECK(fs[0].severity == kc::audit::Severity::kHigh);
    CHECK(fs[0].details.at("metric") == "tx-bytes");
    CHECK(fs[0].details.at("metrics") == "tx-bytes,tx-packets");
    CHECK(fs[0].summary.find("MiB/s sent") != std::string::npos);
  }
  SECTION("bytes received: medium") {
    a.step(0.02, 51 * kMiB, 50 * kMiB, 1000);
    fakeNs += kRoundNs;
    w.sampleOnce();
    const auto fs = fx.take();
    REQUIRE(fs.size() == 1);
    CHECK(fs[0].rule == "container-network-anomaly");
    CHECK(fs[0].severity == kc::audit::Severity::kMedium);
    // Bytes and packets received, both medium: the one furthest over its threshold leads.
    CHECK(fs[0].details.at("metrics") == "rx-bytes,rx-packets");
  }
}

TEST_CASE("ASustainedAnomalyIsOneFindingPerRateLimitWindow", "[node][anomaly]") {
  Fixture fx;
  AnomalyWatchOptions o = fx.options();
  o.rateLimit = 10min;
  AnomalyWatch w(o, fx.registry);
  Fake a(fx.node, 100, "aaa");
  w.track(a.container());
  idle(w, {&a}, 10);
  // 60 rounds of 10 s: the first finding, and 590 s later still held back.
  for (int i = 0; i < 60; ++i) {
    a.step(1.9, 51 * kMiB);
    fakeNs += kRoundNs;
    w.sampleOnce();
  }
  CHECK(fx.take().size() == 1);
  CHECK(w.stats().rateLimited == 59);
  // Still burning ten minutes after the first: sent again.
  a.step(1.9, 51 * kMiB);
  fakeNs += kRoundNs;
  w.sampleOnce();
  CHECK(fx.take().size() == 1);
  // Another container of the same workload is its own alert.
  Fake b(fx.node, 101, "bbb");
  w.track(b.container());
  b.step(0.02, 51 * kMiB);
  fakeNs += kRoundNs;
  w.sampleOnce();
  a.step(1.9, 51 * kMiB);
  b.step(1.9, 51 * kMiB);
  fakeNs += kRoundNs;
  w.sampleOnce();
  const auto fs = fx.take();
  REQUIRE(fs.size() == 1);
  CHECK(fs[0].containerID == "bbb");
}

TEST_CASE("TheStartupGraceIsNeitherJudgedNorLearned", "[node][anomaly]") {
  Fixture fx;
  AnomalyWatchOptions o = fx.options();
  o.startupGrace = 60s;
  AnomalyWatch w(o, fx.registry);
  Fake a(fx.node, 100, "aaa");
  w.track(a.container());
  idle(w, {&a}, 12);  // 60 s of grace, then 60 s learned
  // A new container of the learned workload spikes at its start: not reported.
  Fake b(fx.node, 101, "bbb");
  w.track(b.container());
  for (int i = 0; i < 5; ++i) {
    a.step(0.02, 51 * kMiB);
    b.step(1.9, 51 * kMiB);
    fakeNs += kRoundNs;
    w.sampleOnce();
  }
  CHECK(fx.take().empty());
  CHECK(w.stats().inGrace == 5 + 5);  // a's first 50 s, b's
  // Past its grace, the same spike is.
  for (int i = 0; i < 2; ++i) {
    a.step(0.02, 51 * kMiB);
    b.step(1.9, 51 * kMiB);
    fakeNs += kRoundNs;
    w.sampleOnce();
  }
  const auto fs = fx.take();
  REQUIRE(fs.size() == 1);
  CHECK(fs[0].rule == "container-cpu-anomaly");
  CHECK(fs[0].containerID == "bbb");
}

TEST_CASE("UntrackStopsSamplingAndSandboxesAreNeverTracked", "[node][anomaly]") {
  Fixture fx;
  AnomalyWatch w(fx.options(), fx.registry);
  Fake a(fx.node, 100, "aaa");
  Container sandbox = Fake(fx.node, 102, "ppp").container("registry.k8s.io/pause:3.9");
  sandbox.labels = {{"io.kubernetes.docker.type", "podsandbox"},
                    {"io.kubernetes.pod.name", "web-1"},
                    {"io.kubernetes.pod.namespace", "shop"}};
  CHECK_FALSE(w.track(sandbox));
  Container noPid = a.container();
  noPid.pid = 0;
  CHECK_FALSE(w.track(noPid));
  CHECK(w.tracked() == 0);

  w.track(a.container());
  idle(w, {&a}, 10);
  const auto samples = w.stats().samples.load();
  w.untrack("aaa");
  w.untrack("never-tracked");
  CHECK(w.tracked() == 0);
  CHECK(fx.metric("kube_customs_node_sampled_containers") == 0);
  a.step(1.9, 51 * kMiB);
  fakeNs += kRoundNs;
  w.sampleOnce();
  CHECK(w.stats().samples == samples);
  CHECK(fx.take().empty());
  CHECK(w.sampler().cachedPids() == 0);  // forgotten at the round
}

TEST_CASE("APidThatVanishedIsCountedNotFatal", "[node][anomaly]") {
  Fixture fx;
  AnomalyWatch w(fx.options(), fx.registry);
  Fake a(fx.node, 100, "aaa"), b(fx.node, 101, "bbb");
  w.track(a.container());
  w.track(b.container());
  idle(w, {&a, &b}, 3);
  std::filesystem::remove_all(fx.node.proc() + "/100");
  idle(w, {&b}, 3);
  CHECK(w.stats().sampleErrors >= 3);
  CHECK(fx.metric("kube_customs_node_sample_errors_total", "pid_gone") >= 3);
  CHECK(w.stats().rounds == 6);
  CHECK(w.stats().samples == 12);
}

TEST_CASE("NormalsAreSavedAtStopAndReloaded", "[node][anomaly]") {
  Fixture fx;
  AnomalyWatchOptions o = fx.options();
  o.normalsPath = fx.dir.file("normals.json");
  Fake a(fx.node, 100, "aaa");
  {
    AnomalyWatch w(o, fx.registry);
    w.track(a.container());
    idle(w, {&a}, 10);
    w.start();  // no file yet: what was learned stays
    w.stop();
    CHECK(w.stats().saves == 1);
  }
  REQUIRE(std::filesystem::exists(o.normalsPath));

  prometheus::Registry registry2;
  AnomalyWatch w2(o, registry2);
  w2.start();
  w2.stop();
  CHECK_FALSE(
      w2.normals().view("image/shop/worker", kc::node::Metric::kCpu, wallMicros()).learning);
  // No relearning: a new container of the workload is judged at its second sample.
  Fake b(fx.node, 101, "bbb");
  w2.track(b.container());
  b.step(0.02, 51 * kMiB);
  fakeNs += kRoundNs;
  w2.sampleOnce();
  b.step(1.9, 51 * kMiB);
  fakeNs += kRoundNs;
  w2.sampleOnce();
  const auto fs = fx.take();
  REQUIRE(fs.size() == 1);
  CHECK(fs[0].rule == "container-cpu-anomaly");
}

TEST_CASE("ADamagedNormalsFileIsMovedAside", "[node][anomaly]") {
  Fixture fx;
  AnomalyWatchOptions o = fx.options();
  o.normalsPath = fx.dir.file("normals.json");
  kc::testing::writeFile(o.normalsPath, "{\"version\": 1, \"workl");
  AnomalyWatch w(o, fx.registry);
  w.start();
  w.stop();
  CHECK(w.stats().movedAside);
  int aside = 0;
  for (const auto& e : std::filesystem::directory_iterator(fx.dir.path()))
    if (e.path().filename().string().starts_with("normals.json.damaged-")) ++aside;
  CHECK(aside == 1);
  CHECK(w.normals().workloads() == 0);
  CHECK(std::filesystem::exists(o.normalsPath));  // saved afresh at stop
}

TEST_CASE("TheSamplingThreadRunsRoundsAndCountsOverruns", "[node][anomaly]") {
  Fixture fx;
  AnomalyWatchOptions o = fx.options(/*fakeClocks=*/false);
  o.interval = 50ms;
  o.learningPeriod = 0ms;
  AnomalyWatch w(o, fx.registry);
  Fake a(fx.node, 100, "aaa");
  w.track(a.container());
  w.start();
  const auto until = std::chrono::steady_clock::now() + 10s;
  while (w.stats().rounds < 5 && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(10ms);
  w.stop();
  const auto rounds = w.stats().rounds.load();
  CHECK(rounds >= 5);
  std::this_thread::sleep_for(120ms);
  CHECK(w.stats().rounds == rounds);  // stopped
  CHECK(fx.metric("kube_customs_node_sampling_duration_seconds") == static_cast<double>(rounds));
  CHECK(w.stats().sampleErrors == 0);
  CHECK(fx.take().empty());  // counters unchanged: nothing used

  // A round longer than the interval is an overrun.
  AnomalyWatchOptions slow = fx.options(false);
  slow.interval = 1ms;
  prometheus::Registry registry2;
  AnomalyWatch w2(slow, registry2);
  for (int i = 0; i < 200; ++i) {
    Fake f(fx.node, 1000 + i, "x" + std::to_string(i));
    w2.track(f.container());
  }
  w2.sampleOnce();
  CHECK(w2.stats().overruns == 1);
}

TEST_CASE("TheWatchsMetricsAreInMetricsDoc", "[node][anomaly][docs]") {
  Fixture fx;
  AnomalyWatch w(fx.options(), fx.registry);
  const std::string text = kc::testing::readFile(std::string(KC_SOURCE_DIR) + "/docs/metrics.md");
  const auto families = fx.registry.Collect();
  REQUIRE(families.size() == 4);
  for (const auto& family : families) {
    INFO(family.name);
    CHECK(text.find("| `" + family.name + "` |") != std::string::npos);
  }
  for (auto e : {kc::node::SampleError::kPidGone, kc::node::SampleError::kNoCgroup,
                 kc::node::SampleError::kMissing, kc::node::SampleError::kMalformed,
                 kc::node::SampleError::kTooLarge, kc::node::SampleError::kIo}) {
    INFO(kc::node::sampleErrorName(e));
    CHECK(fx.metric("kube_customs_node_sample_errors_total",
                    std::string(kc::node::sampleErrorName(e))) == 0);
    CHECK(text.find("`" + std::string(kc::node::sampleErrorName(e)) + "`") != std::string::npos);
  }
}

}  // namespace
