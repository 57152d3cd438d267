#pragma once
// The standard output of the commands that print results (check, audit replay, baseline show,
// cert generate, version). A result that did not reach its reader (a full disk, a closed pipe
// with SIGPIPE ignored, a closed descriptor) must not look like success to a script.
// Thread-safety: main thread only (one process-wide record of the first failure).

#include <string_view>

namespace kc::cmd {

// Call right after writing to std::cout: records the reason of the first failed write, which
// the stream does not keep (only its error flag) and the next call would overwrite in errno.
void noteStdoutWrite();

// Flushes std::cout and stdout. True when everything written to them reached the descriptor;
// false after "kube-customs COMMAND: cannot write the output: REASON" on stderr.
bool stdoutWritten(std::string_view command);

}  // namespace kc::cmd
