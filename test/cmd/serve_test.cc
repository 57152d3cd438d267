// End-to-end tests of the kube-customs executable: real process, real TLS, real metrics scrape.

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "test/test_util.h"

namespace {

using kc::testing::Process;
using kc::testing::TempDir;
using namespace std::chrono_literals;

struct Running {
  TempDir ownDir;
  const TempDir& dir;
  std::unique_ptr<Process> proc;
  std::uint16_t httpsPort = 0;
  std::uint16_t metricsPort = 0;

  explicit Running(std::vector<std::string> extra = {}) : Running(nullptr, std::move(extra)) {}
  // Runs in `shared` (to restart on the same state) or in a fresh directory.
  // `wrapper`: a command the server runs under (e.g. prlimit with its options).
  Running(const TempDir* shared, std::vector<std::string> extra,
          const std::string& logName = "stdout", std::vector<std::string> wrapper = {})
      : dir(shared ? *shared : ownDir) {
    std::vector<std::string> argv = wrapper;
    for (const std::string& a :
         {kc::testing::kubeCustomsBinary(), std::string("serve"), std::string("--state-dir"),
          dir.path() + "/state", std::string("--listen"), std::string("127.0.0.1:0"),
          std::string("--metrics-listen"), std::string("127.0.0.1:0"), std::string("--threads"),
          std::string("2")})
      argv.push_back(a);
    argv.insert(argv.end(), extra.begin(), extra.end());
    proc = std::make_unique<Process>(argv, dir.file(logName), dir.file("stderr"));
    const std::string line = Process::waitForLine(dir.file(logName), "\"listening\"", 20s);
    INFO("stderr: " << kc::testing::readFile(dir.file("stderr")));
    REQUIRE_FALSE(line.empty());
    const auto j = nlohmann::json::parse(line);
    httpsPort = j["https_port"];
    metricsPort = j["metrics_port"];
  }
  std::string ca() const { return dir.path() + "/state/tls/ca.crt"; }
};

// The path of `tool`, or "" when it is not installed: a warning (the test skips), or a failure
// under KC_REQUIRE_TOOLS=1 (the full test command installs it).
std::string toolPath(const std::string& tool, const std::string& package) {
  std::string out;
  if (kc::testing::runCommand("command -v " + tool, out) != 0) {
    const char* required = std::getenv("KC_REQUIRE_TOOLS");
    if (required != nullptr && std::string(required) == "1")
      FAIL(tool << " not installed (Debian package " << package << ") (KC_REQUIRE_TOOLS=1)");
    WARN(tool << " not installed (Debian package " << package << "): skipping");
    return "";
  }
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

TEST_CASE("ServeAnswersARealPodAdmissionReviewWithTheSameUid", "[serve]") {
  Running r;
  kc::testing::TlsClient c(r.ca(), r.httpsPort);
  CHECK(c.request("GET", "/healthz").status == 200);
  CHECK(c.request("GET", "/readyz").status == 200);
  const auto res = c.request("POST", "/validate",
                             kc::testing::readFile(std::string(KC_SOURCE_DIR) +
                                                   "/test/testdata/pod_admission_review.json"));
  REQUIRE(res.status == 200);
  const auto j = nlohmann::json::parse(res.body);
  CHECK(j["apiVersion"] == "admission.k8s.io/v1");
  CHECK(j["kind"] == "AdmissionReview");
  CHECK(j["response"]["uid"] == "705ab4f5-6393-11e8-b7cc-42010a800002");
  CHECK(j["response"]["allowed"].is_boolean());
}

TEST_CASE("ServeCountsBadRequestsAndKeepsServing", "[serve]") {
  Running r;
  kc::testing::TlsClient c(r.ca(), r.httpsPort);
  CHECK(c.request("POST", "/validate", "not json").status == 400);
  CHECK(c.request("POST", "/validate", "{}", "text/plain").status == 415);
  // Over the 24 MiB cap (a padded pod's review under it is judged: see the next test).
  CHECK(c.request("POST", "/validate", std::string(25 * 1024 * 1024, ' ')).status == 413);
  CHECK(c.request("GET", "/healthz").status == 200);
  const auto m = kc::testing::httpGet(r.metricsPort, "/metrics");
  REQUIRE(m.status == 200);
  CHECK(m.body.find("kube_customs_http_bad_requests_total{reason=\"invalid_json\"} 1") !=
        std::string::npos);
  CHECK(m.body.find("kube_customs_http_bad_requests_total{reason=\"unsupported_media_type\"} 1") !=
        std::string::npos);
  CHECK(m.body.find("kube_customs_http_bad_requests_total{reason=\"body_too_large\"} 1") !=
        std::string::npos);
}

// A pod padded with an environment value of 1.5 MiB of '<', which the API server's JSON encoder
// writes as \u003c: a 9 MiB review, judged (denied for its image), not refused as too large
// (with failurePolicy Ignore a refusal admits it).
TEST_CASE("ServeJudgesTheReviewOfAPaddedPod", "[serve]") {
  Running r;
  auto review = nlohmann::json::parse(kc::testing::readFile(
      std::string(KC_SOURCE_DIR) + "/test/testdata/pod_admission_review.json"));
  auto& container = review["request"]["object"]["spec"]["containers"][0];
  container["image"] = "kalilinux/kali-rolling:latest";
  container["env"] = nlohmann::json::array({{{"name", "PAD"}, {"value", "@PAD@"}}});
  std::string body = review.dump();
  std::string pad;
  pad.reserve(9u << 20);
  for (int i = 0; i < (3 << 19); ++i) pad += "\\u003c";
  body.replace(body.find("@PAD@"), 5, pad);
  REQUIRE(body.size() > (9u << 20));
  kc::testing::TlsClient c(r.ca(), r.httpsPort);
  const auto res = c.request("POST", "/validate", body);
  REQUIRE(res.status == 200);
  const auto j = nlohmann::json::parse(res.body);
  CHECK(j["response"]["allowed"] == false);
  CHECK(j["response"]["status"]["message"].get<std::string>().find("kalilinux/kali-rolling") !=
        std::string::npos);
}

TEST_CASE("LiveMetricsPassPromtoolCheck", "[serve][promtool]") {
  if (toolPath("promtool", "prometheus").empty()) return;
  std::string out;
  Running r;
  kc::testing::TlsClient c(r.ca(), r.httpsPort);
  REQUIRE(c.request("POST", "/validate",
                    kc::testing::readFile(std::string(KC_SOURCE_DIR) +
                                          "/test/testdata/pod_admission_review.json"))
              .status == 200);
  // An answer's share of the in-flight budget is released when its write completes, which the
  // client can see a moment after reading it: the gauge is back to 0 within a bounded wait.
  auto m = kc::testing::httpGet(r.metricsPort, "/metrics");
  for (int i = 0; i < 100 && m.status == 200 &&
                  m.body.find("kube_customs_http_body_bytes_in_flight 0") == std::string::npos;
       ++i) {
    std::this_thread::sleep_for(20ms);
    m = kc::testing::httpGet(r.metricsPort, "/metrics");
  }
  REQUIRE(m.status == 200);
  for (const char* name :
       {"kube_customs_build_info{version=",
        "kube_customs_admission_requests_total{outcome=\"allowed\"} 1",
        "kube_customs_admission_request_duration_seconds_bucket{le=\"0.0001\"}",
        "kube_customs_tls_reloads_total", "kube_customs_tls_certificate_expiry_timestamp_seconds",
        "kube_customs_http_body_bytes_in_flight 0"}) {
    INFO(name);
    CHECK(m.body.find(name) != std::string::npos);
  }
  kc::testing::writeFile(r.dir.file("metrics.txt"), m.body);
  const int rc =
      kc::testing::runCommand("promtool check metrics < " + r.dir.file("metrics.txt"), out);
  INFO(out);
  CHECK(rc == 0);
}

TEST_CASE("SigtermStopsGracefullyWithExitZero", "[serve]") {
  Running r;
  kc::testing::TlsClient c(r.ca(), r.httpsPort);
  REQUIRE(c.request("GET", "/healthz").status == 200);  // leaves an idle kept-alive connection
  r.proc->signal(SIGTERM);
  CHECK(r.proc->wait(15s) == 0);
  const std::string log = kc::testing::readFile(r.dir.file("stdout"));
  CHECK(log.find("\"event_type\":\"shutdown\"") != std::string::npos);
  CHECK(log.find("\"clean\":true") != std::string::npos);
}

TEST_CASE("ServeRejectsConfigWithUnknownKeyNamingFileAndLine", "[serve]") {
  TempDir dir;
  kc::testing::writeFile(dir.file("c.yaml"), "server:\n  listen: ':0'\n  listn: ':1'\n");
  Process p({kc::testing::kubeCustomsBinary(), "serve", "--config", dir.file("c.yaml")},
            dir.file("out"), dir.file("err"));
  CHECK(p.wait(10s) == 2);
  CHECK(kc::testing::readFile(dir.file("err"))
            .find(dir.file("c.yaml") + ":3: server.listn: unknown key") != std::string::npos);
}

TEST_CASE("ServeRejectsUnknownFlag", "[serve]") {
  TempDir dir;
  Process p({kc::testing::kubeCustomsBinary(), "serve", "--lisen", ":1"}, dir.file("out"),
            dir.file("err"));
  CHECK(p.wait(10s) == 2);
  CHECK(kc::testing::readFile(dir.file("err")).find("unknown flag --lisen") != std::string::npos);
}

TEST_CASE("CertGeneratePrintsTheBase64CaBundleOfTheWrittenCa", "[cert]") {
  TempDir dir;
  std::string out;
  const int rc = kc::testing::runCommand(
      kc::testing::kubeCustomsBinary() + " cert generate --service kc --namespace sec --out-dir " +
          dir.path() + " 2>/dev/null | cat",
      out);
  REQUIRE(rc == 0);
  std::string decoded;
  kc::testing::writeFile(dir.file("bundle.b64"), out);
  REQUIRE(kc::testing::runCommand("base64 -d " + dir.file("bundle.b64"), decoded) == 0);
  CHECK(decoded == kc::testing::readFile(dir.file("ca.crt")));
  std::string text;
  REQUIRE(kc::testing::runCommand(
              "openssl x509 -noout -ext subjectAltName -in " + dir.file("tls.crt"), text) == 0);
  CHECK(text.find("DNS:kc.sec.svc") != std::string::npos);
}

int countLines(const std::string& file, const std::string& needle) {
  std::ifstream in(file);
  int n = 0;
  for (std::string line; std::getline(in, line);) n += line.find(needle) != std::string::npos;
  return n;
}

bool waitUntil(const std::function<bool()>& done, std::chrono::milliseconds timeout = 30s) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done() && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(20ms);
  return done();
}

double metricValue(std::uint16_t port, const std::string& series) {
  const auto m = kc::testing::httpGet(port, "/metrics");
  const auto at = m.body.find("\n" + series + " ");  // a sample line, not its # HELP
  if (at == std::string::npos) return -1;
  return std::stod(m.body.substr(at + series.size() + 2));
}

TEST_CASE("AuditRoleReportsTheEmulatedAttackFromTheLogOnceAcrossKill9", "[serve][audit]") {
  TempDir dir;
  const std::string attack =
      kc::testing::readFile(std::string(KC_SOURCE_DIR) + "/test/testdata/audit_attack.jsonl");
  kc::testing::writeFile(dir.file("audit.log"), "");
  // The detector's memory is saved every 0.2 s while events arrive (30 s by default).
  kc::testing::writeFile(dir.file("c.yaml"), "audit:\n  stateSaveIntervalSeconds: 0.2\n");
  const std::vector<std::string> args = {"--audit-log-path", dir.file("audit.log"), "--config",
                                         dir.file("c.yaml")};
  {
    Running first(&dir, args, "run1.log");
    std::ofstream(dir.file("audit.log"), std::ios::app) << attack;
    REQUIRE(waitUntil([&] { return countLines(dir.file("run1.log"), "\"audit_finding\"") >= 10; }));
    for (const char* rule : {"\"rule\":\"policy-violation\"", "\"rule\":\"sensitive-host-path\"",
                             "\"rule\":\"pod-exec\"", "\"rule\":\"workload-image-changed\"",
                             "\"rule\":\"webhook-config-changed\""}) {
      INFO(rule);
      CHECK(countLines(dir.file("run1.log"), rule) >= 1);
    }
    CHECK(metricValue(first.metricsPort,
                      "kube_customs_audit_findings_total{rule=\"pod-exec\",severity=\"high\"}") ==
          1);
    CHECK(metricValue(first.metricsPort,
                      "kube_customs_audit_events_received_total{source=\"log\"}") == 7);
    // Let the position and the memory reach disk, then die without any chance to clean up.
    REQUIRE(waitUntil(
        [&] { return std::filesystem::exists(dir.path() + "/state/audit-checkpoint.json"); }));
    REQUIRE(waitUntil([&] {
      const std::string memory = dir.path() + "/state/audit-memory.jsonl";
      return std::filesystem::exists(memory) &&
             kc::testing::readFile(memory).find("node-agent") != std::string::npos;
    }));
    std::this_thread::sleep_for(1500ms);
    first.proc->signal(SIGKILL);
    first.proc->wait(10s);
  }
  Running second(&dir, args, "run2.log");
  // Three more events after the restart: a list, the end of the exec session run 1 reported on
  // its start, and a pod the daemon-set controller creates for the attacker's privileged
  // DaemonSet of run 1. All are read; nothing before them is reported again, nor the session
  // (run 1 saved it as reported); the pod is charged to the attacker, from the memory run 1
  // saved, and is not reported again for what its DaemonSet was reported for (its privileged
  // container).
  std::string execEnd;
  {
    std::istringstream lines(attack);
    for (std::string line; std::getline(lines, line);) {
      if (line.find("\"stage\":\"ResponseStarted\"") == std::string::npos) continue;
      execEnd = line;
      execEnd.replace(execEnd.find("ResponseStarted"), 15, "ResponseComplete");
    }
  }
  REQUIRE(!execEnd.empty());
  std::ofstream(dir.file("audit.log"), std::ios::app) << execEnd << "\n";
  std::ofstream(dir.file("audit.log"), std::ios::app)
      << R"({"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"b0000001-0000-4000-8000-000000000001","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/shop/pods","verb":"list","user":{"username":"alice"},"objectRef":{"resource":"pods","namespace":"shop","apiVersion":"v1"},"responseStatus":{"code":200},"requestReceivedTimestamp":"2026-11-30T11:00:00.000000Z","stageTimestamp":"2026-11-30T11:00:00.100000Z"})"
      << "\n"
      << kc::testing::readFile(std::string(KC_SOURCE_DIR) +
                               "/test/testdata/audit_daemonset_pod.jsonl");
  CHECK(waitUntil([&] {
    return metricValue(second.metricsPort,
                       "kube_customs_audit_events_received_total{source=\"log\"}") == 3;
  }));
  CHECK(waitUntil([&] { return countLines(dir.file("run2.log"), "\"audit_finding\"") >= 2; }));
  std::this_thread::sleep_for(500ms);
  std::istringstream run2(kc::testing::readFile(dir.file("run2.log")));
  int findings = 0;
  for (std::string line; std::getline(run2, line);) {
    if (line.find("\"audit_finding\"") == std::string::npos) continue;
    ++findings;
    const auto j = nlohmann::json::parse(line);
    INFO(line);
    CHECK(j["auditID"] == "b0000002-0000-4000-8000-000000000002");
    CHECK(j["user"] == "mallory@example.com");
    CHECK(j["rule"] != "privileged-container");
  }
  CHECK(findings == 2);  // node-debug-pod and policy-violation, as in one uninterrupted run
}

