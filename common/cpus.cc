#include "common/cpus.h"

#include <sched.h>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

namespace kc::cpus {
namespace {

std::optional<std::string> firstLine(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  if (!in || !std::getline(in, line)) return std::nullopt;
  return line;
}

// ceil(quota / period) when both are positive numbers.
std::optional<std::size_t> ratio(const std::string& quota, const std::string& period) {
  try {
    const long long q = std::stoll(quota), p = std::stoll(period);
    if (q <= 0 || p <= 0) return std::nullopt;
    return static_cast<std::size_t>((q + p - 1) / p);
  } catch (...) {
    return std::nullopt;
  }
}

// The directories where a cgroup's files may be: its path under the mount (a host's view), or
// the mount itself (inside a container, whose cgroup namespace makes its own cgroup the root).
std::vector<std::string> candidates(const std::string& mount, const std::string& path) {
  std::vector<std::string> out;
  if (!path.empty() && path != "/") out.push_back(mount + path);
  out.push_back(mount);
  return out;
}

}  // namespace

std::optional<std::size_t> cgroupLimit(const std::string& procSelfCgroup,
                                       const std::string& cgroupRoot) {
  std::istringstream lines(procSelfCgroup);
  for (std::string line; std::getline(lines, line);) {
    // hierarchy-id:controllers:path
    const auto a = line.find(':');
    const auto b = a == std::string::npos ? a : line.find(':', a + 1);
    if (b == std::string::npos) continue;
    const std::string controllers = line.substr(a + 1, b - a - 1);
    const std::string path = line.substr(b + 1);
    if (controllers.empty()) {  // cgroup v2: "0::/path", file cpu.max = "max 100000" or "q p"
      for (const auto& dir : candidates(cgroupRoot, path)) {
        const auto text = firstLine(dir + "/cpu.max");
        if (!text) continue;
        std::istringstream fields(*text);
        std::string quota, period;
        fields >> quota >> period;
        if (quota == "max") return std::nullopt;
        return ratio(quota, period);
      }
      continue;
    }
    // cgroup v1: the hierarchy with the cpu controller ("cpu", "cpu,cpuacct").
    std::istringstream names(controllers);
    bool cpu = false;
    for (std::string n; std::getline(names, n, ',');) cpu = cpu || n == "cpu";
    if (!cpu) continue;
    for (const std::string& mount : {cgroupRoot + "/" + controllers, cgroupRoot + "/cpu"}) {
      for (const auto& dir : candidates(mount, path)) {
        const auto quota = firstLine(dir + "/cpu.cfs_quota_us");
        const auto period = firstLine(dir + "/cpu.cfs_period_us");
        if (quota && period) return ratio(*quota, *period);
      }
    }
  }
  return std::nullopt;
}

std::size_t usable() {
  std::size_t n = std::max(1u, std::thread::hardware_concurrency());
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0) n = std::max(1, CPU_COUNT(&set));
  std::ifstream in("/proc/self/cgroup");
  std::stringstream text;
  text << in.rdbuf();
  if (const auto limit = cgroupLimit(text.str(), "/sys/fs/cgroup")) n = std::min(n, *limit);
  return std::max<std::size_t>(1, n);
}

}  // namespace kc::cpus
