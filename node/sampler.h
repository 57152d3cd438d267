#pragma once
// Per-container resource sampling from the kernel's own counters: CPU usage and the memory
// working set from the container's cgroup (v1, v2 or hybrid), network bytes and packets from
// its network namespace (/proc/<pid>/net/dev, loopback excluded). Pure library code: no
// threads, no allocation in the steady state (each pid's cgroup files are resolved once and
// cached; reads go through one fixed buffer), every file read with open/read/close and capped
// in size. What the files say is untrusted: a missing, malformed or oversized file is an error
// value and a counter, never an exception. RateTracker turns two samples into rates.
// Thread-safety: a Sampler is used by one thread at a time; its counters (SamplerStats) may be
// read from any thread. RateTracker is plain data.
// The sampler runs in the host's PID and cgroup namespaces: /proc/<pid>/cgroup paths are
// relative to the reader's cgroup namespace, and those of a private one ("/../..") are refused.

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace kc::node {

struct SamplerLimits {
  std::size_t maxFileBytes = 64u << 10;   // one file read (net/dev of ~480 interfaces)
  std::size_t maxCgroupPathBytes = 1024;  // one cgroup path from /proc/<pid>/cgroup
  std::size_t maxCachedPids = 20000;      // resolved pids kept; the oldest is dropped past it
  std::size_t maxInterfaces = 256;        // interfaces summed from one net/dev
};

struct SamplerOptions {
  std::string procRoot = "/proc";
  std::string cgroupRoot = "/sys/fs/cgroup";
  // The network namespace that is the host's, relative to procRoot. When it cannot be read
  // (pid 1 of another user or undumpable), "self/ns/net" is taken instead: the node service
  // runs in the host's network namespace. hostNetReference() says which was taken.
  std::string hostNetNs = "1/ns/net";
  SamplerLimits limits;
  // The monotonic clock of Sample::atNs (steady_clock by default); tests inject theirs.
  std::int64_t (*clockNs)() = nullptr;
};

enum class SampleError : std::uint8_t {
  kNone,
  kPidGone,    // /proc/<pid> is gone (or went while read)
  kNoCgroup,   // /proc/<pid>/cgroup names no cpu/memory cgroup the sampler can read
  kMissing,    // a cgroup or proc file is absent (the cgroup went away, a controller is off)
  kMalformed,  // a file is not what the kernel writes
  kTooLarge,   // a file over maxFileBytes, a path over maxCgroupPathBytes
  kIo,         // another read error
};
std::string_view sampleErrorName(SampleError e);

enum class CgroupVersion : std::uint8_t { kUnknown, kV1, kV2 };

// One reading of one container's counters. Each part (cpu, memory, network) is valid on its
// own: `error` is the first failure and `where` the file it was met in.
struct Sample {
  SampleError error = SampleError::kNone;
  const char* where = "";  // a static name: "cgroup", "cpuacct.usage", "memory.stat", ...
  bool cpuOk = false, memoryOk = false, networkOk = false;
  CgroupVersion cgroup = CgroupVersion::kUnknown;
  std::uint64_t cpuNs = 0;             // cumulative CPU time of the cgroup
  std::uint64_t memoryUsage = 0;       // memory.usage_in_bytes (v1) or memory.current (v2)
  std::uint64_t memoryWorkingSet = 0;  // usage minus inactive file pages, as the kubelet
  bool inactiveFileKnown = false;      // memory.stat gave (total_)inactive_file
  // Summed over every interface but "lo". When hostNetwork, the counters are the node's and are
  // not attributed to the container: networkOk is false.
  std::uint64_t rxBytes = 0, txBytes = 0, rxPackets = 0, txPackets = 0;
  std::uint32_t interfaces = 0;
  bool hostNetwork = false;
  std::int64_t atNs = 0;  // the sampler's monotonic clock, when the counters were read
  bool ok() const { return error == SampleError::kNone; }
};

struct SamplerStats {
  std::atomic<std::uint64_t> samples{0};
  std::atomic<std::uint64_t> resolves{0};  // /proc/<pid>/cgroup read and resolved
  std::atomic<std::uint64_t> pidGone{0};
  std::atomic<std::uint64_t> noCgroup{0};
  std::atomic<std::uint64_t> missing{0};
  std::atomic<std::uint64_t> malformed{0};
  std::atomic<std::uint64_t> tooLarge{0};
  std::atomic<std::uint64_t> ioErrors{0};
  std::atomic<std::uint64_t> hostNetwork{0};          // samples of a container in the host's netns
  std::atomic<std::uint64_t> inactiveFileUnknown{0};  // working set = usage (no memory.stat)
  std::atomic<std::uint64_t> cacheEvictions{0};
};

class Sampler {
 public:
  explicit Sampler(SamplerOptions options = {});
  Sampler(const Sampler&) = delete;
  Sampler& operator=(const Sampler&) = delete;

  // Reads the counters of the container whose init process is `pid` (in the host's PID
  // namespace as /proc shows it). The pid's cgroup is resolved at its first sample and cached;
  // when a cached cgroup file has gone (the pid was reused by another container) it is
  // resolved again once.
  Sample sample(std::int64_t pid);
  // Drops what is cached for `pid` (the container died); the next sample resolves again.
  void forget(std::int64_t pid);
  std::size_t cachedPids() const { return cache_.size(); }

  // Which reference of the host's network namespace was taken ("1/ns/net", "self/ns/net"), or
  // "" when neither could be read (no sample is then taken as the host's).
  const std::string& hostNetReference() const { return hostNetRef_; }

  SamplerStats& stats() { return stats_; }
  const SamplerOptions& options() const { return options_; }

 private:
  struct Entry {
    CgroupVersion cpuVersion = CgroupVersion::kUnknown;
    CgroupVersion memoryVersion = CgroupVersion::kUnknown;
    std::string cpuDir;     // absolute directory of cpuacct.usage / cpu.stat
    std::string memoryDir;  // absolute directory of memory.usage_in_bytes / memory.current
    bool hostNetwork = false;
    std::uint64_t useTick = 0;
  };
  SampleError resolve(std::int64_t pid, Entry& e, const char*& where);
  SampleError readCpu(const Entry& e, Sample& s, const char*& where);
  SampleError readMemory(const Entry& e, Sample& s, const char*& where);
  SampleError readNetwork(std::int64_t pid, Sample& s, const char*& where);
  // Reads `path` into buf_; the size read, or -1 with `err` set.
  long readInto(const char* path, SampleError& err);
  const char* join(const std::string& dir, std::string_view file);
  const char* procPath(std::int64_t pid, std::string_view file);
  void count(SampleError e);

  SamplerOptions options_;
  SamplerStats stats_;
  std::unordered_map<std::int64_t, Entry> cache_;
  std::uint64_t tick_ = 0;
  std::string hostNetRef_;
  std::string hostNetNs_;   // the link text of the host's netns ("net:[4026531833]")
  std::vector<char> buf_;   // maxFileBytes + 1
  std::vector<char> path_;  // one path being built
};

// The rates between two samples of one container. `cpuCores` is CPU seconds per second.
struct Rates {
  double seconds = 0;  // between the two samples
  bool cpu = false, memory = false, network = false;
  double cpuCores = 0;
  double memoryBytes = 0;  // the working set of the later sample (a gauge, not a rate)
  double rxBytesPerSec = 0, txBytesPerSec = 0, rxPacketsPerSec = 0, txPacketsPerSec = 0;
};

// The last sample of one container, turning the next into rates. A first sample, a sample
// closer than minIntervalNs to the last, and a counter that went down (the container restarted
// in the same cgroup, an interface went away) give no rate; the sample then becomes the new
// reference (except when too close). A part that failed in either sample is not rated.
class RateTracker {
 public:
  explicit RateTracker(std::int64_t minIntervalNs = 100'000'000) : minIntervalNs_(minIntervalNs) {}
  std::optional<Rates> update(const Sample& s);
  void reset() { have_ = false; }
  std::uint64_t resets() const { return resets_; }

 private:
  std::int64_t minIntervalNs_;
  bool have_ = false;
  Sample last_;
  std::uint64_t resets_ = 0;
};

}  // namespace kc::node