TEST_CASE("ASessionReportedJustBeforeAKill9IsNotReportedAgainWhenItEnds", "[serve][audit]") {
  // No periodic save happens in this test (an hour apart): the session reported on its
  // ResponseStarted is known after the restart only if it was recorded as it was reported.
  TempDir dir;
  kc::testing::writeFile(dir.file("audit.log"), "");
  kc::testing::writeFile(dir.file("c.yaml"), "audit:\n  stateSaveIntervalSeconds: 3600\n");
  const std::vector<std::string> args = {"--audit-log-path", dir.file("audit.log"), "--config",
                                         dir.file("c.yaml")};
  std::string execStart;
  {
    std::istringstream lines(
        kc::testing::readFile(std::string(KC_SOURCE_DIR) + "/test/testdata/audit_attack.jsonl"));
    for (std::string line; std::getline(lines, line);)
      if (line.find("\"stage\":\"ResponseStarted\"") != std::string::npos) execStart = line;
  }
  REQUIRE(!execStart.empty());
  std::string execEnd = execStart;
  execEnd.replace(execEnd.find("ResponseStarted"), 15, "ResponseComplete");
  {
    Running first(&dir, args, "run1.log");
    std::ofstream(dir.file("audit.log"), std::ios::app) << execStart << "\n";
    REQUIRE(
        waitUntil([&] { return countLines(dir.file("run1.log"), "\"rule\":\"pod-exec\"") == 1; }));
    // The position past the session's start is committed: after the restart only what follows
    // is read.
    const std::string size = "offset=" + std::to_string(execStart.size() + 1) + "\n";
    REQUIRE(waitUntil([&] {
      const std::string cp = dir.path() + "/state/audit-checkpoint.json";
      return std::filesystem::exists(cp) &&
             kc::testing::readFile(cp).find(size) != std::string::npos;
    }));
    first.proc->signal(SIGKILL);
    first.proc->wait(10s);
  }
  CHECK_FALSE(std::filesystem::exists(dir.path() + "/state/audit-memory.jsonl"));  // never saved
  Running second(&dir, args, "run2.log");
  std::ofstream(dir.file("audit.log"), std::ios::app)
      << execEnd << "\n"
      << R"({"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"b0000001-0000-4000-8000-000000000001","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/shop/pods","verb":"list","user":{"username":"alice"},"objectRef":{"resource":"pods","namespace":"shop","apiVersion":"v1"},"responseStatus":{"code":200},"requestReceivedTimestamp":"2026-11-30T11:00:00.000000Z","stageTimestamp":"2026-11-30T11:00:00.100000Z"})"
      << "\n";
  CHECK(waitUntil([&] {
    return metricValue(second.metricsPort,
                       "kube_customs_audit_events_received_total{source=\"log\"}") == 2;
  }));
  std::this_thread::sleep_for(500ms);
  CHECK(countLines(dir.file("run2.log"), "\"audit_finding\"") == 0);
  CHECK(countLines(dir.file("run2.log"), "\"reported requests loaded\"") == 1);
}

