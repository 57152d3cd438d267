#pragma once
// Helpers shared by tests: temporary directories, files, and real HTTPS/HTTP clients
// (Boost.Beast over OpenSSL) that verify the server against a CA file.

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace kc::testing {

class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

std::string readFile(const std::string& path);
void writeFile(const std::string& path, const std::string& data);

struct HttpResult {
  int status = 0;  // 0 when the exchange failed
  std::string body;
  std::map<std::string, std::string> headers;
  std::string error;
  std::string peerCertSerialHex;  // serial of the server certificate seen
};

// A kept-alive HTTPS connection. Not thread-safe; one per thread.
class TlsClient {
 public:
  // `caFile` verifies the server; `host` is checked against its certificate.
  TlsClient(std::string caFile, std::uint16_t port, std::string host = "localhost",
            std::string clientCert = "", std::string clientKey = "");
  ~TlsClient();
  HttpResult request(const std::string& method, const std::string& target,
                     const std::string& body = "",
                     const std::string& contentType = "application/json",
                     const std::map<std::string, std::string>& headers = {});
  // Connects and sends raw bytes after the handshake; returns what the server sent back before
  // closing (or after `wait`). Used to send broken HTTP.
  std::string raw(const std::string& bytes, std::chrono::milliseconds wait);
  // Like raw(), but sends the pieces as separate TLS writes with `pause` between them.
  std::string rawPieces(const std::vector<std::string>& pieces, std::chrono::milliseconds pause,
                        std::chrono::milliseconds wait);
  // Connects with a small receive buffer, sends `bytes` and returns without reading: the
  // connection stays open, and the server's answer waits until close(). A client that never
  // reads.
  bool sendWithoutReading(const std::string& bytes);
  bool connected() const;
  void close();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// A plain TCP connection to 127.0.0.1:port (nothing sent); the descriptor, or -1 on failure.
int tcpConnect(std::uint16_t port);

// One plain-HTTP GET; returns the body or an empty HttpResult on failure.
HttpResult httpGet(std::uint16_t port, const std::string& target);

// A child process with stdout and stderr sent to files; killed (SIGKILL) on destruction if
// still running.
class Process {
 public:
  Process(const std::vector<std::string>& argv, const std::string& stdoutFile,
          const std::string& stderrFile);
  ~Process();
  int pid() const { return pid_; }
  void signal(int sig);
  // Waits up to `timeout`; returns the exit code, 128+signal, or -1 on timeout.
  int wait(std::chrono::milliseconds timeout);
  // Waits until `file` contains a line with `needle`; returns the line or "" on timeout.
  static std::string waitForLine(const std::string& file, const std::string& needle,
                                 std::chrono::milliseconds timeout);

 private:
  int pid_ = -1;
  bool reaped_ = false;
};

// The path of the kube-customs executable in the build tree.
std::string kubeCustomsBinary();

// Runs a shell command, returns its exit status and captures stdout+stderr.
int runCommand(const std::string& command, std::string& output);

// Runs argv with stdout a pipe whose reader is already gone and SIGPIPE ignored (as a process
// started by a supervisor that ignores it inherits), stderr captured in `errors`. Returns the
// exit code, 128+signal.
int runIntoClosedPipe(const std::vector<std::string>& argv, std::string& errors);

}  // namespace kc::testing
