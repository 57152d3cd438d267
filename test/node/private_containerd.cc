#include "test/node/private_containerd.h"

#include <signal.h>
#include <sys/prctl.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <sstream>
#include <thread>

#include "test/node/private_daemon_util.h"
#include "test/test_util.h"

namespace kc::testing {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

constexpr const char* kContainerd = "/usr/bin/containerd";
constexpr const char* kCtr = "/usr/bin/ctr";
constexpr const char* kBusybox = "/bin/busybox";

bool executable(const char* path) { return ::access(path, X_OK) == 0; }

// "sha256:<hex>" of a file, and its size; "" when it cannot be read.
std::string digestOf(const std::string& path, std::size_t& size) {
  std::string out;
  if (runCommand("sha256sum " + quote(path), out) != 0 || out.size() < 64) return "";
  size = fs::file_size(path);
  return "sha256:" + out.substr(0, 64);
}

// Moves `file` into the OCI layout's blobs as its digest; returns the digest, "" on failure.
std::string addBlob(const std::string& layout, const std::string& file, std::size_t& size) {
  const std::string digest = digestOf(file, size);
  if (digest.empty()) return "";
  std::error_code ec;
  fs::rename(file, layout + "/blobs/sha256/" + digest.substr(7), ec);
  return ec ? "" : digest;
}

// Directories of this fixture whose containerd is gone, more than a minute old: what a test
// process killed before its cleanup left.
void removeAbandonedDirs() {
  std::error_code ec;
  const auto now = fs::file_time_type::clock::now();
  for (const auto& e : fs::directory_iterator("/tmp", ec)) {
    const std::string name = e.path().filename().string();
    if (name.rfind("kc-containerd.", 0) != 0 || !e.is_directory(ec)) continue;
    const auto age = now - fs::last_write_time(e.path(), ec);
    if (ec || age < std::chrono::minutes(1)) continue;
    int pid = 0;
    std::istringstream pidfile(readFile((e.path() / "containerd.pid").string()));
    if (pidfile >> pid && pid > 0 && ::kill(pid, 0) == 0) continue;  // still runs
    removeDaemonDir(e.path().string());
  }
}

}  // namespace

PrivateContainerd::~PrivateContainerd() { stop(); }

int PrivateContainerd::ctr(const std::string& args, std::string& output) const {
  const int status = runCommand(std::string("timeout 60 ") + kCtr + " -a " + quote(socket_) +
                                    " -n " + quote(ns_) + " " + args + " 2>&1",
                                output);
  while (!output.empty() && output.back() == '\n') output.pop_back();
  return status;
}

std::string PrivateContainerd::ctrOk(const std::string& args) const {
  std::string out;
  const int status = ctr(args, out);
  INFO("ctr " << args << "\n" << out);
  REQUIRE(status == 0);
  return out;
}

bool PrivateContainerd::start() {
  if (::geteuid() != 0) {
    why_ = "a private containerd needs root";
    return false;
  }
  for (const char* tool :
       {kContainerd, kCtr, "/usr/sbin/runc", "/usr/bin/containerd-shim-runc-v2", kBusybox}) {
    if (!executable(tool)) {
      why_ = std::string(tool) + " not installed (Debian packages containerd, busybox-static)";
      return false;
    }
  }
  removeAbandonedDirs();
  char pattern[] = "/tmp/kc-containerd.XXXXXX";
  if (::mkdtemp(pattern) == nullptr) {
    why_ = "cannot create a temporary directory";
    return false;
  }
  dir_ = pattern;
  socket_ = dir_ + "/containerd.sock";
  ns_ = "kc-test-" + std::to_string(::getpid());
  for (const char* sub : {"root", "state", "fifo", "opt"}) fs::create_directories(dir_ + "/" + sub);
  // Everything under our directory; the CRI plugin off (it would want /var/lib/kubelet and a
  // CNI); no metrics listener.
  writeFile(dir_ + "/config.toml",
            "version = 2\n"
            "root = \"" +
                dir_ +
                "/root\"\n"
                "state = \"" +
                dir_ +
                "/state\"\n"
                "disabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n"
                "[grpc]\n  address = \"" +
                socket_ +
                "\"\n"
                "[ttrpc]\n  address = \"" +
                socket_ +
                ".ttrpc\"\n"
                "[debug]\n  address = \"" +
                dir_ +
                "/debug.sock\"\n  level = \"info\"\n"
                "[metrics]\n  address = \"\"\n"
                "[plugins.\"io.containerd.internal.v1.opt\"]\n  path = \"" +
                dir_ + "/opt\"\n");
  if (!launch()) return false;
  if (!importImage()) {
    stop();
    return false;
  }
  return true;
}

bool PrivateContainerd::launch() {
  const std::string log = dir_ + "/containerd.log";
  const std::vector<std::string> argv = {kContainerd, "--config", dir_ + "/config.toml"};
  const pid_t parent = ::getpid();
  pid_ = ::fork();
  if (pid_ == 0) {
    // If the test process dies, so does its containerd.
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
  writeFile(dir_ + "/containerd.pid", std::to_string(pid_));
  return waitReady();
}

bool PrivateContainerd::waitReady() {
  const std::string log = dir_ + "/containerd.log";
  const auto until = std::chrono::steady_clock::now() + 30s;
  while (std::chrono::steady_clock::now() < until) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      why_ = "containerd exited at start: " + readFile(log).substr(0, 2000);
      return false;
    }
    std::string out;
    if (fs::exists(socket_) && ctr("version", out) == 0) return true;
    std::this_thread::sleep_for(50ms);
  }
  why_ = "containerd did not answer within 30 s: " + readFile(log).substr(0, 2000);
  return false;
}

