#pragma once
// A containerd of the test's own: a temporary config (version 2) with its root, state, gRPC,
// ttrpc and debug sockets in a temporary directory, the CRI plugin disabled; an image built
// here as an OCI archive from busybox-static (no registry, no network, no dockerd) and imported
// with ctr into the test's namespace. Containers run through ctr with no network set up (an
// empty network namespace). Everything it started is stopped by process id: its tasks killed
// and containers removed through ctr, containerd signalled, shims left under its directory
// killed, mounts under it detached and the directory removed. containerd 1.6's runc shims put
// their sockets in /run/containerd/s/ (named by a hash of our socket path): the shims remove
// them as they exit. It never touches a system daemon or socket.
// Not thread-safe: one per process, used from the test thread.

#include <string>

namespace kc::testing {

class PrivateContainerd {
 public:
  // The image every test container runs (an OCI archive made of busybox-static).
  static constexpr const char* kImage = "docker.io/kc-test/busybox:1";

  PrivateContainerd() = default;
  ~PrivateContainerd();
  PrivateContainerd(const PrivateContainerd&) = delete;
  PrivateContainerd& operator=(const PrivateContainerd&) = delete;

  // Starts containerd and imports the image. False with `why()` set when this machine cannot
  // (not root, packages missing, containerd failing to start).
  bool start();
  // Stops containerd (SIGTERM, by pid) and starts it again on the same directories; the
  // containers' shims keep running meanwhile. False with `why()` when it does not come back.
  bool restart();
  void stop();
  bool running() const { return pid_ > 0; }
  const std::string& why() const { return why_; }

  const std::string& socket() const { return socket_; }
  const std::string& dir() const { return dir_; }
  // The containerd namespace the tests use ("kc-test-<pid>").
  const std::string& ns() const { return ns_; }
  // Runs `/usr/bin/ctr -a <socket> -n <ns> <args>` (bounded to 60 s); returns the exit status,
  // and its output (stdout and stderr) with the trailing newline removed.
  int ctr(const std::string& args, std::string& output) const;
  // The same, failing the current test on a non-zero status; returns the output.
  std::string ctrOk(const std::string& args) const;
  // The --fifo-dir to give `ctr run` and `ctr task exec` (under our directory).
  std::string fifoDir() const { return dir_ + "/fifo"; }

 private:
  bool launch();
  bool waitReady();
  bool importImage();
  void stopDaemon();
  std::string dir_;
  std::string socket_;
  std::string ns_;
  std::string why_;
  int pid_ = -1;
};

}  // namespace kc::testing
