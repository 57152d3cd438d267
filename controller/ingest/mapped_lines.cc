#include "controller/ingest/mapped_lines.h"

#include <fcntl.h>
#include <signal.h>
#include <simdjson.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <vector>

namespace kc::audit {
namespace {

// The mapping the SIGBUS handler may mend, and whether it had to.
std::atomic<uintptr_t> gMapStart{0};
std::atomic<uintptr_t> gMapEnd{0};
std::atomic<bool> gShrank{false};
std::atomic<uintptr_t> gPage{4096};  // the page size, set before the handler is installed
struct sigaction gPrevious;

void onSigbus(int sig, siginfo_t* info, void* ctx) {
  const auto addr = reinterpret_cast<uintptr_t>(info->si_addr);
  const uintptr_t start = gMapStart.load(), end = gMapEnd.load();
  if (addr >= start && addr < end) {
    // A page past the file's new end: read zeros from here on (mmap is a plain system call).
    const uintptr_t from = addr & ~(gPage.load() - 1);
    if (mmap(reinterpret_cast<void*>(from), end - from, PROT_READ,
             MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) != MAP_FAILED) {
      gShrank.store(true);
      return;
    }
  }
  // Not ours: behave as before this reader installed itself.
  if (gPrevious.sa_flags & SA_SIGINFO) {
    if (gPrevious.sa_sigaction != nullptr) {
      gPrevious.sa_sigaction(sig, info, ctx);
      return;
    }
  } else if (gPrevious.sa_handler != SIG_DFL && gPrevious.sa_handler != SIG_IGN) {
    gPrevious.sa_handler(sig);
    return;
  }
  signal(SIGBUS, SIG_DFL);
  raise(SIGBUS);
}

// Installs the handler for the lifetime of one read.
class SigbusGuard {
 public:
  SigbusGuard() {
    gPage.store(static_cast<uintptr_t>(sysconf(_SC_PAGESIZE)));
    struct sigaction sa {};
    sa.sa_sigaction = onSigbus;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGBUS, &sa, &gPrevious);
  }
  ~SigbusGuard() {
    gMapStart.store(0);
    gMapEnd.store(0);
    sigaction(SIGBUS, &gPrevious, nullptr);
  }
};

// One window of the file, mapped read-only.
class Window {
 public:
  Window(int fd, uint64_t offset, size_t len) : len_(len) {
    void* p =
        mmap(nullptr, len, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, static_cast<off_t>(offset));
    if (p == MAP_FAILED) return;
    data_ = static_cast<const char*>(p);
    gMapStart.store(reinterpret_cast<uintptr_t>(data_));
    gMapEnd.store(reinterpret_cast<uintptr_t>(data_) + len_);
  }
  ~Window() {
    if (data_ == nullptr) return;
    gMapStart.store(0);
    gMapEnd.store(0);
    munmap(const_cast<char*>(data_), len_);
  }
  Window(const Window&) = delete;
  Window& operator=(const Window&) = delete;
  const char* data() const { return data_; }

 private:
  const char* data_ = nullptr;
  size_t len_;
};

}  // namespace

MappedReadResult readMappedLines(int fd, uint64_t size,
                                 const std::function<void(std::string_view chunk)>& onChunk,
                                 const std::function<void()>& onTooLong) {
  constexpr size_t kPadding = simdjson::SIMDJSON_PADDING;
  const auto page = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  MappedReadResult r;
  SigbusGuard guard;
  gShrank.store(false);
  std::vector<char> tail;    // the last line(s), when too close to the end to parse in place
  std::vector<char> mended;  // a chunk with NUL bytes, copied with line ends in their place
  // Hands `chunk` (followed by kPadding readable bytes) over, mended when it holds NUL bytes.
  auto handOver = [&](std::string_view chunk) {
    if (std::memchr(chunk.data(), '\0', chunk.size()) == nullptr) {
      onChunk(chunk);
      return;
    }
    mended.assign(chunk.begin(), chunk.end());
    for (char& c : mended) {
      if (c != '\0') continue;
      c = '\n';
      ++r.nulBytes;
    }
    mended.resize(chunk.size() + kPadding, ' ');
    onChunk(std::string_view(mended.data(), chunk.size()));
  };
  uint64_t pos = 0;       // start of the first line not handed over yet
  bool skipping = false;  // inside a line longer than a window
  while (pos < size) {
    const uint64_t mapStart = pos & ~(page - 1);
    const size_t mapLen =
        static_cast<size_t>(std::min<uint64_t>(kMappedWindowBytes, size - mapStart));
    const bool last = mapStart + mapLen == size;
    if (!last) {
      // Read ahead the next window while this one is parsed.
      posix_fadvise(fd, static_cast<off_t>(mapStart + mapLen),
                    static_cast<off_t>(kMappedWindowBytes), POSIX_FADV_WILLNEED);
    }
    Window w(fd, mapStart, mapLen);
    if (w.data() == nullptr) {
      r.error = "cannot map the file";
      r.bytes = pos;
      return r;
    }
    const char* text = w.data() + (pos - mapStart);
    const size_t avail = mapLen - static_cast<size_t>(pos - mapStart);
    if (skipping) {
      const void* nl = std::memchr(text, '\n', avail);
      if (nl == nullptr) {
        pos += avail;  // the over-long line goes on (or ends with the input)
        continue;
      }
      pos += static_cast<uint64_t>(static_cast<const char*>(nl) - text) + 1;
      skipping = false;
      continue;
    }
    // Lines that end with kPadding bytes of the mapping still after them are parsed in place.
    const size_t safe = avail > kPadding ? avail - kPadding : 0;
    const void* nl = safe > 0 ? ::memrchr(text, '\n', safe) : nullptr;
    if (nl != nullptr) {
      const size_t take = static_cast<size_t>(static_cast<const char*>(nl) - text) + 1;
      handOver(std::string_view(text, take));
      pos += take;
    } else if (last) {
      // The end of the input: copy what is left, padded.
      tail.assign(text, text + avail);
      tail.resize(avail + kPadding, ' ');
      handOver(std::string_view(tail.data(), avail));
      pos = size;
    } else {
      // No newline in a whole window: skip the line.
      ++r.tooLong;
      if (onTooLong) onTooLong();
      skipping = true;
      pos += safe;
    }
    if (gShrank.load()) break;
  }
  r.bytes = std::min(pos, size);
  if (gShrank.load()) {
    r.truncated = true;
    r.error = "the file shrank while it was read";
    return r;
  }
  r.ok = true;
  return r;
}

}  // namespace kc::audit
