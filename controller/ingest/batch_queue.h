#pragma once
// A bounded queue of raw audit batches between the receiving side (the audit webhook handler,
// which must answer the API server quickly) and the detection worker. Bounded by total bytes so
// a burst of large batches cannot exhaust memory; a full queue refuses instead of blocking.
// Thread-safe: any number of producers and consumers.

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>

namespace kc::audit {

struct Batch {
  std::string body;
  std::string source;          // "webhook", "log", ...
  std::uint64_t spoolSeq = 0;  // its record in the webhook spool (0: not spooled)
};

class BatchQueue {
 public:
  explicit BatchQueue(std::size_t maxBytes) : maxBytes_(maxBytes) {}

  // False when the batch does not fit now (queue full) or the queue is closed.
  bool tryPush(Batch&& batch) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (closed_ || bytes_ + batch.body.size() > maxBytes_) return false;
    bytes_ += batch.body.size();
    items_.push_back(std::move(batch));
    cv_.notify_one();
    return true;
  }

  // Whether a batch of `bytes` would fit now (a later tryPush may still find it full).
  bool wouldFit(std::size_t bytes) const {
    std::lock_guard<std::mutex> lock(mutex_);
    return !closed_ && bytes_ + bytes <= maxBytes_;
  }

  // Queues a batch whatever the bound (batches recovered from the spool at start, which were
  // acknowledged and must be judged). False when closed.
  bool pushRecovered(Batch&& batch) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (closed_) return false;
    bytes_ += batch.body.size();
    items_.push_back(std::move(batch));
    cv_.notify_one();
    return true;
  }

  // Waits up to `timeout` for a batch; nullopt on timeout, after wake(), or when closed and
  // drained.
  std::optional<Batch> pop(std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> lock(mutex_);
    cv_.wait_for(lock, timeout, [this] { return !items_.empty() || closed_ || woken_; });
    woken_ = false;
    if (items_.empty()) return std::nullopt;
    Batch b = std::move(items_.front());
    items_.pop_front();
    bytes_ -= b.body.size();
    return b;
  }

  // Ends a consumer's wait in pop() now (something else, a changed log file, wants it).
  void wake() {
    std::lock_guard<std::mutex> lock(mutex_);
    woken_ = true;
    cv_.notify_all();
  }

  // Stops accepting; consumers drain what is queued.
  void close() {
    std::lock_guard<std::mutex> lock(mutex_);
    closed_ = true;
    cv_.notify_all();
  }

  std::size_t bytes() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return bytes_;
  }
  std::size_t size() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return items_.size();
  }

 private:
  const std::size_t maxBytes_;
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<Batch> items_;
  std::size_t bytes_ = 0;
  bool closed_ = false;
  bool woken_ = false;
};

}  // namespace kc::audit
