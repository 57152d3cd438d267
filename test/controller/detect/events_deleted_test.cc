// Tests of the events-deleted rule.
#include <catch2/catch.hpp>

#include "controller/detect/detections.h"
#include "test/controller/detect/detect_test_util.h"

namespace kc::audit {
namespace {

using namespace detect_test;

TEST_CASE("EventDeletionsAreReported", "[detections]") {
  Detector d(DetectorOptions{});
  Ev del;
  del.auditID = "a-ev";
  del.verb = "deletecollection";
  del.code = 200;
  del.uri = "/api/v1/namespaces/shop/events";
  del.user = "mallory@example.com";
  del.resource = "events";
  del.ns = "shop";
  auto fs = feed(d, del.str());
  REQUIRE(fs.size() == 1);
  CHECK(fs[0].rule == "events-deleted");
  CHECK(fs[0].severity == Severity::kHigh);
  CHECK(fs[0].technique == "T1070");
  del.auditID = "a-ev2";
  del.verb = "delete";
  del.apiGroup = "events.k8s.io";
  del.name = "web.17a9";
  fs = feed(d, del.str());
  REQUIRE(fs.size() == 1);
  CHECK(fs[0].severity == Severity::kMedium);
}

// The look-alikes of an events deletion (the kubelet writing an event, a deletion of another
// group's `events` resource, of a ConfigMap) are not reported; a cleanup script's identity can be
// trusted.
TEST_CASE("EventDeletionLookAlikesAndTrustedIdentities", "[detections]") {
  auto write = [](Detector& d, const std::string& id, const std::string& verb,
                  const std::string& user, const std::string& resource,
                  const std::string& apiGroup = "") {
    Ev e;
    e.auditID = id;
    e.verb = verb;
    e.code = verb == "create" ? 201 : 200;
    e.level = "Metadata";
    e.uri = (apiGroup.empty() ? "/api/v1" : "/apis/" + apiGroup + "/v1") + "/namespaces/shop/" +
            resource + (verb == "deletecollection" ? "" : "/web.17a9");
    e.user = user;
    e.resource = resource;
    e.apiGroup = apiGroup;
    e.ns = "shop";
    if (verb != "deletecollection") e.name = "web.17a9";
    return feed(d, e.str());
  };
  Detector d(DetectorOptions{});
  auto fs = write(d, "e-1", "delete", "mallory@example.com", "events");
  REQUIRE(rules(fs) == std::vector<std::string>{"events-deleted"});
  CHECK(fs[0].severity == Severity::kMedium);
  CHECK(fs[0].summary == "mallory@example.com deleted event web.17a9 in namespace shop");
  CHECK(write(d, "e-2", "create", "system:node:worker-3", "events").empty());
  CHECK(
      write(d, "e-3", "delete", "mallory@example.com", "events", "monitoring.example.com").empty());
  CHECK(write(d, "e-4", "delete", "mallory@example.com", "configmaps").empty());

  DetectorOptions o;
  o.trustedIdentities["events-deleted"] = {"system:serviceaccount:ops:event-pruner"};
  Detector trusting(o);
  CHECK(write(trusting, "t-1", "deletecollection", "system:serviceaccount:ops:event-pruner",
              "events", "events.k8s.io")
            .empty());
  fs = write(trusting, "t-2", "deletecollection", "mallory@example.com", "events", "events.k8s.io");
  REQUIRE(rules(fs) == std::vector<std::string>{"events-deleted"});
  CHECK(fs[0].severity == Severity::kHigh);
}

}  // namespace
}  // namespace kc::audit
