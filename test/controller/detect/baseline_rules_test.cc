// Tests of the learned baseline rules through the Detector: unexpected-creator,
// unexpected-image-source, unexpected-user-agent and unexpected-namespace-creator.
#include <catch2/catch.hpp>

#include "controller/detect/detections.h"
#include "test/controller/detect/detect_test_util.h"

namespace kc::audit {
namespace {

using namespace detect_test;

// The learned baseline through the Detector: during the learning period the CI pipeline's
// creations are learned; afterwards the same creations are not reported, and each first-seen
// creator, image source and client is, once, medium; each rule's trusted identities silence it.
TEST_CASE("BaselineRulesAfterLearningAndTrustedIdentities", "[detections]") {
  const std::string ci = "system:serviceaccount:ci:deployer";
  const std::string helm = "Helm/3.15.2";
  auto create = [&](Detector& d, const std::string& id, const std::string& user,
                    const std::string& userAgent, const std::string& image, int day) {
    json dep = deployment("shop", id, "uid-" + id, image);
    Ev e;
    e.auditID = "a-" + id;
    e.uri = "/apis/apps/v1/namespaces/shop/deployments";
    e.user = user;
    e.userAgent = userAgent;
    e.resource = "deployments";
    e.apiGroup = "apps";
    e.ns = "shop";
    e.name = id;
    e.requestObject = dep;
    e.responseObject = dep;
    e.time = at(day);
    return feed(d, e.str());
  };
  auto run = [&](DetectorOptions o) {
    Baseline baseline(BaselineOptions{7 * kDay, 64, 1000});
    o.baseline = &baseline;
    Detector d(o);
    // Learning (days 1 to 7): nothing is reported.
    CHECK(create(d, "web", ci, helm, "registry.example.com/shop/web:1.4.2", 1).empty());
    CHECK(create(d, "api", ci, helm, "registry.example.com/shop/api:3.0.1", 3).empty());
    // After learning: the same creator, client and registry repository are known.
    CHECK(create(d, "web-canary", ci, helm, "registry.example.com/shop/web:1.5.0", 10).empty());
    std::vector<Finding> all;
    for (auto fs : {create(d, "tunnel", "mallory@example.com", helm,
                           "registry.example.com/shop/web:1.5.0", 11),
                    create(d, "miner", ci, helm, "docker.io/xmrig/xmrig:6.21", 11),
                    create(d, "scripted", ci, "python-requests/2.31.0",
                           "registry.example.com/shop/api:3.0.1", 11)}) {
      all.insert(all.end(), fs.begin(), fs.end());
    }
    // Each novelty once: the same values again are not reported.
    CHECK(create(d, "tunnel-2", "mallory@example.com", helm, "docker.io/xmrig/xmrig:6.21", 12)
              .empty());
    return all;
  };

  const auto fs = run(DetectorOptions{});
  REQUIRE(rules(fs) == std::vector<std::string>{"unexpected-creator", "unexpected-image-source",
                                                "unexpected-user-agent"});
  for (const auto& f : fs) {
    INFO(f.rule);
    CHECK(f.severity == Severity::kMedium);
    CHECK(f.kind == "Deployment");
    CHECK(f.namespace_ == "shop");
    CHECK(f.details.count("newKey") == 0);
  }
  CHECK(fs[0].technique == "T1078");
  CHECK(fs[0].name == "tunnel");
  CHECK(fs[0].details.at("dimension") == "creator");
  CHECK(fs[0].details.at("value") == "mallory@example.com");
  CHECK(fs[1].technique == "T1610");
  CHECK(fs[1].name == "miner");
  CHECK(fs[1].details.at("value") == "docker.io/xmrig/xmrig");
  CHECK(fs[2].technique == "T1078");
  CHECK(fs[2].name == "scripted");
  CHECK(fs[2].details.at("value") == "python-requests");

  for (const char* id :
       {"unexpected-creator", "unexpected-image-source", "unexpected-user-agent"}) {
    INFO(id);
    DetectorOptions o;
    o.trustedIdentities[id] = {"mallory@example.com", ci};
    const auto trusted = run(o);
    CHECK(rule(trusted, id) == nullptr);
    CHECK(trusted.size() == 2);
  }
}

// `user` creates Namespace `name` on `day`, as the API server logs it at RequestResponse level
// (`withBody`) or at Metadata level.
Ev namespaceCreation(const std::string& name, const std::string& user, int day,
                     bool withBody = true) {
  Ev e;
  e.auditID = "a-ns-" + name;
  e.uri = "/api/v1/namespaces?fieldManager=kubectl-create&fieldValidation=Strict";
  e.user = user;
  e.resource = "namespaces";
  e.time = at(day);
  if (withBody) {
    e.name = name;
    e.requestObject = {{"kind", "Namespace"},
                       {"apiVersion", "v1"},
                       {"metadata", {{"name", name}, {"creationTimestamp", nullptr}}},
                       {"spec", json::object()},
                       {"status", json::object()}};
    e.responseObject = {{"kind", "Namespace"},
                        {"apiVersion", "v1"},
                        {"metadata",
                         {{"name", name},
                          {"uid", "uid-ns-" + name},
                          {"resourceVersion", "90211"},
                          {"labels", {{"kubernetes.io/metadata.name", name}}}}},
                        {"spec", {{"finalizers", {"kubernetes"}}}},
                        {"status", {{"phase", "Active"}}}};
  } else {
    e.level = "Metadata";
  }
  return e;
}

// unexpected-namespace-creator: while learning, the namespace creators (CI, an administrator)
// are learned silently; afterwards their namespaces are not reported, a new creator's is, once,
// medium, also when the event has no body (the name then from the body is missing: from
// objectRef when the API server logged it); a creation that failed and a namespace deleted are
// not; trusted identities silence it; accepting the finding into the baseline silences the
// creator from then on.
TEST_CASE("NamespaceCreatedByAnIdentityNeverSeenCreatingOne", "[detections]") {
  const std::string ci = "system:serviceaccount:ci:deployer";
  auto run = [&](DetectorOptions o, Baseline& baseline) {
    o.baseline = &baseline;
    Detector d(o);
    CHECK(feed(d, namespaceCreation("shop", ci, 1).str()).empty());
    CHECK(feed(d, namespaceCreation("sandbox", "alice@example.com", 2).str()).empty());
    // After learning.
    CHECK(feed(d, namespaceCreation("shop-staging", ci, 9).str()).empty());
    CHECK(feed(d, namespaceCreation("team-b", "alice@example.com", 9, false).str()).empty());
    Ev denied = namespaceCreation("tunnel", "mallory@example.com", 10);
    denied.code = 403;
    denied.responseObject = nullptr;
    CHECK(feed(d, denied.str()).empty());
    Ev deleted = namespaceCreation("sandbox", "mallory@example.com", 10, false);
    deleted.verb = "delete";
    deleted.code = 200;
    deleted.name = "sandbox";
    CHECK(feed(d, deleted.str()).empty());
    std::vector<Finding> all =
        feed(d, namespaceCreation("tunnel", "mallory@example.com", 11).str());
    // Once: mallory's next namespace is not reported again.
    CHECK(feed(d, namespaceCreation("tunnel-2", "mallory@example.com", 11, false).str()).empty());
    const auto bodyless = feed(d, namespaceCreation("x", "bob@example.com", 12, false).str());
    all.insert(all.end(), bodyless.begin(), bodyless.end());
    return all;
  };

  Baseline baseline(BaselineOptions{7 * kDay, 64, 1000});
  const auto fs = run(DetectorOptions{}, baseline);
  REQUIRE(rules(fs) ==
          std::vector<std::string>{"unexpected-namespace-creator", "unexpected-namespace-creator"});
  CHECK(fs[0].severity == Severity::kMedium);
  CHECK(fs[0].technique == "T1078");
  CHECK(fs[0].kind == "Namespace");
  CHECK(fs[0].namespace_.empty());
  CHECK(fs[0].name == "tunnel");
  CHECK(fs[0].details.at("value") == "mallory@example.com");
  CHECK(fs[0].details.count("newKey") == 0);
  CHECK(fs[0].summary ==
        "mallory@example.com created Namespace tunnel: never seen creating a "
        "namespace");
  CHECK(fs[1].user == "bob@example.com");
  CHECK(fs[1].summary ==
        "bob@example.com created Namespace (name not logged): never seen creating a namespace");
  // Only the creator is learned for namespaces: no client, no image source.
  const json shown = baseline.show();
  REQUIRE(shown["keys"].size() == 1);
  CHECK(shown["keys"][0]["kind"] == "Namespace");
  CHECK(shown["keys"][0]["namespace"] == "");
  CHECK(shown["keys"][0]["creator"].size() == 4);
  CHECK(shown["keys"][0]["user-agent"].empty());

  // Accepting the finding: bob's next namespace is not reported.
  std::string error;
  REQUIRE(baseline.acceptFinding(toJson(fs[1]), &error));
  {
    DetectorOptions o;
    o.baseline = &baseline;
    Detector d(o);
    CHECK(feed(d, namespaceCreation("y", "bob@example.com", 13).str()).empty());
    CHECK(rules(feed(d, namespaceCreation("z", "eve@example.com", 13).str())) ==
          std::vector<std::string>{"unexpected-namespace-creator"});
  }

  DetectorOptions o;
  o.trustedIdentities["unexpected-namespace-creator"] = {"mallory@example.com", "bob@*"};
  Baseline fresh(BaselineOptions{7 * kDay, 64, 1000});
  CHECK(run(o, fresh).empty());
}

}  // namespace
}  // namespace kc::audit
