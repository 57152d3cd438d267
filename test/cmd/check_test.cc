// `kube-customs check`: the offline CLI, run as a real process.

#include <catch2/catch.hpp>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>

#include "test/test_util.h"

namespace {

using kc::testing::TempDir;

constexpr const char* kManifests = R"(apiVersion: apps/v1
kind: Deployment
metadata:
  name: tunnel
  namespace: sandbox
spec:
  selector: {matchLabels: {app: t}}
  template:
    metadata: {labels: {app: t}}
    spec:
      containers:
      - name: ngrok
        image: ngrok/ngrok:latest
---
apiVersion: v1
kind: ConfigMap
metadata: {name: s}
---
apiVersion: v1
kind: Pod
metadata: {name: ok}
spec:
  securityContext: {runAsNonRoot: true, seccompProfile: {type: RuntimeDefault}}
  containers:
  - name: app
    image: registry.example.com/app:1.2.3
    securityContext: {allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}
)";

int check(const std::string& args, std::string& out) {
  return kc::testing::runCommand(kc::testing::kubeCustomsBinary() + " check " + args, out);
}

TEST_CASE("CheckDeniesTunnelDeploymentAndExitsOne", "[check]") {
  TempDir dir;
  kc::testing::writeFile(dir.file("m.yaml"), kManifests);
  std::string out;
  CHECK(check("-f " + dir.file("m.yaml"), out) == 1);
  CHECK(out.find("DENIED  Deployment sandbox/tunnel") != std::string::npos);
  CHECK(out.find("uses denied image \"ngrok/ngrok:latest\"") != std::string::npos);
  CHECK(out.find("ALLOWED Pod default/ok") != std::string::npos);
  CHECK(out.find("2 checked, 1 denied, 1 skipped") != std::string::npos);
}

// A sweep against a wrong or emptied policy directory would call everything allowed.
TEST_CASE("CheckRefusesAPolicyDirectoryWithoutPolicies", "[check]") {
  TempDir dir;
  kc::testing::writeFile(dir.file("m.yaml"), kManifests);
  std::filesystem::create_directory(dir.file("policies"));
  kc::testing::writeFile(dir.file("policies/tools.yaml.bak"), "not a policy file");
  std::string out;
  CHECK(check("-f " + dir.file("m.yaml") + " --policies " + dir.file("policies"), out) == 2);
  CHECK(out.find("no policies in " + dir.file("policies")) != std::string::npos);
  CHECK(out.find("ALLOWED") == std::string::npos);
}

TEST_CASE("CheckJsonGivesOneObjectPerResourceWithRules", "[check]") {
  TempDir dir;
  kc::testing::writeFile(dir.file("m.yaml"), kManifests);
  std::string out;
  CHECK(check("-o json -f " + dir.file("m.yaml") + " 2>/dev/null", out) == 1);
  std::istringstream lines(out);
  std::vector<nlohmann::json> objects;
  for (std::string line; std::getline(lines, line);) objects.push_back(nlohmann::json::parse(line));
  REQUIRE(objects.size() == 2);
  CHECK(objects[0]["kind"] == "Deployment");
  CHECK(objects[0]["name"] == "tunnel");
  CHECK(objects[0]["allowed"] == false);
  bool denied = false;
  for (const auto& v : objects[0]["violations"]) denied |= v["rule"] == "image.denied";
  CHECK(denied);
  CHECK(objects[0]["warnings"].is_array());
  CHECK(objects[1]["allowed"] == true);
  CHECK(objects[1]["violations"].empty());
}

