#pragma once
// The subcommands of the kube-customs executable. Each takes its arguments (after the
// subcommand's name) and returns the process exit code: 0 success, 1 failure, 2 usage error.

#include <string>
#include <vector>

namespace kc::cmd {

int runServe(const std::vector<std::string>& args);
int runCert(const std::vector<std::string>& args);
int runCheck(const std::vector<std::string>& args);
int runAudit(const std::vector<std::string>& args);
int runBaselineCommand(const std::vector<std::string>& args);
int runRespond(const std::vector<std::string>& args);

}  // namespace kc::cmd
