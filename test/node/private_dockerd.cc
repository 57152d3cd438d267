#include "test/node/private_dockerd.h"

#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "test/node/private_daemon_util.h"
#include "test/test_util.h"

namespace kc::testing {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

constexpr const char* kDockerd = "/usr/sbin/dockerd";
// Debian's client (docker.io), never another one earlier on PATH.
constexpr const char* kDockerCli = "/usr/bin/docker";
constexpr const char* kBusybox = "/bin/busybox";

bool executable(const char* path) { return ::access(path, X_OK) == 0; }

// What a test process killed before its cleanup left: directories of this fixture whose dockerd
// is gone, more than a minute old (so that one being started by a concurrent run is left alone).
void removeAbandonedDirs() {
  std::error_code ec;
  const auto now = fs::file_time_type::clock::now();
  for (const auto& e : fs::directory_iterator("/tmp", ec)) {
    const std::string name = e.path().filename().string();
    if (name.rfind("kc-dockerd.", 0) != 0 || !e.is_directory(ec)) continue;
    const auto age = now - fs::last_write_time(e.path(), ec);
    if (ec || age < std::chrono::minutes(1)) continue;
    int pid = 0;
    std::ifstream pidfile(e.path() / "docker.pid");
    if (pidfile >> pid && pid > 0 && ::kill(pid, 0) == 0) continue;  // its dockerd still runs
    removeDaemonDir(e.path().string());
  }
}

}  // namespace

bool toolsRequired() {
  const char* ci = std::getenv("CI");
  const char* required = std::getenv("KC_REQUIRE_TOOLS");
  return (ci != nullptr && std::string(ci) == "true") ||
         (required != nullptr && std::string(required) == "1");
}

PrivateDockerd::~PrivateDockerd() { stop(); }

int PrivateDockerd::docker(const std::string& args, std::string& output) const {
  const int status = runCommand("DOCKER_CONFIG=" + quote(dir_ + "/cli") + " timeout 60 " +
                                    kDockerCli + " -H " + quote("unix://" + socket_) + " " + args,
                                output);
  while (!output.empty() && output.back() == '\n') output.pop_back();
  return status;
}

std::string PrivateDockerd::dockerOk(const std::string& args) const {
  std::string out;
  const int status = docker(args, out);
  INFO("docker " << args << "\n" << out);
  REQUIRE(status == 0);
  return out;
}

bool PrivateDockerd::start() {
  if (::geteuid() != 0) {
    why_ = "a private dockerd needs root";
    return false;
  }
  for (const char* tool :
       {kDockerd, kDockerCli, "/usr/bin/containerd", "/usr/sbin/runc", kBusybox}) {
    if (!executable(tool)) {
      why_ = std::string(tool) +
             " not installed (Debian packages docker.io, containerd, busybox-static)";
      return false;
    }
  }
  removeAbandonedDirs();
  char pattern[] = "/tmp/kc-dockerd.XXXXXX";
  if (::mkdtemp(pattern) == nullptr) {
    why_ = "cannot create a temporary directory";
    return false;
  }
  dir_ = pattern;
  socket_ = dir_ + "/docker.sock";
  fs::create_directories(dir_ + "/data");
  fs::create_directories(dir_ + "/exec");
  fs::create_directories(dir_ + "/cli");
  if (!launch()) return false;
  // The image: busybox-static and the file a pod's service-account token lives in.
  const std::string rootfs = dir_ + "/rootfs";
  fs::create_directories(rootfs + "/bin");
  fs::create_directories(rootfs + "/tmp");
  fs::create_directories(rootfs + "/var/run/secrets/kubernetes.io/serviceaccount");
  fs::copy_file(kBusybox, rootfs + "/bin/busybox");
  for (const char* applet : {"sh", "cat", "sleep", "true", "ls", "id", "echo", "touch", "nc",
                             "httpd", "printf", "timeout"})
    fs::create_symlink("busybox", rootfs + "/bin/" + applet);
  writeFile(rootfs + "/var/run/secrets/kubernetes.io/serviceaccount/token", "not-a-real-token\n");
  std::string out;
  if (runCommand("tar -C " + quote(rootfs) + " -c . | DOCKER_CONFIG=" + quote(dir_ + "/cli") +
                     " timeout 60 " + kDockerCli + " -H " + quote("unix://" + socket_) +
                     " import - " + kImage,
                 out) != 0 ||
      docker(std::string("tag ") + kImage + " " + kTunnelImage, out) != 0) {
    why_ = "cannot import the test image: " + out;
    stop();
    return false;
  }
  return true;
}

