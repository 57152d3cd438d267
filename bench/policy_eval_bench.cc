// Compute-only policy evaluation: restricted Pod Security plus an image policy with the full
// default deny list, on a two-container pod (test/testdata/pod_admission_review.json's object),
// on one core. Prints ns per evaluation; the object is parsed once, outside the timed loop.
// With a directory, the *.yaml policies in it are evaluated instead (e.g. policies/defaults,
// the built-in set the webhook serves with; "-" for the ones above). With "deadline", each
// evaluation has a deadline an hour away on the steady clock, as the webhook gives it: the
// engine reads the clock before each policy and between rule groups, and never stops.
//
//   policy_eval_bench [ITERATIONS [POLICY_DIR|- [deadline]]]

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "policies/engine.h"
#include "policies/loader.h"

namespace {

constexpr const char* kPolicies = R"(apiVersion: policy.kube-customs.io/v1alpha1
kind: DeploymentPolicy
metadata:
  name: restricted
spec:
  mode: enforce
  podSecurity:
    level: restricted
    version: latest
---
apiVersion: policy.kube-customs.io/v1alpha1
kind: ImagePolicy
metadata:
  name: images
spec:
  mode: enforce
  allowedImages: ["registry.example.com/**"]
  deniedImages:
    defaults: true
  tags:
    disallowLatest: true
    requireTag: true
)";

}  // namespace

int main(int argc, char** argv) {
  const long iterations = argc > 1 ? std::atol(argv[1]) : 1'000'000;
  std::ifstream in(std::string(KC_SOURCE_DIR) + "/test/testdata/pod_admission_review.json");
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string review = ss.str();
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (parser.parse(review).get(root) != simdjson::SUCCESS) return 1;
  std::vector<kc::policy::PolicyFile> files;
  if (argc > 2 && std::string(argv[2]) != "-") {
    for (const auto& entry : std::filesystem::directory_iterator(argv[2])) {
      if (entry.path().extension() != ".yaml") continue;
      std::ifstream f(entry.path());
      std::stringstream text;
      text << f.rdbuf();
      files.push_back({entry.path().string(), text.str()});
    }
  } else {
    files.push_back({"bench.yaml", kPolicies});
  }
  const auto loaded = kc::policy::loadPolicies(files);
  if (!loaded.ok()) {
    for (const auto& e : loaded.errors) std::fprintf(stderr, "%s\n", e.toString().c_str());
    return 1;
  }
  kc::policy::EvalInput input;
  input.operation = "CREATE";
  input.version = "v1";
  input.kind = "Pod";
  input.namespace_ = "shop";
  input.name = "checkout";
  input.user.username = "system:serviceaccount:kube-system:replicaset-controller";
  input.object = root["request"]["object"];
  input.now = std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
  if (argc > 3 && std::string(argv[3]) == "deadline")
    input.deadline = {std::chrono::steady_clock::now() + std::chrono::hours(1),
                      [] { return std::chrono::steady_clock::now(); }};
  const auto check = loaded.policies->evaluate(input);
  std::printf("verdict: allowed=%s violations=%zu\n", check.allowed ? "true" : "false",
              check.violations.size());
  std::size_t sink = 0;
  const auto start = std::chrono::steady_clock::now();
  for (long i = 0; i < iterations; ++i) sink += loaded.policies->evaluate(input).violations.size();
  const double ns =
      std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start).count();
  std::printf("evaluations: %ld, %.0f ns per evaluation (%zu)\n", iterations, ns / iterations,
              sink);
  return 0;
}
