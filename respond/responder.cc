#include "respond/responder.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <exception>
#include <filesystem>
#include <map>

#include "common/files.h"
#include "common/utf8.h"
#include "policies/rules.h"
#include "respond/proc_net.h"

namespace kc::respond {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

constexpr std::size_t kMaxJsonDepth = 64;
constexpr std::size_t kMaxKubeletLogBytes = 4u << 20;  // read from the end of a log file
const char* const kRecordsFile = "/node-isolations.json";
const char* const kRecordsLock = "/node-isolations.lock";

std::string utcNow(bool compact) {
  const auto now = std::chrono::system_clock::now();
  const std::time_t t = std::chrono::system_clock::to_time_t(now);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[40];
  if (compact) {
    std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
    return buf;
  }
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  char out[64];
  std::snprintf(out, sizeof out, "%s.%03dZ", buf, static_cast<int>(ms));
  return out;
}

std::string dump(const json& j) { return j.dump(2, ' ', false, json::error_handler_t::replace); }

// Creates `dir` (and its parents) with mode 0700 when missing.
bool makeDir(const std::string& dir, std::string& error) {
  std::error_code ec;
  if (fs::is_directory(dir, ec)) return true;
  fs::create_directories(dir, ec);
  if (ec) {
    error = "cannot create " + dir + ": " + ec.message();
    return false;
  }
  ::chmod(dir.c_str(), 0700);
  return true;
}

bool fsyncPath(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return false;
  const bool ok = ::fsync(fd) == 0;
  ::close(fd);
  return ok;
}

// The last `lines` lines of a file, read from its last kMaxKubeletLogBytes bytes.
bool tailFile(const std::string& path, std::size_t lines, std::string& out, std::string& error) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    error = path + ": " + std::strerror(errno);
    return false;
  }
  struct stat st {};
  ::fstat(fd, &st);
  const off_t size = st.st_size;
  const off_t from = size > static_cast<off_t>(kMaxKubeletLogBytes)
                         ? size - static_cast<off_t>(kMaxKubeletLogBytes)
                         : 0;
  std::string data(static_cast<std::size_t>(size - from), '\0');
  std::size_t got = 0;
  while (got < data.size()) {
    const ssize_t n =
        ::pread(fd, data.data() + got, data.size() - got, from + static_cast<off_t>(got));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<std::size_t>(n);
  }
  ::close(fd);
  data.resize(got);
  std::size_t start = data.size();
  std::size_t count = 0;
  if (!data.empty() && data.back() == '\n') --start;
  while (start > 0) {
    if (data[start - 1] == '\n' && ++count >= lines) break;
    --start;
  }
  out = data.substr(start);
  return true;
}

bool recordMatches(const IsolationRecord& r, std::string_view idOrName) {
  if (idOrName.empty()) return false;
  return r.container.id == idOrName || r.container.name == idOrName ||
         (idOrName.size() >= 4 && r.container.id.rfind(idOrName, 0) == 0);
}

IsolationRecord recordFrom(const json& j) {
  IsolationRecord r;
  r.container.runtime = j.value("runtime", "docker") == "containerd" ? node::Runtime::kContainerd
                                                                     : node::Runtime::kDocker;
  r.container.namespace_ = j.value("namespace", "");
  r.container.id = j.value("id", "");
  r.container.name = j.value("name", "");
  r.container.image = j.value("image", "");
  r.at = j.value("at", "");
  r.pausedByUs = j.value("pausedByUs", false);
  if (j.contains("reason") && j["reason"].is_object()) {
    const json& w = j["reason"];
    r.reason.by = w.value("by", "manual");
    r.reason.rule = w.value("rule", "");
    r.reason.severity = w.value("severity", "");
    r.reason.summary = w.value("summary", "");
  }
  if (j.contains("networks") && j["networks"].is_array()) {
    for (const json& n : j["networks"]) {
      node::ContainerNetwork net;
      net.name = n.value("name", "");
      net.networkId = n.value("id", "");
      net.ipv4 = n.value("ipv4", "");
      net.ipv6 = n.value("ipv6", "");
      if (n.contains("aliases") && n["aliases"].is_array())
        for (const json& a : n["aliases"])
          if (a.is_string()) net.aliases.push_back(a.get<std::string>());
      r.networks.push_back(std::move(net));
    }
  }
  return r;
}

}  // namespace

