// The sampler against containers of a real dockerd of the test's own
// (test/node/private_dockerd.h): a CPU burner, a memory balloon and an idle container with
// --network none, and two containers moving a file over an --internal network the test
// creates and removes. Nothing uses the host's network. Without root or when dockerd cannot
// start here, every test skips with the reason, and fails instead under CI=true or
// KC_REQUIRE_TOOLS=1.

#include <sys/resource.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <thread>

#include "node/normals.h"
#include "node/sampler.h"
#include "test/node/private_dockerd.h"

namespace {

using kc::node::RateTracker;
using kc::node::Sample;
using kc::node::Sampler;
using kc::testing::PrivateDockerd;
using namespace std::chrono_literals;

constexpr double kMiB = 1024.0 * 1024.0;

struct Daemon {
  std::unique_ptr<PrivateDockerd> dockerd = std::make_unique<PrivateDockerd>();
  bool started = false;
  Daemon() { started = dockerd->start(); }
};

Daemon& daemon() {
  static Daemon d;  // stopped by its destructor at exit
  return d;
}

#define PRIVATE_DOCKERD_OR_SKIP(var)                                      \
  Daemon& daemon_ = daemon();                                             \
  if (!daemon_.started) {                                                 \
    if (kc::testing::toolsRequired())                                     \
      FAIL("no private dockerd: " << daemon_.dockerd->why()               \
                                  << " (CI=true or KC_REQUIRE_TOOLS=1)"); \
    WARN("skipped: no private dockerd: " << daemon_.dockerd->why());      \
    return;                                                               \
  }                                                                       \
  PrivateDockerd& var = *daemon_.dockerd

// Removes what a test made, whichever way it leaves.
struct Cleanup {
  const PrivateDockerd& d;
  std::vector<std::string> containers;
  std::string network;
  ~Cleanup() {
    std::string ignored;
    for (const auto& id : containers) d.docker("rm -f " + id, ignored);
    if (!network.empty()) d.docker("network rm " + network, ignored);
  }
};

std::int64_t pidOf(const PrivateDockerd& d, const std::string& id) {
  return std::stoll(d.dockerOk("inspect -f '{{.State.Pid}}' " + id));
}

std::string run(const PrivateDockerd& d, Cleanup& c, const std::string& args) {
  std::string id = d.dockerOk("run -d " + args);
  // The id is the last line: a network without forwarding (as here) adds a warning before it.
  if (const auto nl = id.rfind('\n'); nl != std::string::npos) id = id.substr(nl + 1);
  c.containers.push_back(id);
  return id;
}

// CPU time (clock ticks) of dockerd and the daemons under it (containerd, the shims): the
// processes below dockerd named dockerd or containerd*, not the containers' processes.
long long daemonTicks(pid_t dockerd) {
  struct Proc {
    pid_t ppid = 0;
    std::string comm;
    long long ticks = 0;
  };
  std::map<pid_t, Proc> procs;
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    const std::string name = entry.path().filename();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream in(entry.path() / "stat");
    std::string text;
    if (!std::getline(in, text)) continue;
    const auto open = text.find('('), close = text.rfind(')');
    if (open == std::string::npos || close == std::string::npos) continue;
    Proc p;
    p.comm = text.substr(open + 1, close - open - 1);
    std::istringstream rest(text.substr(close + 2));
    std::string field;
    std::vector<std::string> fields;
    while (rest >> field) fields.push_back(field);
    if (fields.size() < 13) continue;
    p.ppid = std::stoi(fields[1]);                              // field 4
    p.ticks = std::stoll(fields[11]) + std::stoll(fields[12]);  // fields 14, 15
    procs[std::stoi(name)] = p;
  }
  long long total = 0;
  std::vector<pid_t> todo{dockerd};
  while (!todo.empty()) {
    const pid_t pid = todo.back();
    todo.pop_back();
    total += procs[pid].ticks;
    for (const auto& [child, p] : procs)
      if (p.ppid == pid && (p.comm == "dockerd" || p.comm.rfind("containerd", 0) == 0))
        todo.push_back(child);
  }
  return total;
}

