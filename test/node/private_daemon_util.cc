#include "test/node/private_daemon_util.h"

#include <signal.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

namespace kc::testing {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

std::string quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'')
      out += "'\\''";
    else
      out += c;
  }
  return out + "'";
}

// Processes whose command line names a path under `dir` (the containerd and shims dockerd
// started with its exec root): ours, by construction.
std::vector<int> processesUnder(const std::string& dir) {
  std::vector<int> pids;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator("/proc", ec)) {
    const std::string name = e.path().filename().string();
    if (name.empty() || !std::all_of(name.begin(), name.end(), ::isdigit)) continue;
    std::ifstream in(e.path() / "cmdline", std::ios::binary);
    std::string cmdline((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (cmdline.find(dir + "/") != std::string::npos) pids.push_back(std::stoi(name));
  }
  pids.erase(std::remove(pids.begin(), pids.end(), static_cast<int>(::getpid())), pids.end());
  return pids;
}

// Mount points under `dir` (network namespaces dockerd bind-mounts in its exec root), deepest
// first.
std::vector<std::string> mountsUnder(const std::string& dir) {
  std::vector<std::string> out;
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string id, parent, dev, root, mountPoint;
    fields >> id >> parent >> dev >> root >> mountPoint;
    if (mountPoint.rfind(dir + "/", 0) == 0) out.push_back(mountPoint);
  }
  std::sort(out.begin(), out.end(),
            [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
  return out;
}

bool waitExit(int pid, std::chrono::milliseconds timeout) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < until) {
    int status = 0;
    const int r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid || (r < 0 && errno == ECHILD)) return true;
    if (r < 0 && ::kill(pid, 0) != 0) return true;  // not our child: gone
    std::this_thread::sleep_for(20ms);
  }
  return false;
}

// Processes under `dir` killed by pid, mounts under it detached, then the directory removed.
void removeDaemonDir(const std::string& dir) {
  for (int pid : processesUnder(dir)) ::kill(pid, SIGKILL);
  for (int i = 0; i < 50 && !processesUnder(dir).empty(); ++i) std::this_thread::sleep_for(20ms);
  for (const auto& m : mountsUnder(dir)) ::umount2(m.c_str(), MNT_DETACH);
  std::error_code ec;
  fs::remove_all(dir, ec);
}

}  // namespace kc::testing