bool parseIsolateMode(std::string_view text, IsolateMode& out) {
  if (text == "off")
    out = IsolateMode::kOff;
  else if (text == "manual")
    out = IsolateMode::kManual;
  else if (text == "high")
    out = IsolateMode::kHigh;
  else if (text == "critical")
    out = IsolateMode::kCritical;
  else
    return false;
  return true;
}

std::string_view isolateModeName(IsolateMode m) {
  switch (m) {
    case IsolateMode::kOff:
      return "off";
    case IsolateMode::kManual:
      return "manual";
    case IsolateMode::kHigh:
      return "high";
    case IsolateMode::kCritical:
      return "critical";
  }
  return "off";
}

std::string sha256Hex(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr) != 1) return {};
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(len * 2);
  for (unsigned int i = 0; i < len; ++i) {
    out += kHex[md[i] >> 4];
    out += kHex[md[i] & 15];
  }
  return out;
}

bool jsonDeeperThan(std::string_view text, std::size_t maxDepth) {
  std::size_t depth = 0;
  bool inString = false, escaped = false;
  for (const char c : text) {
    if (inString) {
      if (escaped)
        escaped = false;
      else if (c == '\\')
        escaped = true;
      else if (c == '"')
        inString = false;
      continue;
    }
    if (c == '"')
      inString = true;
    else if (c == '{' || c == '[') {
      if (++depth > maxDepth) return true;
    } else if ((c == '}' || c == ']') && depth > 0) {
      --depth;
    }
  }
  return false;
}

void redactEnv(json& container, bool ociSpec) {
  json* env = nullptr;
  if (ociSpec) {
    if (container.is_object() && container.contains("process") &&
        container["process"].is_object() && container["process"].contains("env"))
      env = &container["process"]["env"];
  } else if (container.is_object() && container.contains("Config") &&
             container["Config"].is_object() && container["Config"].contains("Env")) {
    env = &container["Config"]["Env"];
  }
  if (!env || !env->is_array()) return;
  for (json& e : *env) {
    if (!e.is_string()) continue;
    const std::string s = e.get<std::string>();
    e = s.substr(0, s.find('='));
  }
}

json toJson(const IsolationRecord& r) {
  json nets = json::array();
  for (const auto& n : r.networks)
    nets.push_back({{"name", n.name},
                    {"id", n.networkId},
                    {"ipv4", n.ipv4},
                    {"ipv6", n.ipv6},
                    {"aliases", n.aliases}});
  return {{"runtime", node::runtimeName(r.container.runtime)},
          {"namespace", r.container.namespace_},
          {"id", r.container.id},
          {"name", r.container.name},
          {"image", r.container.image},
          {"at", r.at},
          {"pausedByUs", r.pausedByUs},
          {"reason",
           {{"by", r.reason.by},
            {"rule", r.reason.rule},
            {"severity", r.reason.severity},
            {"summary", r.reason.summary}}},
          {"networks", nets}};
}

Responder::Responder(RespondOptions options) : options_(std::move(options)) {}

// The files of one bundle, written into its temporary directory: each fsynced, summed and
// sized; past the bundle's byte budget a file is left out (and said so).
struct Responder::Bundle {
  std::string dir;
  std::uint64_t budget = 0;
  std::uint64_t total = 0;
  json files = json::array();
  std::vector<std::string>* notes = nullptr;
  std::string error;

  bool add(const std::string& name, const std::string& data) {
    if (total + data.size() > budget) {
      notes->push_back(name + ": left out: the bundle would be over " + std::to_string(budget) +
                       " bytes");
      return true;
    }
    const std::string path = dir + "/" + name;
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
      error = "cannot write " + path + ": " + std::strerror(errno);
      return false;
    }
    std::size_t done = 0;
    while (done < data.size()) {
      const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        error = "cannot write " + path + ": " + std::strerror(n < 0 ? errno : ENOSPC);
        ::close(fd);
        return false;
      }
      done += static_cast<std::size_t>(n);
    }
    if (::fsync(fd) != 0) {
      error = "cannot write " + path + ": " + std::strerror(errno);
      ::close(fd);
      return false;
    }
    ::close(fd);
    total += data.size();
    files.push_back({{"name", name},
                     {"bytes", data.size()},
                     {"sha256", sha256Hex(data)},
                     {"collectedAt", utcNow(false)}});
    return true;
  }
};

std::string Responder::bundleName(const ContainerRef& c) {
  static std::atomic<std::uint64_t> sequence{0};
  std::string id = c.id.substr(0, 12);
  for (char& ch : id)
    if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '-' && ch != '_') ch = '_';
  return utcNow(true) + "-" + std::string(node::runtimeName(c.runtime)) + "-" + id + "-" +
         std::to_string(::getpid()) + "-" + std::to_string(++sequence);
}

