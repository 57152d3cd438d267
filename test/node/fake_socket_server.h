#pragma once
// A unix-socket server for tests that plays a broken or hostile Docker daemon: for each
// connection it reads the request head and hands the request target and the connected
// descriptor to a responder, which writes whatever bytes the test wants. Connections are served
// one at a time on one thread; the destructor stops it.

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace kc::testing {

inline bool sendAll(int fd, const std::string& bytes) {
  std::size_t sent = 0;
  while (sent < bytes.size()) {
    const ssize_t n = ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return false;
    sent += static_cast<std::size_t>(n);
  }
  return true;
}

// One chunk of a chunked body.
inline std::string chunk(const std::string& data) {
  char size[32];
  std::snprintf(size, sizeof(size), "%zx\r\n", data.size());
  return size + data + "\r\n";
}

class FakeSocketServer {
 public:
  using Responder = std::function<void(const std::string& target, int fd)>;

  FakeSocketServer(std::string path, Responder respond)
      : path_(std::move(path)), respond_(std::move(respond)) {
    ::unlink(path_.c_str());
    listen_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path_.c_str(), sizeof(addr.sun_path) - 1);
    if (::bind(listen_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
        ::listen(listen_, 16) != 0) {
      ::close(listen_);
      listen_ = -1;
      return;
    }
    thread_ = std::thread([this] { serve(); });
  }
  ~FakeSocketServer() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    if (listen_ >= 0) ::close(listen_);
    ::unlink(path_.c_str());
  }
  bool listening() const { return listen_ >= 0; }
  std::vector<std::string> targets() {
    std::lock_guard<std::mutex> lock(mu_);
    return targets_;
  }
  bool stopping() const { return stop_; }

 private:
  void serve() {
    while (!stop_) {
      pollfd p{listen_, POLLIN, 0};
      if (::poll(&p, 1, 20) <= 0) continue;
      const int fd = ::accept4(listen_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      std::string head;
      char buf[4096];
      const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
      while (head.find("\r\n\r\n") == std::string::npos &&
             std::chrono::steady_clock::now() < until) {
        pollfd q{fd, POLLIN, 0};
        if (::poll(&q, 1, 20) <= 0) continue;
        const ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
        if (n <= 0) break;
        head.append(buf, static_cast<std::size_t>(n));
      }
      std::string target;
      if (auto sp = head.find(' '); sp != std::string::npos)
        target = head.substr(sp + 1, head.find(' ', sp + 1) - sp - 1);
      {
        std::lock_guard<std::mutex> lock(mu_);
        targets_.push_back(target);
      }
      respond_(target, fd);
      ::close(fd);
    }
  }

  std::string path_;
  Responder respond_;
  int listen_ = -1;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::mutex mu_;
  std::vector<std::string> targets_;
};

}  // namespace kc::testing