TEST_CASE("CheckJudgesServicesByTheBuiltInExternalIPsPolicy", "[check]") {
  TempDir dir;
  kc::testing::writeFile(dir.file("s.yaml"), R"(apiVersion: v1
kind: Service
metadata: {name: capture, namespace: shop}
spec:
  selector: {app: mitm}
  ports: [{port: 443}]
  externalIPs: [8.8.8.8]
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec:
  type: NodePort
  ports: [{port: 80, nodePort: 30080}]
---
apiVersion: serving.knative.dev/v1
kind: Service
metadata: {name: fn}
)");
  std::string out;
  CHECK(check("-f " + dir.file("s.yaml"), out) == 1);
  CHECK(out.find("DENIED  Service shop/capture") != std::string::npos);
  CHECK(out.find("[service-external-ips] external IP \"8.8.8.8\" is not allowed") !=
        std::string::npos);
  CHECK(out.find("ALLOWED Service shop/web") != std::string::npos);  // NodePort: not by default
  CHECK(out.find("2 checked, 1 denied, 1 skipped") != std::string::npos);  // Knative is not core

  // A policy directory of one's own, which limits types.
  std::filesystem::create_directories(dir.file("p"));
  kc::testing::writeFile(dir.file("p/services.yaml"), R"(apiVersion: policy.kube-customs.io/v1alpha1
kind: DeploymentPolicy
metadata: {name: cluster-ip-only}
spec:
  services: {allowedTypes: [ClusterIP]}
)");
  CHECK(check("-o json --policies " + dir.file("p") + " -f " + dir.file("s.yaml"), out) == 1);
  std::istringstream lines(out);
  std::vector<nlohmann::json> objects;
  for (std::string line; std::getline(lines, line);) objects.push_back(nlohmann::json::parse(line));
  REQUIRE(objects.size() == 2);
  CHECK(objects[0]["allowed"] == true);  // this set has no external IP rule
  CHECK(objects[1]["allowed"] == false);
  REQUIRE(objects[1]["violations"].size() == 1);
  CHECK(objects[1]["violations"][0]["rule"] == "service.typeNotAllowed");
  CHECK(objects[1]["violations"][0]["field"] == "spec.type");
}

// A sweep of what runs: `kubectl get pods,services,... -A -o json` piped in. Node agents in
// kube-system are not reported as workloads of an unknown identity; with --user they are.
TEST_CASE("CheckSweepsAClusterListingWithoutGuessingWhoCreatedWhat", "[check]") {
  TempDir dir;
  kc::testing::writeFile(dir.file("list.json"), R"({"apiVersion":"v1","kind":"List","items":[
 {"apiVersion":"v1","kind":"Pod","metadata":{"name":"kube-proxy-x","namespace":"kube-system"},
  "spec":{"hostNetwork":true,"containers":[{"name":"kube-proxy",
   "image":"registry.k8s.io/kube-proxy:v1.30.1","securityContext":{"privileged":true}}]}},
 {"apiVersion":"v1","kind":"Pod","metadata":{"name":"tunnel-1","namespace":"scratch"},
  "spec":{"containers":[{"name":"ngrok","image":"ngrok/ngrok:3"}]}},
 {"apiVersion":"v1","kind":"Service","metadata":{"name":"dns","namespace":"scratch"},
  "spec":{"externalIPs":["8.8.8.8"],"ports":[{"port":53}]}}]})");
  std::string out;
  CHECK(check("-f - < " + dir.file("list.json"), out) == 1);
  CHECK(out.find("ALLOWED Pod kube-system/kube-proxy-x") != std::string::npos);
  CHECK(out.find("DENIED  Pod scratch/tunnel-1") != std::string::npos);
  CHECK(out.find("DENIED  Service scratch/dns") != std::string::npos);
  CHECK(out.find("3 checked, 2 denied") != std::string::npos);
  CHECK(check("--user alice@example.com -f - < " + dir.file("list.json"), out) == 1);
  CHECK(out.find("DENIED  Pod kube-system/kube-proxy-x") != std::string::npos);
  CHECK(out.find("by \"alice@example.com\", which is not a system identity") != std::string::npos);
  CHECK(out.find("3 checked, 3 denied") != std::string::npos);
}