std::string Responder::guard(const node::Container& c) const {
  const node::KubernetesInfo k = node::classify(c);
  if (k.sandbox) return "it is a pod's sandbox container";
  if (k.kubernetes && std::find(options_.systemNamespaces.begin(), options_.systemNamespaces.end(),
                                k.podNamespace) != options_.systemNamespaces.end())
    return "it belongs to a pod of the system namespace " + k.podNamespace;
  if (!k.kubernetes) {
    if (std::string entry = options_.allowed.allows(c); !entry.empty())
      return "it is allowed outside Kubernetes by \"" + entry + "\"";
  }
  return {};
}

bool Responder::resolve(std::string_view idOrName, std::optional<node::Runtime> runtime,
                        const std::string& ns, ContainerRef& out, std::string& error) {
  std::vector<std::string> tried;
  if (idOrName.empty()) {
    error = "no container given";
    return false;
  }
  if ((!runtime || *runtime == node::Runtime::kDocker) && !options_.dockerSocket.empty()) {
    node::DockerClient d(options_.dockerSocket, options_.dockerLimits);
    auto v = d.negotiate();
    if (v.ok()) {
      auto st = d.containerState(idOrName);
      if (st.ok()) {
        out = ContainerRef{node::Runtime::kDocker, "", st.value.id, st.value.name, st.value.image};
        return true;
      }
      tried.push_back("docker: " + st.message);
    } else {
      tried.push_back("docker: " + v.message);
    }
  }
  if ((!runtime || *runtime == node::Runtime::kContainerd) && !options_.containerdSocket.empty()) {
    node::ContainerdClient cd(options_.containerdSocket, options_.containerdLimits);
    std::vector<std::string> namespaces;
    if (!ns.empty()) {
      namespaces.push_back(ns);
    } else if (auto list = cd.namespaces(); list.ok()) {
      namespaces = list.value;
    } else {
      tried.push_back("containerd: " + list.message);
    }
    std::vector<ContainerRef> found;
    for (const auto& name : namespaces) {
      auto list = cd.listContainers(name);
      if (!list.ok()) {
        tried.push_back("containerd " + name + ": " + list.message);
        continue;
      }
      for (const auto& c : list.value) {
        if (c.id == idOrName) {
          found.assign(1, ContainerRef{node::Runtime::kContainerd, name, c.id, c.name, c.image});
          break;
        }
        if (idOrName.size() >= 4 && c.id.rfind(idOrName, 0) == 0)
          found.push_back(ContainerRef{node::Runtime::kContainerd, name, c.id, c.name, c.image});
      }
      if (found.size() == 1 && found[0].id == idOrName) break;
    }
    if (found.size() == 1) {
      out = found[0];
      return true;
    }
    if (found.size() > 1) {
      error = "\"" + std::string(utf8::prefix(idOrName, 128)) + "\" matches " +
              std::to_string(found.size()) + " containerd containers: give more of the id";
      return false;
    }
    if (!namespaces.empty()) tried.push_back("containerd: no such container");
  }
  error = "no container \"" + std::string(utf8::prefix(idOrName, 128)) + "\" on this node";
  for (const auto& t : tried) error += "; " + t;
  if (tried.empty()) error += " (no runtime socket configured)";
  return false;
}

// ---- evidence ----

