// Tests of the host-port rule.
#include <catch2/catch.hpp>

#include "controller/detect/detections.h"
#include "test/controller/detect/detect_test_util.h"

namespace kc::audit {
namespace {

using namespace detect_test;

// A container binding a port of the node is medium; the look-alike that only declares its
// container port is not reported; the identity that deploys the ingress controller can be trusted.
TEST_CASE("HostPortAndItsLookAlike", "[detections]") {
  auto create = [](Detector& d, const std::string& name, const std::string& user, json ports) {
    return createPod(d, "shop", name, user, "docker.io/linuxserver/openssh-server:9.7",
                     json::object(), {{"ports", ports}});
  };
  Detector d(DetectorOptions{});
  auto fs = create(d, "sshd", "bob@example.com",
                   {{{"containerPort", 22}, {"hostPort", 2222}, {"protocol", "TCP"}}});
  REQUIRE(rules(fs) == std::vector<std::string>{"host-port"});
  CHECK(fs[0].severity == Severity::kMedium);
  CHECK(fs[0].technique == "T1610");
  CHECK(fs[0].details.at("what") == "app:2222");
  CHECK(fs[0].containers == std::vector<std::string>{"app"});

  CHECK(create(d, "sshd-internal", "bob@example.com",
               {{{"containerPort", 22}, {"name", "ssh"}, {"protocol", "TCP"}}})
            .empty());

  DetectorOptions o;
  o.trustedIdentities["host-port"] = {"system:serviceaccount:ingress-nginx:*"};
  Detector trusting(o);
  const json web = {{{"containerPort", 443}, {"hostPort", 443}, {"protocol", "TCP"}}};
  CHECK(create(trusting, "edge", "system:serviceaccount:ingress-nginx:ingress-nginx", web).empty());
  CHECK(rules(create(trusting, "edge-2", "bob@example.com", web)) ==
        std::vector<std::string>{"host-port"});
}

}  // namespace
}  // namespace kc::audit
