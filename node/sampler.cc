#include "node/sampler.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>
#include <limits>

namespace kc::node {

namespace {

std::int64_t steadyNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// A decimal unsigned integer, nothing around it but a trailing newline.
bool parseU64(std::string_view s, std::uint64_t& out) {
  if (!s.empty() && s.back() == '\n') s.remove_suffix(1);
  if (s.empty() || s.size() > 20) return false;
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size();
}

// The value of the line "<key> <value>" of a flat-keyed cgroup file (memory.stat, cpu.stat).
// 0 found, 1 absent, -1 malformed (a line without a value, a value that is not a number).
int keyedValue(std::string_view text, std::string_view key, std::uint64_t& out) {
  while (!text.empty()) {
    const std::size_t nl = text.find('\n');
    const std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    if (line.size() > key.size() && line.compare(0, key.size(), key) == 0 &&
        line[key.size()] == ' ') {
      return parseU64(line.substr(key.size() + 1), out) ? 0 : -1;
    }
    if (!line.empty() && line.find(' ') == std::string_view::npos) return -1;
  }
  return 1;
}

bool hasController(std::string_view list, std::string_view name) {
  while (!list.empty()) {
    const std::size_t comma = list.find(',');
    if (list.substr(0, comma) == name) return true;
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return false;
}

// A cgroup path as /proc/<pid>/cgroup gives it: absolute, no "." or ".." component, no NUL.
bool validCgroupPath(std::string_view p) {
  if (p.empty() || p[0] != '/' || p.find('\0') != std::string_view::npos) return false;
  std::size_t i = 0;
  while (i < p.size()) {
    std::size_t j = p.find('/', i + 1);
    if (j == std::string_view::npos) j = p.size();
    const std::string_view part = p.substr(i + 1, j - i - 1);
    if (part == "." || part == "..") return false;
    i = j;
  }
  return true;
}

bool exists(const std::string& path) { return ::access(path.c_str(), F_OK) == 0; }

bool isDir(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

std::string trimSlash(std::string_view p) {
  // "/" (the root cgroup) joins as "", so that root + path has no double slash.
  return p == "/" ? std::string() : std::string(p);
}

}  // namespace

std::string_view sampleErrorName(SampleError e) {
  switch (e) {
    case SampleError::kNone:
      return "none";
    case SampleError::kPidGone:
      return "pid_gone";
    case SampleError::kNoCgroup:
      return "no_cgroup";
    case SampleError::kMissing:
      return "missing";
    case SampleError::kMalformed:
      return "malformed";
    case SampleError::kTooLarge:
      return "too_large";
    case SampleError::kIo:
      return "io";
  }
  return "unknown";
}

Sampler::Sampler(SamplerOptions options) : options_(std::move(options)) {
  if (!options_.clockNs) options_.clockNs = &steadyNs;
  while (options_.procRoot.size() > 1 && options_.procRoot.back() == '/')
    options_.procRoot.pop_back();
  while (options_.cgroupRoot.size() > 1 && options_.cgroupRoot.back() == '/')
    options_.cgroupRoot.pop_back();
  buf_.resize(options_.limits.maxFileBytes + 1);
  path_.resize(options_.procRoot.size() + options_.cgroupRoot.size() +
               options_.limits.maxCgroupPathBytes + 256);
  for (const std::string& ref : {options_.hostNetNs, std::string("self/ns/net")}) {
    char link[256];
    const std::string path = options_.procRoot + "/" + ref;
    const ssize_t n = ::readlink(path.c_str(), link, sizeof link);
    if (n > 0 && static_cast<std::size_t>(n) < sizeof link) {
      hostNetNs_.assign(link, static_cast<std::size_t>(n));
      hostNetRef_ = ref;
      break;
    }
  }
}

void Sampler::count(SampleError e) {
  switch (e) {
    case SampleError::kNone:
      return;
    case SampleError::kPidGone:
      ++stats_.pidGone;
      return;
    case SampleError::kNoCgroup:
      ++stats_.noCgroup;
      return;
    case SampleError::kMissing:
      ++stats_.missing;
      return;
    case SampleError::kMalformed:
      ++stats_.malformed;
      return;
    case SampleError::kTooLarge:
      ++stats_.tooLarge;
      return;
    case SampleError::kIo:
      ++stats_.ioErrors;
      return;
  }
}

const char* Sampler::join(const std::string& dir, std::string_view file) {
  char* p = path_.data();
  std::memcpy(p, dir.data(), dir.size());
  p += dir.size();
  *p++ = '/';
  std::memcpy(p, file.data(), file.size());
  p[file.size()] = '\0';
  return path_.data();
}

const char* Sampler::procPath(std::int64_t pid, std::string_view file) {
  char* p = path_.data();
  std::memcpy(p, options_.procRoot.data(), options_.procRoot.size());
  p += options_.procRoot.size();
  *p++ = '/';
  p = std::to_chars(p, p + 24, pid).ptr;
  *p++ = '/';
  std::memcpy(p, file.data(), file.size());
  p[file.size()] = '\0';
  return path_.data();
}

long Sampler::readInto(const char* path, SampleError& err) {
  const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    err = errno == ENOENT || errno == ENOTDIR || errno == ENODEV ? SampleError::kMissing
          : errno == ESRCH                                       ? SampleError::kPidGone
                                                                 : SampleError::kIo;
    return -1;
  }
  const std::size_t cap = options_.limits.maxFileBytes;
  std::size_t got = 0;
  for (;;) {
    const ssize_t n = ::read(fd, buf_.data() + got, cap + 1 - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      err = errno == ESRCH                       ? SampleError::kPidGone
            : errno == ENODEV || errno == ENOENT ? SampleError::kMissing
                                                 : SampleError::kIo;
      ::close(fd);
      return -1;
    }
    if (n == 0) break;
    got += static_cast<std::size_t>(n);
    if (got > cap) {
      err = SampleError::kTooLarge;
      ::close(fd);
      return -1;
    }
  }
  ::close(fd);
  return static_cast<long>(got);
}

SampleError Sampler::resolve(std::int64_t pid, Entry& e, const char*& where) {
  ++stats_.resolves;
  where = "cgroup";
  SampleError err = SampleError::kNone;
  const long n = readInto(procPath(pid, "cgroup"), err);
  if (n < 0) return err == SampleError::kMissing ? SampleError::kPidGone : err;
  std::string_view text(buf_.data(), static_cast<std::size_t>(n));
  if (text.empty()) return SampleError::kPidGone;  // a zombie's cgroup file reads empty

  std::string_view v1Cpu, v1CpuControllers, v1Memory, v2;
  bool haveV2 = false;
  while (!text.empty()) {
    const std::size_t nl = text.find('\n');
    const std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    if (line.empty()) continue;
    const std::size_t c1 = line.find(':');
    const std::size_t c2 = c1 == std::string_view::npos ? c1 : line.find(':', c1 + 1);
    if (c2 == std::string_view::npos) return SampleError::kMalformed;
    const std::string_view id = line.substr(0, c1);
    const std::string_view controllers = line.substr(c1 + 1, c2 - c1 - 1);
    const std::string_view path = line.substr(c2 + 1);
    if (path.size() > options_.limits.maxCgroupPathBytes) return SampleError::kTooLarge;
    if (!validCgroupPath(path)) return SampleError::kMalformed;
    if (id == "0" && controllers.empty()) {
      v2 = path;
      haveV2 = true;
    } else {
      if (hasController(controllers, "cpuacct")) {
        v1Cpu = path;
        v1CpuControllers = controllers;
      }
      if (hasController(controllers, "memory")) v1Memory = path;
    }
  }

  // A controller's directory is taken when it exists; a file missing in it is then that part's
  // error (kMissing), not the whole container's.
  const std::string& root = options_.cgroupRoot;
  e = Entry{};
  if (!v1Cpu.empty()) {
    // The hierarchy is mounted at a directory named after its controllers ("cpu,cpuacct"
    // under systemd, with "cpuacct" a link to it) or after cpuacct alone.
    for (std::string_view dir :
         {v1CpuControllers, std::string_view("cpuacct"), std::string_view("cpu,cpuacct"),
          std::string_view("cpuacct,cpu")}) {
      std::string candidate = root + "/" + std::string(dir) + trimSlash(v1Cpu);
      if (isDir(candidate)) {
        e.cpuDir = std::move(candidate);
        e.cpuVersion = CgroupVersion::kV1;
        break;
      }
    }
  }
  if (!v1Memory.empty()) {
    std::string candidate = root + "/memory" + trimSlash(v1Memory);
    if (isDir(candidate)) {
      e.memoryDir = std::move(candidate);
      e.memoryVersion = CgroupVersion::kV1;
    }
  }
  if (haveV2 &&
      (e.cpuVersion == CgroupVersion::kUnknown || e.memoryVersion == CgroupVersion::kUnknown)) {
    // The unified hierarchy at the root (v2). In a hybrid layout it is mounted at "unified"
    // without controllers, so the v1 lines above have already given both.
    const std::string dir = root + trimSlash(v2);
    if (isDir(dir)) {
      if (e.cpuVersion == CgroupVersion::kUnknown) {
        e.cpuDir = dir;
        e.cpuVersion = CgroupVersion::kV2;
      }
      if (e.memoryVersion == CgroupVersion::kUnknown) {
        e.memoryDir = dir;
        e.memoryVersion = CgroupVersion::kV2;
      }
    }
  }
  if (e.cpuVersion == CgroupVersion::kUnknown && e.memoryVersion == CgroupVersion::kUnknown) {
    // The process may have exited between the two reads: its /proc entry says which.
    if (!exists(procPath(pid, "cgroup"))) return SampleError::kPidGone;
    return SampleError::kNoCgroup;
  }

  where = "ns/net";
  if (!hostNetNs_.empty()) {
    char link[256];
    const ssize_t len = ::readlink(procPath(pid, "ns/net"), link, sizeof link);
    if (len < 0 && (errno == ENOENT || errno == ESRCH)) return SampleError::kPidGone;
    e.hostNetwork = len > 0 && std::string_view(link, static_cast<std::size_t>(len)) == hostNetNs_;
  }
  return SampleError::kNone;
}

SampleError Sampler::readCpu(const Entry& e, Sample& s, const char*& where) {
  SampleError err = SampleError::kNone;
  if (e.cpuVersion == CgroupVersion::kV1) {
    where = "cpuacct.usage";
    const long n = readInto(join(e.cpuDir, "cpuacct.usage"), err);
    if (n < 0) return err;
    if (!parseU64(std::string_view(buf_.data(), static_cast<std::size_t>(n)), s.cpuNs))
      return SampleError::kMalformed;
  } else if (e.cpuVersion == CgroupVersion::kV2) {
    where = "cpu.stat";
    const long n = readInto(join(e.cpuDir, "cpu.stat"), err);
    if (n < 0) return err;
    std::uint64_t usec = 0;
    if (keyedValue(std::string_view(buf_.data(), static_cast<std::size_t>(n)), "usage_usec",
                   usec) != 0 ||
        usec > std::numeric_limits<std::uint64_t>::max() / 1000)
      return SampleError::kMalformed;
    s.cpuNs = usec * 1000;
  } else {
    where = "cgroup";
    return SampleError::kNoCgroup;
  }
  s.cpuOk = true;
  return SampleError::kNone;
}

SampleError Sampler::readMemory(const Entry& e, Sample& s, const char*& where) {
  SampleError err = SampleError::kNone;
  const bool v1 = e.memoryVersion == CgroupVersion::kV1;
  if (e.memoryVersion == CgroupVersion::kUnknown) {
    where = "cgroup";
    return SampleError::kNoCgroup;
  }
  where = v1 ? "memory.usage_in_bytes" : "memory.current";
  long n = readInto(join(e.memoryDir, where), err);
  if (n < 0) return err;
  if (!parseU64(std::string_view(buf_.data(), static_cast<std::size_t>(n)), s.memoryUsage))
    return SampleError::kMalformed;
  // The working set as cAdvisor (and so the kubelet's eviction and `kubectl top`) computes it:
  // usage minus the inactive file pages, total_inactive_file (v1, the hierarchy's) or
  // inactive_file (v2), and 0 when those exceed the usage. Without them, the usage.
  s.memoryWorkingSet = s.memoryUsage;
  where = "memory.stat";
  n = readInto(join(e.memoryDir, "memory.stat"), err);
  if (n < 0 && err != SampleError::kMissing) return err;
  if (n >= 0) {
    std::uint64_t inactive = 0;
    const int found = keyedValue(std::string_view(buf_.data(), static_cast<std::size_t>(n)),
                                 v1 ? "total_inactive_file" : "inactive_file", inactive);
    if (found < 0) return SampleError::kMalformed;
    if (found == 0) {
      s.inactiveFileKnown = true;
      s.memoryWorkingSet = inactive > s.memoryUsage ? 0 : s.memoryUsage - inactive;
    }
  }
  if (!s.inactiveFileKnown) ++stats_.inactiveFileUnknown;
  s.memoryOk = true;
  return SampleError::kNone;
}

SampleError Sampler::readNetwork(std::int64_t pid, Sample& s, const char*& where) {
  where = "net/dev";
  SampleError err = SampleError::kNone;
  const long n = readInto(procPath(pid, "net/dev"), err);
  if (n < 0) return err == SampleError::kMissing ? SampleError::kPidGone : err;
  std::string_view text(buf_.data(), static_cast<std::size_t>(n));
  // Two header lines ("Inter-|   Receive ...", " face |bytes ..."), then one per interface:
  // "<name>: <16 counters>", the name right-aligned and the first counter maybe touching ':'.
  for (int i = 0; i < 2; ++i) {
    const std::size_t nl = text.find('\n');
    if (nl == std::string_view::npos || text.substr(0, nl).find('|') == std::string_view::npos)
      return SampleError::kMalformed;
    text.remove_prefix(nl + 1);
  }
  std::uint64_t rxB = 0, txB = 0, rxP = 0, txP = 0;
  std::uint32_t interfaces = 0;
  while (!text.empty()) {
    const std::size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    if (line.empty()) continue;
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) return SampleError::kMalformed;
    std::string_view name = line.substr(0, colon);
    while (!name.empty() && name.front() == ' ') name.remove_prefix(1);
    if (name.empty()) return SampleError::kMalformed;
    line.remove_prefix(colon + 1);
    std::uint64_t f[16];
    int count = 0;
    while (count < 16) {
      while (!line.empty() && line.front() == ' ') line.remove_prefix(1);
      if (line.empty()) break;
      const auto [p, ec] = std::from_chars(line.data(), line.data() + line.size(), f[count]);
      if (ec != std::errc() || (p != line.data() + line.size() && *p != ' '))
        return SampleError::kMalformed;
      line.remove_prefix(static_cast<std::size_t>(p - line.data()));
      ++count;
    }
    if (count < 16) return SampleError::kMalformed;
    if (name == "lo") continue;
    if (++interfaces > options_.limits.maxInterfaces) return SampleError::kTooLarge;
    if (__builtin_add_overflow(rxB, f[0], &rxB) || __builtin_add_overflow(rxP, f[1], &rxP) ||
        __builtin_add_overflow(txB, f[8], &txB) || __builtin_add_overflow(txP, f[9], &txP))
      return SampleError::kMalformed;
  }
  s.rxBytes = rxB;
  s.txBytes = txB;
  s.rxPackets = rxP;
  s.txPackets = txP;
  s.interfaces = interfaces;
  s.networkOk = true;
  return SampleError::kNone;
}

Sample Sampler::sample(std::int64_t pid) {
  Sample s;
  ++stats_.samples;
  if (pid <= 0) {
    s.error = SampleError::kPidGone;
    s.where = "pid";
    count(s.error);
    return s;
  }
  const std::uint64_t tick = ++tick_;
  auto it = cache_.find(pid);
  bool fresh = false;
  if (it == cache_.end()) {
    Entry e;
    const char* where = "";
    const SampleError err = resolve(pid, e, where);
    if (err != SampleError::kNone) {
      s.error = err;
      s.where = where;
      count(err);
      return s;
    }
    if (cache_.size() >= options_.limits.maxCachedPids) {
      auto oldest = cache_.begin();
      for (auto i = cache_.begin(); i != cache_.end(); ++i)
        if (i->second.useTick < oldest->second.useTick) oldest = i;
      cache_.erase(oldest);
      ++stats_.cacheEvictions;
    }
    it = cache_.emplace(pid, std::move(e)).first;
    fresh = true;
  }
  it->second.useTick = tick;

  for (int attempt = 0; attempt < 2; ++attempt) {
    const Entry& e = it->second;
    Sample r;
    SampleError first = SampleError::kNone;
    const char* firstWhere = "";
    auto note = [&](SampleError err, const char* where) {
      if (err != SampleError::kNone && first == SampleError::kNone) {
        first = err;
        firstWhere = where;
      }
    };
    const char* where = "";
    r.cgroup = e.cpuVersion != CgroupVersion::kUnknown ? e.cpuVersion : e.memoryVersion;
    SampleError err = readCpu(e, r, where);
    note(err, where);
    err = readMemory(e, r, where);
    note(err, where);
    r.atNs = options_.clockNs();
    if (e.hostNetwork) {
      r.hostNetwork = true;
    } else {
      err = readNetwork(pid, r, where);
      note(err, where);
    }
    // A cached cgroup that went away: the pid now belongs to another container (or is gone).
    if (!fresh && attempt == 0 && (first == SampleError::kMissing)) {
      Entry again;
      const SampleError resolved = resolve(pid, again, where);
      if (resolved != SampleError::kNone) {
        cache_.erase(it);
        s.error = resolved;
        s.where = where;
        count(resolved);
        return s;
      }
      it->second = std::move(again);
      it->second.useTick = tick;
      continue;
    }
    if (first == SampleError::kPidGone) {
      r.cpuOk = r.memoryOk = r.networkOk = false;
      cache_.erase(it);
    }
    r.error = first;
    r.where = firstWhere;
    count(first);
    if (r.hostNetwork) ++stats_.hostNetwork;
    return r;
  }
  return s;  // not reached
}

void Sampler::forget(std::int64_t pid) { cache_.erase(pid); }

std::optional<Rates> RateTracker::update(const Sample& s) {
  if (!s.cpuOk && !s.memoryOk && !s.networkOk) return std::nullopt;
  if (!have_) {
    last_ = s;
    have_ = true;
    return std::nullopt;
  }
  const std::int64_t dtNs = s.atNs - last_.atNs;
  if (dtNs < minIntervalNs_ || dtNs <= 0) {
    if (dtNs < 0) last_ = s;  // a clock that went back: start again from here
    return std::nullopt;
  }
  const bool cpu = s.cpuOk && last_.cpuOk;
  const bool net = s.networkOk && last_.networkOk;
  if ((cpu && s.cpuNs < last_.cpuNs) ||
      (net && (s.rxBytes < last_.rxBytes || s.txBytes < last_.txBytes ||
               s.rxPackets < last_.rxPackets || s.txPackets < last_.txPackets))) {
    ++resets_;
    last_ = s;
    return std::nullopt;
  }
  Rates r;
  r.seconds = static_cast<double>(dtNs) / 1e9;
  if (cpu) {
    r.cpu = true;
    r.cpuCores = static_cast<double>(s.cpuNs - last_.cpuNs) / static_cast<double>(dtNs);
  }
  if (s.memoryOk) {
    r.memory = true;
    r.memoryBytes = static_cast<double>(s.memoryWorkingSet);
  }
  if (net) {
    r.network = true;
    r.rxBytesPerSec = static_cast<double>(s.rxBytes - last_.rxBytes) / r.seconds;
    r.txBytesPerSec = static_cast<double>(s.txBytes - last_.txBytes) / r.seconds;
    r.rxPacketsPerSec = static_cast<double>(s.rxPackets - last_.rxPackets) / r.seconds;
    r.txPacketsPerSec = static_cast<double>(s.txPackets - last_.txPackets) / r.seconds;
  }
  last_ = s;
  return r;
}

}  // namespace kc::node
