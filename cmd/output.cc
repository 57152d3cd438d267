#include "cmd/output.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <string>

namespace kc::cmd {
namespace {

int firstError = 0;  // errno of the first failed write; -1 when it was not known

bool failed() { return std::cout.fail() || std::ferror(stdout) != 0; }

}  // namespace

void noteStdoutWrite() {
  if (firstError == 0 && failed()) firstError = errno != 0 ? errno : -1;
}

bool stdoutWritten(std::string_view command) {
  // std::cout writes through stdio (synchronized), so its failures also mark stdout; the
  // flush that fails sets errno.
  noteStdoutWrite();
  errno = 0;
  std::cout.flush();
  noteStdoutWrite();
  if (std::fflush(stdout) != 0 && firstError == 0) firstError = errno != 0 ? errno : -1;
  noteStdoutWrite();
  if (firstError == 0) return true;
  const std::string reason = firstError > 0 ? std::strerror(firstError) : "write error";
  std::cerr << "kube-customs " << command << ": cannot write the output: " << reason << "\n";
  return false;
}

}  // namespace kc::cmd
