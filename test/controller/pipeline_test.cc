// AuditPipeline: events no rule acts on have their repeat lookups deferred and batched, so the
// counts (events, duplicates, journal keys) must come out exactly as if every event were looked
// up on arrival, whatever the order, the distance between repeats and the cuts into buffers.
#include "controller/pipeline.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace kc::audit {
namespace {

std::string listEvent(int i) {
  return R"({"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"a-)" +
         std::to_string(i) +
         R"(","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/ci/configmaps","verb":"list","user":{"username":"system:serviceaccount:ci:runner"},"objectRef":{"resource":"configmaps","namespace":"ci","apiVersion":"v1"},"responseStatus":{"code":200},"requestReceivedTimestamp":"2024-05-01T10:00:00.000000Z","stageTimestamp":"2024-05-01T10:00:00.000100Z"})";
}

std::string execEvent(int i) {
  return R"({"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Request","auditID":"x-)" +
         std::to_string(i) +
         R"(","stage":"ResponseStarted","requestURI":"/api/v1/namespaces/ci/pods/web-)" +
         std::to_string(i) +
         R"(/exec?command=id&container=app","verb":"create","user":{"username":"dev@example.com"},"objectRef":{"resource":"pods","namespace":"ci","name":"web-)" +
         std::to_string(i) +
         R"(","apiVersion":"v1","subresource":"exec"},"responseStatus":{"code":101},"requestReceivedTimestamp":"2024-05-01T10:00:01.000000Z","stageTimestamp":"2024-05-01T10:00:01.000200Z"})";
}

struct Run {
  explicit Run(DetectorOptions options = {}) : detector(std::move(options)) {}
  Detector detector;
  std::vector<Finding> findings;
  AuditPipeline pipeline{PipelineOptions{}, detector, nullptr,
                         [this](const Finding& f) { findings.push_back(f); }};
};

TEST_CASE("PlansNameTheRulesAnEventIsFor", "[pipeline]") {
  EventParser parser;
  auto planOf = [&](const std::string& line) {
    Detector::Plan plan;
    int n = 0;
    parser.parse(line, [&](const Event& e) {
      plan = Detector::plan(e);
      ++n;
    });
    REQUIRE(n == 1);
    return plan;
  };
  CHECK(planOf(listEvent(1)).empty());
  const auto exec = planOf(execEvent(1));
  CHECK(exec.session);
  CHECK(exec.started);
  CHECK(exec.object == Detector::ObjectRule::kNone);
  std::string anonymous = listEvent(2);
  anonymous.replace(anonymous.find("system:serviceaccount:ci:runner"),
                    std::string("system:serviceaccount:ci:runner").size(), "system:anonymous");
  CHECK(planOf(anonymous).anonymous);
  std::string create = listEvent(3);
  create.replace(create.find(R"("verb":"list")"), 13, R"("verb":"create")");
  create.replace(create.find(R"("resource":"configmaps")"), 23, R"("resource":"deployments")");
  CHECK(planOf(create).object == Detector::ObjectRule::kPodCarrying);
  std::string failed = create;
  failed.replace(failed.find(R"("code":200)"), 10, R"("code":403)");
  CHECK(planOf(failed).empty());
}

TEST_CASE("RepeatsAreCountedExactlyWhetherOrNotARuleActsOnThem", "[pipeline]") {
  // 300 distinct events, two thirds of them reads no rule acts on, each delivered one to four
  // times at random places, cut into buffers at random and sent as lines or as EventLists.
  std::mt19937 rng(7);
  std::vector<std::string> lines;
  std::set<std::string> distinct;
  for (int i = 0; i < 300; ++i) {
    const std::string e = i % 3 == 0 ? execEvent(i) : listEvent(i);
    distinct.insert(e);
    const int copies = 1 + static_cast<int>(rng() % 4);
    for (int c = 0; c < copies; ++c) lines.push_back(e);
  }
  std::shuffle(lines.begin(), lines.end(), rng);

  Run run;
  std::vector<DedupeKey> seen;
  size_t at = 0;
  while (at < lines.size()) {
    const size_t n = std::min(lines.size() - at, 1 + static_cast<size_t>(rng() % 40));
    if (rng() % 2) {
      std::string text;
      for (size_t i = 0; i < n; ++i) text += lines[at + i] + "\n";
      run.pipeline.processLines(text, "log", false, &seen);
    } else {
      std::string list = R"({"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[)";
      for (size_t i = 0; i < n; ++i) list += (i ? "," : "") + lines[at + i];
      run.pipeline.processDocument(list + "]}", "webhook", &seen);
    }
    // Counts are settled at the end of every buffer: none may be pending here.
    CHECK(run.pipeline.events() + run.pipeline.duplicates() == at + n);
    at += n;
  }
  CHECK(run.pipeline.events() == distinct.size());
  CHECK(run.pipeline.duplicates() == lines.size() - distinct.size());
  CHECK(seen.size() == distinct.size());
  std::set<std::pair<uint64_t, uint64_t>> keys;
  for (const auto& k : seen) keys.insert({k.hi, k.lo});
  CHECK(keys.size() == seen.size());
  CHECK(run.findings.size() == 100);  // one pod-exec finding per exec request, repeats or not

  // A later delivery of everything is all repeats, the deferred ones included.
  std::string text;
  for (const auto& l : distinct) text += l + "\n";
  run.pipeline.processLines(text, "log", false, &seen);
  CHECK(run.pipeline.events() == distinct.size());
  CHECK(run.pipeline.duplicates() == lines.size());
  CHECK(run.findings.size() == 100);
}

