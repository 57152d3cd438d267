#pragma once
// A container's sockets and processes as the host's /proc shows them, for evidence: the TCP,
// UDP and unix sockets of its network namespace (/proc/<pid>/net/{tcp,tcp6,udp,udp6,unix}, read
// through any process of the container), which of its processes holds each one (the
// socket:[inode] links of /proc/<pid>/fd), and a process's command line and identity. Pure
// parsing plus bounded reads: every file read is capped, every string clamped on a UTF-8
// boundary, the number of rows capped. Thread-safe: no shared state.

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace kc::respond {

struct Socket {
  std::string proto;   // "tcp", "tcp6", "udp", "udp6", "unix"
  std::string local;   // "10.0.0.2:8080", "[::1]:53", or a unix socket's path ("" unnamed)
  std::string remote;  // "" for unix sockets
  std::string state;   // "ESTABLISHED", "LISTEN", ... (unix: "CONNECTED", "UNCONNECTED", ...)
  std::uint64_t inode = 0;
  std::int64_t uid = -1;           // the owner's uid (inet sockets)
  std::vector<std::int64_t> pids;  // the container's processes holding it (when found)
};

// Parses the text of /proc/<pid>/net/tcp (tcp6, udp, udp6): one Socket per row, at most
// `maxRows`. Rows that do not read are skipped.
std::vector<Socket> parseInetSockets(std::string_view text, std::string_view proto,
                                     std::size_t maxRows);
// Parses /proc/<pid>/net/unix.
std::vector<Socket> parseUnixSockets(std::string_view text, std::size_t maxRows);

// The sockets of the network namespace of `pid` (read from `<procRoot>/<pid>/net/...`), with
// the holders among `pids` filled in. `notes` gets one line per file that could not be read.
std::vector<Socket> readSockets(const std::string& procRoot, std::int64_t pid,
                                const std::vector<std::int64_t>& pids, std::size_t maxRows,
                                std::vector<std::string>& notes);

// One process: from <procRoot>/<pid>/cmdline and status.
struct ProcessInfo {
  std::int64_t pid = 0;
  std::int64_t ppid = 0;
  std::string name;     // status "Name:"
  std::string uids;     // status "Uid:" (real, effective, saved, filesystem)
  std::string command;  // argv joined with spaces, capped
  bool gone = false;    // exited before it was read
};
ProcessInfo readProcess(const std::string& procRoot, std::int64_t pid);

nlohmann::json toJson(const Socket& s);
nlohmann::json toJson(const ProcessInfo& p);

}  // namespace kc::respond