TEST_CASE("BaselineAcceptWhileTheAuditRoleRunsIsKept", "[serve][audit]") {
  TempDir dir;
  kc::testing::writeFile(dir.file("audit.log"), "");
  kc::testing::writeFile(dir.file("c.yaml"), "audit:\n  stateSaveIntervalSeconds: 0.2\n");
  Running r(&dir, {"--audit-log-path", dir.file("audit.log"), "--config", dir.file("c.yaml")});
  auto listEvent = [](int i) {
    return R"({"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"c000000)" +
           std::to_string(i) +
           R"(","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/shop/pods","verb":"list","user":{"username":"alice"},"objectRef":{"resource":"pods","namespace":"shop","apiVersion":"v1"},"responseStatus":{"code":200},"requestReceivedTimestamp":"2026-11-30T11:00:00.000000Z","stageTimestamp":"2026-11-30T11:00:00.100000Z"})" +
           std::string("\n");
  };
  const std::string baseline = dir.path() + "/state/baseline.json";
  std::ofstream(dir.file("audit.log"), std::ios::app) << listEvent(1);
  REQUIRE(waitUntil([&] { return std::filesystem::exists(baseline); }));
  std::string out;
  REQUIRE(kc::testing::runCommand(kc::testing::kubeCustomsBinary() + " baseline accept --file " +
                                      baseline +
                                      " --namespace shop --kind Deployment --dimension creator "
                                      "--value eve@example.com 2>&1",
                                  out) == 0);
  // More events: the role saves its baseline again, several times, then once more at the stop.
  for (int i = 2; i < 6; ++i) {
    std::ofstream(dir.file("audit.log"), std::ios::app) << listEvent(i);
    std::this_thread::sleep_for(300ms);
  }
  r.proc->signal(SIGTERM);
  REQUIRE(r.proc->wait(15s) == 0);
  REQUIRE(kc::testing::runCommand(
              kc::testing::kubeCustomsBinary() + " baseline show --file " + baseline, out) == 0);
  const auto shown = nlohmann::json::parse(out);
  bool accepted = false;
  for (const auto& k : shown["keys"]) {
    if (k["namespace"] != "shop" || k["kind"] != "Deployment") continue;
    for (const auto& v : k["creator"]) {
      accepted |= v["value"] == "eve@example.com" && v["state"] == "accepted";
    }
  }
  INFO(out);
  CHECK(accepted);
  CHECK(countLines(dir.file("stdout"), "accepted in the file adopted") == 1);
}