double cpuSeconds() {
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

TEST_CASE("TheSamplerSeesACpuBurnerAndAMemoryBalloon", "[node][sampler][dockerd]") {
  PRIVATE_DOCKERD_OR_SKIP(d);
  Cleanup cleanup{d, {}, {}};
  const std::string image = PrivateDockerd::kImage;
  const std::string idle = run(d, cleanup, "--network none " + image + " sleep 300");
  const std::string burner = run(
      d, cleanup, "--network none " + image + " sh -c 'while :; do :; done & while :; do :; done'");
  const std::string balloon =
      run(d, cleanup,
          "--network none --tmpfs /m:size=300m " + image +
              " sh -c 'dd if=/dev/zero of=/m/fill bs=1M count=200 2>/dev/null; sleep 300'");
  const std::int64_t idlePid = pidOf(d, idle), burnerPid = pidOf(d, burner),
                     balloonPid = pidOf(d, balloon);

  Sampler sampler;
  RateTracker idleRates, burnerRates;
  Sample s = sampler.sample(idlePid);
  INFO(kc::node::sampleErrorName(s.error) << " in " << s.where);
  REQUIRE(s.ok());
  CHECK(s.cpuOk);
  CHECK(s.memoryOk);
  CHECK(s.networkOk);  // its own namespace, with loopback only
  CHECK_FALSE(s.hostNetwork);
  CHECK(s.interfaces == 0);
  CHECK(s.rxBytes == 0);
  idleRates.update(s);
  REQUIRE(burnerRates.update(sampler.sample(burnerPid)) == std::nullopt);

  // A second apart: the burner's two loops run at up to two cores (less when other builds share
  // the machine: the best of up to five windows), the idle container at nothing.
  std::optional<kc::node::Rates> idleRate, burnerRate;
  for (int window = 0; window < 5; ++window) {
    std::this_thread::sleep_for(1000ms);
    const auto i = idleRates.update(sampler.sample(idlePid));
    const auto b = burnerRates.update(sampler.sample(burnerPid));
    REQUIRE(i);
    REQUIRE(b);
    if (!burnerRate || b->cpuCores > burnerRate->cpuCores) {
      idleRate = i;
      burnerRate = b;
    }
    if (burnerRate->cpuCores > 0.5) break;
  }
  INFO("burner " << burnerRate->cpuCores << " cores, idle " << idleRate->cpuCores);
  std::printf("burner %.2f cores, idle %.4f cores\n", burnerRate->cpuCores, idleRate->cpuCores);
  CHECK(burnerRate->cpuCores > 0.5);
  CHECK(idleRate->cpuCores < 0.05);

  // The balloon's 200 MiB in its tmpfs count in its working set (shmem is not file cache that
  // can be dropped).
  Sample idleSample = sampler.sample(idlePid), balloonSample;
  const auto until = std::chrono::steady_clock::now() + 30s;
  do {
    balloonSample = sampler.sample(balloonPid);
    REQUIRE(balloonSample.memoryOk);
    if (balloonSample.memoryWorkingSet > idleSample.memoryWorkingSet + 190 * kMiB) break;
    std::this_thread::sleep_for(200ms);
  } while (std::chrono::steady_clock::now() < until);
  INFO("balloon " << balloonSample.memoryWorkingSet / kMiB << " MiB, idle "
                  << idleSample.memoryWorkingSet / kMiB << " MiB");
  std::printf("balloon %.1f MiB, idle %.1f MiB of working set\n",
              static_cast<double>(balloonSample.memoryWorkingSet) / kMiB,
              static_cast<double>(idleSample.memoryWorkingSet) / kMiB);
  CHECK(balloonSample.memoryWorkingSet > idleSample.memoryWorkingSet + 100 * kMiB);

  // The learned normal of the idle container's workload flags the burner and the balloon.
  kc::node::NormalsOptions o;
  o.learningMicros = 0;
  o.minSamples = 5;
  // The balloon is 200 MiB: under the default floor (256 MiB above normal), so a smaller one.
  o.policy[static_cast<std::size_t>(kc::node::Metric::kMemory)].floor = 64 * kMiB;
  kc::node::Normals normals(o);
  std::int64_t now = 1'765'000'000'000'000;
  for (int i = 0; i < 5; ++i, now += 10'000'000) {
    std::this_thread::sleep_for(150ms);
    const auto r = idleRates.update(sampler.sample(idlePid));
    REQUIRE(r);
    REQUIRE_FALSE(
        normals.observe("image/kc-test/busybox", kc::node::Metric::kCpu, r->cpuCores, now));
    REQUIRE_FALSE(
        normals.observe("image/kc-test/busybox", kc::node::Metric::kMemory, r->memoryBytes, now));
  }
  const auto cpu =
      normals.observe("image/kc-test/busybox", kc::node::Metric::kCpu, burnerRate->cpuCores, now);
  REQUIRE(cpu);
  CHECK(cpu->threshold < 0.5);
  const auto memory = normals.observe("image/kc-test/busybox", kc::node::Metric::kMemory,
                                      static_cast<double>(balloonSample.memoryWorkingSet), now);
  REQUIRE(memory);
  CHECK(memory->value > memory->threshold);

  // What a sample of a real container costs here: its cgroup and /proc files through the
  // kernel (the figure docs/performance.md quotes), the pid's cgroup resolved once.
  const int kRounds = 2000;
  const double before = cpuSeconds();
  for (int i = 0; i < kRounds; ++i) {
    sampler.sample(idlePid);
    sampler.sample(burnerPid);
    sampler.sample(balloonPid);
  }
  const double perSampleUs = (cpuSeconds() - before) / (3.0 * kRounds) * 1e6;
  std::printf("sampler, real dockerd containers (cgroup v%d): %.2f us of CPU per sample\n",
              s.cgroup == kc::node::CgroupVersion::kV2 ? 2 : 1, perSampleUs);
  CHECK(sampler.stats().resolves == 3);
  CHECK(perSampleUs < 200);  // a sanity bound; the target (20 us) is the benchmark's to show

  // Side by side: what `docker stats --no-stream` costs the daemons for the same containers.
  std::ifstream pidfile(d.dir() + "/docker.pid");
  pid_t dockerdPid = 0;
  if (pidfile >> dockerdPid && dockerdPid > 0) {
    constexpr int kRuns = 3;
    const long long ticksBefore = daemonTicks(dockerdPid);
    const auto wallBefore = std::chrono::steady_clock::now();
    for (int i = 0; i < kRuns; ++i)
      d.dockerOk("stats --no-stream " + idle + " " + burner + " " + balloon);
    const double wall =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - wallBefore).count() /
        kRuns;
    const double daemonMs = static_cast<double>(daemonTicks(dockerdPid) - ticksBefore) * 1000.0 /
                            static_cast<double>(::sysconf(_SC_CLK_TCK));
    std::printf(
        "docker stats --no-stream, 3 containers, %d runs: %.2f ms of dockerd+containerd+shim CPU "
        "per container (%.0f us), %.2f s wall per run\n",
        kRuns, daemonMs / (3.0 * kRuns), daemonMs / (3.0 * kRuns) * 1000, wall);
  }

  // A container removed: its pid and cgroup are gone, the sampler says so and forgets it.
  d.dockerOk("rm -f " + balloon);
  const Sample gone = sampler.sample(balloonPid);
  CHECK(gone.error == kc::node::SampleError::kPidGone);
  CHECK(sampler.cachedPids() == 2);
}