bool PrivateDockerd::launch() {
  const std::string log = dir_ + "/dockerd.log";
  const std::vector<std::string> argv = {kDockerd,
                                         "--data-root=" + dir_ + "/data",
                                         "--exec-root=" + dir_ + "/exec",
                                         "--pidfile=" + dir_ + "/docker.pid",
                                         "-H",
                                         "unix://" + socket_,
                                         "--bridge=none",
                                         "--iptables=false",
                                         "--ip6tables=false",
                                         "--ip-forward=false",
                                         "--ip-masq=false",
                                         "--storage-driver=vfs"};
  const pid_t parent = ::getpid();
  pid_ = ::fork();
  if (pid_ == 0) {
    // If the test process dies, so does its dockerd (which stops its containers).
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (::getppid() != parent) _exit(1);
    ::setenv("PATH", "/usr/sbin:/usr/bin:/sbin:/bin", 1);
    FILE* out = std::fopen(log.c_str(), "a");
    if (out) {
      ::dup2(fileno(out), 1);
      ::dup2(fileno(out), 2);
    }
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    _exit(127);
  }
  if (pid_ < 0) {
    why_ = "fork failed";
    return false;
  }
  // Ready when the daemon answers its own client.
  const auto until = std::chrono::steady_clock::now() + 30s;
  bool ready = false;
  while (std::chrono::steady_clock::now() < until) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      why_ = "dockerd exited at start: " + readFile(log).substr(0, 2000);
      stop();
      return false;
    }
    std::string out;
    if (fs::exists(socket_) && docker("version --format '{{.Server.APIVersion}}'", out) == 0) {
      ready = true;
      break;
    }
    std::this_thread::sleep_for(100ms);
  }
  if (!ready) {
    why_ = "dockerd did not answer within 30 s: " + readFile(log).substr(0, 2000);
    stop();
    return false;
  }
  return true;
}

bool PrivateDockerd::restart() {
  if (pid_ <= 0) return false;
  ::kill(pid_, SIGTERM);
  if (!waitExit(pid_, 20s)) {
    ::kill(pid_, SIGKILL);
    waitExit(pid_, 5s);
  }
  pid_ = -1;
  return launch();
}

void PrivateDockerd::stop() {
  if (dir_.empty()) return;
  if (pid_ > 0) {
    // Containers first, killed (busybox as PID 1 ignores SIGTERM: dockerd would wait 10 s).
    std::string ids;
    if (docker("ps -aq", ids) == 0 && !ids.empty()) {
      std::string flat = ids;
      std::replace(flat.begin(), flat.end(), '\n', ' ');
      std::string ignored;
      docker("rm -f " + flat, ignored);
    }
    // Networks a test created and did not remove (each is a bridge on the host): this daemon's
    // own only, now that none of its containers uses them.
    std::string ignored;
    docker("network prune -f", ignored);
    int pid = pid_;
    std::ifstream pidfile(dir_ + "/docker.pid");
    int fromFile = 0;
    if (pidfile >> fromFile && fromFile == pid_) pid = fromFile;
    ::kill(pid, SIGTERM);
    if (!waitExit(pid, 20s)) {
      ::kill(pid, SIGKILL);
      waitExit(pid, 5s);
    }
    pid_ = -1;
  }
  // What dockerd left running under its directories (containerd, shims): by pid.
  removeDaemonDir(dir_);
  dir_.clear();
}

}  // namespace kc::testing