TEST_CASE("CheckProfileFollowsThePodSecurityVersion", "[check]") {
  TempDir dir;
  // No capabilities drop: restricted requires it from v1.22 on, not before.
  kc::testing::writeFile(dir.file("p.yaml"), R"(apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  securityContext: {runAsNonRoot: true, seccompProfile: {type: RuntimeDefault}}
  containers:
  - name: app
    image: registry.example.com/app:1.2.3
    securityContext: {allowPrivilegeEscalation: false}
)");
  std::string out;
  CHECK(check("--profile restricted:v1.21 -f " + dir.file("p.yaml"), out) == 0);
  CHECK(check("--profile restricted:v1.22 -f " + dir.file("p.yaml"), out) == 1);
  CHECK(out.find("violates PodSecurity \"restricted:v1.22\": unrestricted capabilities") !=
        std::string::npos);
  CHECK(check("--profile baseline -f " + dir.file("p.yaml"), out) == 0);
}

TEST_CASE("CheckReadsStdinAndExpandsLists", "[check]") {
  TempDir dir;
  kc::testing::writeFile(
      dir.file("l.json"),
      R"({"apiVersion":"v1","kind":"List","items":[{"apiVersion":"v1","kind":"Pod",)"
      R"("metadata":{"name":"x"},"spec":{"hostPID":true,"containers":[{"name":"c","image":"nginx:1.25"}]}}]})");
  std::string out;
  CHECK(check("-f - < " + dir.file("l.json"), out) == 1);
  CHECK(out.find("host namespaces (hostPID=true)") != std::string::npos);
}

TEST_CASE("CheckExitsTwoOnInputAndUsageErrors", "[check]") {
  TempDir dir;
  kc::testing::writeFile(dir.file("bad.yaml"), "kind: [\n");
  std::string out;
  CHECK(check("-f " + dir.file("bad.yaml"), out) == 2);
  CHECK(out.find("bad.yaml: line") != std::string::npos);
  CHECK(check("-f " + dir.file("missing.yaml"), out) == 2);
  CHECK(check("", out) == 2);
  CHECK(check("-f x --profile baseline --policies y", out) == 2);
  CHECK(check("--profile superstrict -f " + dir.file("bad.yaml"), out) == 2);
  // An endless input is refused at the read cap, with the reason (not read until memory runs out).
  CHECK(check("-f /dev/zero", out) == 2);
  CHECK(out.find("/dev/zero: File too large") != std::string::npos);
  CHECK(check("-f - < /dev/zero", out) == 2);
  CHECK(out.find("<stdin>: File too large") != std::string::npos);
}

// Verdicts that never reached their reader must not read as "all allowed" (exit 0): a full
// disk, a closed descriptor, a pipe whose reader is gone (SIGPIPE ignored).
TEST_CASE("CheckExitsTwoWhenItsOutputCannotBeWritten", "[check][output]") {
  TempDir dir;
  kc::testing::writeFile(dir.file("pod.yaml"), R"(apiVersion: v1
kind: Pod
metadata: {name: ok}
spec:
  securityContext: {runAsNonRoot: true, seccompProfile: {type: RuntimeDefault}}
  containers:
  - name: app
    image: registry.example.com/app:1.2.3
    securityContext: {allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}
)");
  const std::string bin = kc::testing::kubeCustomsBinary();
  std::string out;
  REQUIRE(check("-f " + dir.file("pod.yaml"), out) == 0);  // allowed when it can be told
  for (const char* format : {"text", "json"}) {
    INFO(format);
    const std::string cmd = bin + " check -o " + format + " -f " + dir.file("pod.yaml");
    // In a subshell, so that runCommand's 2>&1 takes the pipe, not the redirected stdout.
    CHECK(kc::testing::runCommand("(" + cmd + " >/dev/full)", out) == 2);
    CHECK(out == "kube-customs check: cannot write the output: No space left on device\n");
    CHECK(kc::testing::runCommand("(" + cmd + " >&-)", out) == 2);
    CHECK(out == "kube-customs check: cannot write the output: Bad file descriptor\n");
    CHECK(kc::testing::runIntoClosedPipe({bin, "check", "-o", format, "-f", dir.file("pod.yaml")},
                                         out) == 2);
    CHECK(out == "kube-customs check: cannot write the output: Broken pipe\n");
  }
}

