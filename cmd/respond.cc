// `kube-customs respond`: the response to a suspicious container on this node, by hand.
//   evidence  keep its evidence (a bundle in STATE_DIR/evidence)
//   isolate   pause it and cut its networks (node.respond.isolate must not be off)
//   release   undo an isolation
//   list      the isolations in force
//   accept    take what a finding saw into the node allow-list, an anomaly normal or the
//             audit baseline
// Exit codes: 0 done, 1 failed, 2 usage, 3 refused (not done on purpose: a guard, the mode).

#include <unistd.h>

#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "cmd/commands.h"
#include "cmd/config.h"
#include "cmd/flags.h"
#include "cmd/node_role.h"
#include "cmd/output.h"
#include "common/files.h"
#include "respond/accept.h"
#include "respond/responder.h"

namespace kc::cmd {

namespace {

constexpr const char* kUsage =
    "usage: kube-customs respond evidence --container ID [--finding FILE|-] [--include-env]\n"
    "       kube-customs respond isolate  --container ID [--reason TEXT] [--dry-run]\n"
    "       kube-customs respond release  --container ID [--dry-run]\n"
    "       kube-customs respond list\n"
    "       kube-customs respond accept   --finding FILE|- [--dry-run]\n"
    "       kube-customs respond isolate-pod|release-pod --namespace NS --name POD ...\n"
    "         (manifests for kubectl: see kube-customs respond isolate-pod --help)\n"
    "  each also takes: [--runtime docker|containerd] [--namespace NS] (containerd's)\n"
    "                   [--config FILE] [--state-dir DIR] [--docker-socket PATH]\n"
    "                   [--containerd-socket PATH] [--output text|json]\n"
    "exit codes: 0 done, 1 failed, 2 usage, 3 refused (a guard or node.respond.isolate)\n";

constexpr int kRefused = 3;

int usage(const std::string& error) {
  if (!error.empty()) std::cerr << "kube-customs respond: " << error << "\n";
  std::cerr << kUsage;
  return 2;
}

// The configuration: embedded defaults, the file, then the flags.
int configFrom(const Flags& flags, Config& cfg) {
  if (auto file = flags.get("config")) {
    std::string text;
    if (!files::readFile(*file, text)) {
      std::cerr << "kube-customs respond: cannot read config file " << files::readError(*file)
                << "\n";
      return 2;
    }
    auto errors = applyConfigYaml(text, cfg);
    for (const auto& e : errors) std::cerr << "kube-customs respond: " << e.toString(*file) << "\n";
    if (!errors.empty()) return 2;
  }
  if (auto v = flags.get("state-dir")) cfg.stateDir = *v;
  if (auto v = flags.get("docker-socket")) cfg.node.dockerSocket = *v;
  if (auto v = flags.get("containerd-socket")) cfg.node.containerdSocket = *v;
  auto errors = validateConfig(cfg);
  for (const auto& e : errors)
    std::cerr << "kube-customs respond: " << e.toString("config") << "\n";
  return errors.empty() ? -1 : 2;
}

// Prints an outcome and returns its exit code.
int print(const respond::Outcome& o, bool asJson, std::string_view action) {
  if (asJson) {
    nlohmann::json j = {{"action", action},
                        {"outcome", o.ok        ? "ok"
                                    : o.refused ? "refused"
                                                : "failed"},
                        {"steps", o.steps},
                        {"notes", o.notes}};
    if (!o.error.empty()) j["error"] = o.error;
    if (!o.path.empty()) j["evidence"] = o.path;
    std::cout << j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  } else {
    for (const auto& s : o.steps) std::cout << s << "\n";
    for (const auto& n : o.notes) std::cout << "note: " << n << "\n";
  }
  if (!stdoutWritten("respond")) return 1;
  if (!o.error.empty()) std::cerr << "kube-customs respond " << action << ": " << o.error << "\n";
  return o.ok ? 0 : o.refused ? kRefused : 1;
}

bool readInput(const std::string& source, std::string& out, std::string& error) {
  if (source == "-") {
    out.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
    if (out.size() > (16u << 20)) {
      error = "the finding on stdin is over 16 MiB";
      return false;
    }
    return true;
  }
  if (!files::readFile(source, out, 16u << 20)) {
    error = "cannot read " + files::readError(source);
    return false;
  }
  return true;
}

}  // namespace

int runRespond(const std::vector<std::string>& args) {
  if (args.empty() || args[0] == "--help" || args[0] == "-h") {
    std::cerr << kUsage;
    return args.empty() ? 2 : 0;
  }
  const std::string action = args[0];
  if (action != "evidence" && action != "isolate" && action != "release" && action != "list" &&
      action != "accept")
    return usage("unknown action \"" + action + "\"");
  Flags flags({"container", "runtime", "namespace", "finding", "reason", "config", "state-dir",
               "docker-socket", "containerd-socket", "output"},
              {"include-env", "dry-run", "help"});
  std::string error;
  if (!flags.parse({args.begin() + 1, args.end()}, error)) return usage(error);
  if (flags.has("help")) {
    std::cout << kUsage;
    return 0;
  }
  const std::string output = flags.get("output").value_or("text");
  if (output != "text" && output != "json") return usage("--output is text or json");
  const bool asJson = output == "json";
  Config cfg;
  if (int rc = configFrom(flags, cfg); rc >= 0) return rc;
  respond::RespondOptions options;
  if (!respondOptionsFrom(cfg, options, error)) {
    std::cerr << "kube-customs respond: " << error << "\n";
    return 2;
  }
  respond::Responder responder(options);

  if (action == "list") {
    std::vector<respond::IsolationRecord> records;
    if (!responder.isolations(records, error)) {
      std::cerr << "kube-customs respond list: " << error << "\n";
      return 1;
    }
    if (asJson) {
      nlohmann::json j = nlohmann::json::array();
      for (const auto& r : records) j.push_back(respond::toJson(r));
      std::cout << j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    } else {
      for (const auto& r : records)
        std::cout << r.container.id.substr(0, 12) << "  " << node::runtimeName(r.container.runtime)
                  << "  " << r.container.name << "  since " << r.at << "  by " << r.reason.by
                  << (r.reason.rule.empty() ? "" : " (" + r.reason.rule + ")") << "\n";
    }
    return stdoutWritten("respond") ? 0 : 1;
  }

  if (action == "accept") {
    auto source = flags.get("finding");
    if (!source) return usage("accept needs --finding FILE or -");
    std::string text;
    if (!readInput(*source, text, error)) {
      std::cerr << "kube-customs respond accept: " << error << "\n";
      return 1;
    }
    respond::AcceptOptions a;
    a.stateDir = cfg.stateDir;
    a.baselineFile = cfg.audit.baselineFile;
    a.dryRun = flags.has("dry-run");
    return print(respond::acceptFinding(text, a), asJson, "accept");
  }

  auto container = flags.get("container");
  if (!container) return usage(action + " needs --container ID");
  std::optional<node::Runtime> runtime;
  if (auto r = flags.get("runtime")) {
    if (*r == "docker")
      runtime = node::Runtime::kDocker;
    else if (*r == "containerd")
      runtime = node::Runtime::kContainerd;
    else
      return usage("--runtime is docker or containerd");
  }
  const std::string ns = flags.get("namespace").value_or("");
  respond::ContainerRef ref;
  if (!responder.resolve(*container, runtime, ns, ref, error)) {
    // A container gone since it was isolated can still have its record released.
    std::string why;
    if (action == "release") {
      if (auto rec = responder.recordFor(*container, why)) {
        return print(responder.release(rec->container, flags.has("dry-run")), asJson, action);
      }
    }
    std::cerr << "kube-customs respond " << action << ": " << error << "\n";
    return 1;
  }
  if (action == "evidence") {
    std::string finding;
    if (auto source = flags.get("finding")) {
      if (!readInput(*source, finding, error)) {
        std::cerr << "kube-customs respond evidence: " << error << "\n";
        return 1;
      }
      if (nlohmann::json::parse(finding, nullptr, false).is_discarded()) {
        std::cerr << "kube-customs respond evidence: --finding is not JSON\n";
        return 2;
      }
      while (!finding.empty() && (finding.back() == '\n' || finding.back() == '\r'))
        finding.pop_back();
    }
    const auto o =
        responder.evidence(ref, finding, flags.has("include-env") || cfg.respond.includeEnv);
    if (o.ok && !asJson) std::cout << o.path << "\n";
    return print(o, asJson, action);
  }
  if (action == "isolate") {
    respond::IsolationReason why;
    why.by = "manual";
    why.summary = flags.get("reason").value_or("");
    if (const char* user = std::getenv("SUDO_USER"); user && *user)
      why.by = "manual (" + std::string(user) + ")";
    return print(responder.isolate(ref, why, flags.has("dry-run")), asJson, action);
  }
  return print(responder.release(ref, flags.has("dry-run")), asJson, action);
}

}  // namespace kc::cmd
