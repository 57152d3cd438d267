// `kube-customs check`: evaluates manifests offline against policies, as the admission webhook
// would, for CI pipelines. Exit 0 when every resource is allowed, 1 when any is denied, 2 on
// usage, input or output errors.

#include <filesystem>
#include <iostream>

#include "cmd/commands.h"
#include "cmd/flags.h"
#include "cmd/output.h"
#include "common/files.h"
#include "policies/loader.h"
#include "policies/pod_spec.h"
#include "policies/store/policy_store.h"
#include "policies/yaml_json.h"

namespace kc::cmd {
namespace {

constexpr const char* kUsage =
    "usage: kube-customs check -f FILE|DIR|- [-f ...] [--policies DIR | --profile "
    "LEVEL[:VERSION]]\n"
    "                          [-o text|json] [--namespace NS] [--user NAME] [--group G]...\n"
    "                          [--workloads pods|admission]\n"
    "Evaluates every resource of the manifests (multi-document YAML or JSON; kind List is\n"
    "expanded) against the policies in DIR, or a built-in Pod Security profile\n"
    "(baseline|restricted, version v1.0..v1.37 or latest), or the built-in default policies.\n"
    "--workloads pods (default) judges a workload by the pods it would create; admission\n"
    "answers exactly what the webhook answers for the workload object itself.\n"
    "Exit code: 0 all allowed, 1 any denied, 2 usage, input or output error.\n";

struct Resource {
  std::string source;  // file:line
  nlohmann::ordered_json object;
};

bool collect(const std::string& path, std::vector<Resource>& out, std::string& error) {
  namespace fs = std::filesystem;
  std::vector<std::string> files;
  std::error_code ec;
  if (path != "-" && fs::is_directory(path, ec)) {
    for (const auto& e : fs::recursive_directory_iterator(path, ec)) {
      const auto ext = e.path().extension().string();
      if (e.is_regular_file() && (ext == ".yaml" || ext == ".yml" || ext == ".json"))
        files.push_back(e.path().string());
    }
    std::sort(files.begin(), files.end());
  } else {
    files.push_back(path);
  }
  for (const auto& f : files) {
    std::string text;
    const std::string name = f == "-" ? "<stdin>" : f;
    // Standard input too, under the same cap as a file.
    if (!files::readFile(f == "-" ? "/dev/stdin" : f, text)) {
      error = "cannot read " + files::readError(name);
      return false;
    }
    auto parsed = policy::parseYaml(text);
    if (!parsed.ok()) {
      error = name + ": " + parsed.errors.front().toString();
      return false;
    }
    for (auto& doc : parsed.documents) {
      const std::string where = name + ":" + std::to_string(doc.line);
      if (!doc.value.is_object()) {
        error = where + ": a manifest must be a mapping";
        return false;
      }
      if (doc.value.value("kind", "") == "List" && doc.value.contains("items") &&
          doc.value["items"].is_array()) {
        for (auto& item : doc.value["items"]) out.push_back({where, item});
      } else {
        out.push_back({where, std::move(doc.value)});
      }
    }
  }
  return true;
}

// The pod a workload would create, as a Pod object; the workload itself when it is a Pod.
nlohmann::ordered_json asPod(const nlohmann::ordered_json& obj, const std::string& ns) {
  const std::string kind = obj.value("kind", "");
  const nlohmann::ordered_json* tmpl = nullptr;
  auto at = [](const nlohmann::ordered_json& o, std::initializer_list<const char*> path) {
    const nlohmann::ordered_json* cur = &o;
    for (const char* k : path) {
      if (!cur->is_object() || !cur->contains(k))
        return static_cast<const nlohmann::ordered_json*>(nullptr);
      cur = &(*cur)[k];
    }
    return cur;
  };
  if (kind == "CronJob")
    tmpl = at(obj, {"spec", "jobTemplate", "spec", "template"});
  else if (kind == "PodTemplate")
    tmpl = at(obj, {"template"});
  else if (kind != "Pod")
    tmpl = at(obj, {"spec", "template"});
  if (tmpl == nullptr) return obj;
  nlohmann::ordered_json pod = {{"apiVersion", "v1"}, {"kind", "Pod"}};
  pod["metadata"] =
      tmpl->contains("metadata") ? (*tmpl)["metadata"] : nlohmann::ordered_json::object();
  if (pod["metadata"].is_object()) {
    if (!pod["metadata"].contains("name"))
      pod["metadata"]["name"] = obj.contains("metadata") && obj["metadata"].is_object()
                                    ? obj["metadata"].value("name", "")
                                    : "";
    pod["metadata"]["namespace"] = ns;
  }
  pod["spec"] = tmpl->contains("spec") ? (*tmpl)["spec"] : nullptr;
  return pod;
}

std::string profilePolicy(const std::string& profile, std::string& error) {
  std::string level = profile, version = "latest";
  if (auto colon = profile.find(':'); colon != std::string::npos) {
    level = profile.substr(0, colon);
    version = profile.substr(colon + 1);
  }
  if (level != "baseline" && level != "restricted" && level != "privileged") {
    error = "--profile must be baseline, restricted or privileged, optionally with :VERSION";
    return "";
  }
  return "apiVersion: policy.kube-customs.io/v1alpha1\nkind: DeploymentPolicy\nmetadata:\n"
         "  name: pod-security-" +
         level +
         "\nspec:\n  mode: enforce\n  enforceTemplates: true\n"
         "  podSecurity:\n    level: " +
         level + "\n    version: \"" + version + "\"\n";
}

}  // namespace

int runCheck(const std::vector<std::string>& args) {
  Flags flags({"f", "filename", "policies", "profile", "o", "output", "namespace", "user", "group",
               "workloads"},
              {"help"});
  std::string error;
  if (!flags.parse(args, error)) {
    std::cerr << "kube-customs check: " << error << "\n" << kUsage;
    return 2;
  }
  if (flags.has("help")) {
    std::cout << kUsage;
    return 0;
  }
  auto inputs = flags.getAll("f");
  for (auto& f : flags.getAll("filename")) inputs.push_back(f);
  for (auto& p : flags.positional()) inputs.push_back(p);
  const std::string output = flags.get("o").value_or(flags.get("output").value_or("text"));
  const std::string workloads = flags.get("workloads").value_or("pods");
  if (inputs.empty() || (output != "text" && output != "json") ||
      (workloads != "pods" && workloads != "admission") ||
      (flags.has("policies") && flags.has("profile"))) {
    std::cerr << "kube-customs check: need -f, -o text|json, --workloads pods|admission, and at "
                 "most one of --policies and --profile\n"
              << kUsage;
    return 2;
  }

  std::vector<policy::PolicyFile> policyFiles;
  if (auto dir = flags.get("policies")) {
    if (!policy::readPolicyDir(*dir, policyFiles, error)) {
      std::cerr << "kube-customs check: " << error << "\n";
      return 2;
    }
  } else if (auto profile = flags.get("profile")) {
    std::string text = profilePolicy(*profile, error);
    if (text.empty()) {
      std::cerr << "kube-customs check: " << error << "\n";
      return 2;
    }
    policyFiles.push_back({"--profile " + *profile, text});
  } else {
    policyFiles = policy::embeddedDefaultPolicies();
  }
  const policy::LoadResult loaded = policy::loadPolicies(policyFiles);
  for (const auto& w : loaded.warnings) std::cerr << "warning: " << w.toString() << "\n";
  if (!loaded.ok()) {
    for (const auto& e : loaded.errors) std::cerr << "kube-customs check: " << e.toString() << "\n";
    return 2;
  }
  // Judging against nothing would call everything allowed: a sweep with a wrong path or an
  // emptied directory must not pass.
  if (loaded.policies->policies().empty()) {
    std::cerr << "kube-customs check: no policies in "
              << flags.get("policies").value_or("the given policies")
              << " (*.yaml or *.yml files with kube-customs policy documents): nothing to judge "
                 "against\n";
    return 2;
  }

  std::vector<Resource> resources;
  for (const auto& in : inputs) {
    if (!collect(in, resources, error)) {
      std::cerr << "kube-customs check: " << error << "\n";
      return 2;
    }
  }

  const std::string defaultNs = flags.get("namespace").value_or("default");
  // No identity unless one is given: rules that judge the requester (namespace.system) then
  // stay silent, as nobody knows who created what a manifest or a cluster listing holds.
  const std::string user = flags.get("user").value_or("");
  const std::vector<std::string> groups = flags.getAll("group");
  const auto now = std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
  simdjson::dom::parser parser;
  int denied = 0, checked = 0, skipped = 0;
  for (const auto& r : resources) {
    const std::string kind = r.object.value("kind", "");
    // A core Service is judged as it is (DeploymentPolicy spec.services).
    const bool service = kind == "Service" && r.object.value("apiVersion", "") == "v1";
    if (!policy::isPodCarryingKind(kind) && !service) {
      ++skipped;
      continue;
    }
    ++checked;
    const auto& meta = r.object.contains("metadata") && r.object["metadata"].is_object()
                           ? r.object["metadata"]
                           : nlohmann::ordered_json::object();
    const std::string name = meta.value("name", "");
    const std::string ns = meta.contains("namespace") && meta["namespace"].is_string()
                               ? meta["namespace"].get<std::string>()
                               : defaultNs;
    const nlohmann::ordered_json judged =
        workloads == "pods" && !service ? asPod(r.object, ns) : r.object;
    const std::string json = judged.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    simdjson::dom::element el;
    if (parser.parse(json).get(el) != simdjson::SUCCESS) {
      std::cerr << "kube-customs check: " << r.source << ": cannot re-read the object\n";
      return 2;
    }
    const std::string apiVersion = judged.value("apiVersion", "");
    const auto slash = apiVersion.find('/');
    policy::EvalInput in;
    in.operation = "CREATE";
    std::string group = slash == std::string::npos ? "" : apiVersion.substr(0, slash);
    std::string version = slash == std::string::npos ? apiVersion : apiVersion.substr(slash + 1);
    const std::string judgedKind = judged.value("kind", "");
    in.group = group;
    in.version = version;
    in.kind = judgedKind;
    in.namespace_ = ns;
    in.name = name;
    in.user.username = user;
    for (const auto& g : groups) in.user.groups.push_back(g);
    in.object = el;
    in.now = now;
    const policy::Verdict v = loaded.policies->evaluate(in);
    if (!v.allowed) ++denied;
    if (output == "json") {
      nlohmann::ordered_json o;
      o["kind"] = kind;
      o["name"] = name;
      o["namespace"] = ns;
      o["source"] = r.source;
      o["allowed"] = v.allowed;
      if (!v.allowed) o["message"] = v.message;
      o["warnings"] = v.warnings;
      o["violations"] = nlohmann::ordered_json::array();
      for (const auto& x : v.violations) {
        o["violations"].push_back({{"policy", x.policy},
                                   {"rule", x.rule},
                                   {"mode", std::string(policy::modeName(x.mode))},
                                   {"container", x.container},
                                   {"field", x.field},
                                   {"message", x.message}});
      }
      std::cout << o.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    } else {
      std::cout << (v.allowed ? "ALLOWED " : "DENIED  ") << kind << " " << ns << "/" << name
                << "  (" << r.source << ")\n";
      if (!v.allowed) std::cout << "  deny: " << v.message << "\n";
      for (const auto& w : v.warnings) std::cout << "  warning: " << w << "\n";
    }
    noteStdoutWrite();
  }
  if (output == "text") {
    std::cout << checked << " checked, " << denied << " denied";
    if (skipped > 0) std::cout << ", " << skipped << " skipped (neither a pod spec nor a Service)";
    std::cout << "\n";
  }
  // Verdicts that never reached the reader are no verdicts: not "all allowed", not "denied".
  if (!stdoutWritten("check")) return 2;
  return denied > 0 ? 1 : 0;
}

}  // namespace kc::cmd
