#include "respond/proc_net.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <map>

#include "common/files.h"
#include "common/utf8.h"

namespace kc::respond {

namespace {

constexpr std::size_t kMaxProcFileBytes = 8u << 20;  // a /proc/<pid>/net file
constexpr std::size_t kMaxFdsPerProcess = 4096;
constexpr std::size_t kMaxStringBytes = 4096;

std::vector<std::string_view> fields(std::string_view line) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    const std::size_t start = i;
    while (i < line.size() && line[i] != ' ' && line[i] != '\t') ++i;
    if (i > start) out.push_back(line.substr(start, i - start));
  }
  return out;
}

template <class T>
bool hex(std::string_view s, T& out) {
  if (s.empty()) return false;
  const auto r = std::from_chars(s.data(), s.data() + s.size(), out, 16);
  return r.ec == std::errc() && r.ptr == s.data() + s.size();
}

// "0100007F:0277" (IPv4) or 32 hex digits and a port (IPv6): address words in host order.
bool address(std::string_view text, bool v6, std::string& out) {
  const auto colon = text.find(':');
  if (colon == std::string_view::npos) return false;
  const std::string_view addr = text.substr(0, colon);
  unsigned port = 0;
  if (!hex(text.substr(colon + 1), port) || port > 65535) return false;
  const std::size_t words = v6 ? 4 : 1;
  if (addr.size() != words * 8) return false;
  std::array<unsigned char, 16> bytes{};
  for (std::size_t w = 0; w < words; ++w) {
    std::uint32_t word = 0;
    if (!hex(addr.substr(w * 8, 8), word)) return false;
    // The kernel prints each 32-bit word of the address as it lies in memory, as a number.
    for (int b = 0; b < 4; ++b) bytes[w * 4 + b] = static_cast<unsigned char>(word >> (8 * b));
  }
  char buf[INET6_ADDRSTRLEN] = {};
  if (!inet_ntop(v6 ? AF_INET6 : AF_INET, bytes.data(), buf, sizeof buf)) return false;
  out = v6 ? "[" + std::string(buf) + "]:" + std::to_string(port)
           : std::string(buf) + ":" + std::to_string(port);
  return true;
}

std::string_view tcpState(unsigned st) {
  static constexpr std::array<std::string_view, 12> kNames = {
      "UNKNOWN",   "ESTABLISHED", "SYN_SENT",   "SYN_RECV", "FIN_WAIT1", "FIN_WAIT2",
      "TIME_WAIT", "CLOSE",       "CLOSE_WAIT", "LAST_ACK", "LISTEN",    "CLOSING"};
  return st < kNames.size() ? kNames[st] : "UNKNOWN";
}

std::string_view unixState(unsigned st) {
  switch (st) {
    case 1:
      return "UNCONNECTED";
    case 2:
      return "CONNECTING";
    case 3:
      return "CONNECTED";
    case 4:
      return "DISCONNECTING";
    default:
      return "UNKNOWN";
  }
}

template <class F>
void eachLine(std::string_view text, F f) {
  std::size_t start = 0;
  while (start < text.size()) {
    auto end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    f(text.substr(start, end - start));
    start = end + 1;
  }
}

// The socket inodes each of `pids` holds (from the links of /proc/<pid>/fd).
std::map<std::uint64_t, std::vector<std::int64_t>> socketHolders(
    const std::string& procRoot, const std::vector<std::int64_t>& pids) {
  std::map<std::uint64_t, std::vector<std::int64_t>> out;
  for (const std::int64_t pid : pids) {
    const std::string dir = procRoot + "/" + std::to_string(pid) + "/fd";
    DIR* d = ::opendir(dir.c_str());
    if (!d) continue;
    std::size_t n = 0;
    while (const dirent* e = ::readdir(d)) {
      if (e->d_name[0] == '.' || ++n > kMaxFdsPerProcess) continue;
      char target[128] = {};
      const ssize_t len = ::readlink((dir + "/" + e->d_name).c_str(), target, sizeof target - 1);
      if (len <= 0) continue;
      const std::string_view t(target, static_cast<std::size_t>(len));
      if (t.rfind("socket:[", 0) != 0 || t.back() != ']') continue;
      std::uint64_t inode = 0;
      const std::string_view digits = t.substr(8, t.size() - 9);
      if (std::from_chars(digits.data(), digits.data() + digits.size(), inode).ec != std::errc())
        continue;
      auto& holders = out[inode];
      if (std::find(holders.begin(), holders.end(), pid) == holders.end()) holders.push_back(pid);
    }
    ::closedir(d);
  }
  return out;
}

// The sockets of a /proc/<pid>/net table: every line after the header goes to `parse`, which
// returns false for a row that does not read; stops once `maxRows` are kept.
template <class Parse>
std::vector<Socket> tableRows(std::string_view text, std::size_t maxRows, Parse parse) {
  std::vector<Socket> out;
  std::size_t start = text.find('\n');
  start = start == std::string_view::npos ? text.size() : start + 1;
  while (start < text.size() && out.size() < maxRows) {
    auto end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    Socket s;
    if (parse(text.substr(start, end - start), s)) out.push_back(std::move(s));
    start = end + 1;
  }
  return out;
}

}  // namespace

