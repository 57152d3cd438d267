#pragma once
// Small file helpers shared by the runtime. Thread-safe: no shared state.

#include <sys/types.h>

#include <string>

namespace kc::files {

// Reads a whole file (following symlinks). False when it cannot be opened or read.
bool readFile(const std::string& path, std::string& out);

// Writes `data` to `path` atomically: a temporary file in the same directory, fsync, chmod to
// `mode`, rename over `path`. False and `error` on failure; `path` is then untouched.
bool writeFileAtomic(const std::string& path, const std::string& data, mode_t mode,
                     std::string& error);

}  // namespace kc::files
