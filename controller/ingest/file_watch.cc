#include "controller/ingest/file_watch.h"

#include <poll.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/internal_errors.h"

namespace kc::audit {

FileWatch::FileWatch(std::string path, std::function<void()> onChange)
    : path_(std::move(path)), onChange_(std::move(onChange)) {}

FileWatch::~FileWatch() { stop(); }

bool FileWatch::start(std::string& error) {
  fd_ = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (fd_ < 0) {
    error = std::string("inotify: ") + std::strerror(errno);
    return false;
  }
  const auto slash = path_.rfind('/');
  const std::string dir = slash == std::string::npos ? "." : path_.substr(0, slash ? slash : 1);
  if (::inotify_add_watch(fd_, dir.c_str(),
                          IN_MODIFY | IN_CLOSE_WRITE | IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM |
                              IN_DELETE | IN_ATTRIB) < 0) {
    error = "inotify on " + dir + ": " + std::strerror(errno);
    ::close(fd_);
    fd_ = -1;
    return false;
  }
  thread_ = std::thread([this] { run(); });
  return true;
}

void FileWatch::stop() {
  stopping_.store(true);
  if (thread_.joinable()) thread_.join();
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

void FileWatch::run() {
  const auto slash = path_.rfind('/');
  const std::string name = slash == std::string::npos ? path_ : path_.substr(slash + 1);
  alignas(inotify_event) char buf[16 * 1024];
  while (!stopping_.load()) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, 200) <= 0) continue;  // the timeout lets stop() be seen
    bool ours = false;
    for (;;) {
      const ssize_t n = ::read(fd_, buf, sizeof buf);
      if (n <= 0) break;
      for (ssize_t off = 0; off < n;) {
        const auto* ev = reinterpret_cast<const inotify_event*>(buf + off);
        // The file itself, or a name that starts with it (a rotation renames it to log.1).
        if (ev->len > 0 && std::strncmp(ev->name, name.c_str(), name.size()) == 0) ours = true;
        if (ev->mask & IN_Q_OVERFLOW) ours = true;  // events lost: look anyway
        off += static_cast<ssize_t>(sizeof(inotify_event) + ev->len);
      }
    }
    if (ours) internal::guarded(internal::Component::kAuditWorker, path_, [&] { onChange_(); });
  }
}

}  // namespace kc::audit
