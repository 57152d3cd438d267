#include "webhook/admission_handler.h"

#include <catch2/catch.hpp>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "common/log.h"
#include "policies/loader.h"
#include "policies/store/policy_store.h"
#include "test/test_util.h"
#include "webhook/admission_review.h"

namespace {

struct Fixture {
  std::shared_ptr<prometheus::Registry> registry = std::make_shared<prometheus::Registry>();
  kc::metrics::ServerMetrics serverMetrics{*registry};
  kc::webhook::WebhookMetrics metrics{*registry};
  kc::webhook::AdmissionHandler handler{[] { return kc::policy::PolicySet::empty(); }, metrics,
                                        serverMetrics};

  kc::http::Response call(const std::string& body) {
    kc::http::Request req;
    req.method = "POST";
    req.path = "/validate";
    req.body = body;
    kc::http::Response res;
    handler.handle(req, res);
    return res;
  }
};

TEST_CASE("EmptyPolicySetAdmitsARealPodAndEchoesUid", "[handler]") {
  Fixture f;
  const auto res = f.call(kc::testing::readFile(std::string(KC_SOURCE_DIR) +
                                                "/test/testdata/pod_admission_review.json"));
  REQUIRE(res.status == 200);
  const auto j = nlohmann::json::parse(res.body);
  CHECK(j["response"]["uid"] == "705ab4f5-6393-11e8-b7cc-42010a800002");
  CHECK(j["response"]["allowed"] == true);
  CHECK(f.metrics.count(kc::webhook::Outcome::kAllowed) == 1);
  CHECK(f.metrics.durationCount() == 1);
}

TEST_CASE("BadReviewGets400AndIsCountedByReason", "[handler]") {
  Fixture f;
  auto res = f.call("{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\"}");
  CHECK(res.status == 400);
  CHECK(nlohmann::json::parse(res.body)["error"] == "AdmissionReview has no request");
  res = f.call("{{{");
  CHECK(res.status == 400);
  CHECK(f.serverMetrics.badRequestCount("missing_request") == 1);
  CHECK(f.serverMetrics.badRequestCount("invalid_json") == 1);
  CHECK(f.metrics.count(kc::webhook::Outcome::kAllowed) == 0);
}

// A dense 9 MB body is refused with 413 before it is parsed, and the handler goes on judging
// reviews, large (parsed in a parser of its own) and small.
TEST_CASE("ADenseLargeBodyGets413AndTheNextReviewsAreJudged", "[handler]") {
  Fixture f;
  std::string dense = R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","x":[0)";
  for (std::size_t i = 0; i < kc::webhook::AdmissionDecoder::kMaxLargeBodySeparators; ++i)
    dense += ",0";
  dense += "]}";
  auto res = f.call(dense);
  CHECK(res.status == 413);
  CHECK(f.serverMetrics.badRequestCount("too_many_values") == 1);
  const std::string review = kc::testing::readFile(std::string(KC_SOURCE_DIR) +
                                                   "/test/testdata/pod_admission_review.json");
  auto j = nlohmann::json::parse(review);
  j["request"]["object"]["metadata"]["annotations"]["pad"] = std::string(3u << 20, '[');
  res = f.call(j.dump());
  REQUIRE(res.status == 200);
  CHECK(nlohmann::json::parse(res.body)["response"]["uid"] == j["request"]["uid"]);
  res = f.call(review);
  CHECK(res.status == 200);
  CHECK(f.metrics.count(kc::webhook::Outcome::kAllowed) == 2);
}

// A handler with a policy set; call() posts a review and gives its response.
struct PolicyFixture {
  explicit PolicyFixture(std::shared_ptr<const kc::policy::PolicySet> set)
      : policies(std::move(set)) {}
  std::shared_ptr<const kc::policy::PolicySet> policies;
  std::shared_ptr<prometheus::Registry> registry = std::make_shared<prometheus::Registry>();
  kc::metrics::ServerMetrics serverMetrics{*registry};
  kc::webhook::WebhookMetrics metrics{*registry};
  kc::webhook::AdmissionHandler handler{[this] { return policies; }, metrics, serverMetrics};

