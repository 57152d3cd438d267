// Each workload's learned normal: the learning period, the floors that keep an idle container
// quiet, a CPU burner, a memory balloon and a network burst flagged with the value, the normal
// and the threshold, a steady load never flagged, anomalous values never learned, adoption and
// accept(), eviction of the least recently seen workload, and persistence (a round trip, and
// damaged files refused).

#include "node/normals.h"

#include <atomic>
#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>
#include <random>
#include <thread>

#include "test/test_util.h"

namespace {

using kc::node::Anomaly;
using kc::node::Metric;
using kc::node::Normals;
using kc::node::NormalsLoadStatus;
using kc::node::NormalsOptions;
using kc::testing::TempDir;

constexpr std::int64_t kSecond = 1'000'000;
constexpr std::int64_t kRound = 10 * kSecond;  // the default sampling interval
constexpr std::int64_t kStart = 1'765'000'000LL * kSecond;
constexpr double kMiB = 1024.0 * 1024.0;

NormalsOptions hourOfLearning() {
  NormalsOptions o;
  o.learningMicros = 3600 * kSecond;
  return o;
}

// Feeds `rounds` values from `next` a round apart from `t` (advanced); returns the anomalies.
template <class Next>
std::vector<Anomaly> feed(Normals& n, const std::string& key, Metric m, int rounds, std::int64_t& t,
                          Next next) {
  std::vector<Anomaly> out;
  for (int i = 0; i < rounds; ++i, t += kRound)
    if (auto a = n.observe(key, m, next(), t)) out.push_back(*a);
  return out;
}

// Learns an hour and a half of `next`, so that verdicts start.
template <class Next>
void learn(Normals& n, const std::string& key, Metric m, std::int64_t& t, Next next) {
  REQUIRE(feed(n, key, m, 540, t, next).empty());
  REQUIRE_FALSE(n.view(key, m, t).learning);
}

TEST_CASE("NoVerdictBeforeTheLearningPeriodAndItsSamples", "[node][normals]") {
  Normals n(hourOfLearning());
  std::int64_t t = kStart;
  // An hour of rounds, the last ones wild: all learned silently.
  CHECK(feed(n, "w", Metric::kCpu, 359, t, [] { return 0.01; }).empty());
  CHECK(n.observe("w", Metric::kCpu, 50.0, t).has_value() == false);
  CHECK(n.view("w", Metric::kCpu, t).learning);
  // The time has passed but a metric seen once has too few samples.
  CHECK_FALSE(n.observe("w", Metric::kTxBytes, 1e9, t + kRound));
  t += 2 * kRound;
  CHECK_FALSE(n.observe("w", Metric::kTxBytes, 1e9, t));
  CHECK(n.view("w", Metric::kTxBytes, t).learning);
  CHECK(n.stats().anomalies == 0);
}

TEST_CASE("TheFloorKeepsAnIdleContainerQuietAndACpuBurnerIsFlagged", "[node][normals]") {
  Normals n(hourOfLearning());
  std::mt19937 rng(7);
  std::uniform_real_distribution<double> idle(0.001, 0.03);  // a mostly idle web server
  std::int64_t t = kStart;
  learn(n, "k8s/shop/web/nginx", Metric::kCpu, t, [&] { return idle(rng); });
  // A day of idle noise, a few bursts of a fifth of a core among it: nothing.
  int round = 0;
  CHECK(feed(n, "k8s/shop/web/nginx", Metric::kCpu, 8640, t, [&] {
          return ++round % 500 == 0 ? 0.2 : idle(rng);
        }).empty());
  // A miner: a full core.
  const auto a = n.observe("k8s/shop/web/nginx", Metric::kCpu, 1.0, t);
  REQUIRE(a);
  CHECK(a->metric == Metric::kCpu);
  CHECK(a->value == 1.0);
  CHECK(a->median == Approx(0.0155).margin(0.004));
  CHECK(a->mad == Approx(0.0073).margin(0.003));
  // The floor decides: median + 0.25 core (6 * 1.4826 * MAD and 2 * median are smaller).
  CHECK(a->threshold == Approx(a->median + 0.25));
  CHECK(a->samples > 9000);
  CHECK(a->consecutive == 1);
  CHECK(kc::node::metricRule(a->metric) == "container-cpu-anomaly");
}

TEST_CASE("AMemoryBalloonIsFlaggedAboveTheFloor", "[node][normals]") {
  Normals n(hourOfLearning());
  std::mt19937 rng(11);
  std::normal_distribution<double> mem(50 * kMiB, 2 * kMiB);
  std::int64_t t = kStart;
  learn(n, "image/docker.io/library/redis", Metric::kMemory, t, [&] { return mem(rng); });
  CHECK_FALSE(n.observe("image/docker.io/library/redis", Metric::kMemory, 250 * kMiB, t));
  const auto a = n.observe("image/docker.io/library/redis", Metric::kMemory, 400 * kMiB, t);
  REQUIRE(a);
  CHECK(a->median == Approx(50 * kMiB).epsilon(0.02));
  CHECK(a->threshold == Approx(a->median + 256 * kMiB));
  CHECK(kc::node::metricRule(Metric::kMemory) == "container-memory-anomaly");
}

TEST_CASE("ANetworkBurstIsFlaggedAndRegularTrafficIsNot", "[node][normals]") {
  Normals n(hourOfLearning());
  std::mt19937 rng(3);
  std::normal_distribution<double> tx(200e3, 50e3);  // a service answering requests
  std::int64_t t = kStart;
  learn(n, "k8s/shop/api/app", Metric::kTxBytes, t, [&] { return std::max(0.0, tx(rng)); });
  CHECK(feed(n, "k8s/shop/api/app", Metric::kTxBytes, 8640, t, [&] {
          return std::max(0.0, tx(rng));
        }).empty());
  const auto a = n.observe("k8s/shop/api/app", Metric::kTxBytes, 20e6, t);  // exfiltration
  REQUIRE(a);
  CHECK(a->median == Approx(200e3).epsilon(0.05));
  // median + 1 MiB/s is the largest of the three here.
  CHECK(a->threshold == Approx(a->median + kMiB));
  CHECK(kc::node::metricRule(a->metric) == "container-network-anomaly");
}

TEST_CASE("ASteadyBusyLoadIsNotFlaggedButABurstAboveItIs", "[node][normals]") {
  Normals n(hourOfLearning());
  std::mt19937 rng(5);
  std::normal_distribution<double> busy(1.5, 0.2);
  std::int64_t t = kStart;
  learn(n, "k8s/batch/render/worker", Metric::kCpu, t, [&] { return std::max(0.0, busy(rng)); });
  CHECK(feed(n, "k8s/batch/render/worker", Metric::kCpu, 20000, t, [&] {
          return std::max(0.0, busy(rng));
        }).empty());
  const auto v = n.view("k8s/batch/render/worker", Metric::kCpu, t);
  // 6 sigma above 1.5 is 2.7; twice the median (3.0) is higher still.
  CHECK(v.threshold == Approx(3.0).epsilon(0.05));
  const auto a = n.observe("k8s/batch/render/worker", Metric::kCpu, 4.0, t);
  REQUIRE(a);
  CHECK(a->threshold == Approx(v.threshold));
}

TEST_CASE("AnomalousValuesAreNotLearned", "[node][normals]") {
  Normals n(hourOfLearning());
  std::int64_t t = kStart;
  std::mt19937 rng(1);
  std::uniform_real_distribution<double> idle(0.05, 0.15);
  learn(n, "w", Metric::kCpu, t, [&] { return idle(rng); });
  const auto before = n.view("w", Metric::kCpu, t);
  // Two days of a miner: flagged every round, the normal unmoved.
  const auto flagged = feed(n, "w", Metric::kCpu, 17280, t, [] { return 2.0; });
  CHECK(flagged.size() == 17280);
  CHECK(flagged.back().consecutive == 17280);
  CHECK_FALSE(flagged.back().adopted);
  const auto after = n.view("w", Metric::kCpu, t);
  CHECK(after.median == before.median);
  CHECK(after.threshold == before.threshold);
  CHECK(after.samples == before.samples);
  CHECK(n.stats().anomalies == 17280);
}

TEST_CASE("SustainedValuesAreAdoptedOnlyWhenConfigured", "[node][normals]") {
  NormalsOptions o = hourOfLearning();
  o.adoptAfter = 6;  // a minute of rounds
  Normals n(o);
  std::int64_t t = kStart;
  learn(n, "w", Metric::kMemory, t, [] { return 100 * kMiB; });
  const auto flagged = feed(n, "w", Metric::kMemory, 10, t, [] { return 600 * kMiB; });
  REQUIRE(flagged.size() == 6);
  CHECK(flagged[5].adopted);
  CHECK_FALSE(flagged[4].adopted);
  CHECK(n.view("w", Metric::kMemory, t).accepted == Approx(600 * kMiB));
  CHECK(n.stats().adopted == 1);
}

TEST_CASE("AcceptRaisesTheNormalAndTheNewValuesAreLearned", "[node][normals]") {
  Normals n(hourOfLearning());
  std::int64_t t = kStart;
  learn(n, "w", Metric::kCpu, t, [] { return 0.1; });
  REQUIRE(n.observe("w", Metric::kCpu, 2.0, t));
  CHECK(n.accept("w", Metric::kCpu, 2.0, t));
  CHECK_FALSE(n.accept("w", Metric::kCpu, std::nan(""), t));
  CHECK(n.stats().accepted == 1);
  // Up to 2.0 * 2 (ratio) is normal now, and learned.
  CHECK(feed(n, "w", Metric::kCpu, 3000, t, [] { return 2.0; }).empty());
  CHECK_FALSE(n.observe("w", Metric::kCpu, 3.9, t));
  const auto a = n.observe("w", Metric::kCpu, 5.0, t);
  REQUIRE(a);
  CHECK(a->accepted == Approx(2.0));
  CHECK(a->threshold == Approx(4.0));
  // The learned median has moved to the new normal.
  CHECK(n.view("w", Metric::kCpu, t).median == Approx(2.0));
}

TEST_CASE("TheLeastRecentlySeenWorkloadIsEvicted", "[node][normals]") {
  NormalsOptions o = hourOfLearning();
  o.maxWorkloads = 2;
  Normals n(o);
  n.observe("a", Metric::kCpu, 0.1, kStart);
  n.observe("b", Metric::kCpu, 0.1, kStart + 1);
  n.observe("a", Metric::kCpu, 0.1, kStart + 2);
  n.observe("c", Metric::kCpu, 0.1, kStart + 3);
  CHECK(n.workloads() == 2);
  CHECK(n.view("a", Metric::kCpu, kStart).known);
  CHECK_FALSE(n.view("b", Metric::kCpu, kStart).known);
  CHECK(n.view("c", Metric::kCpu, kStart).known);
  CHECK(n.stats().evicted == 1);
}

TEST_CASE("AcceptAndViewMayRunWhileAnotherThreadObserves", "[node][normals]") {
  NormalsOptions o = hourOfLearning();
  o.maxWorkloads = 16;  // evictions too, while the other thread accepts
  Normals n(o);
  std::atomic<bool> stop{false};
  std::thread observer([&] {
    std::int64_t t = kStart;
    for (int i = 0; !stop && i < 200000; ++i, t += kRound)
      n.observe("w" + std::to_string(i % 32), Metric::kCpu, 0.1 * (i % 5), t);
  });
  for (int i = 0; i < 2000; ++i) {
    n.accept("w" + std::to_string(i % 32), Metric::kCpu, 1.0, kStart + i);
    (void)n.view("w" + std::to_string(i % 32), Metric::kCpu, kStart + i);
    (void)n.workloads();
  }
  stop = true;
  observer.join();
  CHECK(n.workloads() <= 16);
  CHECK(n.stats().evicted > 0);
}

TEST_CASE("InvalidValuesAndLongKeysAreHandled", "[node][normals]") {
  Normals n(hourOfLearning());
  CHECK_FALSE(n.observe("w", Metric::kCpu, std::nan(""), kStart));
  CHECK_FALSE(n.observe("w", Metric::kCpu, -1.0, kStart));
  CHECK_FALSE(n.observe("w", Metric::kCpu, INFINITY, kStart));
  CHECK(n.stats().invalid == 3);
  CHECK(n.workloads() == 0);
  // 300 bytes of 3-byte characters: kept as the first 255 bytes (85 whole characters).
  std::string key;
  for (int i = 0; i < 100; ++i) key += "\xE2\x82\xAC";
  n.observe(key, Metric::kCpu, 0.1, kStart);
  n.observe(key, Metric::kCpu, 0.1, kStart + kRound);
  CHECK(n.workloads() == 1);
  CHECK(n.view(key, Metric::kCpu, kStart).samples == 2);
}

TEST_CASE("SavedNormalsLoadBackTheSame", "[node][normals]") {
  TempDir dir;
  const std::string path = dir.file("normals.json");
  Normals n(hourOfLearning());
  std::mt19937 rng(9);
  std::normal_distribution<double> cpu(0.3, 0.05);
  std::int64_t t = kStart;
  learn(n, "k8s/shop/web/nginx", Metric::kCpu, t, [&] { return std::max(0.0, cpu(rng)); });
  std::int64_t t2 = kStart;
  feed(n, "image/redis", Metric::kRxBytes, 2000, t2, [&] { return 1e5 * cpu(rng); });
  n.accept("image/redis", Metric::kRxBytes, 5e6, t2);
  std::string error;
  REQUIRE(n.save(path, error));
  CHECK((std::filesystem::status(path).permissions() & std::filesystem::perms::others_read) ==
        std::filesystem::perms::none);

  Normals back(hourOfLearning());
  const auto r = back.load(path);
  INFO(r.error);
  REQUIRE(r.status == NormalsLoadStatus::kLoaded);
  CHECK(r.workloads == 2);
  for (const std::string key : {"k8s/shop/web/nginx", "image/redis"}) {
    for (std::size_t i = 0; i < kc::node::kMetricCount; ++i) {
      const auto m = static_cast<Metric>(i);
      const auto a = n.view(key, m, t), b = back.view(key, m, t);
      CHECK(a.known == b.known);
      CHECK(a.learning == b.learning);
      CHECK(a.median == b.median);
      CHECK(a.mad == b.mad);
      CHECK(a.threshold == b.threshold);
      CHECK(a.accepted == b.accepted);
      CHECK(a.samples == b.samples);
      CHECK(a.stored == b.stored);
    }
  }
  const auto a = n.observe("k8s/shop/web/nginx", Metric::kCpu, 3.0, t);
  const auto b = back.observe("k8s/shop/web/nginx", Metric::kCpu, 3.0, t);
  REQUIRE(a);
  REQUIRE(b);
  CHECK(a->threshold == b->threshold);
  CHECK(a->median == b->median);
  // Saved again, the same text.
  REQUIRE(back.save(dir.file("again.json"), error));
  REQUIRE(n.save(path, error));
  CHECK(kc::testing::readFile(dir.file("again.json")) == kc::testing::readFile(path));
}

TEST_CASE("ADamagedNormalsFileIsRefusedAndNothingChanges", "[node][normals]") {
  struct Case {
    std::string text;
    std::string says;
  };
  const std::string head = R"({"format":"kube-customs-node-normals","version":1,"workloads":)";
  const std::string w = R"({"key":"w","firstSeenMicros":1,"lastSeenMicros":2,"metrics":)";
  std::string many = "1";
  for (int i = 1; i < 200; ++i) many += ",1";
  const Case c = GENERATE_COPY(
      Case{"{not json", "not valid JSON"}, Case{R"({"version":1,"keys":[]})", "format"},
      Case{R"({"format":"kube-customs-node-normals","version":2,"workloads":[]})", "version 1"},
      Case{head + "{}}", "workloads: array"},
      Case{head + "[" + w + R"({"cpu":{"learned":3,"values":[1,-2,3]}}}]})", "metrics.cpu.values"},
      Case{head + "[" + w + R"({"cpu":{"learned":3,"values":[1,"x",3]}}}]})", "metrics.cpu.values"},
      Case{head + "[" + w + R"({"cpu":{"learned":1,"values":[1,2]}}}]})", "more values"},
      Case{head + "[" + w + R"({"disk":{"learned":1,"values":[1]}}}]})", "unknown metric"},
      Case{head + "[" + w + R"({"cpu":{"values":[1]}}}]})", "metrics.cpu.learned"},
      Case{head + "[" + w + R"({"cpu":{"learned":1,"values":[1],"accepted":"all"}}}]})",
           "accepted"},
      Case{head + "[" + w + "{}}," + w + "{}}]}", "appears twice"},
      Case{head + R"([{"key":"","firstSeenMicros":1,"lastSeenMicros":2,"metrics":{}}]})",
           "workloads[0].key"},
      Case{head + R"([{"key":"w","lastSeenMicros":2,"metrics":{}}]})", "firstSeenMicros"},
      Case{head + "[" + w + R"({"cpu":{"learned":999,"values":[)" + many + "]}}}]}",
           "at most 128"});
  TempDir dir;
  const std::string path = dir.file("normals.json");
  Normals n(hourOfLearning());
  n.observe("kept", Metric::kCpu, 0.1, kStart);
  kc::testing::writeFile(path, c.text);
  const auto r = n.load(path);
  INFO(c.text);
  CHECK(r.status == NormalsLoadStatus::kDamaged);
  CHECK_FALSE(r.ok());
  CHECK_THAT(r.error, Catch::Contains(path) && Catch::Contains(c.says));
  CHECK(n.workloads() == 1);
  CHECK(n.view("kept", Metric::kCpu, kStart).known);
}

TEST_CASE("AMissingNormalsFileIsNotAnErrorAndAnUnreadableOneIs", "[node][normals]") {
  TempDir dir;
  Normals n(hourOfLearning());
  auto r = n.load(dir.file("none.json"));
  CHECK(r.status == NormalsLoadStatus::kMissing);
  CHECK(r.ok());
  r = n.load(dir.path());  // a directory
  CHECK(r.status == NormalsLoadStatus::kUnreadable);
  CHECK_FALSE(r.error.empty());
  std::string error;
  CHECK_FALSE(n.save(dir.file("no/such/dir/normals.json"), error));
  CHECK_FALSE(error.empty());
}

TEST_CASE("WorkloadKeysNameThePodsOwnerElseTheImageRepository", "[node][normals]") {
  auto pod = [](std::string name) {
    kc::node::KubernetesInfo k;
    k.kubernetes = true;
    k.podNamespace = "shop";
    k.podName = std::move(name);
    k.containerName = "app";
    return k;
  };
  using kc::node::workloadKey;
  CHECK(workloadKey(pod("web-7d9c5b6f4d-x2kqz"), "") == "k8s/shop/web/app");           // Deployment
  CHECK(workloadKey(pod("node-exporter-q8w5t"), "") == "k8s/shop/node-exporter/app");  // DS
  CHECK(workloadKey(pod("db-2"), "") == "k8s/shop/db/app");                       // StatefulSet
  CHECK(workloadKey(pod("backup-29417280-jx7p4"), "") == "k8s/shop/backup/app");  // CronJob
  CHECK(workloadKey(pod("standalone"), "") == "k8s/shop/standalone/app");
  CHECK(workloadKey(pod("my-pod-hello"), "") == "k8s/shop/my-pod-hello/app");  // not generated
  const kc::node::KubernetesInfo none;
  CHECK(workloadKey(none, "ngrok/ngrok:latest") == "image/ngrok/ngrok");
  CHECK(workloadKey(none, "registry:5000/team/app@sha256:abcd") == "image/registry:5000/team/app");
  CHECK(workloadKey(none, "registry:5000/team/app:v2") == "image/registry:5000/team/app");
  CHECK(workloadKey(none, "busybox") == "image/busybox");
}

}  // namespace
