#pragma once
// Wakes the audit worker as soon as the followed audit log changes, instead of at its next
// poll: inotify on the file's directory (so that a rotation, a new file under the name and a
// truncation are seen too), filtered to the file's name. Polling stays as the fallback where
// inotify is not available (some network file systems, exhausted watches): then start() says
// why and the worker polls every audit.pollIntervalSeconds as before.
// Thread-safety: start() and stop() from one controlling thread; onChange runs on the watch's
// own thread.

#include <atomic>
#include <functional>
#include <string>
#include <thread>

namespace kc::audit {

class FileWatch {
 public:
  FileWatch(std::string path, std::function<void()> onChange);
  ~FileWatch();
  FileWatch(const FileWatch&) = delete;
  FileWatch& operator=(const FileWatch&) = delete;

  // False and `error` when the directory cannot be watched.
  bool start(std::string& error);
  void stop();

 private:
  void run();

  const std::string path_;
  const std::function<void()> onChange_;
  int fd_ = -1;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace kc::audit