  nlohmann::json call(const nlohmann::json& review) {
    kc::http::Request req;
    req.method = "POST";
    req.path = "/validate";
    const std::string body = review.dump();
    req.body = body;
    kc::http::Response res;
    handler.handle(req, res);
    REQUIRE(res.status == 200);
    return nlohmann::json::parse(res.body)["response"];
  }
};

// A Service review as the API server sends it (kubectl expose ... --external-ip), judged by the
// built-in policies: the externalIPs policy denies it with a message that says what to do.
TEST_CASE("TheBuiltInPoliciesDenyAServiceWithExternalIPs", "[handler][services]") {
  const kc::policy::LoadResult loaded =
      kc::policy::loadPolicies(kc::policy::embeddedDefaultPolicies());
  REQUIRE(loaded.ok());
  PolicyFixture f(loaded.policies);
  auto call = [&](const nlohmann::json& review) { return f.call(review); };
  auto& metrics = f.metrics;
  nlohmann::json service = nlohmann::json::parse(R"({
    "apiVersion": "v1", "kind": "Service",
    "metadata": {"name": "capture", "namespace": "shop", "labels": {"app": "mitm"}},
    "spec": {"ports": [{"port": 443, "protocol": "TCP", "targetPort": 8443}],
             "selector": {"app": "mitm"}, "type": "ClusterIP",
             "externalIPs": ["8.8.8.8"]}})");
  nlohmann::json review = nlohmann::json::parse(R"({
    "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
    "request": {"uid": "0f3c1a8e-6b1d-4c55-9e7a-2d2f1c9b7e11",
      "kind": {"group": "", "version": "v1", "kind": "Service"},
      "resource": {"group": "", "version": "v1", "resource": "services"},
      "requestKind": {"group": "", "version": "v1", "kind": "Service"},
      "requestResource": {"group": "", "version": "v1", "resource": "services"},
      "name": "capture", "namespace": "shop", "operation": "CREATE",
      "userInfo": {"username": "dev@example.com", "groups": ["devs", "system:authenticated"]},
      "options": {"apiVersion": "meta.k8s.io/v1", "kind": "CreateOptions"},
      "dryRun": false}})");
  review["request"]["object"] = service;
  auto r = call(review);
  CHECK(r["uid"] == "0f3c1a8e-6b1d-4c55-9e7a-2d2f1c9b7e11");
  CHECK(r["allowed"] == false);
  CHECK(r["status"]["code"] == 403);
  CHECK(r["status"]["message"].get<std::string>().find(
            "[service-external-ips] external IP \"8.8.8.8\" is not allowed") == 0);
  CHECK(metrics.count(kc::webhook::Outcome::kDenied) == 1);

  // Without externalIPs it passes, NodePort included (not refused by default).
  service["spec"].erase("externalIPs");
  service["spec"]["type"] = "NodePort";
  review["request"]["object"] = service;
  CHECK(call(review)["allowed"] == true);

  // An update that adds them is refused; a relabelling of a Service that had them is not.
  nlohmann::json old = service;
  review["request"]["operation"] = "UPDATE";
  review["request"]["oldObject"] = old;
  service["spec"]["externalIPs"] = {"203.0.113.10"};
  review["request"]["object"] = service;
  CHECK(call(review)["allowed"] == false);
  review["request"]["oldObject"] = service;
  service["metadata"]["labels"]["tier"] = "edge";
  review["request"]["object"] = service;
  CHECK(call(review)["allowed"] == true);

  // kube-system is exempt.
  review["request"]["operation"] = "CREATE";
  review["request"].erase("oldObject");
  review["request"]["namespace"] = "kube-system";
  service["metadata"]["namespace"] = "kube-system";
  review["request"]["object"] = service;
  CHECK(call(review)["allowed"] == true);
}