std::vector<Socket> parseInetSockets(std::string_view text, std::string_view proto,
                                     std::size_t maxRows) {
  const bool v6 = proto.size() > 3 && proto.back() == '6';
  const bool udp = proto.rfind("udp", 0) == 0;
  return tableRows(text, maxRows, [&](std::string_view line, Socket& s) {
    const auto f = fields(line);
    // sl local rem st tx:rx tr:when retrnsmt uid timeout inode
    if (f.size() < 10) return false;
    s.proto = std::string(proto);
    unsigned st = 0;
    if (!address(f[1], v6, s.local) || !address(f[2], v6, s.remote) || !hex(f[3], st)) return false;
    // UDP sockets use TCP's numbers: 7 (CLOSE) is an unconnected one, 1 a connected one.
    s.state = udp ? (st == 1   ? "CONNECTED"
                     : st == 7 ? "UNCONNECTED"
                               : std::string(tcpState(st)))
                  : std::string(tcpState(st));
    std::from_chars(f[7].data(), f[7].data() + f[7].size(), s.uid);
    std::from_chars(f[9].data(), f[9].data() + f[9].size(), s.inode);
    return true;
  });
}

std::vector<Socket> parseUnixSockets(std::string_view text, std::size_t maxRows) {
  return tableRows(text, maxRows, [&](std::string_view line, Socket& s) {
    const auto f = fields(line);
    // Num RefCount Protocol Flags Type St Inode [Path]
    if (f.size() < 7) return false;
    s.proto = "unix";
    unsigned st = 0;
    if (!hex(f[5], st)) return false;
    s.state = std::string(unixState(st));
    std::from_chars(f[6].data(), f[6].data() + f[6].size(), s.inode);
    if (f.size() >= 8) {
      // The path is the rest of the line (it may hold spaces).
      const auto at = static_cast<std::size_t>(f[7].data() - line.data());
      s.local = std::string(utf8::prefix(line.substr(at), kMaxStringBytes));
    }
    return true;
  });
}

std::vector<Socket> readSockets(const std::string& procRoot, std::int64_t pid,
                                const std::vector<std::int64_t>& pids, std::size_t maxRows,
                                std::vector<std::string>& notes) {
  std::vector<Socket> out;
  if (pid <= 0) {
    notes.push_back("sockets: the container has no running process");
    return out;
  }
  const std::string base = procRoot + "/" + std::to_string(pid) + "/net/";
  for (const std::string_view proto : {"tcp", "tcp6", "udp", "udp6", "unix"}) {
    std::string text;
    const std::string path = base + std::string(proto);
    if (!files::readFile(path, text, kMaxProcFileBytes)) {
      notes.push_back("sockets: " + files::readError(path));
      continue;
    }
    const std::size_t room = maxRows > out.size() ? maxRows - out.size() : 0;
    auto rows =
        proto == "unix" ? parseUnixSockets(text, room) : parseInetSockets(text, proto, room);
    for (auto& r : rows) out.push_back(std::move(r));
  }
  if (out.size() >= maxRows) notes.push_back("sockets: capped at " + std::to_string(maxRows));
  const auto holders =
      socketHolders(procRoot, pids.empty() ? std::vector<std::int64_t>{pid} : pids);
  for (auto& s : out) {
    if (auto it = holders.find(s.inode); it != holders.end() && s.inode != 0) s.pids = it->second;
  }
  return out;
}

ProcessInfo readProcess(const std::string& procRoot, std::int64_t pid) {
  ProcessInfo p;
  p.pid = pid;
  const std::string base = procRoot + "/" + std::to_string(pid) + "/";
  std::string cmdline, status;
  if (!files::readFile(base + "cmdline", cmdline, 64u << 10) ||
      !files::readFile(base + "status", status, 64u << 10)) {
    p.gone = true;
    return p;
  }
  utf8::CappedText text(kMaxStringBytes);
  std::size_t start = 0;
  while (start < cmdline.size()) {
    auto end = cmdline.find('\0', start);
    if (end == std::string::npos) end = cmdline.size();
    text.add(" ", std::string_view(cmdline).substr(start, end - start));
    start = end + 1;
  }
  p.command = std::move(text).finish("arguments");
  eachLine(status, [&](std::string_view line) {
    auto value = [&](std::string_view key) -> std::string_view {
      if (line.rfind(key, 0) != 0) return {};
      std::string_view v = line.substr(key.size());
      while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
      return v;
    };
    if (auto v = value("Name:"); !v.empty()) p.name = std::string(utf8::prefix(v, 256));
    if (auto v = value("PPid:"); !v.empty()) std::from_chars(v.data(), v.data() + v.size(), p.ppid);
    if (auto v = value("Uid:"); !v.empty()) {
      std::string u;
      for (const auto piece : fields(v)) u += (u.empty() ? "" : " ") + std::string(piece);
      p.uids = u;
    }
  });
  return p;
}

nlohmann::json toJson(const Socket& s) {
  nlohmann::json j = {{"proto", s.proto}, {"state", s.state}, {"inode", s.inode}};
  j["local"] = s.local;
  if (s.proto != "unix") {
    j["remote"] = s.remote;
    j["uid"] = s.uid;
  }
  if (!s.pids.empty()) j["pids"] = s.pids;
  return j;
}

nlohmann::json toJson(const ProcessInfo& p) {
  if (p.gone) return {{"pid", p.pid}, {"gone", true}};
  return {
      {"pid", p.pid}, {"ppid", p.ppid}, {"name", p.name}, {"uids", p.uids}, {"command", p.command}};
}

}  // namespace kc::respond
