#pragma once
// A dockerd of the test's own: temporary data, exec and pid paths, its socket in a temporary
// directory, no bridge, no iptables, no forwarding, the vfs storage driver; images imported
// from a busybox-static root filesystem (no registry, no network). Everything it started is
// stopped by process id: its containers removed (and the networks tests made), dockerd signalled
// through its pidfile, any containerd or shim left behind under its directories killed, mounts
// under them detached and the directories removed; directories that a killed test process left are
// removed at the next start, with anything still running under them. It never touches a system
// daemon or socket. Not thread-safe: one per process, used from the test thread.

#include <string>
#include <vector>

namespace kc::testing {

class PrivateDockerd {
 public:
  // The image every test container runs, and the tunneling tool's name given to the same
  // image (a local tag: nothing is pulled).
  static constexpr const char* kImage = "kc-test/busybox:1";
  static constexpr const char* kTunnelImage = "ngrok/ngrok:latest";

  PrivateDockerd() = default;
  ~PrivateDockerd();
  PrivateDockerd(const PrivateDockerd&) = delete;
  PrivateDockerd& operator=(const PrivateDockerd&) = delete;

  // Starts dockerd and imports the images. False with `why()` set when this machine cannot
  // (not root, packages missing, dockerd failing to start): the caller skips or fails.
  bool start();
  void stop();
  // Stops dockerd (its containers stop with it) and starts it again on the same directories:
  // containers with a restart policy come back, the event history is gone. False with why().
  bool restart();
  bool running() const { return pid_ > 0; }
  const std::string& why() const { return why_; }

  const std::string& socket() const { return socket_; }
  const std::string& dir() const { return dir_; }
  // Runs `/usr/bin/docker -H unix://<socket> <args>` (bounded to 60 s); returns the exit
  // status, and its output (stdout and stderr) with the trailing newline removed.
  int docker(const std::string& args, std::string& output) const;
  // The same, failing the current test on a non-zero status; returns the output.
  std::string dockerOk(const std::string& args) const;

 private:
  // Starts dockerd on dir_ and waits until it answers.
  bool launch();
  std::string dir_;
  std::string socket_;
  std::string why_;
  int pid_ = -1;
};

// Whether tests must not skip for a missing tool or an unusable machine (CI=true or
// KC_REQUIRE_TOOLS=1).
bool toolsRequired();

}  // namespace kc::testing