// kubectl exec as the API server asks about it (CONNECT on pods/exec), judged by a policy that
// lets only the on-call group open sessions.
TEST_CASE("AnExecByAnIdentityNotAllowedIsRefused", "[handler][podConnect]") {
  const kc::policy::LoadResult loaded = kc::policy::loadPolicies({{"exec.yaml", R"(
apiVersion: policy.kube-customs.io/v1alpha1
kind: DeploymentPolicy
metadata: {name: sessions}
spec:
  podConnect: {allowedGroups: [oncall]}
)"}});
  REQUIRE(loaded.ok());
  PolicyFixture f(loaded.policies);
  auto call = [&](const nlohmann::json& review) { return f.call(review); };
  auto& metrics = f.metrics;
  nlohmann::json review = nlohmann::json::parse(R"({
    "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
    "request": {"uid": "8c2f7a1e-3b4d-4e5f-9a6b-7c8d9e0f1a2b",
      "kind": {"group": "", "version": "v1", "kind": "PodExecOptions"},
      "resource": {"group": "", "version": "v1", "resource": "pods"},
      "subResource": "exec",
      "requestKind": {"group": "", "version": "v1", "kind": "PodExecOptions"},
      "requestResource": {"group": "", "version": "v1", "resource": "pods"},
      "requestSubResource": "exec",
      "name": "checkout-7d9f8c6b5-x2k4q", "namespace": "shop", "operation": "CONNECT",
      "userInfo": {"username": "mallory@example.com", "groups": ["system:authenticated"]},
      "object": {"kind": "PodExecOptions", "apiVersion": "v1", "stdin": true, "stdout": true,
                 "tty": true, "container": "app",
                 "command": ["cat", "/var/run/secrets/kubernetes.io/serviceaccount/token"]},
      "oldObject": null, "dryRun": false, "options": null}})");
  auto r = call(review);
  CHECK(r["allowed"] == false);
  CHECK(r["status"]["code"] == 403);
  CHECK(r["status"]["message"] ==
        "[sessions] exec into pod \"shop/checkout-7d9f8c6b5-x2k4q\" (container \"app\", command "
        "\"cat /var/run/secrets/kubernetes.io/serviceaccount/token\") by \"mallory@example.com\" "
        "is not allowed; allowed: group \"oncall\"");
  review["request"]["userInfo"]["groups"] = {"oncall", "system:authenticated"};
  CHECK(call(review)["allowed"] == true);
  CHECK(metrics.count(kc::webhook::Outcome::kDenied) == 1);
  CHECK(metrics.count(kc::webhook::Outcome::kAllowed) == 1);
}

}  // namespace

namespace {

// A pod review with `n` privileged containers named `name` + index, running a denied image.
nlohmann::json hostileReview(int n, const std::string& name) {
  nlohmann::json review = nlohmann::json::parse(kc::testing::readFile(
      std::string(KC_SOURCE_DIR) + "/test/testdata/pod_admission_review.json"));
  nlohmann::json containers = nlohmann::json::array();
  for (int i = 0; i < n; ++i)
    containers.push_back({{"name", name + std::to_string(i)},
                          {"image", "docker.io/xmrig/xmrig:6.21.0"},
                          {"securityContext", {{"privileged", true}}}});
  review["request"]["object"]["spec"]["containers"] = containers;
  return review;
}

// Every line logged while `fn` runs.
template <typename Fn>
std::vector<std::string> loggedLines(Fn fn) {
  std::FILE* sink = std::tmpfile();
  REQUIRE(sink != nullptr);
  kc::log::setSink(sink);
  fn();
  kc::log::setSink(nullptr);
  std::rewind(sink);
  std::vector<std::string> lines;
  std::string line;
  for (int c = std::fgetc(sink); c != EOF; c = std::fgetc(sink)) {
    if (c == '\n') {
      lines.push_back(std::move(line));
      line.clear();
    } else {
      line.push_back(static_cast<char>(c));
    }
  }
  std::fclose(sink);
  return lines;
}

}  // namespace