Outcome Responder::evidence(const ContainerRef& c, const std::string& findingJson, bool includeEnv,
                            const std::string& name) {
  Outcome out;
  const std::string dir = evidenceDir();
  if (!makeDir(dir, out.error)) return out;
  const std::string bundle = name.empty() ? bundleName(c) : name;
  const std::string tmp = dir + "/.partial-" + bundle;
  const std::string complete = dir + "/" + bundle;
  if (::mkdir(tmp.c_str(), 0700) != 0) {
    out.error = "cannot create " + tmp + ": " + std::strerror(errno);
    return out;
  }
  auto abandon = [&](Outcome o) {
    std::error_code ec;
    fs::remove_all(tmp, ec);
    o.ok = false;
    return o;
  };
  const std::string startedAt = utcNow(false);
  Outcome parts;
  Bundle w;
  w.dir = tmp;
  w.budget = options_.maxBundleBytes;
  w.notes = &parts.notes;
  try {
    const bool ok = c.runtime == node::Runtime::kDocker
                        ? evidenceDocker(c, includeEnv, w, parts)
                        : evidenceContainerd(c, includeEnv, w, parts);
    if (!ok && parts.error.empty()) parts.error = w.error;
  } catch (const std::exception& e) {
    parts.error = std::string("evidence: ") + e.what();
  }
  if (!parts.error.empty()) return abandon(parts);
  if (!findingJson.empty() && !w.add("finding.json", findingJson + "\n")) {
    parts.error = w.error;
    return abandon(parts);
  }
  json manifest = {
      {"bundle", bundle},
      {"tool", "kube-customs " KC_VERSION},
      {"startedAt", startedAt},
      {"completedAt", utcNow(false)},
      {"container",
       {{"runtime", node::runtimeName(c.runtime)},
        {"namespace", c.namespace_},
        {"id", c.id},
        {"name", c.name},
        {"image", c.image}}},
      {"environment", includeEnv ? "values included" : "names only"},
      {"files", w.files},
      {"notes", parts.notes},
  };
  // The manifest last, not summed by itself: it is what the sums are checked against.
  const std::string text = dump(manifest) + "\n";
  const std::string path = tmp + "/manifest.json";
  std::string error;
  if (!files::writeFileAtomic(path, text, 0600, error)) {
    parts.error = error;
    return abandon(parts);
  }
  if (!fsyncPath(tmp) || ::rename(tmp.c_str(), complete.c_str()) != 0) {
    parts.error = "cannot complete " + complete + ": " + std::strerror(errno);
    return abandon(parts);
  }
  fsyncPath(dir);
  out = std::move(parts);
  out.ok = true;
  out.path = complete;
  out.steps.push_back("evidence written to " + complete + " (" + std::to_string(w.files.size()) +
                      " files, " + std::to_string(w.total) + " bytes)");
  prune();
  return out;
}

bool Responder::evidenceDocker(const ContainerRef& c, bool includeEnv, Bundle& w, Outcome& out) {
  node::DockerClient d(options_.dockerSocket, options_.dockerLimits);
  if (auto v = d.negotiate(); !v.ok()) {
    out.error = "docker: " + v.message;
    return false;
  }
  auto raw = d.inspectContainerRaw(c.id);
  if (!raw.ok()) {
    out.error = raw.error == node::DockerError::kNotFound
                    ? "docker: no container " + c.id + " (gone?)"
                    : "docker: " + raw.message;
    return false;
  }
  auto st = d.containerState(c.id);
  if (!st.ok()) {
    out.error = "docker: " + st.message;
    return false;
  }
  // The configuration, environment values left out unless asked.
  if (jsonDeeperThan(raw.value, kMaxJsonDepth)) {
    out.notes.push_back("container.json: the daemon's answer nests too deep; not kept");
  } else {
    json j = json::parse(raw.value, nullptr, false);
    if (j.is_discarded()) {
      out.notes.push_back("container.json: the daemon's answer is not JSON; not kept");
    } else {
      if (!includeEnv) redactEnv(j, false);
      if (!w.add("container.json", dump(j) + "\n")) return false;
    }
  }
  // The last log lines; fewer when they are over the answer's cap.
  std::size_t tail = options_.logTailLines;
  for (;;) {
    auto logs = d.containerLogs(c.id, tail, st.value.tty);
    if (logs.error == node::DockerError::kTooLarge && tail > 10) {
      tail /= 10;
      continue;
    }
    if (!logs.ok()) {
      out.notes.push_back("logs.txt: " + logs.message);
    } else {
      if (!logs.message.empty()) out.notes.push_back("logs.txt: " + logs.message);
      if (tail != options_.logTailLines)
        out.notes.push_back("logs.txt: the last " + std::to_string(tail) + " lines only (the " +
                            std::to_string(options_.logTailLines) + " asked for are over " +
                            std::to_string(options_.dockerLimits.maxBodyBytes) + " bytes)");
      if (!w.add("logs.txt", logs.value)) return false;
    }
    break;
  }
  // The processes, as `docker top` shows them; their pids for the sockets' holders.
  std::vector<std::int64_t> pids;
  if (st.value.running) {
    auto top = d.containerTop(c.id);
    if (!top.ok()) {
      out.notes.push_back("processes.json: " + top.message);
    } else {
      const auto pidColumn = std::find(top.value.titles.begin(), top.value.titles.end(), "PID");
      for (const auto& row : top.value.rows) {
        const auto i = static_cast<std::size_t>(pidColumn - top.value.titles.begin());
        if (i < row.size()) {
          try {
            pids.push_back(std::stoll(row[i]));
          } catch (const std::exception&) {
          }
        }
      }
      json j = {{"titles", top.value.titles}, {"processes", top.value.rows}};
      if (top.value.clamped) j["clamped"] = true;
      if (!w.add("processes.json", dump(j) + "\n")) return false;
    }
  } else {
    out.notes.push_back("processes.json: the container is not running (" + st.value.status + ")");
  }
  // What changed in its writable layer.
  bool capped = false;
  auto changes = d.containerChanges(c.id, capped);
  if (!changes.ok()) {
    out.notes.push_back("changes.json: " + changes.message);
  } else {
    json j = json::array();
    for (const auto& f : changes.value)
      j.push_back({{"path", f.path}, {"kind", node::fileChangeKindName(f.kind)}});
    if (capped) out.notes.push_back("changes.json: capped at " + std::to_string(j.size()));
    if (!w.add("changes.json", dump(j) + "\n")) return false;
  }
  // Its sockets, from its network namespace.
  std::vector<std::string> notes;
  const auto sockets = readSockets(options_.procRoot, st.value.running ? st.value.pid : 0, pids,
                                   options_.maxSockets, notes);
  for (auto& n : notes) out.notes.push_back("network.json: " + n);
  if (st.value.running || st.value.paused) {
    json j = json::array();
    for (const auto& s : sockets) j.push_back(toJson(s));
    if (!w.add("network.json", dump(j) + "\n")) return false;
  }
  return true;
}