TEST_CASE("CheckReportsPolicyErrorsWithFileAndLine", "[check]") {
  TempDir dir;
  std::filesystem::create_directories(dir.file("pol"));
  kc::testing::writeFile(dir.file("pol/t.yaml"),
                         "apiVersion: policy.kube-customs.io/v1alpha1\nkind: ImagePolicy\n"
                         "metadata:\n  name: t\nspec:\n  mode: enforse\n");
  kc::testing::writeFile(dir.file("m.yaml"), kManifests);
  std::string out;
  CHECK(check("--policies " + dir.file("pol") + " -f " + dir.file("m.yaml"), out) == 2);
  CHECK(out.find("t.yaml:6:") != std::string::npos);
  CHECK(out.find("spec.mode") != std::string::npos);
}

}  // namespace

// The opt-in container rules reach `check` through the same engine as the webhook: the
// CVE-2022-0811 sysctl and a container that keeps its capabilities are judged as the suites
// (test/policies/suites/sysctls, capabilities) say.
TEST_CASE("CheckJudgesTheOptInContainerRulesAsTheWebhook", "[check]") {
  TempDir dir;
  std::filesystem::create_directories(dir.file("p"));
  kc::testing::writeFile(dir.file("p/hardened.yaml"), R"(apiVersion: policy.kube-customs.io/v1alpha1
kind: DeploymentPolicy
metadata: {name: hardened}
spec:
  capabilities: {requiredDrop: [ALL]}
  sysctls: {allowed: [kernel.shm_rmid_forced]}
)");
  kc::testing::writeFile(dir.file("m.yaml"), R"(apiVersion: v1
kind: Pod
metadata: {name: sysctl-set, namespace: shop}
spec:
  securityContext:
    sysctls: [{name: kernel.shm_rmid_forced, value: "1+kernel.core_pattern=|/tmp/x.sh #"}]
  containers:
  - {name: a, image: alpine:3.19, securityContext: {capabilities: {drop: [ALL]}}}
---
apiVersion: v1
kind: Pod
metadata: {name: keeps-caps, namespace: shop}
spec:
  containers:
  - {name: a, image: alpine:3.19, securityContext: {capabilities: {drop: [NET_RAW]}}}
---
apiVersion: v1
kind: Pod
metadata: {name: ok, namespace: shop}
spec:
  securityContext:
    sysctls: [{name: kernel.shm_rmid_forced, value: "1"}]
  containers:
  - {name: a, image: alpine:3.19, securityContext: {capabilities: {drop: [ALL]}}}
)");
  std::string out;
  CHECK(check("-o json --policies " + dir.file("p") + " -f " + dir.file("m.yaml"), out) == 1);
  std::istringstream lines(out);
  std::vector<nlohmann::json> objects;
  for (std::string line; std::getline(lines, line);) objects.push_back(nlohmann::json::parse(line));
  REQUIRE(objects.size() == 3);
  CHECK(objects[0]["allowed"] == false);
  REQUIRE(objects[0]["violations"].size() == 1);
  CHECK(objects[0]["violations"][0]["rule"] == "sysctl.invalidValue");
  CHECK(objects[0]["violations"][0]["field"] == "spec.securityContext.sysctls[0].value");
  CHECK(objects[1]["allowed"] == false);
  REQUIRE(objects[1]["violations"].size() == 1);
  CHECK(objects[1]["violations"][0]["rule"] == "capabilities.dropRequired");
  CHECK(objects[1]["violations"][0]["field"] ==
        "spec.containers[0].securityContext.capabilities.drop");
  CHECK(objects[2]["allowed"] == true);
}
