#pragma once
// Synthetic /proc and /sys/fs/cgroup trees in a directory, laid out as the kernel lays them
// out, for the sampler's tests and benchmark: cgroup v1 (cgroupfs driver: "<controller>/docker/
// <id>", with the cpu and cpuacct hierarchies apart or joined as "cpu,cpuacct"), v2 ("system.
// slice/docker-<id>.scope") and hybrid (v1 controllers plus an empty "unified" hierarchy).
// Header-only; errors abort (a test fixture that cannot be written is not a test result).

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

namespace kc::testing {

enum class CgroupLayout { kV1, kV1Joined, kV2, kHybrid };

class SyntheticNode {
 public:
  static constexpr const char* kHostNetNs = "net:[4026531833]";

  explicit SyntheticNode(std::string root) : root_(std::move(root)) {
    std::filesystem::create_directories(proc());
    std::filesystem::create_directories(cgroup());
    std::filesystem::create_directories(proc() + "/1/ns");
    std::filesystem::create_symlink(kHostNetNs, proc() + "/1/ns/net");
  }

  std::string proc() const { return root_ + "/proc"; }
  std::string cgroup() const { return root_ + "/cgroup"; }

  static void write(const std::string& path, const std::string& text) {
    std::filesystem::create_directories(std::filesystem::path(path).parent_path());
    FILE* f = std::fopen(path.c_str(), "w");
    if (!f || std::fwrite(text.data(), 1, text.size(), f) != text.size() || std::fclose(f) != 0) {
      std::perror(path.c_str());
      std::abort();
    }
  }

  // The directories a container's cgroup files go in.
  std::string cpuDir(CgroupLayout layout, const std::string& id) const {
    switch (layout) {
      case CgroupLayout::kV1:
      case CgroupLayout::kHybrid:
        return cgroup() + "/cpuacct/docker/" + id;
      case CgroupLayout::kV1Joined:
        return cgroup() + "/cpu,cpuacct/docker/" + id;
      case CgroupLayout::kV2:
        return cgroup() + "/system.slice/docker-" + id + ".scope";
    }
    return {};
  }
  std::string memoryDir(CgroupLayout layout, const std::string& id) const {
    return layout == CgroupLayout::kV2 ? cpuDir(layout, id) : cgroup() + "/memory/docker/" + id;
  }

  static std::string cgroupFile(CgroupLayout layout, const std::string& id) {
    switch (layout) {
      case CgroupLayout::kV1:  // this machine's: cpu and cpuacct mounted apart
        return "9:name=systemd:/docker/" + id + "\n8:pids:/docker/" + id + "\n4:memory:/docker/" +
               id + "\n2:cpuacct:/docker/" + id + "\n1:cpu:/docker/" + id + "\n";
      case CgroupLayout::kV1Joined:
        return "12:memory:/docker/" + id + "\n4:cpu,cpuacct:/docker/" + id +
               "\n1:name=systemd:/docker/" + id + "\n";
      case CgroupLayout::kHybrid:
        return "12:memory:/docker/" + id + "\n3:cpuacct:/docker/" + id +
               "\n1:name=systemd:/docker/" + id + "\n0::/docker/" + id + "\n";
      case CgroupLayout::kV2:
        return "0::/system.slice/docker-" + id + ".scope\n";
    }
    return {};
  }

  static std::string netDev(std::uint64_t rxBytes, std::uint64_t rxPackets, std::uint64_t txBytes,
                            std::uint64_t txPackets) {
    std::string s =
        "Inter-|   Receive                                                |  Transmit\n"
        " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets "
        "errs drop fifo colls carrier compressed\n";
    s += "    lo: 5000000 5000 0 0 0 0 0 0 5000000 5000 0 0 0 0 0 0\n";
    s += "  eth0: " + std::to_string(rxBytes) + " " + std::to_string(rxPackets) +
         "    0    0    0     0          0         0 " + std::to_string(txBytes) + " " +
         std::to_string(txPackets) + "    0    0    0     0       0          0\n";
    return s;
  }

  static std::string memoryStat(CgroupLayout layout, std::uint64_t inactiveFile) {
    if (layout == CgroupLayout::kV2)
      return "anon 1048576\nfile 4194304\nkernel_stack 16384\nactive_file 1024\ninactive_file " +
             std::to_string(inactiveFile) + "\nunevictable 0\npgfault 42\n";
    return "cache 4194304\nrss 1048576\nmapped_file 0\ninactive_file 7\nactive_file 1024\n"
           "hierarchical_memory_limit 9223372036854771712\ntotal_cache 4194304\ntotal_rss "
           "1048576\ntotal_inactive_file " +
           std::to_string(inactiveFile) + "\ntotal_active_file 1024\ntotal_unevictable 0\n";
  }

  // A running container: /proc/<pid>/{cgroup,net/dev,ns/net} and its cgroup files.
  void addContainer(std::int64_t pid, CgroupLayout layout, const std::string& id,
                    std::uint64_t cpuNs, std::uint64_t usage, std::uint64_t inactiveFile,
                    std::uint64_t rxBytes = 0, std::uint64_t txBytes = 0,
                    const std::string& netns = "") {
    const std::string p = proc() + "/" + std::to_string(pid);
    write(p + "/cgroup", cgroupFile(layout, id));
    write(p + "/net/dev", netDev(rxBytes, rxBytes / 1000, txBytes, txBytes / 1000));
    std::filesystem::create_directories(p + "/ns");
    std::filesystem::create_symlink(
        netns.empty() ? "net:[" + std::to_string(4026532000 + pid) + "]" : netns, p + "/ns/net");
    setCpu(layout, id, cpuNs);
    setMemory(layout, id, usage, inactiveFile);
    if (layout == CgroupLayout::kHybrid)
      std::filesystem::create_directories(cgroup() + "/unified/docker/" + id);
  }

  void setCpu(CgroupLayout layout, const std::string& id, std::uint64_t cpuNs) const {
    if (layout == CgroupLayout::kV2)
      write(cpuDir(layout, id) + "/cpu.stat",
            "usage_usec " + std::to_string(cpuNs / 1000) + "\nuser_usec 1\nsystem_usec 2\n");
    else
      write(cpuDir(layout, id) + "/cpuacct.usage", std::to_string(cpuNs) + "\n");
  }

  void setMemory(CgroupLayout layout, const std::string& id, std::uint64_t usage,
                 std::uint64_t inactiveFile) const {
    const std::string dir = memoryDir(layout, id);
    write(dir + (layout == CgroupLayout::kV2 ? "/memory.current" : "/memory.usage_in_bytes"),
          std::to_string(usage) + "\n");
    write(dir + "/memory.stat", memoryStat(layout, inactiveFile));
  }

 private:
  std::string root_;
};

}  // namespace kc::testing