bool Responder::evidenceContainerd(const ContainerRef& c, bool includeEnv, Bundle& w,
                                   Outcome& out) {
  node::ContainerdClient cd(options_.containerdSocket, options_.containerdLimits);
  auto raw = cd.getContainerRaw(c.namespace_, c.id);
  if (!raw.ok()) {
    out.error =
        raw.error == node::ContainerdError::kNotFound
            ? "containerd: no container " + c.id + " in namespace " + c.namespace_ + " (gone?)"
            : "containerd: " + raw.message;
    return false;
  }
  json labels = json::object();
  for (const auto& [k, v] : raw.value.labels) labels[k] = v;
  json container = {{"id", raw.value.id},
                    {"namespace", c.namespace_},
                    {"image", raw.value.image},
                    {"runtime", raw.value.runtime},
                    {"snapshotter", raw.value.snapshotter},
                    {"labels", labels}};
  if (jsonDeeperThan(raw.value.spec, kMaxJsonDepth)) {
    out.notes.push_back("container.json: the OCI spec nests too deep; not kept");
  } else if (json spec = json::parse(raw.value.spec, nullptr, false); spec.is_discarded()) {
    out.notes.push_back("container.json: the OCI spec is not JSON; not kept");
  } else {
    if (!includeEnv) redactEnv(spec, true);
    container["spec"] = std::move(spec);
  }
  if (!w.add("container.json", dump(container) + "\n")) return false;

  auto pid = cd.taskPid(c.namespace_, c.id);
  std::vector<std::int64_t> pids;
  if (pid.ok() && pid.value > 0) {
    auto list = cd.listPids(c.namespace_, c.id);
    if (list.ok())
      pids = list.value;
    else
      out.notes.push_back("processes.json: " + list.message);
    json j = json::array();
    for (std::size_t i = 0; i < pids.size() && i < options_.maxProcesses; ++i)
      j.push_back(toJson(readProcess(options_.procRoot, pids[i])));
    if (!w.add("processes.json", dump(j) + "\n")) return false;
  } else {
    out.notes.push_back("processes.json: the container has no running task");
  }
  // containerd keeps no logs of its own; the kubelet's containers log to files.
  const node::KubernetesInfo k =
      node::classifyLabels(node::Runtime::kContainerd, c.namespace_, raw.value.labels);
  if (k.kubernetes && !k.podNamespace.empty() && !k.podName.empty() && !k.podUid.empty() &&
      !k.containerName.empty()) {
    const std::string logDir = options_.kubeletLogRoot + "/" + k.podNamespace + "_" + k.podName +
                               "_" + k.podUid + "/" + k.containerName;
    std::string newest;
    long newestN = -1;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(logDir, ec)) {
      const std::string file = e.path().filename().string();
      if (file.size() < 5 || file.substr(file.size() - 4) != ".log") continue;
      long n = -1;
      try {
        n = std::stol(file.substr(0, file.size() - 4));
      } catch (const std::exception&) {
        continue;
      }
      if (n > newestN) {
        newestN = n;
        newest = e.path().string();
      }
    }
    std::string text, why;
    if (newest.empty()) {
      out.notes.push_back("logs.txt: no log file in " + logDir +
                          (ec ? " (" + ec.message() + ")" : std::string()));
    } else if (!tailFile(newest, options_.logTailLines, text, why)) {
      out.notes.push_back("logs.txt: " + why);
    } else if (!w.add("logs.txt", text)) {
      return false;
    }
  } else {
    out.notes.push_back(
        "logs.txt: containerd keeps no logs of a container; its output went where its creator "
        "sent it");
  }
  out.notes.push_back(
      "changes.json: not collected (containerd's API has no diff of a container's writable "
      "layer)");
  std::vector<std::string> notes;
  const auto sockets =
      readSockets(options_.procRoot, pid.ok() ? pid.value : 0, pids, options_.maxSockets, notes);
  for (auto& n : notes) out.notes.push_back("network.json: " + n);
  if (pid.ok() && pid.value > 0) {
    json j = json::array();
    for (const auto& s : sockets) j.push_back(toJson(s));
    if (!w.add("network.json", dump(j) + "\n")) return false;
  }
  return true;
}

