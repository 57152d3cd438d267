// kube-customs: one executable, subcommands chosen by the first argument.

#include <iostream>
#include <string>
#include <vector>

#include "cmd/commands.h"
#include "cmd/output.h"
#include "cmd/respond_pod.h"

namespace {

constexpr const char* kUsage =
    "kube-customs: admission and audit guard for Kubernetes containers\n"
    "\n"
    "usage: kube-customs COMMAND [ARGS]\n"
    "  serve          run the webhook and/or audit roles (see serve --help)\n"
    "  check          evaluate manifests offline against policies (CI use)\n"
    "  audit replay   run the audit detections over an audit log file or stdin\n"
    "  baseline       show the learned baseline, or accept a finding into it\n"
    "  respond        keep a container's evidence, isolate or release it, accept a finding;\n"
    "                 isolate-pod|release-pod: print manifests that quarantine a pod, or end it\n"
    "  cert generate  create a CA and serving certificate for the webhook Service\n"
    "  version        print the version\n";

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    std::cout << kUsage;
    return args.empty() ? 2 : 0;
  }
  const std::string command = args[0];
  const std::vector<std::string> rest(args.begin() + 1, args.end());
  if (command == "serve") return kc::cmd::runServe(rest);
  if (command == "cert") return kc::cmd::runCert(rest);
  if (command == "check") return kc::cmd::runCheck(rest);
  if (command == "audit") return kc::cmd::runAudit(rest);
  if (command == "baseline") return kc::cmd::runBaselineCommand(rest);
  if (command == "respond" && !rest.empty() &&
      (rest[0] == "isolate-pod" || rest[0] == "release-pod"))
    return kc::cmd::runRespondPod({rest.begin() + 1, rest.end()}, rest[0] == "release-pod");
  if (command == "respond") return kc::cmd::runRespond(rest);
  if (command == "version" || command == "--version") {
    std::cout << "kube-customs " << KC_VERSION << "\n";
    return kc::cmd::stdoutWritten("version") ? 0 : 1;
  }
  std::cerr << "kube-customs: unknown command \"" << command << "\"\n" << kUsage;
  return 2;
}