std::string withAuditId(std::string event, const std::string& id) {
  const size_t at = event.find(R"("auditID":")") + 11;
  event.replace(at, event.find('"', at) - at, id);
  return event;
}

std::string privilegedPod(const std::string& auditID) {
  const std::string pod =
      R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"shell","namespace":"ci","uid":"u-1"},"spec":{"containers":[{"name":"c","image":"alpine:3.19","securityContext":{"privileged":true}}]}})";
  return R"({"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"RequestResponse","auditID":")" +
         auditID +
         R"(","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/ci/pods","verb":"create","user":{"username":"mallory@example.com"},"objectRef":{"resource":"pods","namespace":"ci","name":"shell","apiVersion":"v1"},"responseStatus":{"code":201},"requestObject":)" +
         pod + R"(,"responseObject":)" + pod +
         R"(,"requestReceivedTimestamp":"2024-05-01T10:00:05.000000Z","stageTimestamp":"2024-05-01T10:00:05.010000Z"})";
}

std::vector<std::string> rulesOf(const std::vector<Finding>& fs) {
  std::vector<std::string> r;
  for (const auto& f : fs) r.push_back(f.rule);
  return r;
}

TEST_CASE("ARequestSentWithTheAuditIdOfAnEarlierOneIsReported", "[pipeline][detections]") {
  // The attacker lists configmaps with `Audit-ID: x-1`, then creates a privileged pod with the
  // same header, n events later (within one group of deferred lookups, or beyond it).
  for (int between : {0, 5, 40}) {
    INFO(between);
    Run run;
    std::string text = withAuditId(listEvent(0), "x-1") + "\n";
    for (int i = 0; i < between; ++i) text += listEvent(100 + i) + "\n";
    text += privilegedPod("x-1") + "\n";
    run.pipeline.processLines(text, "log", false);
    const auto rules = rulesOf(run.findings);
    CHECK(std::count(rules.begin(), rules.end(), "audit-id-reused") == 1);
    CHECK(std::count(rules.begin(), rules.end(), "privileged-container") == 1);
    const auto it = std::find(rules.begin(), rules.end(), "audit-id-reused");
    REQUIRE(it != rules.end());
    const Finding& f = run.findings[static_cast<size_t>(it - rules.begin())];
    CHECK(f.user == "mallory@example.com");
    CHECK(f.auditID == "x-1");
    CHECK(f.severity == Severity::kHigh);
    CHECK(f.technique == "T1562");
  }
}

TEST_CASE("StagesRetriesAndFreshIdsAreNotAuditIdReuse", "[pipeline][detections]") {
  Run run;
  // Both stages of one exec, the whole lot delivered twice, and a pod with a fresh ID.
  std::string exec = execEvent(7);
  std::string complete = exec;
  complete.replace(complete.find("ResponseStarted"), 15, "ResponseComplete");
  complete.replace(complete.find("10:00:01.000200Z"), 16, "10:00:03.000000Z");
  const std::string text = exec + "\n" + complete + "\n" + privilegedPod("p-1") + "\n";
  run.pipeline.processLines(text, "log", false);
  run.pipeline.processLines(text, "log", false);
  const auto rules = rulesOf(run.findings);
  CHECK(std::count(rules.begin(), rules.end(), "audit-id-reused") == 0);
  CHECK(std::count(rules.begin(), rules.end(), "pod-exec") == 1);
  CHECK(std::count(rules.begin(), rules.end(), "privileged-container") == 1);
  CHECK(run.pipeline.duplicates() == 3);

  // An ID reused by a trusted identity is not reported either.
  DetectorOptions trusting;
  trusting.trustedIdentities["audit-id-reused"] = {"mallory@*"};
  Run trusted(trusting);
  trusted.pipeline.processLines(
      withAuditId(listEvent(0), "x-1") + "\n" + privilegedPod("x-1") + "\n", "log", false);
  const auto trustedRules = rulesOf(trusted.findings);
  CHECK(std::count(trustedRules.begin(), trustedRules.end(), "audit-id-reused") == 0);
  CHECK(std::count(trustedRules.begin(), trustedRules.end(), "privileged-container") == 1);
}

}  // namespace
}  // namespace kc::audit