// Answers are held in memory until the API server (or anyone) reads them, and with
// failurePolicy Ignore an out-of-memory webhook admits pods unjudged: whatever the review, the
// answer stays under 128 KiB and its log line under 64 KiB, still says why, and counts what it
// leaves out. Ten containers with 50 kB names (a 0.5 MB review) made a 6 MB answer; 30,000
// containers a 12 MB answer and a 6 MB log line.
TEST_CASE("AHostileReviewGetsABoundedAnswerAndLogLine", "[handler][bounds]") {
  const kc::policy::LoadResult loaded =
      kc::policy::loadPolicies(kc::policy::embeddedDefaultPolicies());
  REQUIRE(loaded.ok());
  PolicyFixture f(loaded.policies);
  // "é" at the cut: a name of 50 kB of two-byte characters, so a cut by bytes would split one.
  std::string longName;
  for (int i = 0; i < 25'000; ++i) longName += "\xC3\xA9";
  for (const auto& [count, name] :
       std::vector<std::pair<int, std::string>>{{10, longName}, {30'000, "c"}}) {
    INFO(count << " containers");
    const std::string body = hostileReview(count, name).dump();
    kc::http::Response res;
    const auto lines = loggedLines([&] {
      kc::http::Request req;
      req.method = "POST";
      req.path = "/validate";
      req.body = body;
      f.handler.handle(req, res);
    });
    REQUIRE(res.status == 200);
    CHECK(res.body.size() <= 128 * 1024);
    // Valid JSON and valid UTF-8 (parse throws on a split character).
    const auto answer = nlohmann::json::parse(res.body)["response"];
    CHECK(answer["allowed"] == false);
    const std::string message = answer["status"]["message"];
    // Why each policy denies is there: the one with a violation per container does not crowd
    // out the next.
    CHECK(message.find("[denied-images] ") == 0);
    CHECK(message.find(" more violations)") != std::string::npos);
    const auto pss = message.find("; [pod-security-baseline] violates PodSecurity");
    REQUIRE(pss != std::string::npos);
    CHECK(message.find("privileged", pss) != std::string::npos);
    const std::string annotation =
        answer["auditAnnotations"]["kube-customs.io/violations"].get<std::string>();
    CHECK(annotation.size() <= 8192);
    REQUIRE(lines.size() == 1);
    CHECK(lines[0].size() <= 64 * 1024);
    const auto logged = nlohmann::json::parse(lines[0]);
    CHECK(logged["event_type"] == "admission_denied");
    CHECK(logged["violations"].size() <= 64);
    // An image violation for each container at least: the 30,000 are counted, not listed.
    CHECK(logged["violations"].size() + logged["violations_omitted"].get<std::size_t>() >=
          static_cast<std::size_t>(count));
    if (count > 64) CHECK(logged["violations"].size() == 64);
  }
}

// The answer echoes the uid, so an overlong one is refused as an invalid field.
TEST_CASE("AReviewWithAnOverlongUidIsRefused", "[handler][bounds]") {
  Fixture f;
  auto review = nlohmann::json::parse(kc::testing::readFile(
      std::string(KC_SOURCE_DIR) + "/test/testdata/pod_admission_review.json"));
  review["request"]["uid"] = std::string(257, 'u');
  const auto res = f.call(review.dump());
  CHECK(res.status == 400);
  CHECK(res.body.find("request.uid is longer than 256 bytes") != std::string::npos);
  CHECK(f.serverMetrics.badRequestCount("invalid_field") == 1);
  review["request"]["uid"] = std::string(256, 'u');
  CHECK(f.call(review.dump()).status == 200);
}

namespace {

// A clock for deadlines that stands still at one hour past its epoch.
kc::policy::Deadline::Clock::time_point fixedNow() {
  return kc::policy::Deadline::Clock::time_point(std::chrono::hours(1));
}

// A handler with the built-in policies, the fixed clock and a deadline action.
struct DeadlineFixture {
  explicit DeadlineFixture(kc::webhook::DeadlineAction action)
      : policies(kc::policy::loadPolicies(kc::policy::embeddedDefaultPolicies()).policies),
        handler{[this] { return policies; }, metrics, serverMetrics, nullptr,
                kc::webhook::HandlerOptions{action, &fixedNow}} {
    REQUIRE(policies != nullptr);
  }
  std::shared_ptr<const kc::policy::PolicySet> policies;
  std::shared_ptr<prometheus::Registry> registry = std::make_shared<prometheus::Registry>();
  kc::metrics::ServerMetrics serverMetrics{*registry};
  kc::webhook::WebhookMetrics metrics{*registry};
  kc::webhook::AdmissionHandler handler;

  // Posts `review` to `target`, as a request that arrived `ago` before the clock's now.
  nlohmann::json call(const nlohmann::json& review, const std::string& target,
                      std::chrono::milliseconds ago) {
    kc::http::Request req;
    req.method = "POST";
    req.target = target;
    req.path = "/validate";
    const std::string body = review.dump();
    req.body = body;
    req.received = fixedNow() - ago;
    kc::http::Response res;
    handler.handle(req, res);
    REQUIRE(res.status == 200);
    return nlohmann::json::parse(res.body)["response"];
  }
};

nlohmann::json podReview(const std::string& image) {
  auto review = nlohmann::json::parse(kc::testing::readFile(
      std::string(KC_SOURCE_DIR) + "/test/testdata/pod_admission_review.json"));
  review["request"]["object"]["spec"]["containers"][0]["image"] = image;
  return review;
}

// A review whose deadline (arrival + timeout - margin) has passed when it is judged is denied
// unjudged under deadlineAction deny, with a message naming the API server's timeout; one
// that arrived just now is judged. Both counted by how the timeout was read.
TEST_CASE("AReviewPastItsDeadlineIsDeniedUnjudgedByDefault", "[handler][deadline]") {
  using namespace std::chrono_literals;
  DeadlineFixture f(kc::webhook::DeadlineAction::kDeny);
  const auto review = podReview("registry.example.com/team/app:1.2.3");

  // 1 s timeout, 250 ms margin: the deadline passed 50 ms before the handler ran.
  auto late = f.call(review, "/validate?timeout=1s", 800ms);
  CHECK(late["uid"] == review["request"]["uid"]);
  CHECK(late["allowed"] == false);
  const std::string message = late["status"]["message"];
  CHECK(message.find("kube-customs could not finish judging this request within the API "
                     "server's 1s timeout; denied unjudged (webhook.deadlineAction: deny)") == 0);
  CHECK(late["auditAnnotations"]["kube-customs.io/deadline-exceeded"] == message);
  CHECK(f.metrics.deadlineExceededCount(true) == 1);
  CHECK(f.metrics.count(kc::webhook::Outcome::kDenied) == 1);

  // 700 ms after arriving, within the same timeout's budget: judged, and this image passes.
  auto inTime = f.call(review, "/validate?timeout=1s", 700ms);
  CHECK(inTime["allowed"] == true);
  CHECK_FALSE((inTime.contains("auditAnnotations") &&
               inTime["auditAnnotations"].contains("kube-customs.io/deadline-exceeded")));
  CHECK(f.metrics.deadlineExceededCount(true) == 1);
  CHECK(f.metrics.timeoutCount(kc::webhook::TimeoutSource::kRead) == 2);

  // No parameter: the API server's 10 s default, so 8 s after arrival is still in time, 9 s not.
  CHECK(f.call(review, "/validate", 8s)["allowed"] == true);
  auto defaulted = f.call(review, "/validate", 9s);
  CHECK(defaulted["allowed"] == false);
  CHECK(defaulted["status"]["message"].get<std::string>().find("within the API server's 10s "
                                                               "timeout") != std::string::npos);
  CHECK(f.metrics.timeoutCount(kc::webhook::TimeoutSource::kAbsent) == 2);
  // A garbage parameter is the default too, counted as invalid, never an error to the client.
  CHECK(f.call(review, "/validate?timeout=" + std::string(5000, '9'), 9s)["allowed"] == false);
  CHECK(f.metrics.timeoutCount(kc::webhook::TimeoutSource::kInvalid) == 1);
  CHECK(f.metrics.deadlineExceededCount(true) == 3);
  CHECK(f.metrics.deadlineExceededCount(false) == 0);
}

// Under deadlineAction allow a review past its deadline is admitted with a warning saying why
// (the deadline had passed before the first policy, so its denied image was never looked at);
// the same review in time is judged and denied.
TEST_CASE("UnderDeadlineActionAllowAReviewPastItsDeadlineIsAdmittedWithAWarning",
          "[handler][deadline]") {
  using namespace std::chrono_literals;
  DeadlineFixture f(kc::webhook::DeadlineAction::kAllow);
  const auto review = podReview("ngrok/ngrok:3");
  auto late = f.call(review, "/validate?timeout=5s", 5s);
  CHECK(late["allowed"] == true);
  REQUIRE(late["warnings"].is_array());
  const std::string warning = late["warnings"].back();
  CHECK(warning.find("within the API server's 5s timeout; admitted unjudged "
                     "(webhook.deadlineAction: allow)") != std::string::npos);
  CHECK(late["auditAnnotations"]["kube-customs.io/deadline-exceeded"] == warning);
  CHECK(f.metrics.deadlineExceededCount(false) == 1);
  CHECK(f.metrics.count(kc::webhook::Outcome::kWarned) == 1);
  // In time, the same review is judged and denied for its image.
  auto judged = f.call(review, "/validate?timeout=5s", 0ms);
  CHECK(judged["allowed"] == false);
  CHECK(judged["status"]["message"].get<std::string>().find("ngrok/ngrok:3") != std::string::npos);
  CHECK(f.metrics.deadlineExceededCount(false) == 1);
}

// A clock for deadlines that stands at one hour past its epoch for its first read and ten
// seconds later from the second on: the deadline passes while the engine works.
struct SteppingClock {
  static inline int reads = 0;
  static kc::policy::Deadline::Clock::time_point now() {
    return fixedNow() + (reads++ == 0 ? std::chrono::seconds(0) : std::chrono::seconds(10));
  }
};

// The deadline passes while the built-in policies judge a pod of 2,000 containers running a
// denied image, after the image policy found them: the review is denied for what was found,
// even under deadlineAction allow, and the message says that judging stopped.
TEST_CASE("AViolationFoundBeforeTheDeadlineDeniesEvenUnderDeadlineActionAllow",
          "[handler][deadline]") {
  using namespace std::chrono_literals;
  const kc::policy::LoadResult loaded =
      kc::policy::loadPolicies(kc::policy::embeddedDefaultPolicies());
  REQUIRE(loaded.ok());
  std::shared_ptr<prometheus::Registry> registry = std::make_shared<prometheus::Registry>();
  kc::metrics::ServerMetrics serverMetrics{*registry};
  kc::webhook::WebhookMetrics metrics{*registry};
  kc::webhook::AdmissionHandler handler{
      [&] { return loaded.policies; }, metrics, serverMetrics, nullptr,
      kc::webhook::HandlerOptions{kc::webhook::DeadlineAction::kAllow, &SteppingClock::now}};
  auto review = podReview("ngrok/ngrok:3");
  nlohmann::json containers = nlohmann::json::array();
  for (int i = 0; i < 2000; ++i)
    containers.push_back({{"name", "c" + std::to_string(i)}, {"image", "ngrok/ngrok:3"}});
  review["request"]["object"]["spec"]["containers"] = containers;
  const std::string body = review.dump();
  kc::http::Request req;
  req.method = "POST";
  req.target = "/validate?timeout=1s";
  req.path = "/validate";
  req.body = body;
  req.received = fixedNow();
  kc::http::Response res;
  SteppingClock::reads = 0;
  handler.handle(req, res);
  REQUIRE(res.status == 200);
  const auto answer = nlohmann::json::parse(res.body)["response"];
  CHECK(SteppingClock::reads >= 2);
  CHECK(answer["allowed"] == false);
  const std::string message = answer["status"]["message"];
  CHECK(message.find("uses denied image \"ngrok/ngrok:3\"") != std::string::npos);
  const std::string tail =
      " (judging stopped at the API server's 1s timeout; there may be more violations)";
  REQUIRE(message.size() > tail.size());
  CHECK(message.substr(message.size() - tail.size()) == tail);
  CHECK(answer["auditAnnotations"]["kube-customs.io/deadline-exceeded"] ==
        "kube-customs stopped judging this request at the API server's 1s timeout and denied it "
        "for the violations found until then");
  CHECK(metrics.deadlineExceededCount(true) == 1);
  CHECK(metrics.deadlineExceededCount(false) == 0);
}

TEST_CASE("DeadlineActionsParse", "[handler][deadline]") {
  kc::webhook::DeadlineAction a = kc::webhook::DeadlineAction::kAllow;
  CHECK(kc::webhook::parseDeadlineAction("deny", a));
  CHECK(a == kc::webhook::DeadlineAction::kDeny);
  CHECK(kc::webhook::parseDeadlineAction("allow", a));
  CHECK(a == kc::webhook::DeadlineAction::kAllow);
  CHECK_FALSE(kc::webhook::parseDeadlineAction("Deny", a));
  CHECK_FALSE(kc::webhook::parseDeadlineAction("", a));
}

}  // namespace
