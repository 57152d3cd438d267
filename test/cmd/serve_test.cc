// End-to-end tests of the kube-customs executable: real process, real TLS, real metrics scrape.

#include <signal.h>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "test/test_util.h"

namespace {

using kc::testing::Process;
using kc::testing::TempDir;
using namespace std::chrono_literals;

struct Running {
  TempDir dir;
  std::unique_ptr<Process> proc;
  std::uint16_t httpsPort = 0;
  std::uint16_t metricsPort = 0;

  explicit Running(std::vector<std::string> extra = {}) {
    std::vector<std::string> argv = {kc::testing::kubeCustomsBinary(), "serve",
                                     "--state-dir", dir.path() + "/state",
                                     "--listen", "127.0.0.1:0",
                                     "--metrics-listen", "127.0.0.1:0",
                                     "--threads", "2"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    proc = std::make_unique<Process>(argv, dir.file("stdout"), dir.file("stderr"));
    const std::string line = Process::waitForLine(dir.file("stdout"), "\"listening\"", 20s);
    INFO("stderr: " << kc::testing::readFile(dir.file("stderr")));
    REQUIRE_FALSE(line.empty());
    const auto j = nlohmann::json::parse(line);
    httpsPort = j["https_port"];
    metricsPort = j["metrics_port"];
  }
  std::string ca() const { return dir.path() + "/state/tls/ca.crt"; }
};

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
  CHECK(c.request("POST", "/validate", std::string(4 * 1024 * 1024, ' ')).status == 413);
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

TEST_CASE("LiveMetricsPassPromtoolCheck", "[serve][promtool]") {
  std::string out;
  if (kc::testing::runCommand("command -v promtool", out) != 0) {
    WARN("promtool not installed (Debian package prometheus): skipping the lint");
    return;
  }
  Running r;
  kc::testing::TlsClient c(r.ca(), r.httpsPort);
  REQUIRE(c.request("POST", "/validate",
                    kc::testing::readFile(std::string(KC_SOURCE_DIR) +
                                          "/test/testdata/pod_admission_review.json"))
              .status == 200);
  const auto m = kc::testing::httpGet(r.metricsPort, "/metrics");
  REQUIRE(m.status == 200);
  for (const char* name :
       {"kube_customs_build_info{version=", "kube_customs_admission_requests_total{outcome=\"allowed\"} 1",
        "kube_customs_admission_request_duration_seconds_bucket{le=\"0.0001\"}",
        "kube_customs_tls_reloads_total", "kube_customs_tls_certificate_expiry_timestamp_seconds"}) {
    INFO(name);
    CHECK(m.body.find(name) != std::string::npos);
  }
  kc::testing::writeFile(r.dir.file("metrics.txt"), m.body);
  const int rc = kc::testing::runCommand("promtool check metrics < " + r.dir.file("metrics.txt"), out);
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
  CHECK(kc::testing::readFile(dir.file("err")).find(dir.file("c.yaml") + ":3: server.listn: unknown key") !=
        std::string::npos);
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
  const int rc = kc::testing::runCommand(kc::testing::kubeCustomsBinary() +
                                             " cert generate --service kc --namespace sec --out-dir " +
                                             dir.path() + " 2>/dev/null | cat",
                                         out);
  REQUIRE(rc == 0);
  std::string decoded;
  kc::testing::writeFile(dir.file("bundle.b64"), out);
  REQUIRE(kc::testing::runCommand("base64 -d " + dir.file("bundle.b64"), decoded) == 0);
  CHECK(decoded == kc::testing::readFile(dir.file("ca.crt")));
  std::string text;
  REQUIRE(kc::testing::runCommand("openssl x509 -noout -ext subjectAltName -in " + dir.file("tls.crt"),
                                  text) == 0);
  CHECK(text.find("DNS:kc.sec.svc") != std::string::npos);
}

}  // namespace
