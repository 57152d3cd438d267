#pragma once
// Reading a regular file of JSON lines through a sliding memory map, for `audit replay`: the
// parser reads the lines where the kernel keeps them, so nothing is copied out of the page
// cache (a read(2) copy cost as much as a fifth of replay's time) and no reader thread is
// needed. At most one window (kWindowBytes) is mapped at a time, so resident memory does not
// grow with the file.
//
// Each chunk handed to the callback is whole lines, followed by at least
// simdjson::SIMDJSON_PADDING readable bytes (the parser's padding), so it can be parsed in
// place. A line longer than a window holds no newline there: it is skipped to its newline and
// counted in tooLong (shorter lines over the parser's cap are handed over, and the parser
// rejects them by size). The unterminated last line of the file is handed over (copied to a
// padded buffer).
//
// NUL bytes, what a crash of the writer leaves in a log, end lines as in the log follower
// (file_source.h), so that the event written after a run of them is read: the mapping is
// read-only, so a chunk that holds some is handed over from a padded copy with line ends in
// their place (chunks without any, nearly all, are not copied).
//
// A file that shrinks while it is mapped (copytruncate rotation, a concurrent writer) would
// raise SIGBUS on the pages past its new end. While readMappedLines runs, a SIGBUS handler
// replaces such a page with zeros and marks the read truncated: the lines read so far are
// processed, the damaged one fails to parse (and is counted), and the result says the file
// shrank. SIGBUS raised anywhere else is handled as before.
//
// Thread-safety: one call at a time per process (the handler watches one mapping).

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string_view>

namespace kc::audit {

struct MappedReadResult {
  bool ok = false;         // false: mmap failed or the file shrank while it was read
  bool truncated = false;  // the file shrank while mapped
  uint64_t bytes = 0;      // bytes of the file consumed
  uint64_t tooLong = 0;    // lines longer than a window, skipped
  uint64_t nulBytes = 0;   // NUL bytes read as line ends
  std::string_view error;  // static text when !ok
};

inline constexpr size_t kMappedWindowBytes = 32u << 20;

// Hands `fd` (a regular file of `size` bytes, read from offset 0) to onChunk in chunks of whole
// lines. `onTooLong` (optional) is called when a line longer than a window is skipped, after
// the chunks of the lines before it and before those of the lines after it.
MappedReadResult readMappedLines(int fd, uint64_t size,
                                 const std::function<void(std::string_view chunk)>& onChunk,
                                 const std::function<void()>& onTooLong = nullptr);

}  // namespace kc::audit
