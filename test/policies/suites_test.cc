// The built-in policies as data (test/policies/suites/<policy>/): for each policy, Kubernetes
// objects it must allow (allowed/) and deny or warn about (disallowed/), and a suite.yaml that
// states, per object, how many violations of that policy to expect, their rules and mode, a
// fragment of the message, and the whole verdict. Every built-in policy has a suite, and every
// sample is used. The objects are judged as the webhook judges a CREATE of them.
//
// A suite folder that holds a policy.yaml judges that policy alone instead of the built-in ones:
// the opt-in rules, which no built-in policy turns on, have suites of their own that way.

#include <algorithm>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "policies/engine.h"
#include "policies/loader.h"
#include "policies/yaml_json.h"

namespace kc::policy {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string readText(const fs::path& p) {
  std::ifstream in(p);
  REQUIRE(in.good());
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// One YAML document as JSON text.
std::string yamlToJson(const fs::path& p) {
  std::vector<std::string> docs;
  YamlError err;
  INFO(p.string());
  REQUIRE(yamlToJsonStrings(readText(p), docs, err));
  REQUIRE(docs.size() == 1);
  return docs[0];
}

std::shared_ptr<const PolicySet> builtIn() {
  std::vector<PolicyFile> files;
  for (const auto& e : fs::directory_iterator(fs::path(KC_SOURCE_DIR) / "policies/defaults")) {
    if (e.path().extension() == ".yaml") files.push_back({e.path().string(), readText(e.path())});
  }
  const LoadResult r = loadPolicies(files);
  REQUIRE(r.ok());
  return r.policies;
}

std::vector<std::string> stringOrList(const json& v) {
  if (v.is_null()) return {};
  if (v.is_string()) return {v.get<std::string>()};
  return v.get<std::vector<std::string>>();
}

TEST_CASE("BuiltInPolicySuitesGiveTheStatedVerdicts", "[policies][suites]") {
  const auto builtInSet = builtIn();
  const fs::path root = fs::path(KC_SOURCE_DIR) / "test/policies/suites";
  std::set<std::string> suites;
  size_t cases = 0;
  for (const auto& dir : fs::directory_iterator(root)) {
    if (!dir.is_directory()) continue;
    const std::string name = dir.path().filename().string();
    INFO("suite " << name);
    const json suite = json::parse(yamlToJson(dir.path() / "suite.yaml"));
    REQUIRE(suite.value("policy", "") == name);
    std::shared_ptr<const PolicySet> set = builtInSet;
    if (const fs::path own = dir.path() / "policy.yaml"; fs::exists(own)) {
      const LoadResult r = loadPolicies({{own.string(), readText(own)}});
      INFO((r.errors.empty() ? std::string() : r.errors[0].toString()));
      REQUIRE(r.ok());
      REQUIRE(r.policies->policies().size() == 1);
      REQUIRE(r.policies->policies()[0].name == name);
      set = r.policies;
    } else {
      suites.insert(name);
    }

    std::set<std::string> used;
    for (const json& c : suite.at("cases")) {
      const std::string file = c.at("file");
      INFO("case " << file << " as " << c.value("user", "(no user)"));
      used.insert(file);
      const size_t want = c.at("violations");
      // Samples under allowed/ draw no violation of the policy; those under disallowed/ do.
      CHECK((file.rfind("allowed/", 0) == 0) == (want == 0));

      const std::string text = yamlToJson(dir.path() / file);
      simdjson::dom::parser parser;
      simdjson::dom::element obj;
      REQUIRE(parser.parse(text).get(obj) == simdjson::SUCCESS);
      const json object = json::parse(text);
      const std::string apiVersion = object.value("apiVersion", "");
      const size_t slash = apiVersion.find('/');
      const std::string group = slash == std::string::npos ? "" : apiVersion.substr(0, slash);
      const std::string version =
          slash == std::string::npos ? apiVersion : apiVersion.substr(slash + 1);
      const std::string kind = object.value("kind", "");
      const std::string ns = object["metadata"].value("namespace", "default");
      const std::string objectName = object["metadata"].value("name", "");
      const std::string user = c.value("user", "");
      const std::vector<std::string> groups = stringOrList(c.value("groups", json()));

      EvalInput in;
      in.operation = "CREATE";
      in.group = group;
      in.version = version;
      in.kind = kind;
      in.namespace_ = ns;
      in.name = objectName;
      in.user.username = user;
      for (const auto& g : groups) in.user.groups.push_back(g);
      in.object = obj;
      in.now = std::chrono::sys_days{std::chrono::year{2026} / 6 / 1};
      const Verdict v = set->evaluate(in);

      std::vector<const Violation*> mine;
      for (const auto& x : v.violations) {
        if (x.policy == name) mine.push_back(&x);
      }
      std::string seen;
      for (const auto* x : mine)
        seen += x->rule + " (" + std::string(modeName(x->mode)) + "): " + x->message + "\n";
      INFO("violations of " << name << ":\n" << seen);
      CHECK(mine.size() == want);
      const std::vector<std::string> rules = stringOrList(c.value("rule", json()));
      for (const auto& r : rules) {
        CHECK(std::any_of(mine.begin(), mine.end(),
                          [&](const Violation* x) { return x->rule == r; }));
      }
      if (!rules.empty()) {
        for (const auto* x : mine)
          CHECK(std::find(rules.begin(), rules.end(), x->rule) != rules.end());
      }
      if (c.contains("mode")) {
        for (const auto* x : mine) CHECK(modeName(x->mode) == c.at("mode").get<std::string>());
      }
      if (c.contains("message")) {
        const std::string fragment = c.at("message");
        CHECK(std::any_of(mine.begin(), mine.end(), [&](const Violation* x) {
          return x->message.find(fragment) != std::string::npos;
        }));
      }
      if (c.contains("allowed")) CHECK(v.allowed == c.at("allowed").get<bool>());
      ++cases;
    }
    // Every sample is a case.
    for (const char* sub : {"allowed", "disallowed"}) {
      REQUIRE(fs::is_directory(dir.path() / sub));
      for (const auto& f : fs::directory_iterator(dir.path() / sub)) {
        const std::string rel = std::string(sub) + "/" + f.path().filename().string();
        INFO(rel);
        CHECK(used.count(rel) == 1);
      }
    }
  }
  // Every built-in policy has a suite, and every suite is a built-in policy.
  std::set<std::string> policies;
  for (const auto& p : builtInSet->policies()) policies.insert(p.name);
  CHECK(suites == policies);
  CHECK(cases >= 20);
}

}  // namespace
}  // namespace kc::policy