// A FIFO at the audit log path: opening it for reading used to wait for a writer, for ever, in
// the audit role's start, so the server never listened and SIGTERM went unanswered. The path is
// refused, counted and logged (once, not at every poll); the server serves and stops.
TEST_CASE("AFifoAtTheAuditLogPathIsRefusedAndTheServerStillStartsAndStops", "[serve][audit]") {
  TempDir dir;
  REQUIRE(::mkfifo(dir.file("audit.log").c_str(), 0600) == 0);
  Running r(&dir, {"--audit-log-path", dir.file("audit.log")});
  // A series without labels: its line, not the HELP line that also starts with its name.
  auto readErrors = [&] {
    const std::string body = kc::testing::httpGet(r.metricsPort, "/metrics").body;
    const std::string series = "\nkube_customs_audit_log_read_errors_total ";
    const auto at = body.find(series);
    return at == std::string::npos ? -1 : std::stod(body.substr(at + series.size()));
  };
  // Counted at start and at each poll; at 3, the first poll's log line is written.
  CHECK(waitUntil([&] { return readErrors() >= 3; }));
  CHECK(countLines(dir.file("stdout"), "cannot read the audit log") == 1);
  CHECK(countLines(dir.file("stdout"), "not a regular file") == 1);
  r.proc->signal(SIGTERM);
  CHECK(r.proc->wait(15s) == 0);
}

TEST_CASE("AuditWebhookBackendAcceptsAnAuthenticatedEventList", "[serve][audit]") {
  TempDir cfgDir;
  kc::testing::writeFile(cfgDir.file("c.yaml"), "audit:\n  bearerTokens: [t0ken]\n");
  Running r({"--config", cfgDir.file("c.yaml")});
  std::string items;
  std::istringstream lines(
      kc::testing::readFile(std::string(KC_SOURCE_DIR) + "/test/testdata/audit_attack.jsonl"));
  for (std::string line; std::getline(lines, line);) items += (items.empty() ? "" : ",") + line;
  const std::string list =
      R"({"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[)" + items + "]}";
  kc::testing::TlsClient c(r.ca(), r.httpsPort);
  CHECK(c.request("POST", "/audit/webhook", list).status == 401);
  const std::map<std::string, std::string> auth = {{"Authorization", "Bearer t0ken"}};
  CHECK(c.request("POST", "/audit/webhook", list, "application/json", auth).status == 200);
  // The API server retries: the same batch again is not reported twice.
  CHECK(c.request("POST", "/audit/webhook", list, "application/json", auth).status == 200);
  CHECK(waitUntil([&] {
    return metricValue(r.metricsPort,
                       "kube_customs_audit_events_duplicate_total{source=\"webhook\"}") == 7;
  }));
  CHECK(countLines(r.dir.file("stdout"), "\"audit_finding\"") == 10);
  CHECK(metricValue(r.metricsPort,
                    "kube_customs_audit_findings_total{rule=\"webhook-config-changed\",severity="
                    "\"critical\"}") == 1);
}

TEST_CASE("AuditRoleAppliesTheDetectionTuningOfTheConfigFile", "[serve][audit]") {
  TempDir cfgDir;
  // The attacker's exec trusted: every other finding of the attack is still reported.
  kc::testing::writeFile(cfgDir.file("c.yaml"),
                         "audit:\n  bearerTokens: [t0ken]\n  detections:\n    trustedIdentities:\n"
                         "      pod-exec: [\"mallory@*\"]\n");
  Running r({"--config", cfgDir.file("c.yaml")});
  std::string items;
  std::istringstream lines(
      kc::testing::readFile(std::string(KC_SOURCE_DIR) + "/test/testdata/audit_attack.jsonl"));
  for (std::string line; std::getline(lines, line);) items += (items.empty() ? "" : ",") + line;
  const std::string list =
      R"({"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[)" + items + "]}";
  kc::testing::TlsClient c(r.ca(), r.httpsPort);
  const std::map<std::string, std::string> auth = {{"Authorization", "Bearer t0ken"}};
  REQUIRE(c.request("POST", "/audit/webhook", list, "application/json", auth).status == 200);
  CHECK(waitUntil([&] { return countLines(r.dir.file("stdout"), "\"audit_finding\"") >= 9; }));
  std::this_thread::sleep_for(500ms);
  CHECK(countLines(r.dir.file("stdout"), "\"audit_finding\"") == 9);  // 10 untuned
  CHECK(countLines(r.dir.file("stdout"), "\"rule\":\"pod-exec\"") == 0);
  CHECK(countLines(r.dir.file("stdout"), "\"rule\":\"webhook-config-changed\"") == 1);
}

TEST_CASE("ReplayTakesTheDetectionTuningOfAConfigFile", "[audit][replay]") {
  TempDir dir;
  const std::string attack = std::string(KC_SOURCE_DIR) + "/test/testdata/audit_attack.jsonl";
  kc::testing::writeFile(dir.file("c.yaml"),
                         "audit:\n  detections:\n    trustedIdentities:\n"
                         "      pod-exec: [\"mallory@*\"]\n");
  const std::string replay =
      kc::testing::kubeCustomsBinary() + " audit replay " + attack + " -o json";
  std::string untuned, tuned;
  REQUIRE(kc::testing::runCommand(replay + " 2>/dev/null", untuned) == 0);
  REQUIRE(kc::testing::runCommand(replay + " --config " + dir.file("c.yaml") + " 2>/dev/null",
                                  tuned) == 0);
  auto count = [](const std::string& text, const std::string& needle) {
    size_t n = 0;
    for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1))
      ++n;
    return n;
  };
  CHECK(count(untuned, "\"rule\":\"pod-exec\"") == 1);
  CHECK(count(tuned, "\"rule\":\"pod-exec\"") == 0);
  CHECK(count(tuned, "\"rule\":") == count(untuned, "\"rule\":") - 1);
  // A bad file is refused as serve refuses it: file, line, key.
  kc::testing::writeFile(dir.file("bad.yaml"),
                         "audit:\n  detections:\n    reportWarnViolations: maybe\n");
  std::string err;
  CHECK(kc::testing::runCommand(replay + " --config " + dir.file("bad.yaml") + " 2>&1", err) == 2);
  CHECK(err.find("bad.yaml:3") != std::string::npos);
  CHECK(err.find("audit.detections.reportWarnViolations") != std::string::npos);
}

TEST_CASE("ServeRejectsAnUnknownRuleIdInTrustedIdentities", "[serve][audit]") {
  TempDir dir;
  kc::testing::writeFile(dir.file("c.yaml"),
                         "audit:\n  detections:\n    trustedIdentities:\n      pod-exce: [bot]\n");
  Process p({kc::testing::kubeCustomsBinary(), "serve", "--config", dir.file("c.yaml")},
            dir.file("out"), dir.file("err"));
  CHECK(p.wait(10s) == 2);
  const std::string err = kc::testing::readFile(dir.file("err"));
  INFO(err);
  CHECK(err.find(dir.file("c.yaml") +
                 ":4: audit.detections.trustedIdentities.pod-exce: unknown rule id \"pod-exce\"") !=
        std::string::npos);
}