TEST_CASE("NetworkCountersRiseForBothEndsOfAnInternalNetwork", "[node][sampler][dockerd]") {
  PRIVATE_DOCKERD_OR_SKIP(d);
  Cleanup cleanup{d, {}, {}};
  const std::string image = PrivateDockerd::kImage;
  const std::string net = "kc-test-net-" + std::to_string(::getpid());
  d.dockerOk("network create --internal " + net);
  cleanup.network = net;
  const std::string server =
      run(d, cleanup,
          "--network " + net + " " + image +
              " sh -c 'mkdir -p /www && dd if=/dev/zero of=/www/f bs=1M count=4 2>/dev/null && "
              "exec httpd -f -p 8080 -h /www'");
  const std::string ip =
      d.dockerOk("inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' " + server);
  REQUIRE_FALSE(ip.empty());
  const std::int64_t serverPid = pidOf(d, server);
  Sampler sampler;
  const Sample serverBefore = sampler.sample(serverPid);
  INFO(kc::node::sampleErrorName(serverBefore.error) << " in " << serverBefore.where);
  REQUIRE(serverBefore.ok());
  REQUIRE(serverBefore.networkOk);
  CHECK(serverBefore.interfaces == 1);  // eth0

  // At most 20 fetches of 4 MiB, each bounded to 10 s; then it idles until removed.
  const std::string client = run(
      d, cleanup,
      "--network " + net + " " + image + " sh -c 'sleep 1; i=0; while [ $i -lt 20 ]; do " +
          "timeout 10 wget -q -O /dev/null http://" + ip + ":8080/f; i=$((i+1)); done; sleep 300'");
  const std::int64_t clientPid = pidOf(d, client);
  const Sample clientBefore = sampler.sample(clientPid);
  REQUIRE(clientBefore.networkOk);

  Sample serverAfter, clientAfter;
  const auto until = std::chrono::steady_clock::now() + 60s;
  do {
    std::this_thread::sleep_for(250ms);
    serverAfter = sampler.sample(serverPid);
    clientAfter = sampler.sample(clientPid);
    REQUIRE(serverAfter.networkOk);
    REQUIRE(clientAfter.networkOk);
    if (clientAfter.rxBytes - clientBefore.rxBytes > 40 * kMiB) break;
  } while (std::chrono::steady_clock::now() < until);
  INFO("server tx " << (serverAfter.txBytes - serverBefore.txBytes) / kMiB << " MiB, client rx "
                    << (clientAfter.rxBytes - clientBefore.rxBytes) / kMiB << " MiB");
  std::printf("server tx %.1f MiB rx %.1f KiB, client rx %.1f MiB tx %.1f KiB\n",
              static_cast<double>(serverAfter.txBytes - serverBefore.txBytes) / kMiB,
              static_cast<double>(serverAfter.rxBytes - serverBefore.rxBytes) / 1024,
              static_cast<double>(clientAfter.rxBytes - clientBefore.rxBytes) / kMiB,
              static_cast<double>(clientAfter.txBytes - clientBefore.txBytes) / 1024);
  // The file went from the server to the client, the requests the other way.
  CHECK(serverAfter.txBytes - serverBefore.txBytes > 20 * kMiB);
  CHECK(clientAfter.rxBytes - clientBefore.rxBytes > 20 * kMiB);
  CHECK(serverAfter.txPackets > serverBefore.txPackets);
  CHECK(serverAfter.rxBytes > serverBefore.rxBytes);
  CHECK(clientAfter.txBytes > clientBefore.txBytes);
  CHECK(clientAfter.rxPackets > clientBefore.rxPackets);
  CHECK_FALSE(serverAfter.hostNetwork);
  CHECK_FALSE(clientAfter.hostNetwork);
}

}  // namespace
