#pragma once
// What the private daemon fixtures (private_dockerd, private_containerd) share: shell quoting,
// and finding and ending what a daemon of theirs left under its temporary directory, always by
// process id and by path, never by name.

#include <chrono>
#include <string>
#include <vector>

namespace kc::testing {

// `s` in single quotes for sh.
std::string quote(const std::string& s);
// Processes whose command line names a path under `dir` (the containerd and shims a daemon
// started with its directories): ours, by construction. Never this process.
std::vector<int> processesUnder(const std::string& dir);
// Mount points under `dir`, deepest first.
std::vector<std::string> mountsUnder(const std::string& dir);
// Waits for `pid` (a child or not) to be gone, at most `timeout`; reaps it when a child.
bool waitExit(int pid, std::chrono::milliseconds timeout);
// Processes under `dir` killed by pid, mounts under it detached, then the directory removed.
void removeDaemonDir(const std::string& dir);

}  // namespace kc::testing