// A baseline file that is not one (empty, cut short, another version) is moved aside, warned
// about and counted: the role starts learning anew instead of exiting at every restart.
TEST_CASE("ServeMovesADamagedBaselineAsideAndStarts", "[serve][audit][baseline]") {
  const std::string damaged = GENERATE(as<std::string>{}, "", "{\"version\":1,\"keys\":[{\"na",
                                       "{\"version\":7,\"keys\":[]}");
  INFO("baseline file: " << damaged);
  TempDir dir;
  std::filesystem::create_directories(dir.path() + "/state");
  const std::string baseline = dir.path() + "/state/baseline.json";
  kc::testing::writeFile(baseline, damaged);
  Running r(&dir, {});
  CHECK(countLines(dir.file("stdout"), "baseline damaged: moved aside") == 1);
  CHECK(metricValue(r.metricsPort,
                    "kube_customs_audit_state_file_errors_total{file=\"baseline\"}") == 1);
  CHECK(metricValue(r.metricsPort, "kube_customs_audit_state_file_errors_total{file=\"memory\"}") ==
        0);
  std::vector<std::string> aside;
  for (const auto& e : std::filesystem::directory_iterator(dir.path() + "/state")) {
    if (e.path().filename().string().rfind("baseline.json.damaged-", 0) == 0)
      aside.push_back(e.path().string());
  }
  REQUIRE(aside.size() == 1);
  CHECK(kc::testing::readFile(aside[0]) == damaged);
  // The stop saves a baseline of its own in its place.
  r.proc->signal(SIGTERM);
  REQUIRE(r.proc->wait(15s) == 0);
  std::string out;
  CHECK(kc::testing::runCommand(
            kc::testing::kubeCustomsBinary() + " baseline show --file " + baseline + " 2>&1",
            out) == 0);
}

// Two audit roles on one state directory would both report every finding: the second one
// refuses to start and names the lock and its holder.
TEST_CASE("ASecondServeOnTheSameStateDirectoryRefusesToStartNamingTheHolder", "[serve][audit]") {
  TempDir dir;
  Running first(&dir, {});
  Process second({kc::testing::kubeCustomsBinary(), "serve", "--state-dir", dir.path() + "/state",
                  "--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0"},
                 dir.file("second.out"), dir.file("second.err"));
  CHECK(second.wait(15s) == 1);
  const std::string err = kc::testing::readFile(dir.file("second.err"));
  INFO(err);
  CHECK(err.find(dir.path() + "/state/kube-customs.lock is held by pid " +
                 std::to_string(first.proc->pid())) != std::string::npos);
  CHECK(countLines(dir.file("second.out"), "\"listening\"") == 0);
  // The webhook role alone keeps no state: it runs beside the audit role.
  Running webhookOnly(&dir, {"--roles", "webhook"}, "webhook.out");
  CHECK(webhookOnly.httpsPort > 0);
  // Once the holder is gone (even killed), the directory is free again.
  first.proc->signal(SIGKILL);
  first.proc->wait(15s);
  Running next(&dir, {}, "next.out");
  CHECK(kc::testing::readFile(dir.path() + "/state/kube-customs.lock") ==
        std::to_string(next.proc->pid()) + "\n");
}

// The caBundle that never reached its reader is no success, though the files were written.
TEST_CASE("CertGenerateExitsOneWhenTheBundleCannotBeWritten", "[cert][output]") {
  TempDir dir;
  std::string out;
  const std::string cmd = kc::testing::kubeCustomsBinary() +
                          " cert generate --service kc --namespace sec --out-dir " + dir.path();
  // In a subshell, so that runCommand's 2>&1 takes the pipe, not the redirected stdout.
  CHECK(kc::testing::runCommand("(" + cmd + " >/dev/full)", out) == 1);
  CHECK(out.find("kube-customs cert: cannot write the output: No space left on device") !=
        std::string::npos);
  CHECK(kc::testing::runCommand("(" + cmd + " >&-)", out) == 1);
  CHECK(out.find("kube-customs cert: cannot write the output: Bad file descriptor") !=
        std::string::npos);
}

}  // namespace

namespace {

constexpr const char* kDenyImagesPolicy = R"(apiVersion: policy.kube-customs.io/v1alpha1
kind: ImagePolicy
metadata: {name: tools}
spec:
  mode: enforce
  deniedImages:
    images: ["**/@IMAGE@"]
)";

std::string denyImage(const std::string& image) {
  std::string text = kDenyImagesPolicy;
  return text.replace(text.find("@IMAGE@"), 7, image);
}

// The testdata pod review with its first container's image replaced.
std::string reviewWithImage(const std::string& image) {
  auto review = nlohmann::json::parse(kc::testing::readFile(
      std::string(KC_SOURCE_DIR) + "/test/testdata/pod_admission_review.json"));
  review["request"]["object"]["spec"]["containers"][0]["image"] = image;
  return review.dump();
}

bool allowed(kc::testing::TlsClient& c, const std::string& image) {
  const auto res = c.request("POST", "/validate", reviewWithImage(image));
  REQUIRE(res.status == 200);
  return nlohmann::json::parse(res.body)["response"]["allowed"].get<bool>();
}

}  // namespace

// SIGHUP (a closed terminal, an operator after an edit) reloads the policies at once, without
// waiting for the next poll, and the server keeps running; it used to kill it unsaved.
TEST_CASE("SighupReloadsThePoliciesAndKeepsServing", "[serve]") {
  TempDir cfg;
  std::filesystem::create_directory(cfg.file("policies"));
  kc::testing::writeFile(cfg.file("policies/tools.yaml"), denyImage("ngrok"));
  kc::testing::writeFile(cfg.file("c.yaml"), "policies:\n  reloadIntervalSeconds: 3600\n");
  Running r({"--config", cfg.file("c.yaml"), "--policies", cfg.file("policies")});
  kc::testing::TlsClient c(r.ca(), r.httpsPort);
  CHECK_FALSE(allowed(c, "ngrok/ngrok:3"));
  CHECK(allowed(c, "jpillora/chisel:1.9"));
  kc::testing::writeFile(cfg.file("policies/tools.yaml"), denyImage("chisel"));
  r.proc->signal(SIGHUP);
  REQUIRE_FALSE(Process::waitForLine(r.dir.file("stdout"), "SIGHUP: reloading", 10s).empty());
  REQUIRE(waitUntil([&] { return !allowed(c, "jpillora/chisel:1.9"); }, 10s));
  CHECK(allowed(c, "ngrok/ngrok:3"));
  r.proc->signal(SIGTERM);
  CHECK(r.proc->wait(15s) == 0);
}

