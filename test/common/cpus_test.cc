#include "common/cpus.h"

#include <catch2/catch.hpp>
#include <filesystem>

#include "test/test_util.h"

namespace {

using kc::cpus::cgroupLimit;
using kc::testing::TempDir;
using kc::testing::writeFile;

TEST_CASE("ReadsTheCpuLimitOfACgroupV2", "[cpus]") {
  TempDir root;
  std::filesystem::create_directories(root.file("kubepods/pod1/c1"));
  const std::string self = "0::/kubepods/pod1/c1\n";
  writeFile(root.file("kubepods/pod1/c1/cpu.max"), "150000 100000\n");
  CHECK(cgroupLimit(self, root.path()) == 2u);  // 1.5 CPUs: two threads
  writeFile(root.file("kubepods/pod1/c1/cpu.max"), "100000 100000\n");
  CHECK(cgroupLimit(self, root.path()) == 1u);
  writeFile(root.file("kubepods/pod1/c1/cpu.max"), "max 100000\n");
  CHECK_FALSE(cgroupLimit(self, root.path()).has_value());
  // Inside a container's cgroup namespace the path is "/" and the files are at the mount.
  writeFile(root.file("cpu.max"), "50000 100000\n");
  CHECK(cgroupLimit("0::/\n", root.path()) == 1u);
}

TEST_CASE("ReadsTheCpuLimitOfACgroupV1", "[cpus]") {
  TempDir root;
  std::filesystem::create_directories(root.file("cpu,cpuacct/docker/abc"));
  const std::string self = "12:memory:/docker/abc\n4:cpu,cpuacct:/docker/abc\n0::/\n";
  writeFile(root.file("cpu,cpuacct/docker/abc/cpu.cfs_quota_us"), "300000\n");
  writeFile(root.file("cpu,cpuacct/docker/abc/cpu.cfs_period_us"), "100000\n");
  CHECK(cgroupLimit(self, root.path()) == 3u);
  writeFile(root.file("cpu,cpuacct/docker/abc/cpu.cfs_quota_us"), "-1\n");
  CHECK_FALSE(cgroupLimit(self, root.path()).has_value());
  // Nothing to read: no limit known.
  CHECK_FALSE(cgroupLimit("4:cpu:/gone\n", root.path()).has_value());
  CHECK_FALSE(cgroupLimit("garbage", root.path()).has_value());
}

TEST_CASE("UsableCpusAreAtLeastOne", "[cpus]") { CHECK(kc::cpus::usable() >= 1); }

}  // namespace
