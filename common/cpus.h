#pragma once
// How many CPUs this process may actually use: the CPUs of its affinity mask (taskset, a
// cpuset), further limited by its cgroup's CPU quota (a container's CPU limit), rounded up.
// std::thread::hardware_concurrency() counts the machine's CPUs, and threads sized by it share
// a one-CPU allowance and queue behind each other.

#include <cstddef>
#include <optional>
#include <string>

namespace kc::cpus {

// The CPUs allowed by the affinity mask and the cgroup quota, at least 1.
std::size_t usable();

// The CPU limit of the cgroup named by `procSelfCgroup` (the text of /proc/self/cgroup), read
// under `cgroupRoot` (/sys/fs/cgroup): cgroup v2 `cpu.max`, or v1 `cpu.cfs_quota_us` over
// `cpu.cfs_period_us`, rounded up. Nothing when there is no limit or it cannot be read.
std::optional<std::size_t> cgroupLimit(const std::string& procSelfCgroup,
                                       const std::string& cgroupRoot);

}  // namespace kc::cpus