// Policy files moved away or renamed leave an empty directory: the server keeps the set in
// force (the miner stays denied), says so in the log and the metrics, and stays ready.
TEST_CASE("ServeKeepsItsPoliciesWhenTheDirectoryIsEmptied", "[serve]") {
  TempDir cfg;
  std::filesystem::create_directory(cfg.file("policies"));
  kc::testing::writeFile(cfg.file("policies/tools.yaml"), denyImage("xmrig"));
  kc::testing::writeFile(cfg.file("c.yaml"),
                         "policies:\n  reloadIntervalSeconds: 0.1\n  settleSeconds: 0.1\n");
  Running r({"--config", cfg.file("c.yaml"), "--policies", cfg.file("policies")});
  kc::testing::TlsClient c(r.ca(), r.httpsPort);
  CHECK_FALSE(allowed(c, "xmrig/xmrig:6"));
  CHECK(metricValue(r.metricsPort, "kube_customs_policies_loaded") == 1);
  std::filesystem::rename(cfg.file("policies/tools.yaml"), cfg.file("policies/tools.yaml.off"));
  REQUIRE_FALSE(Process::waitForLine(r.dir.file("stdout"), "policy load refused", 10s).empty());
  CHECK_FALSE(allowed(c, "xmrig/xmrig:6"));
  CHECK(metricValue(r.metricsPort, "kube_customs_policy_load_success") == 0);
  CHECK(metricValue(r.metricsPort, "kube_customs_policies_loaded") == 1);
  CHECK(c.request("GET", "/readyz").status == 200);
}

// A soft limit of 256 open files under a hard one of 1024: the server raises the soft limit,
// lowers its connection cap to leave room for its own files, and a flood of connections is
// refused and counted past the cap while metrics are still served. It used to run out of
// descriptors at 256, fail accepts every 50 ms and count nothing.
TEST_CASE("ServeKeepsFileDescriptorsForItselfUnderAConnectionFlood", "[serve]") {
  const std::string prlimit = toolPath("prlimit", "util-linux");
  if (prlimit.empty()) return;
  Running r(nullptr, {}, "stdout", {prlimit, "--nofile=256:1024", "--"});
  std::istringstream limits(
      kc::testing::readFile("/proc/" + std::to_string(r.proc->pid()) + "/limits"));
  std::string soft, hard;
  for (std::string line; std::getline(limits, line);) {
    if (line.rfind("Max open files", 0) != 0) continue;
    std::istringstream(line.substr(14)) >> soft >> hard;
  }
  CHECK(soft == "1024");
  CHECK(hard == "1024");
  const std::string lowered =
      Process::waitForLine(r.dir.file("stdout"), "server.maxConnections lowered", 5s);
  REQUIRE_FALSE(lowered.empty());
  CHECK(nlohmann::json::parse(lowered)["max_connections"] == 1024 - 384);
  kc::testing::TlsClient before(r.ca(), r.httpsPort);
  REQUIRE(before.request("GET", "/healthz").status == 200);
  std::vector<int> flood;
  for (int i = 0; i < 700; ++i) {
    const int fd = kc::testing::tcpConnect(r.httpsPort);
    REQUIRE(fd >= 0);
    flood.push_back(fd);
  }
  REQUIRE(waitUntil(
      [&] {
        return metricValue(
                   r.metricsPort,
                   "kube_customs_http_bad_requests_total{reason=\"too_many_connections\"}") >= 50;
      },
      10s));
  CHECK(before.request("GET", "/healthz").status == 200);
  for (int fd : flood) ::close(fd);
  REQUIRE(waitUntil(
      [&] {
        return kc::testing::TlsClient(r.ca(), r.httpsPort).request("GET", "/healthz").status == 200;
      },
      15s));
}

// Confined to one CPU (taskset here; a cpuset or a CPU limit in a cluster), the server runs one
// I/O thread, not one per CPU of the machine: two threads on one CPU queue behind each other.
TEST_CASE("ServeSizesItsThreadsByTheCpusItMayUse", "[serve]") {
  const std::string taskset = toolPath("taskset", "util-linux");
  if (taskset.empty()) return;
  TempDir dir;
  Process p({taskset, "-c", "0", kc::testing::kubeCustomsBinary(), "serve", "--state-dir",
             dir.path() + "/state", "--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0"},
            dir.file("out"), dir.file("err"));
  const std::string line = Process::waitForLine(dir.file("out"), "\"listening\"", 20s);
  INFO(kc::testing::readFile(dir.file("err")));
  REQUIRE_FALSE(line.empty());
  CHECK(nlohmann::json::parse(line)["threads"] == 1);
}

// A state directory that does not exist is made, for the process alone; one that cannot be
// made stops the start with its name (it used to run on saving nothing, and report every
// finding again after a restart).
TEST_CASE("ServeMakesItsStateDirectoryOrRefusesToStart", "[serve][audit]") {
  TempDir dir;
  const std::string state = dir.path() + "/deep/state";
  Running r(nullptr, {"--state-dir", state});
  CHECK((std::filesystem::status(state).permissions() & std::filesystem::perms::all) ==
        std::filesystem::perms::owner_all);
  r.proc->signal(SIGTERM);
  CHECK(r.proc->wait(15s) == 0);
  CHECK(std::filesystem::exists(state + "/baseline.json"));

  kc::testing::writeFile(dir.file("file"), "not a directory");
  Process p({kc::testing::kubeCustomsBinary(), "serve", "--state-dir", dir.file("file") + "/state",
             "--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0"},
            dir.file("out2"), dir.file("err2"));
  CHECK(p.wait(10s) == 1);
  CHECK(kc::testing::readFile(dir.file("err2"))
            .find("cannot create the state directory " + dir.file("file") + "/state") !=
        std::string::npos);
}

// The API server never resends a batch it got 200 for. 40 EventLists of 400 exec sessions sent
// back to back, kill -9 right after the last 200, a restart on the same state: every session is
// reported (the one in hand at the kill perhaps twice, never none). Without the spool the
// batches still queued at the kill were lost (2,684 of 24,000 attacks reported in the campaign
// that found it).
TEST_CASE("AcknowledgedWebhookBatchesSurviveKill9", "[serve][audit][spool]") {
  TempDir shared;
  kc::testing::writeFile(shared.file("c.yaml"), "audit:\n  bearerTokens: [t0ken]\n");
  const std::map<std::string, std::string> auth = {{"Authorization", "Bearer t0ken"}};
  auto session = [](int n) {
    const std::string id = std::to_string(n);
    return R"({"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"spool-)" +
           id + R"(","stage":"ResponseStarted","requestURI":"/api/v1/namespaces/shop/pods/web-)" +
           id +
           R"(/exec?command=sh&container=app","verb":"create","user":{"username":"mallory@example.com"},"objectRef":{"resource":"pods","namespace":"shop","name":"web-)" +
           id +
           R"(","apiVersion":"v1","subresource":"exec"},"responseStatus":{"code":101},"requestReceivedTimestamp":"2026-12-01T10:00:00.000000Z","stageTimestamp":"2026-12-01T10:00:00.100000Z"})";
  };
  constexpr int kLists = 40, kPerList = 400;
  {
    Running r(&shared, {"--config", shared.file("c.yaml")}, "run1.log");
    kc::testing::TlsClient c(r.ca(), r.httpsPort);
    for (int l = 0; l < kLists; ++l) {
      std::string list = R"({"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[)";
      for (int i = 0; i < kPerList; ++i) list += (i ? "," : "") + session(l * kPerList + i);
      list += "]}";
      REQUIRE(c.request("POST", "/audit/webhook", list, "application/json", auth).status == 200);
    }
    r.proc->signal(SIGKILL);
    r.proc->wait(10s);
  }
  const int before = countLines(shared.file("run1.log"), "\"rule\":\"pod-exec\"");
  INFO("reported before the kill: " << before);
  Running again(&shared, {"--config", shared.file("c.yaml")}, "run2.log");
  REQUIRE(waitUntil(
      [&] {
        return before + countLines(shared.file("run2.log"), "\"rule\":\"pod-exec\"") >=
               kLists * kPerList;
      },
      60s));
  std::this_thread::sleep_for(500ms);
  std::set<std::string> ids;
  int total = 0;
  for (const char* log : {"run1.log", "run2.log"}) {
    std::ifstream in(shared.file(log));
    for (std::string line; std::getline(in, line);) {
      if (line.find("\"rule\":\"pod-exec\"") == std::string::npos) continue;
      ++total;
      ids.insert(nlohmann::json::parse(line)["auditID"].get<std::string>());
    }
  }
  CHECK(ids.size() == static_cast<std::size_t>(kLists * kPerList));
  // At most the session in hand at the kill is reported twice (its finding out, its record
  // not yet); none is lost.
  CHECK(total <= kLists * kPerList + 1);
}

