// Tests of the learned baseline rules through the Detector: unexpected-creator,
// unexpected-image-source and unexpected-user-agent.
#include <catch2/catch.hpp>

#include "controller/detections.h"
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

}  // namespace
}  // namespace kc::audit
