// The anomaly watch against containers of a real dockerd of the test's own
// (test/node/private_dockerd.h): an idle busybox container with --network none is learned with a
// short interval, then a second container of the same image burns CPU and is reported as
// "container-cpu-anomaly" against the idle one's normal. Nothing uses the host's network.
// Without root or when dockerd cannot start here, the test skips with the reason, and fails
// instead under CI=true or KC_REQUIRE_TOOLS=1.

#include <prometheus/registry.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <thread>

#include "node/anomaly_watch.h"
#include "test/node/dockerd_fixture.h"

namespace {

using kc::audit::Finding;
using kc::node::AnomalyWatch;
using kc::node::AnomalyWatchOptions;
using kc::node::Container;
using kc::testing::PrivateDockerd;
using namespace std::chrono_literals;

// Removes what the test made, whichever way it leaves.
struct Cleanup {
  const PrivateDockerd& d;
  std::vector<std::string> containers;
  ~Cleanup() {
    std::string ignored;
    for (const auto& id : containers) d.docker("rm -f " + id, ignored);
  }
};

Container run(const PrivateDockerd& d, Cleanup& cleanup, const std::string& name,
              const std::string& command) {
  std::string id = d.dockerOk("run -d --network none --name " + name + " " +
                              PrivateDockerd::kImage + " " + command);
  if (const auto nl = id.rfind('\n'); nl != std::string::npos) id = id.substr(nl + 1);
  cleanup.containers.push_back(id);
  Container c;
  c.id = id;
  c.name = name;
  c.image = PrivateDockerd::kImage;
  c.running = true;
  c.pid = std::stoll(d.dockerOk("inspect -f '{{.State.Pid}}' " + id));
  return c;
}

TEST_CASE("ACpuBurnerIsReportedAgainstItsIdleSiblingsNormal", "[node][anomaly][dockerd]") {
  PRIVATE_DOCKERD_OR_SKIP(d);
  Cleanup cleanup{d, {}};
  prometheus::Registry registry;
  std::mutex mu;
  std::vector<Finding> findings;
  AnomalyWatchOptions o;
  o.interval = 200ms;
  o.learningPeriod = 2s;
  o.normals.minSamples = 8;
  o.startupGrace = 0ms;
  o.rules.nodeName = "test-node";
  o.emit = [&](std::vector<Finding> fs) {
    std::lock_guard lock(mu);
    for (auto& f : fs) findings.push_back(std::move(f));
  };
  AnomalyWatch w(o, registry);

  const Container idle = run(d, cleanup, "kc-anomaly-idle", "sleep 300");
  REQUIRE(w.track(idle));
  w.start();
  // Learning: the idle container's rounds, past the learning period and minSamples.
  const auto learnUntil = std::chrono::steady_clock::now() + 4s;
  while (std::chrono::steady_clock::now() < learnUntil) std::this_thread::sleep_for(100ms);
  const auto view = w.normals().view("image/kc-test/busybox", kc::node::Metric::kCpu,
                                     std::chrono::duration_cast<std::chrono::microseconds>(
                                         std::chrono::system_clock::now().time_since_epoch())
                                         .count());
  INFO("samples " << view.samples << ", median " << view.median << ", threshold "
                  << view.threshold);
  REQUIRE(view.known);
  REQUIRE_FALSE(view.learning);
  {
    std::lock_guard lock(mu);
    CHECK(findings.empty());
  }

  const Container burner = run(d, cleanup, "kc-anomaly-burner", "sh -c 'while :; do :; done'");
  REQUIRE(w.track(burner));
  const auto t0 = std::chrono::steady_clock::now();
  std::optional<Finding> found;
  while (!found && std::chrono::steady_clock::now() < t0 + 30s) {
    std::this_thread::sleep_for(100ms);
    std::lock_guard lock(mu);
    for (const auto& f : findings)
      if (f.containerID == burner.id && f.rule == "container-cpu-anomaly") found = f;
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  w.stop();
  REQUIRE(found);
  std::printf("%s\n  reported %.1f s after the burner was tracked; %llu rounds, %llu overruns\n",
              found->summary.c_str(), seconds,
              static_cast<unsigned long long>(w.stats().rounds.load()),
              static_cast<unsigned long long>(w.stats().overruns.load()));
  CHECK(found->node == "test-node");
  CHECK(found->containerName == "kc-anomaly-burner");
  CHECK(found->details.at("workload") == "image/kc-test/busybox");
  CHECK(std::stod(found->details.at("value")) > 0.25);
  CHECK(std::stod(found->details.at("value")) > std::stod(found->details.at("threshold")));
  CHECK(w.stats().sampleErrors == 0);
  std::lock_guard lock(mu);
  for (const auto& f : findings) {
    INFO(f.summary);
    CHECK(f.containerID == burner.id);  // the idle container never
  }
}

}  // namespace