void Responder::prune() const {
  std::error_code ec;
  struct Bundle {
    std::string name;
    std::uint64_t bytes = 0;
  };
  std::vector<Bundle> bundles;
  for (const auto& e : fs::directory_iterator(evidenceDir(), ec)) {
    const std::string name = e.path().filename().string();
    if (name.empty() || name[0] == '.' || !e.is_directory(ec)) continue;
    Bundle b{name, 0};
    for (const auto& f : fs::directory_iterator(e.path(), ec))
      if (f.is_regular_file(ec)) b.bytes += f.file_size(ec);
    bundles.push_back(std::move(b));
  }
  // Names start with their UTC time: the oldest sort first.
  std::sort(bundles.begin(), bundles.end(),
            [](const Bundle& a, const Bundle& b) { return a.name < b.name; });
  std::uint64_t total = 0;
  for (const auto& b : bundles) total += b.bytes;
  std::size_t i = 0;
  while (i + 1 < bundles.size() &&
         (bundles.size() - i > options_.maxBundles || total > options_.maxEvidenceBytes)) {
    fs::remove_all(evidenceDir() + "/" + bundles[i].name, ec);
    total -= bundles[i].bytes;
    ++i;
  }
}

// ---- isolation ----

bool Responder::loadRecords(std::vector<IsolationRecord>& out, std::string& error) const {
  out.clear();
  const std::string path = options_.stateDir + kRecordsFile;
  std::string text;
  if (!files::readFile(path, text, 16u << 20)) {
    if (errno == ENOENT) return true;
    error = files::readError(path);
    return false;
  }
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("isolations") ||
      !j["isolations"].is_array()) {
    error = path + ": not an isolation record file (move it aside to start afresh)";
    return false;
  }
  try {
    for (const json& r : j["isolations"])
      if (r.is_object()) out.push_back(recordFrom(r));
  } catch (const std::exception& e) {
    error = path + ": " + e.what();
    return false;
  }
  return true;
}

bool Responder::saveRecords(const std::vector<IsolationRecord>& records, std::string& error) const {
  json list = json::array();
  for (const auto& r : records) list.push_back(toJson(r));
  return files::writeFileAtomic(options_.stateDir + kRecordsFile,
                                dump({{"version", 1}, {"isolations", list}}) + "\n", 0600, error);
}

bool Responder::isolations(std::vector<IsolationRecord>& out, std::string& error) const {
  return loadRecords(out, error);
}

std::optional<IsolationRecord> Responder::recordFor(std::string_view idOrName,
                                                    std::string& error) const {
  std::vector<IsolationRecord> records;
  if (!loadRecords(records, error)) return std::nullopt;
  for (const auto& r : records)
    if (recordMatches(r, idOrName)) return r;
  return std::nullopt;
}