// A line appended to the followed log is read when it is written (inotify), not at the next
// poll: with the poll 30 s apart, the attack is reported within seconds, and a rotation is seen
// the same way.
TEST_CASE("AppendedLogLinesAreReadWithoutWaitingForThePoll", "[serve][audit]") {
  TempDir dir;
  const std::string attack =
      kc::testing::readFile(std::string(KC_SOURCE_DIR) + "/test/testdata/audit_attack.jsonl");
  kc::testing::writeFile(dir.file("audit.log"), "");
  kc::testing::writeFile(dir.file("c.yaml"), "audit:\n  pollIntervalSeconds: 30\n");
  Running r(&dir, {"--audit-log-path", dir.file("audit.log"), "--config", dir.file("c.yaml")});
  REQUIRE_FALSE(Process::waitForLine(dir.file("stdout"), "\"watched\":true", 5s).empty());
  // After the first poll at start, the next is 30 s away.
  std::this_thread::sleep_for(300ms);
  std::ofstream(dir.file("audit.log"), std::ios::app) << attack;
  CHECK(waitUntil([&] { return countLines(dir.file("stdout"), "\"audit_finding\"") >= 10; }, 5s));
  // Rotated (renamed, a new file under the name): the new file's lines come as quickly.
  std::filesystem::rename(dir.file("audit.log"), dir.file("audit.log.1"));
  std::ofstream(dir.file("audit.log"))
      << R"({"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"rotated-1","stage":"ResponseStarted","requestURI":"/api/v1/namespaces/shop/pods/web-9/exec?command=sh&container=app","verb":"create","user":{"username":"mallory@example.com"},"objectRef":{"resource":"pods","namespace":"shop","name":"web-9","apiVersion":"v1","subresource":"exec"},"responseStatus":{"code":101},"requestReceivedTimestamp":"2026-12-01T10:00:00.000000Z","stageTimestamp":"2026-12-01T10:00:00.100000Z"})"
      << "\n";
  CHECK(waitUntil([&] { return countLines(dir.file("stdout"), "\"auditID\":\"rotated-1\"") == 1; },
                  5s));
}

// While the audit role cannot save its state it is not ready (after a restart it would report
// again what it reported since), and it is ready again once a save succeeds.
TEST_CASE("ServeIsNotReadyWhileItsStateCannotBeSaved", "[serve][audit]") {
  TempDir dir;
  kc::testing::writeFile(dir.file("audit.log"), "");
  kc::testing::writeFile(dir.file("c.yaml"),
                         "audit:\n  stateSaveIntervalSeconds: 0.1\n  baselineFile: " +
                             dir.file("baseline.json") + "\n");
  Running r(&dir, {"--audit-log-path", dir.file("audit.log"), "--config", dir.file("c.yaml")});
  kc::testing::TlsClient c(r.ca(), r.httpsPort);
  CHECK(c.request("GET", "/readyz").status == 200);
  const std::string attack =
      kc::testing::readFile(std::string(KC_SOURCE_DIR) + "/test/testdata/audit_attack.jsonl");
  std::istringstream lines(attack);
  std::vector<std::string> events;
  for (std::string line; std::getline(lines, line);) events.push_back(line);
  REQUIRE(events.size() >= 2);
  // A directory where the baseline goes: the save fails.
  std::filesystem::remove(dir.file("baseline.json"));
  std::filesystem::create_directory(dir.file("baseline.json"));
  std::ofstream(dir.file("audit.log"), std::ios::app) << events[0] << "\n";
  REQUIRE(waitUntil([&] { return c.request("GET", "/readyz").status == 503; }, 10s));
  CHECK(c.request("GET", "/readyz").body == "audit state cannot be saved");
  std::filesystem::remove(dir.file("baseline.json"));
  std::ofstream(dir.file("audit.log"), std::ios::app) << events[1] << "\n";
  CHECK(waitUntil([&] { return c.request("GET", "/readyz").status == 200; }, 10s));
}

