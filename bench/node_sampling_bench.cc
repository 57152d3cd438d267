// The node door's per-container sampling: CPU time per container per round and peak memory,
// over synthetic /proc and cgroup trees (test/node/synthetic_node.h) of N containers, cgroup v1
// and v2. Each round samples every container (cgroup CPU and memory files, net/dev), turns the
// sample into rates and judges them against the workload's normal, as the node service will.
//
//   node_sampling_bench [--containers N] [--layout v1|v2] [--rounds R] [--dir DIR]
//
// Without --containers it runs 1,000 and 10,000 containers, v1 and v2. The trees are written
// under DIR (default $TMPDIR or /tmp) and removed at the end. CPU is getrusage user + system
// of the rounds only (the tree built and every pid resolved before); peak RSS is the process's
// VmHWM after all runs.

#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "node/normals.h"
#include "node/sampler.h"
#include "test/node/synthetic_node.h"

namespace {

using kc::testing::CgroupLayout;
using kc::testing::SyntheticNode;

double cpuSeconds() {
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

long statusKiB(const char* field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(field, 0) == 0) return std::atol(line.c_str() + std::strlen(field));
  return -1;
}

struct Result {
  double sampleUs = 0;  // sampling alone
  double totalUs = 0;   // sampling + rates + normals
  double rssMiB = 0;    // resident after the run
};

Result runOne(const std::string& base, CgroupLayout layout, int containers, int rounds) {
  const std::string root = base + "/kc-node-bench-" + std::to_string(::getpid());
  std::filesystem::remove_all(root);
  std::vector<std::int64_t> pids;
  {
    SyntheticNode node(root);
    for (int i = 0; i < containers; ++i) {
      const std::int64_t pid = 100000 + i;
      char id[65];
      std::snprintf(id, sizeof id, "%064x", i);
      node.addContainer(pid, layout, id, 1'000'000ULL * i, 50ULL << 20, 10ULL << 20, 1000ULL * i,
                        2000ULL * i);
      pids.push_back(pid);
    }
  }
  kc::node::SamplerOptions o;
  o.procRoot = root + "/proc";
  o.cgroupRoot = root + "/cgroup";
  Result r;
  {
    kc::node::Sampler sampler(o);
    kc::node::NormalsOptions no;
    no.maxWorkloads = 10000;
    no.learningMicros = 0;
    kc::node::Normals normals(no);
    std::vector<kc::node::RateTracker> rates(pids.size(), kc::node::RateTracker(0));
    std::vector<std::string> keys;
    for (std::size_t i = 0; i < pids.size(); ++i)
      keys.push_back("k8s/bench/workload-" + std::to_string(i) + "/app");
    for (auto pid : pids)
      if (!sampler.sample(pid).ok()) {
        std::fprintf(stderr, "sample of %lld failed\n", static_cast<long long>(pid));
        std::exit(1);
      }
    // Sampling alone.
    double t0 = cpuSeconds();
    for (int round = 0; round < rounds; ++round)
      for (auto pid : pids) sampler.sample(pid);
    r.sampleUs = (cpuSeconds() - t0) / (static_cast<double>(rounds) * containers) * 1e6;
    // The whole round: rates and the six metrics judged (each container its own workload, the
    // worst case for memory).
    std::int64_t now = 1'765'000'000'000'000;
    t0 = cpuSeconds();
    for (int round = 0; round < rounds; ++round, now += 10'000'000) {
      for (std::size_t i = 0; i < pids.size(); ++i) {
        const auto s = sampler.sample(pids[i]);
        if (auto rate = rates[i].update(s)) {
          using kc::node::Metric;
          normals.observe(keys[i], Metric::kCpu, rate->cpuCores, now);
          normals.observe(keys[i], Metric::kMemory, rate->memoryBytes, now);
          normals.observe(keys[i], Metric::kRxBytes, rate->rxBytesPerSec, now);
          normals.observe(keys[i], Metric::kTxBytes, rate->txBytesPerSec, now);
          normals.observe(keys[i], Metric::kRxPackets, rate->rxPacketsPerSec, now);
          normals.observe(keys[i], Metric::kTxPackets, rate->txPacketsPerSec, now);
        }
      }
    }
    r.totalUs = (cpuSeconds() - t0) / (static_cast<double>(rounds) * containers) * 1e6;
    // Fill every reservoir, so that the memory figure is the bound and not a partial one.
    for (int i = 0; i < static_cast<int>(kc::node::kReservoir); ++i, now += 10'000'000)
      for (std::size_t c = 0; c < keys.size(); ++c)
        for (std::size_t m = 0; m < kc::node::kMetricCount; ++m)
          normals.observe(keys[c], static_cast<kc::node::Metric>(m), 1.0 + (i % 7), now);
    r.rssMiB = static_cast<double>(statusKiB("VmRSS:")) / 1024.0;
  }
  std::filesystem::remove_all(root);
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<int> counts{1000, 10000};
  std::vector<CgroupLayout> layouts{CgroupLayout::kV1, CgroupLayout::kV2};
  int rounds = 0;
  const char* tmp = std::getenv("TMPDIR");
  std::string dir = tmp && *tmp ? tmp : "/tmp";
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i], value = argv[i + 1];
    if (flag == "--containers") {
      counts = {std::atoi(value.c_str())};
    } else if (flag == "--layout") {
      layouts = {value == "v2" ? CgroupLayout::kV2 : CgroupLayout::kV1};
    } else if (flag == "--rounds") {
      rounds = std::atoi(value.c_str());
    } else if (flag == "--dir") {
      dir = value;
    } else {
      std::fprintf(stderr, "usage: %s [--containers N] [--layout v1|v2] [--rounds R] [--dir DIR]\n",
                   argv[0]);
      return 2;
    }
  }
  std::printf("%-7s %10s %7s %18s %22s %26s %12s\n", "layout", "containers", "rounds",
              "sample us/ctr", "sample+judge us/ctr", "core at 10 s interval (%)", "RSS MiB");
  for (CgroupLayout layout : layouts) {
    for (int n : counts) {
      // About two million samples per configuration.
      const int r = rounds > 0 ? rounds : std::max(20, 2'000'000 / n / 10);
      const Result res = runOne(dir, layout, n, r);
      std::printf("%-7s %10d %7d %18.2f %22.2f %26.4f %12.1f\n",
                  layout == CgroupLayout::kV2 ? "v2" : "v1", n, r, res.sampleUs, res.totalUs,
                  res.totalUs * n / 10e6 * 100, res.rssMiB);
      std::fflush(stdout);
    }
  }
  std::printf("peak RSS (VmHWM): %.1f MiB\n", static_cast<double>(statusKiB("VmHWM:")) / 1024.0);
  return 0;
}