Outcome Responder::isolate(const ContainerRef& c, const IsolationReason& why, bool dryRun) {
  Outcome out;
  auto refuse = [&](std::string reason) {
    out.refused = true;
    out.error = std::move(reason);
    return out;
  };
  if (options_.isolate == IsolateMode::kOff)
    return refuse("isolation is off (node.respond.isolate: off)");
  if (!makeDir(options_.stateDir, out.error)) return out;
  files::ExclusiveLock lock(options_.stateDir + kRecordsLock);
  if (!lock.locked()) {
    out.error = lock.error();
    return out;
  }
  std::vector<IsolationRecord> records;
  if (!loadRecords(records, out.error)) return out;
  for (const auto& r : records) {
    if (r.container.id == c.id) {
      out.ok = true;
      out.steps.push_back("already isolated since " + r.at);
      return out;
    }
  }
  IsolationRecord rec;
  rec.container = c;
  rec.reason = why;
  rec.at = utcNow(false);
  if (c.runtime == node::Runtime::kDocker) {
    node::DockerClient d(options_.dockerSocket, options_.dockerLimits);
    if (auto v = d.negotiate(); !v.ok()) {
      out.error = "docker: " + v.message;
      return out;
    }
    auto st = d.containerState(c.id);
    if (!st.ok()) {
      out.error = st.error == node::DockerError::kNotFound ? "docker: no container " + c.id
                                                           : "docker: " + st.message;
      return out;
    }
    node::Container model;
    model.runtime = node::Runtime::kDocker;
    model.id = st.value.id;
    model.name = st.value.name;
    model.image = st.value.image;
    model.labels = st.value.labels;
    if (std::string g = guard(model); !g.empty()) return refuse("not isolated: " + g);
    if (!st.value.running)
      return refuse("not isolated: the container is not running (" + st.value.status + ")");
    rec.container.name = st.value.name;
    rec.container.image = st.value.image;
    const bool pause = !st.value.paused;
    std::vector<node::ContainerNetwork> nets;
    const std::string& mode = st.value.networkMode;
    if (mode == "host") {
      out.notes.push_back("it uses the host's network, which cannot be taken away: paused only");
    } else if (mode.rfind("container:", 0) == 0) {
      out.notes.push_back("it uses the network of " + mode +
                          ": isolate that container to cut its network");
    } else {
      for (const auto& n : st.value.networks)
        if (n.name != "none" && n.name != "host") nets.push_back(n);
    }
    const std::string would = dryRun ? "would " : "";
    if (pause) out.steps.push_back(would + "pause " + st.value.name);
    for (const auto& n : nets)
      out.steps.push_back(would + "disconnect " + st.value.name + " from network " + n.name +
                          (n.ipv4.empty() ? "" : " (" + n.ipv4 + ")"));
    if (dryRun) {
      out.ok = true;
      return out;
    }
    std::vector<node::ContainerNetwork> done;
    auto rollback = [&](std::string error) {
      for (const auto& n : done) d.connectNetwork(n.networkId, c.id, n.aliases);
      if (rec.pausedByUs) d.unpause(c.id);
      out.steps.clear();
      out.error = std::move(error) + " (undone: nothing is left isolated)";
      return out;
    };
    if (pause) {
      auto p = d.pause(c.id);
      if (!p.ok()) {
        out.steps.clear();
        out.error = "docker: pause: " + p.message;
        return out;
      }
      rec.pausedByUs = true;
    }
    for (const auto& n : nets) {
      auto r = d.disconnectNetwork(n.networkId.empty() ? n.name : n.networkId, c.id);
      if (!r.ok()) return rollback("docker: disconnect from " + n.name + ": " + r.message);
      done.push_back(n);
    }
    rec.networks = done;
    records.push_back(rec);
    std::string error;
    if (!saveRecords(records, error)) return rollback("cannot record the isolation: " + error);
    out.ok = true;
    return out;
  }
  // containerd
  node::ContainerdClient cd(options_.containerdSocket, options_.containerdLimits);
  auto got = cd.getContainer(c.namespace_, c.id);
  if (!got.ok()) {
    out.error = got.error == node::ContainerdError::kNotFound
                    ? "containerd: no container " + c.id + " in namespace " + c.namespace_
                    : "containerd: " + got.message;
    return out;
  }
  if (std::string g = guard(got.value); !g.empty()) return refuse("not isolated: " + g);
  auto status = cd.taskStatus(c.namespace_, c.id);
  if (status.error == node::ContainerdError::kNotFound)
    return refuse("not isolated: the container has no task (not running)");
  if (!status.ok()) {
    out.error = "containerd: " + status.message;
    return out;
  }
  if (status.value != "running" && status.value != "paused")
    return refuse("not isolated: the container is not running (" + status.value + ")");
  out.notes.push_back(
      "containerd has no network of its own: a pod's network is cut by its NetworkPolicy "
      "(kube-customs respond isolate-pod)");
  const bool pause = status.value == "running";
  if (pause) out.steps.push_back(std::string(dryRun ? "would " : "") + "pause the task of " + c.id);
  if (dryRun) {
    out.ok = true;
    return out;
  }
  if (pause) {
    auto p = cd.pauseTask(c.namespace_, c.id);
    if (!p.ok()) {
      out.steps.clear();
      out.error = "containerd: pause: " + p.message;
      return out;
    }
    rec.pausedByUs = true;
  }
  records.push_back(rec);
  std::string error;
  if (!saveRecords(records, error)) {
    if (rec.pausedByUs) cd.resumeTask(c.namespace_, c.id);
    out.steps.clear();
    out.error = "cannot record the isolation: " + error + " (undone: nothing is left isolated)";
    return out;
  }
  out.ok = true;
  return out;
}

