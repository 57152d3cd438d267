// AuditPipeline: events no rule acts on have their repeat lookups deferred and batched, so the
// counts (events, duplicates, journal keys) must come out exactly as if every event were looked
// up on arrival, whatever the order, the distance between repeats and the cuts into buffers.
#include "controller/detect/pipeline.h"

#include <prometheus/registry.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <map>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "common/internal_errors.h"
#include "test/controller/series_value.h"

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
  Detector detector{DetectorOptions{}};
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
  std::vector<DedupeKey> seen, reported;
  // The journal's two ways in (LogIngest): an event with findings is recorded at once through
  // the hook, the others at the end of their buffer through `seen`; each key by one of them.
  const AuditPipeline::ReportedHook hook = [&](const DedupeKey& k) { reported.push_back(k); };
  size_t at = 0;
  while (at < lines.size()) {
    const size_t n = std::min(lines.size() - at, 1 + static_cast<size_t>(rng() % 40));
    if (rng() % 2) {
      std::string text;
      for (size_t i = 0; i < n; ++i) text += lines[at + i] + "\n";
      run.pipeline.processLines(text, "log", false, &seen, &hook);
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
  CHECK(!reported.empty());
  CHECK(seen.size() + reported.size() == distinct.size());
  std::set<std::pair<uint64_t, uint64_t>> keys;
  for (const auto& k : seen) keys.insert({k.hi, k.lo});
  for (const auto& k : reported) keys.insert({k.hi, k.lo});
  CHECK(keys.size() == distinct.size());
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

// The event's failure boundary: a finding whose reporting throws costs that finding, is
// counted with its auditID, and the stream goes on with the next events.
TEST_CASE("AFindingThatCannotBeReportedCostsOnlyItself", "[pipeline]") {
  Detector detector{DetectorOptions{}};
  std::vector<std::string> reported;
  AuditPipeline pipeline{PipelineOptions{}, detector, nullptr, [&](const Finding& f) {
                           if (f.auditID == "x-2") throw std::runtime_error("cannot report");
                           reported.push_back(f.auditID);
                         }};
  const auto before = kc::internal::errorCount(kc::internal::Component::kAuditWorker);
  pipeline.processLines(execEvent(1) + "\n" + execEvent(2) + "\n" + execEvent(3) + "\n", "log",
                        false);
  CHECK(reported == std::vector<std::string>{"x-1", "x-3"});
  CHECK(kc::internal::errorCount(kc::internal::Component::kAuditWorker) == before + 1);
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

using kc::testing::seriesValue;

// The sum over all series of a counter family.
double familyTotal(prometheus::Registry& registry, const std::string& family) {
  double total = 0;
  for (const auto& f : registry.Collect()) {
    if (f.name != family) continue;
    for (const auto& m : f.metric) total += m.counter.value;
  }
  return total;
}

std::string replaceOnce(std::string s, const std::string& from, const std::string& to) {
  const size_t at = s.find(from);
  REQUIRE(at != std::string::npos);
  s.replace(at, from.size(), to);
  return s;
}

// A list event with its own auditID and times (no stageTimestamp when `stage` is empty).
std::string listEventAt(const std::string& id, const std::string& received,
                        const std::string& stage) {
  std::string e = withAuditId(listEvent(0), id);
  e = replaceOnce(e, "2024-05-01T10:00:00.000000Z", received);
  if (stage.empty())
    return replaceOnce(e, R"(,"stageTimestamp":"2024-05-01T10:00:00.000100Z")", "");
  return replaceOnce(e, "2024-05-01T10:00:00.000100Z", stage);
}

constexpr double kMay1st2024 = 1714521600;  // 2024-05-01T00:00:00Z
// Unix times are large: Approx's default relative epsilon would let hours through.

TEST_CASE("ParseRejectsDuplicatesAndEventTimesBecomeMetricsBySource", "[pipeline][metrics]") {
  prometheus::Registry registry;
  AuditMetrics metrics(registry);
  PipelineOptions options;
  options.limits.maxDepth = 16;
  options.limits.maxEventBytes = 4096;
  Detector detector{DetectorOptions{}};
  std::vector<Finding> findings;
  AuditPipeline pipeline(options, detector, &metrics,
                         [&](const Finding& f) { findings.push_back(f); });

  // The log backend: three valid events (the newest by stageTimestamp in the middle, not
  // last), a truncated line, a line with invalid UTF-8, one nested deeper than the cap, one
  // over the event size cap, and a repeat.
  const std::string newest =
      listEventAt("l-new", "2024-05-01T10:00:09.000000Z", "2024-05-01T10:00:09.500000Z");
  std::string deep = "{\"a\":1}";
  for (int i = 0; i < 20; ++i) deep = "{\"a\":" + deep + "}";
  const std::vector<std::string> lines = {
      listEvent(1),
      execEvent(1),  // one pod-exec finding
      newest,
      listEvent(2).substr(0, 120),                               // truncated: invalid_json
      replaceOnce(listEvent(3), "ci:runner", "ci:run\xff\xfe"),  // invalid_utf8
      replaceOnce(listEvent(4), R"("responseStatus")",
                  R"("requestObject":)" + deep + R"(,"responseStatus")"),  // too_deep
      replaceOnce(listEvent(5), R"("responseStatus")",
                  R"("annotations":{"pad":")" + std::string(5000, 'x') +
                      R"("},"responseStatus")"),  // too_large
      listEventAt("l-old", "2024-05-01T09:59:00.000000Z", "2024-05-01T09:59:00.500000Z"),
      listEvent(1),  // a repeat
  };
  std::string text;
  for (const auto& l : lines) text += l + "\n";
  pipeline.processLines(text, "log", false);

  const ParseStats& stats = pipeline.parseStats();
  CHECK(stats.rejectedFor(RejectReason::kInvalidJson) == 1);
  CHECK(stats.rejectedFor(RejectReason::kInvalidUtf8) == 1);
  CHECK(stats.rejectedFor(RejectReason::kTooDeep) == 1);
  CHECK(stats.rejectedFor(RejectReason::kTooLarge) == 1);
  CHECK(stats.rejectedTotal() == 4);

  CHECK(metrics.receivedCount("log") == 4);
  CHECK(metrics.droppedCount("log", "too_deep") == 1);
  CHECK(metrics.droppedCount("log", "too_large") == 1);
  // Unreadable input is unparsable, never "dropped".
  CHECK(metrics.unparsableCount("log") == 2);
  CHECK(metrics.droppedCount("log", "invalid_json") == 0);
  CHECK(metrics.droppedCount("log", "invalid_utf8") == 0);
  CHECK(seriesValue(registry, "kube_customs_audit_events_dropped_total",
                    {{"source", "log"}, {"reason", "too_deep"}}) == 1);
  CHECK(seriesValue(registry, "kube_customs_audit_events_dropped_total",
                    {{"source", "log"}, {"reason", "too_large"}}) == 1);
  CHECK(familyTotal(registry, "kube_customs_audit_events_dropped_total") == 2);
  CHECK(seriesValue(registry, "kube_customs_audit_events_duplicate_total", {{"source", "log"}}) ==
        1);
  // The newest event's stageTimestamp, although an older one came after it.
  CHECK(seriesValue(registry, "kube_customs_audit_last_event_timestamp_seconds",
                    {{"source", "log"}}) ==
        Approx(kMay1st2024 + 10 * 3600 + 9.5).epsilon(0).margin(1e-3));
  CHECK(seriesValue(registry, "kube_customs_audit_last_event_timestamp_seconds",
                    {{"source", "webhook"}}) <= 0);  // nothing from the webhook yet

  // The webhook backend: an EventList with an exec, an event with only
  // requestReceivedTimestamp (the newest), an older one with a stageTimestamp, an item that is
  // no event, one over the size cap, and a repeat of an event the log already delivered.
  const std::vector<std::string> items = {
      execEvent(2),
      listEventAt("w-new", "2024-05-01T10:05:00.250000Z", ""),
      listEventAt("w-old", "2024-05-01T10:03:00.000000Z", "2024-05-01T10:04:00.000000Z"),
      "42",
      replaceOnce(listEvent(6), R"("responseStatus")",
                  R"("annotations":{"pad":")" + std::string(5000, 'y') + R"("},"responseStatus")"),
      listEvent(1),
  };
  std::string list = R"({"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[)";
  for (size_t i = 0; i < items.size(); ++i) list += (i ? "," : "") + items[i];
  pipeline.processDocument(list + "]}", "webhook");

  CHECK(metrics.receivedCount("webhook") == 3);
  CHECK(metrics.unparsableCount("webhook") == 1);
  CHECK(metrics.droppedCount("webhook", "too_large") == 1);
  CHECK(metrics.droppedCount("webhook", "not_an_event") == 0);
  CHECK(seriesValue(registry, "kube_customs_audit_events_duplicate_total",
                    {{"source", "webhook"}}) == 1);
  CHECK(seriesValue(registry, "kube_customs_audit_last_event_timestamp_seconds",
                    {{"source", "webhook"}}) ==
        Approx(kMay1st2024 + 10 * 3600 + 5 * 60 + 0.25).epsilon(0).margin(1e-3));
  // The log's series are left as they were.
  CHECK(metrics.receivedCount("log") == 4);
  CHECK(metrics.unparsableCount("log") == 2);
  CHECK(seriesValue(registry, "kube_customs_audit_last_event_timestamp_seconds",
                    {{"source", "log"}}) ==
        Approx(kMay1st2024 + 10 * 3600 + 9.5).epsilon(0).margin(1e-3));

  // An older batch does not move the gauge back.
  pipeline.processLines(
      listEventAt("l-older", "2024-05-01T08:00:00.000000Z", "2024-05-01T08:00:01.000000Z") + "\n",
      "log", false);
  CHECK(metrics.receivedCount("log") == 5);
  CHECK(seriesValue(registry, "kube_customs_audit_last_event_timestamp_seconds",
                    {{"source", "log"}}) ==
        Approx(kMay1st2024 + 10 * 3600 + 9.5).epsilon(0).margin(1e-3));

  // One pod-exec finding per exec (`id`: low), counted by rule and severity.
  REQUIRE(findings.size() == 2);
  CHECK(findings[0].rule == "pod-exec");
  CHECK(findings[0].severity == Severity::kLow);
  CHECK(metrics.findingCount("pod-exec", "low") == 2);
  CHECK(seriesValue(registry, "kube_customs_audit_findings_total",
                    {{"rule", "pod-exec"}, {"severity", "low"}}) == 2);
  CHECK(familyTotal(registry, "kube_customs_audit_findings_total") == 2);
  CHECK(pipeline.findings() == 2);
  CHECK(pipeline.events() == 8);
  CHECK(pipeline.duplicates() == 2);
}

}  // namespace
}  // namespace kc::audit
