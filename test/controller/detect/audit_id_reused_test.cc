// Tests of the audit-id-reused rule (Detector::reportAuditIdReuse, told by the pipeline).
#include <catch2/catch.hpp>

#include "controller/detect/detections.h"
#include "controller/events/audit_ids.h"
#include "test/controller/detect/detect_test_util.h"

namespace kc::audit {
namespace {

using namespace detect_test;

// Feeds `doc` as the audit pipeline does: an event whose auditID was last the ID of another
// request (AuditIdMemory) is reported as reused before the rules judge it.
std::vector<Finding> feedCheckingIds(Detector& d, AuditIdMemory& ids, const std::string& doc) {
  EventParser parser;
  std::vector<Finding> out;
  const ParseStats stats = parser.parse(doc, [&](const Event& e) {
    const AuditIdMemory::Id id = AuditIdMemory::of(DedupeSecret::processDefault(), e.request());
    const bool reused = ids.reused(id);
    ids.remember(id);
    if (reused) d.reportAuditIdReuse(e, out);
    d.onEvent(e, out);
  });
  REQUIRE(stats.rejectedTotal() == 0);
  REQUIRE(stats.events == 1);
  return out;
}

// A token-reading exec sent with the auditID of the same user's earlier harmless `get` is
// reported (high) beside the exec itself; the look-alikes (the two stages of one request, the
// same event delivered twice) are not reuse; the identity of a proxy that stamps a fixed
// Audit-ID header can be trusted.
TEST_CASE("AuditIdReusedLookAlikesAndTrustedIdentities", "[detections]") {
  const std::string id = "5d0c8a6e-1f7b-4c43-9a0e-7b3f2d1c9e84";
  Ev get;
  get.auditID = id;
  get.verb = "get";
  get.code = 200;
  get.level = "Metadata";
  get.uri = "/api/v1/namespaces/shop/pods/web-1";
  get.user = "mallory@example.com";
  get.resource = "pods";
  get.ns = "shop";
  get.name = "web-1";
  get.time = "2026-01-10T10:00:00.100000Z";
  Ev exec;
  exec.auditID = id;
  exec.stage = "ResponseStarted";
  exec.code = 101;
  exec.level = "Metadata";
  exec.uri =
      "/api/v1/namespaces/shop/pods/web-1/exec?command=cat&command=%2Fvar%2Frun%2Fsecrets%2F"
      "kubernetes.io%2Fserviceaccount%2Ftoken&container=app&stdout=true";
  exec.user = "mallory@example.com";
  exec.resource = "pods";
  exec.subresource = "exec";
  exec.ns = "shop";
  exec.name = "web-1";
  exec.time = "2026-01-10T10:00:07.300000Z";

  {
    Detector d(DetectorOptions{});
    AuditIdMemory ids(1024);
    CHECK(feedCheckingIds(d, ids, get.str()).empty());
    auto fs = feedCheckingIds(d, ids, exec.str());
    REQUIRE(rules(fs) == std::vector<std::string>{"audit-id-reused", "pod-exec"});
    CHECK(fs[0].severity == Severity::kHigh);
    CHECK(fs[0].technique == "T1562");
    CHECK(fs[0].auditID == id);
    CHECK(fs[0].user == "mallory@example.com");
    CHECK(fs[0].summary.find("create /api/v1/namespaces/shop/pods/web-1/exec?command=cat") == 0);
    CHECK(fs[0].summary.find("was sent with auditID " + id +
                             ", already the ID of an earlier "
                             "request") != std::string::npos);
  }
  {
    // The exec's own two stages, and its ResponseStarted delivered twice: one request.
    Detector d(DetectorOptions{});
    AuditIdMemory ids(1024);
    CHECK(rules(feedCheckingIds(d, ids, exec.str())) == std::vector<std::string>{"pod-exec"});
    CHECK(feedCheckingIds(d, ids, exec.str()).empty());
    Ev complete = exec;
    complete.stage = "ResponseComplete";
    CHECK(feedCheckingIds(d, ids, complete.str()).empty());
  }
  {
    DetectorOptions o;
    o.trustedIdentities["audit-id-reused"] = {"mallory@*"};
    Detector d(o);
    AuditIdMemory ids(1024);
    CHECK(feedCheckingIds(d, ids, get.str()).empty());
    CHECK(rules(feedCheckingIds(d, ids, exec.str())) == std::vector<std::string>{"pod-exec"});
  }
}

}  // namespace
}  // namespace kc::audit