Outcome Responder::release(const ContainerRef& c, bool dryRun) {
  Outcome out;
  if (!makeDir(options_.stateDir, out.error)) return out;
  files::ExclusiveLock lock(options_.stateDir + kRecordsLock);
  if (!lock.locked()) {
    out.error = lock.error();
    return out;
  }
  std::vector<IsolationRecord> records;
  if (!loadRecords(records, out.error)) return out;
  auto it = std::find_if(records.begin(), records.end(),
                         [&](const IsolationRecord& r) { return r.container.id == c.id; });
  if (it == records.end()) {
    out.refused = true;
    out.error = (c.name.empty() ? c.id : c.name) +
                " is not isolated by kube-customs (no record in " + options_.stateDir +
                kRecordsFile + ")";
    return out;
  }
  IsolationRecord& rec = *it;
  const std::string would = dryRun ? "would " : "";
  std::string error;
  if (rec.container.runtime == node::Runtime::kDocker) {
    node::DockerClient d(options_.dockerSocket, options_.dockerLimits);
    if (auto v = d.negotiate(); !v.ok()) {
      out.error = "docker: " + v.message;
      return out;
    }
    auto st = d.containerState(rec.container.id);
    if (st.error == node::DockerError::kNotFound) {
      out.notes.push_back("the container is gone; its record is removed");
      out.steps.push_back(would + "remove the record of " + rec.container.id);
      if (!dryRun) {
        records.erase(it);
        if (!saveRecords(records, out.error)) return out;
      }
      out.ok = true;
      return out;
    }
    if (!st.ok()) {
      out.error = "docker: " + st.message;
      return out;
    }
    const bool unpause = rec.pausedByUs && st.value.paused;
    if (unpause) out.steps.push_back(would + "unpause " + rec.container.name);
    for (const auto& n : rec.networks)
      out.steps.push_back(would + "reconnect " + rec.container.name + " to network " + n.name);
    if (dryRun) {
      out.ok = true;
      return out;
    }
    std::vector<std::string> failed;
    std::vector<node::ContainerNetwork> left;
    for (const auto& n : rec.networks) {
      auto r =
          d.connectNetwork(n.networkId.empty() ? n.name : n.networkId, rec.container.id, n.aliases);
      if (!r.ok()) {
        failed.push_back("reconnect to " + n.name + ": " + r.message);
        left.push_back(n);
      }
    }
    rec.networks = left;
    if (unpause) {
      auto r = d.unpause(rec.container.id);
      if (!r.ok())
        failed.push_back("unpause: " + r.message);
      else
        rec.pausedByUs = false;
    }
    if (!failed.empty()) {
      // What is left stays recorded: `release` again retries it.
      saveRecords(records, error);
      out.error = "docker: ";
      for (std::size_t i = 0; i < failed.size(); ++i) out.error += (i ? "; " : "") + failed[i];
      out.error += " (the rest is recorded: run release again)";
      return out;
    }
  } else {
    node::ContainerdClient cd(options_.containerdSocket, options_.containerdLimits);
    auto status = cd.taskStatus(rec.container.namespace_, rec.container.id);
    if (status.error == node::ContainerdError::kNotFound) {
      out.notes.push_back("the container has no task any more; its record is removed");
    } else if (!status.ok()) {
      out.error = "containerd: " + status.message;
      return out;
    } else if (rec.pausedByUs && status.value == "paused") {
      out.steps.push_back(would + "resume the task of " + rec.container.id);
      if (!dryRun) {
        auto r = cd.resumeTask(rec.container.namespace_, rec.container.id);
        if (!r.ok()) {
          out.error = "containerd: resume: " + r.message;
          return out;
        }
      }
    }
    if (dryRun) {
      out.ok = true;
      return out;
    }
  }
  records.erase(it);
  if (!saveRecords(records, out.error)) return out;
  out.ok = true;
  return out;
}

}  // namespace kc::respond