bool PrivateContainerd::importImage() {
  // The root filesystem: busybox-static and the file a pod's service-account token lives in.
  const std::string rootfs = dir_ + "/image/rootfs";
  const std::string layout = dir_ + "/image/oci";
  fs::create_directories(rootfs + "/bin");
  fs::create_directories(rootfs + "/tmp");
  fs::create_directories(rootfs + "/var/run/secrets/kubernetes.io/serviceaccount");
  fs::create_directories(layout + "/blobs/sha256");
  fs::copy_file(kBusybox, rootfs + "/bin/busybox");
  for (const char* applet : {"sh", "cat", "sleep", "true", "ls", "id", "echo"})
    fs::create_symlink("busybox", rootfs + "/bin/" + applet);
  writeFile(rootfs + "/var/run/secrets/kubernetes.io/serviceaccount/token", "not-a-real-token\n");

  // An OCI image layout: one uncompressed layer, its config, a manifest, the index naming it.
  std::string out;
  const std::string layer = dir_ + "/image/layer.tar";
  if (runCommand("tar -C " + quote(rootfs) + " -cf " + quote(layer) + " .", out) != 0) {
    why_ = "cannot tar the image root: " + out;
    return false;
  }
  utsname uts{};
  ::uname(&uts);
  const std::string machine = uts.machine;
  const std::string arch = machine == "x86_64" ? "amd64" : machine == "aarch64" ? "arm64" : machine;
  std::size_t layerSize = 0, configSize = 0, manifestSize = 0;
  const std::string layerDigest = addBlob(layout, layer, layerSize);
  const std::string config = dir_ + "/image/config.json";
  writeFile(config, "{\"architecture\":\"" + arch +
                        "\",\"os\":\"linux\",\"config\":{\"Cmd\":[\"sh\"]},"
                        "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"" +
                        layerDigest + "\"]}}");
  const std::string configDigest = addBlob(layout, config, configSize);
  const std::string manifest = dir_ + "/image/manifest.json";
  writeFile(manifest,
            "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
            "\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"" +
                configDigest + "\",\"size\":" + std::to_string(configSize) +
                "},\"layers\":[{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar\","
                "\"digest\":\"" +
                layerDigest + "\",\"size\":" + std::to_string(layerSize) + "}]}");
  const std::string manifestDigest = addBlob(layout, manifest, manifestSize);
  if (layerDigest.empty() || configDigest.empty() || manifestDigest.empty()) {
    why_ = "cannot write the image blobs";
    return false;
  }
  writeFile(layout + "/oci-layout", "{\"imageLayoutVersion\":\"1.0.0\"}");
  writeFile(layout + "/index.json",
            "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":"
            "\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"" +
                manifestDigest + "\",\"size\":" + std::to_string(manifestSize) +
                ",\"annotations\":{\"io.containerd.image.name\":\"" + kImage + "\"}}]}");
  const std::string archive = dir_ + "/image/image.tar";
  if (runCommand(
          "tar -C " + quote(layout) + " -cf " + quote(archive) + " oci-layout index.json blobs",
          out) != 0) {
    why_ = "cannot write the image archive: " + out;
    return false;
  }
  if (ctr("image import " + quote(archive), out) != 0 || ctr("image ls -q", out) != 0 ||
      out.find(kImage) == std::string::npos) {
    why_ = "cannot import the test image: " + out;
    return false;
  }
  return true;
}

void PrivateContainerd::stopDaemon() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGTERM);
  if (!waitExit(pid_, 20s)) {
    ::kill(pid_, SIGKILL);
    waitExit(pid_, 5s);
  }
  pid_ = -1;
}

bool PrivateContainerd::restart() {
  stopDaemon();
  return launch();
}

void PrivateContainerd::stop() {
  if (dir_.empty()) return;
  if (pid_ > 0) {
    // Tasks killed and deleted, containers removed, through the daemon (busybox as PID 1
    // ignores SIGTERM).
    std::string ids;
    if (ctr("container ls -q", ids) == 0) {
      std::istringstream lines(ids);
      std::string id, ignored;
      while (std::getline(lines, id)) {
        if (id.empty()) continue;
        ctr("task kill -a -s SIGKILL " + quote(id), ignored);
        ctr("task delete -f " + quote(id), ignored);
        ctr("container delete " + quote(id), ignored);
      }
    }
    stopDaemon();
  }
  // What containerd left running under its directory (shims, their containers): by pid.
  removeDaemonDir(dir_);
  // The runc shims keep their state under /run/containerd/runc/<namespace> whatever the
  // daemon's configuration: our namespace's directory is ours alone (its name has our pid).
  std::error_code ec;
  if (!ns_.empty()) std::filesystem::remove_all("/run/containerd/runc/" + ns_, ec);
  dir_.clear();
}

}  // namespace kc::testing
