#include "common/background_writer.h"

#include "common/files.h"
#include "common/internal_errors.h"

namespace kc::files {

BackgroundWriter::BackgroundWriter(std::string path, mode_t mode, OnError onError)
    : path_(std::move(path)), mode_(mode), onError_(std::move(onError)) {
  thread_ = std::thread([this] { run(); });
}

BackgroundWriter::~BackgroundWriter() {
  {
    std::lock_guard lk(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void BackgroundWriter::submit(std::string content) {
  {
    std::lock_guard lk(mu_);
    pending_ = std::move(content);
  }
  cv_.notify_all();
}

void BackgroundWriter::flush() {
  std::unique_lock lk(mu_);
  cv_.wait(lk, [this] { return !pending_ && !writing_; });
}

uint64_t BackgroundWriter::writes() const {
  std::lock_guard lk(mu_);
  return writes_;
}

void BackgroundWriter::run() {
  std::unique_lock lk(mu_);
  for (;;) {
    cv_.wait(lk, [this] { return pending_ || stop_; });
    if (!pending_) return;  // stopping, nothing left to write
    std::string content = std::move(*pending_);
    pending_.reset();
    writing_ = true;
    lk.unlock();
    // The failure boundary of the writer thread: whatever one write throws costs that write.
    std::string error;
    bool ok = false;
    internal::guarded(internal::Component::kBackgroundWriter, path_,
                      [&] { ok = writeFileAtomic(path_, content, mode_, error); });
    if (!ok && onError_)
      internal::guarded(internal::Component::kBackgroundWriter, path_, [&] { onError_(error); });
    lk.lock();
    writing_ = false;
    ++writes_;
    cv_.notify_all();
  }
}

}  // namespace kc::files
