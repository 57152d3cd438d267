#pragma once
// Writes a file on a thread of its own, so that the thread producing its content does not
// wait for the disk (write and fsync of tens of MB). Only the latest content matters: what is
// submitted while an earlier content is still waiting replaces it. Each write is atomic
// (files::writeFileAtomic): readers see the previous file or the new one, never a mix.
//
// Thread-safety: submit() and flush() may be called from any thread.

#include <sys/types.h>

#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

namespace kc::files {

class BackgroundWriter {
 public:
  using OnError = std::function<void(const std::string& error)>;  // runs on the writer thread

  BackgroundWriter(std::string path, mode_t mode, OnError onError);
  // Writes what is still waiting, then stops the thread.
  ~BackgroundWriter();
  BackgroundWriter(const BackgroundWriter&) = delete;
  BackgroundWriter& operator=(const BackgroundWriter&) = delete;

  // Queues `content` to be written, replacing content queued before and not written yet.
  void submit(std::string content);
  // Returns once everything submitted before the call is on disk (or failed).
  void flush();

  const std::string& path() const { return path_; }
  uint64_t writes() const;  // completed writes, successful or not

 private:
  void run();

  const std::string path_;
  const mode_t mode_;
  const OnError onError_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::optional<std::string> pending_;
  bool writing_ = false;
  bool stop_ = false;
  uint64_t writes_ = 0;
  std::thread thread_;
};

}  // namespace kc::files