namespace {

// The number in `metrics` of the sample written `sample` ("name{label=\"v\"}"), or -1.
double sampleValue(const std::string& metrics, const std::string& sample) {
  const auto at = metrics.find("\n" + sample + " ");
  if (at == std::string::npos) return -1;
  return std::stod(metrics.substr(at + sample.size() + 2));
}

// A pod review with `n` containers all running `image`.
std::string manyContainersReview(int n, const std::string& image) {
  auto review = nlohmann::json::parse(kc::testing::readFile(
      std::string(KC_SOURCE_DIR) + "/test/testdata/pod_admission_review.json"));
  nlohmann::json containers = nlohmann::json::array();
  for (int i = 0; i < n; ++i)
    containers.push_back({{"name", "c" + std::to_string(i)}, {"image", image}});
  review["request"]["object"]["spec"]["containers"] = containers;
  return review.dump();
}

// A pathological review: 20,000 containers, each judged by 60 image policies whose 1,000 allowed
// patterns it matches only at the last (an allow-list is read in order), 1.2 billion pattern
// matches in all: 8 s of CPU to judge in full (`kube-customs check`, RelWithDebInfo). With the API
// server's `?timeout=1s` it is answered by the deadline action (deny) with its reason and counted,
// before the API server would stop waiting; a normal review with `?timeout=10s` on the same server
// is judged as usual.
TEST_CASE("ServeAnswersAPathologicalReviewAtItsDeadlineAndJudgesANormalOne", "[serve][deadline]") {
  TempDir cfg;
  std::filesystem::create_directory(cfg.file("policies"));
  for (int p = 0; p < 60; ++p) {
    std::string yaml =
        "apiVersion: policy.kube-customs.io/v1alpha1\nkind: ImagePolicy\nmetadata: {name: allow-" +
        std::to_string(p) + "}\nspec:\n  allowedImages:\n";
    for (int i = 0; i < 999; ++i)
      yaml += "  - registry.example.com/team" + std::to_string(i) + "\n";
    yaml += "  - registry.example.com/app\n";
    kc::testing::writeFile(cfg.file("policies/allow-" + std::to_string(p) + ".yaml"), yaml);
  }
  Running r({"--policies", cfg.file("policies")});
  const std::string pathological = manyContainersReview(20'000, "registry.example.com/app:1.2.3");
  const std::string normal = manyContainersReview(1, "registry.example.com/app:1.2.3");

  kc::testing::TlsClient c(r.ca(), r.httpsPort);
  const auto started = std::chrono::steady_clock::now();
  const auto res = c.request("POST", "/validate?timeout=1s", pathological);
  const auto took = std::chrono::steady_clock::now() - started;
  REQUIRE(res.status == 200);
  const auto answer = nlohmann::json::parse(res.body)["response"];
  CHECK(answer["allowed"] == false);
  CHECK(answer["status"]["code"] == 403);
  CHECK(answer["status"]["message"].get<std::string>().find(
            "kube-customs could not finish judging this request within the API server's 1s "
            "timeout; denied unjudged (webhook.deadlineAction: deny)") == 0);
  // Generous: the answer is due 750 ms after arrival; judging in full takes many times that.
  CHECK(took < 5s);

  const auto judged = c.request("POST", "/validate?timeout=10s", normal);
  REQUIRE(judged.status == 200);
  const auto normalAnswer = nlohmann::json::parse(judged.body)["response"];
  CHECK(normalAnswer["allowed"] == true);
  CHECK_FALSE(normalAnswer.contains("warnings"));

  const auto m = kc::testing::httpGet(r.metricsPort, "/metrics");
  REQUIRE(m.status == 200);
  CHECK(sampleValue(m.body, "kube_customs_admission_deadline_exceeded_total{answer=\"denied\"}") ==
        1);
  CHECK(sampleValue(m.body, "kube_customs_admission_deadline_exceeded_total{answer=\"allowed\"}") ==
        0);
  CHECK(sampleValue(m.body, "kube_customs_admission_timeout_parameter_total{result=\"read\"}") ==
        2);
  CHECK(sampleValue(m.body, "kube_customs_admission_requests_total{outcome=\"denied\"}") == 1);
  CHECK(sampleValue(m.body, "kube_customs_admission_requests_total{outcome=\"allowed\"}") == 1);
  CHECK_FALSE(
      Process::waitForLine(r.dir.file("stdout"), "\"admission_deadline_exceeded\"", 5s).empty());
}

// The deadline counts from the request's arrival, not from the end of its body: a small review
// whose body takes two seconds to come, with `?timeout=1s`, is past its deadline when it is
// judged and gets the deadline action's answer, here allow (webhook.deadlineAction: allow),
// with a warning. A missing timeout is the API server's 10 s.
TEST_CASE("ServeCountsTheTimeSpentReadingTheBodyAgainstTheDeadline", "[serve][deadline]") {
  TempDir cfg;
  kc::testing::writeFile(cfg.file("c.yaml"), "webhook:\n  deadlineAction: allow\n");
  Running r({"--config", cfg.file("c.yaml")});
  auto review = nlohmann::json::parse(kc::testing::readFile(
      std::string(KC_SOURCE_DIR) + "/test/testdata/pod_admission_review.json"));
  review["request"]["object"]["spec"]["containers"][0]["image"] = "ngrok/ngrok:3";
  const std::string body = review.dump();
  auto head = [&](const std::string& target) {
    return "POST " + target +
           " HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
           "Connection: close\r\nContent-Length: " +
           std::to_string(body.size()) + "\r\n\r\n";
  };
  const std::size_t third = body.size() / 3;
  kc::testing::TlsClient c(r.ca(), r.httpsPort);
  const std::string raw = c.rawPieces({head("/validate?timeout=1s") + body.substr(0, third),
                                       body.substr(third, third), body.substr(2 * third)},
                                      1000ms, 10s);
  REQUIRE(raw.find("HTTP/1.1 200") == 0);
  const auto answer = nlohmann::json::parse(raw.substr(raw.find("\r\n\r\n") + 4))["response"];
  CHECK(answer["allowed"] == true);
  REQUIRE(answer["warnings"].is_array());
  CHECK(answer["warnings"].back().get<std::string>().find(
            "within the API server's 1s timeout; admitted unjudged (webhook.deadlineAction: "
            "allow)") != std::string::npos);
  // In time, the same review is judged: the built-in policies deny ngrok.
  const auto judged = c.request("POST", "/validate", body);
  REQUIRE(judged.status == 200);
  CHECK(nlohmann::json::parse(judged.body)["response"]["allowed"] == false);
  const auto m = kc::testing::httpGet(r.metricsPort, "/metrics");
  CHECK(sampleValue(m.body, "kube_customs_admission_deadline_exceeded_total{answer=\"allowed\"}") ==
        1);
  CHECK(sampleValue(m.body, "kube_customs_admission_timeout_parameter_total{result=\"absent\"}") ==
        1);
}

// An unknown deadline action stops start-up naming the key.
TEST_CASE("ServeRejectsAnUnknownDeadlineAction", "[serve][deadline]") {
  TempDir dir;
  kc::testing::writeFile(dir.file("c.yaml"), "webhook:\n  deadlineAction: ignore\n");
  Process p({kc::testing::kubeCustomsBinary(), "serve", "--config", dir.file("c.yaml"),
             "--state-dir", dir.file("state")},
            dir.file("out"), dir.file("err"));
  CHECK(p.wait(10s) == 2);
  CHECK(kc::testing::readFile(dir.file("err"))
            .find("webhook.deadlineAction: expected deny or allow") != std::string::npos);
}

// The node role on a machine without the runtimes it is told about: it starts, retries, and
// is not ready, naming each runtime's state; Docker's and containerd's sockets are flags.
TEST_CASE("ServeNodeRoleIsNotReadyWithoutARuntimeAndSaysWhy", "[serve][node]") {
  TempDir dir;
  Running r(&dir, {"--roles", "node", "--docker-socket", dir.file("no-docker.sock"),
                   "--containerd-socket", dir.file("no-containerd.sock"), "--node-name", "n1"});
  kc::testing::TlsClient c(r.ca(), r.httpsPort);
  REQUIRE(waitUntil(
      [&] {
        return c.request("GET", "/readyz").body ==
               "node: no container runtime reachable (docker: absent, containerd: absent)";
      },
      10s));
  CHECK(c.request("GET", "/readyz").status == 503);
  CHECK(c.request("GET", "/healthz").status == 200);
  // Its state directory is locked like the audit role's.
  CHECK(std::filesystem::exists(dir.path() + "/state/kube-customs.lock"));
}

TEST_CASE("ServeNodeRoleRefusesAnAllowListEntryItCannotRead", "[serve][node]") {
  TempDir dir;
  kc::testing::writeFile(dir.file("c.yaml"), "node:\n  allowedOutsideKubernetes: [\"label:=x\"]\n");
  Process p({kc::testing::kubeCustomsBinary(), "serve", "--roles", "node", "--config",
             dir.file("c.yaml"), "--state-dir", dir.path() + "/state", "--listen", "127.0.0.1:0",
             "--metrics-listen", "127.0.0.1:0"},
            dir.file("out"), dir.file("err"));
  CHECK(p.wait(10s) == 2);
  const std::string err = kc::testing::readFile(dir.file("err"));
  INFO(err);
  CHECK(err.find("node.allowedOutsideKubernetes entry \"label:=x\"") != std::string::npos);
}

}  // namespace
