// The sampler against synthetic /proc and cgroup trees (test/node/synthetic_node.h): cgroup v1
// (cpu and cpuacct apart, or joined), v2 and hybrid; the working set as the kubelet computes
// it; network summed without loopback; the host's network not attributed; a pid gone, files
// missing, malformed or too large; and the rates between two samples.

#include "node/sampler.h"

#include <catch2/catch.hpp>
#include <filesystem>

#include "test/node/synthetic_node.h"
#include "test/test_util.h"

namespace {

using kc::node::CgroupVersion;
using kc::node::RateTracker;
using kc::node::Sample;
using kc::node::SampleError;
using kc::node::Sampler;
using kc::node::SamplerOptions;
using kc::testing::CgroupLayout;
using kc::testing::SyntheticNode;
using kc::testing::TempDir;
namespace fs = std::filesystem;

constexpr std::uint64_t kMiB = 1024 * 1024;

std::int64_t fakeNow = 1'000'000'000;
std::int64_t fakeClock() { return fakeNow; }

SamplerOptions optionsFor(const SyntheticNode& node) {
  SamplerOptions o;
  o.procRoot = node.proc();
  o.cgroupRoot = node.cgroup();
  o.clockNs = &fakeClock;
  return o;
}

TEST_CASE("ReadsCpuMemoryAndNetworkOfAV1Container", "[node][sampler]") {
  const auto layout = GENERATE(CgroupLayout::kV1, CgroupLayout::kV1Joined, CgroupLayout::kHybrid);
  TempDir dir;
  SyntheticNode node(dir.path());
  node.addContainer(4242, layout, "abc", 123'456'789, 300 * kMiB, 100 * kMiB, 5'000'000, 7'000'000);
  Sampler sampler(optionsFor(node));
  CHECK(sampler.hostNetReference() == "1/ns/net");
  const Sample s = sampler.sample(4242);
  INFO(kc::node::sampleErrorName(s.error) << " in " << s.where);
  REQUIRE(s.ok());
  CHECK(s.cgroup == CgroupVersion::kV1);
  CHECK(s.cpuOk);
  CHECK(s.cpuNs == 123'456'789);
  CHECK(s.memoryOk);
  CHECK(s.memoryUsage == 300 * kMiB);
  // total_inactive_file (the hierarchy's), not the cgroup's own inactive_file line.
  CHECK(s.inactiveFileKnown);
  CHECK(s.memoryWorkingSet == 200 * kMiB);
  CHECK(s.networkOk);
  CHECK_FALSE(s.hostNetwork);
  CHECK(s.interfaces == 1);  // lo left out
  CHECK(s.rxBytes == 5'000'000);
  CHECK(s.rxPackets == 5'000);
  CHECK(s.txBytes == 7'000'000);
  CHECK(s.txPackets == 7'000);
  CHECK(s.atNs == fakeNow);
  CHECK(sampler.cachedPids() == 1);
  CHECK(sampler.stats().samples == 1);
  CHECK(sampler.stats().resolves == 1);

  // Later samples read the cached cgroup: no second resolve.
  node.setCpu(layout, "abc", 223'456'789);
  const Sample again = sampler.sample(4242);
  REQUIRE(again.ok());
  CHECK(again.cpuNs == 223'456'789);
  CHECK(sampler.stats().resolves == 1);
}

TEST_CASE("ReadsCpuMemoryAndNetworkOfAV2Container", "[node][sampler]") {
  TempDir dir;
  SyntheticNode node(dir.path());
  node.addContainer(77, CgroupLayout::kV2, "def", 5'000'000'000, 64 * kMiB, 16 * kMiB, 10, 20);
  Sampler sampler(optionsFor(node));
  const Sample s = sampler.sample(77);
  INFO(kc::node::sampleErrorName(s.error) << " in " << s.where);
  REQUIRE(s.ok());
  CHECK(s.cgroup == CgroupVersion::kV2);
  CHECK(s.cpuNs == 5'000'000'000);  // usage_usec * 1000
  CHECK(s.memoryUsage == 64 * kMiB);
  CHECK(s.memoryWorkingSet == 48 * kMiB);  // memory.current - inactive_file
  CHECK(s.rxBytes == 10);
  CHECK(s.txBytes == 20);
}

TEST_CASE("TheWorkingSetIsZeroWhenInactiveFilePagesExceedTheUsage", "[node][sampler]") {
  TempDir dir;
  SyntheticNode node(dir.path());
  node.addContainer(5, CgroupLayout::kV1, "a", 1, 10 * kMiB, 20 * kMiB);
  Sampler sampler(optionsFor(node));
  const Sample s = sampler.sample(5);
  REQUIRE(s.ok());
  CHECK(s.memoryWorkingSet == 0);
}

TEST_CASE("WithoutMemoryStatTheWorkingSetIsTheUsage", "[node][sampler]") {
  const auto layout = GENERATE(CgroupLayout::kV1, CgroupLayout::kV2);
  TempDir dir;
  SyntheticNode node(dir.path());
  node.addContainer(5, layout, "a", 1, 10 * kMiB, 2 * kMiB);
  fs::remove(node.memoryDir(layout, "a") + "/memory.stat");
  Sampler sampler(optionsFor(node));
  const Sample s = sampler.sample(5);
  REQUIRE(s.ok());
  CHECK(s.memoryOk);
  CHECK_FALSE(s.inactiveFileKnown);
  CHECK(s.memoryWorkingSet == 10 * kMiB);
  CHECK(sampler.stats().inactiveFileUnknown == 1);
}

TEST_CASE("SumsEveryInterfaceButLoopback", "[node][sampler]") {
  TempDir dir;
  SyntheticNode node(dir.path());
  node.addContainer(9, CgroupLayout::kV1, "a", 1, 1, 0);
  // Several interfaces, one whose counter touches the colon as the kernel prints large ones.
  SyntheticNode::write(
      node.proc() + "/9/net/dev",
      "Inter-|   Receive                                                |  Transmit\n"
      " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs "
      "drop fifo colls carrier compressed\n"
      "    lo: 999999 999 0 0 0 0 0 0 999999 999 0 0 0 0 0 0\n"
      "  eth0:12345678901 100 0 0 0 0 0 0 2000 20 0 0 0 0 0 0\n"
      "  eth1: 1000 10 1 2 3 4 5 6 3000 30 7 8 9 10 11 12\n"
      "tunl0: 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n");
  Sampler sampler(optionsFor(node));
  const Sample s = sampler.sample(9);
  REQUIRE(s.ok());
  CHECK(s.interfaces == 3);
  CHECK(s.rxBytes == 12345679901);
  CHECK(s.rxPackets == 110);
  CHECK(s.txBytes == 5000);
  CHECK(s.txPackets == 50);
}

TEST_CASE("TheHostsNetworkIsNotAttributedToTheContainer", "[node][sampler]") {
  TempDir dir;
  SyntheticNode node(dir.path());
  node.addContainer(10, CgroupLayout::kV1, "host", 1, 1, 0, 999, 999, SyntheticNode::kHostNetNs);
  Sampler sampler(optionsFor(node));
  const Sample s = sampler.sample(10);
  REQUIRE(s.ok());
  CHECK(s.hostNetwork);
  CHECK_FALSE(s.networkOk);
  CHECK(s.rxBytes == 0);
  CHECK(s.cpuOk);
  CHECK(s.memoryOk);
  CHECK(sampler.stats().hostNetwork == 1);
}

TEST_CASE("TheHostNetworkReferenceFallsBackToTheSamplersOwn", "[node][sampler]") {
  TempDir dir;
  SyntheticNode node(dir.path());
  fs::remove(node.proc() + "/1/ns/net");
  {
    Sampler sampler(optionsFor(node));
    CHECK(sampler.hostNetReference().empty());
  }
  fs::create_directories(node.proc() + "/self/ns");
  fs::create_symlink("net:[1]", node.proc() + "/self/ns/net");
  Sampler sampler(optionsFor(node));
  CHECK(sampler.hostNetReference() == "self/ns/net");
}

TEST_CASE("APidThatIsGoneIsAnErrorValue", "[node][sampler]") {
  TempDir dir;
  SyntheticNode node(dir.path());
  Sampler sampler(optionsFor(node));
  Sample s = sampler.sample(31337);
  CHECK(s.error == SampleError::kPidGone);
  CHECK_FALSE(s.cpuOk);
  CHECK(sampler.sample(0).error == SampleError::kPidGone);
  CHECK(sampler.stats().pidGone == 2);
  CHECK(sampler.cachedPids() == 0);

  // Gone between two samples: its /proc entry went, its cgroup not yet.
  node.addContainer(12, CgroupLayout::kV1, "a", 1, 1, 0);
  REQUIRE(sampler.sample(12).ok());
  CHECK(sampler.cachedPids() == 1);
  fs::remove_all(node.proc() + "/12");
  s = sampler.sample(12);
  CHECK(s.error == SampleError::kPidGone);
  CHECK(std::string(s.where) == "net/dev");
  CHECK_FALSE(s.cpuOk);
  CHECK(sampler.cachedPids() == 0);
}

TEST_CASE("AReusedPidIsResolvedAgainWhenItsOldCgroupWent", "[node][sampler]") {
  TempDir dir;
  SyntheticNode node(dir.path());
  node.addContainer(20, CgroupLayout::kV1, "old", 111, 1, 0);
  Sampler sampler(optionsFor(node));
  REQUIRE(sampler.sample(20).cpuNs == 111);
  // The container died, its cgroups were removed, and pid 20 now runs in another container.
  fs::remove_all(node.proc() + "/20");
  fs::remove_all(node.cpuDir(CgroupLayout::kV1, "old"));
  fs::remove_all(node.memoryDir(CgroupLayout::kV1, "old"));
  node.addContainer(20, CgroupLayout::kV1, "new", 222, 1, 0);
  const Sample s = sampler.sample(20);
  REQUIRE(s.ok());
  CHECK(s.cpuNs == 222);
  CHECK(sampler.stats().resolves == 2);

  sampler.forget(20);
  CHECK(sampler.cachedPids() == 0);
}

TEST_CASE("AMissingControllerFileIsAnErrorOfItsPartOnly", "[node][sampler]") {
  TempDir dir;
  SyntheticNode node(dir.path());
  node.addContainer(21, CgroupLayout::kV2, "a", 1000, 1, 0);
  Sampler sampler(optionsFor(node));
  REQUIRE(sampler.sample(21).ok());
  fs::remove(node.memoryDir(CgroupLayout::kV2, "a") + "/memory.current");
  const Sample s = sampler.sample(21);
  CHECK(s.error == SampleError::kMissing);
  CHECK(std::string(s.where) == "memory.current");
  CHECK(s.cpuOk);  // resolved again, the CPU still read
  CHECK_FALSE(s.memoryOk);
  CHECK(s.networkOk);
  CHECK(sampler.stats().missing == 1);
}

TEST_CASE("ACgroupFileNamingNoReadableCgroupIsNoCgroup", "[node][sampler]") {
  TempDir dir;
  SyntheticNode node(dir.path());
  node.addContainer(22, CgroupLayout::kV1, "a", 1, 1, 0);
  SyntheticNode::write(node.proc() + "/22/cgroup", "1:name=systemd:/docker/a\n");
  Sampler sampler(optionsFor(node));
  const Sample s = sampler.sample(22);
  CHECK(s.error == SampleError::kNoCgroup);
  CHECK(sampler.stats().noCgroup == 1);
  CHECK(sampler.cachedPids() == 0);
}

TEST_CASE("MalformedFilesAreErrorsNamingTheFile", "[node][sampler]") {
  struct Case {
    std::string file;  // relative to the root, with {cpu} and {mem} for the cgroup dirs
    std::string text;
    std::string where;
  };
  const Case c =
      GENERATE(Case{"proc/30/cgroup", "garbage without colons\n", "cgroup"},
               Case{"proc/30/cgroup", "4:memory:/docker/../../etc\n", "cgroup"},
               Case{"proc/30/cgroup", "4:memory:relative/path\n", "cgroup"},
               Case{"{cpu}/cpuacct.usage", "12abc\n", "cpuacct.usage"},
               Case{"{cpu}/cpuacct.usage", "", "cpuacct.usage"},
               Case{"{cpu}/cpuacct.usage", "99999999999999999999999\n", "cpuacct.usage"},
               Case{"{mem}/memory.usage_in_bytes", "-5\n", "memory.usage_in_bytes"},
               Case{"{mem}/memory.stat", "total_inactive_file many\n", "memory.stat"},
               Case{"{mem}/memory.stat", "cache 1\ngarbage\n", "memory.stat"},
               Case{"proc/30/net/dev", "not a header\n", "net/dev"},
               Case{"proc/30/net/dev", "a|b\nc|d\n  eth0: 1 2 3\n", "net/dev"},
               Case{"proc/30/net/dev", "a|b\nc|d\n  eth0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n",
                    "net/dev"},
               Case{"proc/30/net/dev", "a|b\nc|d\n  eth0: 1 2 3 4 5 6 7 8 x 10 11 12 13 14 15 16\n",
                    "net/dev"});
  TempDir dir;
  SyntheticNode node(dir.path());
  node.addContainer(30, CgroupLayout::kV1, "a", 1, 1, 0);
  std::string path = c.file;
  if (path.rfind("{cpu}", 0) == 0)
    path = node.cpuDir(CgroupLayout::kV1, "a") + path.substr(5);
  else if (path.rfind("{mem}", 0) == 0)
    path = node.memoryDir(CgroupLayout::kV1, "a") + path.substr(5);
  else
    path = dir.path() + "/" + path;
  SyntheticNode::write(path, c.text);
  Sampler sampler(optionsFor(node));
  const Sample s = sampler.sample(30);
  INFO(c.file << ": " << c.text);
  CHECK(s.error == SampleError::kMalformed);
  CHECK(std::string(s.where) == c.where);
  CHECK(sampler.stats().malformed == 1);
}

TEST_CASE("HugeFilesAndPathsAreRefusedWithinTheirCaps", "[node][sampler]") {
  TempDir dir;
  SyntheticNode node(dir.path());
  node.addContainer(40, CgroupLayout::kV1, "a", 1, 1, 0);
  node.addContainer(41, CgroupLayout::kV1, "b", 1, 1, 0);
  node.addContainer(42, CgroupLayout::kV1, "c", 1, 1, 0);
  SamplerOptions o = optionsFor(node);
  o.limits.maxFileBytes = 4096;
  o.limits.maxCgroupPathBytes = 200;
  Sampler sampler(o);
  // A 1 MiB memory.stat (the kernel's is about 1.5 KiB).
  SyntheticNode::write(node.memoryDir(CgroupLayout::kV1, "a") + "/memory.stat",
                       std::string(1 << 20, '1'));
  Sample s = sampler.sample(40);
  CHECK(s.error == SampleError::kTooLarge);
  CHECK(std::string(s.where) == "memory.stat");
  CHECK(s.cpuOk);
  CHECK_FALSE(s.memoryOk);
  // A cgroup path over the cap.
  SyntheticNode::write(node.proc() + "/41/cgroup", "4:memory:/" + std::string(300, 'x') + "\n");
  s = sampler.sample(41);
  CHECK(s.error == SampleError::kTooLarge);
  CHECK(std::string(s.where) == "cgroup");
  // More interfaces than kept.
  o.limits.maxInterfaces = 2;
  Sampler few(o);
  std::string dev = "a|b\nc|d\n";
  for (int i = 0; i < 3; ++i)
    dev += "  eth" + std::to_string(i) + ": 1 1 0 0 0 0 0 0 1 1 0 0 0 0 0 0\n";
  SyntheticNode::write(node.proc() + "/42/net/dev", dev);
  s = few.sample(42);
  CHECK(s.error == SampleError::kTooLarge);
  CHECK(std::string(s.where) == "net/dev");
  CHECK(sampler.stats().tooLarge == 2);
}

TEST_CASE("TheCacheOfResolvedPidsIsBounded", "[node][sampler]") {
  TempDir dir;
  SyntheticNode node(dir.path());
  for (int pid = 100; pid < 105; ++pid)
    node.addContainer(pid, CgroupLayout::kV2, "c" + std::to_string(pid), 1, 1, 0);
  SamplerOptions o = optionsFor(node);
  o.limits.maxCachedPids = 3;
  Sampler sampler(o);
  for (int pid = 100; pid < 105; ++pid) REQUIRE(sampler.sample(pid).ok());
  CHECK(sampler.cachedPids() == 3);
  CHECK(sampler.stats().cacheEvictions == 2);
  // The least recently sampled went: 102..104 are still cached.
  REQUIRE(sampler.sample(104).ok());
  CHECK(sampler.stats().resolves == 5);
  REQUIRE(sampler.sample(100).ok());
  CHECK(sampler.stats().resolves == 6);
}

Sample sampleAt(std::int64_t atNs, std::uint64_t cpuNs, std::uint64_t mem, std::uint64_t rx,
                std::uint64_t tx) {
  Sample s;
  s.cpuOk = s.memoryOk = s.networkOk = true;
  s.atNs = atNs;
  s.cpuNs = cpuNs;
  s.memoryWorkingSet = mem;
  s.rxBytes = rx;
  s.txBytes = tx;
  s.rxPackets = rx / 1000;
  s.txPackets = tx / 1000;
  return s;
}

TEST_CASE("RatesBetweenTwoSamples", "[node][sampler][rates]") {
  RateTracker t;
  constexpr std::int64_t kSec = 1'000'000'000;
  CHECK_FALSE(t.update(sampleAt(10 * kSec, 0, 100, 0, 0)));  // a first sample: no rate
  const auto r = t.update(sampleAt(20 * kSec, 15 * kSec, 200, 10'000'000, 5'000'000));
  REQUIRE(r);
  CHECK(r->seconds == Approx(10));
  CHECK(r->cpuCores == Approx(1.5));
  CHECK(r->memoryBytes == 200);
  CHECK(r->rxBytesPerSec == Approx(1'000'000));
  CHECK(r->txBytesPerSec == Approx(500'000));
  CHECK(r->rxPacketsPerSec == Approx(1'000));
  CHECK(r->txPacketsPerSec == Approx(500));
  CHECK(r->cpu);
  CHECK(r->network);
}

TEST_CASE("ACounterResetGivesNoRateAndStartsAgain", "[node][sampler][rates]") {
  RateTracker t;
  constexpr std::int64_t kSec = 1'000'000'000;
  t.update(sampleAt(0, 50 * kSec, 1, 1000, 1000));
  REQUIRE(t.update(sampleAt(10 * kSec, 55 * kSec, 1, 2000, 2000)));
  // The container restarted in the same cgroup: its CPU counter went back to near zero.
  CHECK_FALSE(t.update(sampleAt(20 * kSec, 1 * kSec, 1, 3000, 3000)));
  CHECK(t.resets() == 1);
  auto r = t.update(sampleAt(30 * kSec, 3 * kSec, 1, 4000, 4000));
  REQUIRE(r);
  CHECK(r->cpuCores == Approx(0.2));
  // A network counter going back (an interface removed) is a reset too.
  CHECK_FALSE(t.update(sampleAt(40 * kSec, 4 * kSec, 1, 10, 4000)));
  CHECK(t.resets() == 2);
}

TEST_CASE("SamplesTooCloseOrWithoutAPartAreNotRated", "[node][sampler][rates]") {
  RateTracker t;
  constexpr std::int64_t kSec = 1'000'000'000;
  t.update(sampleAt(0, 0, 1, 0, 0));
  CHECK_FALSE(t.update(sampleAt(kSec / 100, kSec, 1, 0, 0)));  // 10 ms later: kept the first
  Sample host = sampleAt(kSec, kSec / 2, 1, 0, 0);
  host.networkOk = false;
  host.hostNetwork = true;
  const auto r = t.update(host);
  REQUIRE(r);
  CHECK(r->cpuCores == Approx(0.5));
  CHECK_FALSE(r->network);
  Sample failed;
  CHECK_FALSE(t.update(failed));  // nothing read: ignored
}

}  // namespace
