// Tests of the system-namespace-workload rule.
#include <catch2/catch.hpp>

#include "controller/detect/detections.h"
#include "test/controller/detect/detect_test_util.h"

namespace kc::audit {
namespace {

using namespace detect_test;

TEST_CASE("SystemNamespacesWrittenByNonSystemIdentities", "[detections]") {
  Detector d(DetectorOptions{});
  auto create = [&](const std::string& ns, const std::string& name, const std::string& user,
                    const std::string& id) { return createDeployment(d, ns, name, user, id); };
  auto fs = create("kube-system", "metrics-helper", "alice@example.com", "s1");
  REQUIRE(rule(fs, "system-namespace-workload") != nullptr);
  CHECK(rule(fs, "system-namespace-workload")->severity == Severity::kHigh);
  CHECK(create("kube-system", "coredns",
               "system:serviceaccount:kube-system:generic-garbage-collector", "s2")
            .empty());
  // Another namespace's service account is not a system identity.
  CHECK(rule(create("kube-public", "x", "system:serviceaccount:ci:deployer", "s3"),
             "system-namespace-workload") != nullptr);
}

// An administrator's own Deployment in kube-node-lease is high; the look-alikes (a namespace
// only named like a system one, the GitOps account's add-on once trusted) are not reported.
TEST_CASE("SystemNamespaceWorkloadLookAlikesAndTrustedIdentities", "[detections]") {
  auto create = [](Detector& d, const std::string& ns, const std::string& name,
                   const std::string& user) {
    json dep = deployment(ns, name, "uid-" + ns + "-" + name,
                          "registry.k8s.io/metrics-server/metrics-server:v0.7.1");
    Ev e;
    e.auditID = "a-" + ns + "-" + name;
    e.uri =
        "/apis/apps/v1/namespaces/" + ns + "/deployments?fieldManager=kubectl-client-side-apply";
    e.user = user;
    e.resource = "deployments";
    e.apiGroup = "apps";
    e.ns = ns;
    e.name = name;
    e.requestObject = dep;
    e.responseObject = dep;
    return feed(d, e.str());
  };
  Detector d(DetectorOptions{});
  auto fs = create(d, "kube-node-lease", "metrics-helper", "alice@example.com");
  REQUIRE(rules(fs) == std::vector<std::string>{"system-namespace-workload"});
  CHECK(fs[0].severity == Severity::kHigh);
  CHECK(fs[0].technique == "T1610");
  CHECK(fs[0].summary ==
        "alice@example.com created Deployment kube-node-lease/metrics-helper in a system "
        "namespace");
  CHECK(create(d, "kube-system-tools", "metrics-helper", "alice@example.com").empty());
  // system:anonymous is not a system identity (and its allowed write is reported as such too).
  CHECK(rules(create(d, "kube-public", "metrics-helper", "system:anonymous")) ==
        std::vector<std::string>{"anonymous-request-allowed", "system-namespace-workload"});

  DetectorOptions o;
  o.trustedIdentities["system-namespace-workload"] = {"system:serviceaccount:flux-system:*"};
  Detector trusting(o);
  CHECK(create(trusting, "kube-system", "metrics-server",
               "system:serviceaccount:flux-system:kustomize-controller")
            .empty());
  CHECK(rules(create(trusting, "kube-system", "metrics-server-2", "alice@example.com")) ==
        std::vector<std::string>{"system-namespace-workload"});
}

// A workload created in a system namespace and logged without its body is reported from the
// request line and the identity; the system's own identities and trusted ones are not.
TEST_CASE("SystemNamespaceCreationsLoggedWithoutBodiesAreReported", "[detections]") {
  Detector d(DetectorOptions{});
  auto fs = writeWithoutBody(d, "n-1", "create", "mallory@example.com", "apps", "deployments",
                             "kube-system", "metrics-helper");
  REQUIRE(rules(fs) == std::vector<std::string>{"system-namespace-workload"});
  CHECK(fs[0].severity == Severity::kHigh);
  CHECK(fs[0].details.at("body") == "not logged");
  CHECK(fs[0].summary ==
        "mallory@example.com created Deployment kube-system/metrics-helper in a system namespace "
        "(the audit policy did not log its body)");
  CHECK(writeWithoutBody(d, "n-2", "create",
                         "system:serviceaccount:kube-system:replicaset-controller", "apps",
                         "replicasets", "kube-system", "coredns-5d78c9869d")
            .empty());
  CHECK(writeWithoutBody(d, "n-3", "create", "mallory@example.com", "apps", "deployments", "shop",
                         "web")
            .empty());
  DetectorOptions o;
  o.trustedIdentities["system-namespace-workload"] = {"platform-admin@example.com"};
  Detector trusting(o);
  CHECK(writeWithoutBody(trusting, "n-4", "create", "platform-admin@example.com", "apps",
                         "deployments", "kube-system", "metrics-server")
            .empty());
}

// The system scope: built in, a "system:" username the control plane does not use (a client
// certificate anyone may have had signed as system:admin, GKE's addon manager on a cluster
// without the preset) is not a system identity; a managed cluster's preset adds its namespaces
// and identities; the settings add more namespaces and identities (their service accounts are
// system identities too).
TEST_CASE("SystemScopeFromTheBuiltInListsPresetsAndSettings", "[detections]") {
  auto created = [](const DetectorOptions& o, const std::string& user, const std::string& ns) {
    Detector d(o);
    return rules(writeWithoutBody(d, "p-1", "create", user, "apps", "daemonsets", ns, "agent"));
  };
  const std::vector<std::string> reported = {"system-namespace-workload", "daemonset-created"};
  const std::vector<std::string> quiet = {"daemonset-created"};
  DetectorOptions builtIn;
  CHECK(created(builtIn, "system:admin", "kube-system") == reported);
  CHECK(created(builtIn, "system:addon-manager", "kube-system") == reported);
  CHECK(created(builtIn, "system:kube-controller-manager", "kube-system") == quiet);
  CHECK(created(builtIn, "mallory@example.com", "gke-managed-cim") == quiet);

  DetectorOptions gke;
  gke.system = policy::SystemScope::with({"gke"}, {}, {});
  CHECK(created(gke, "system:addon-manager", "kube-system") == quiet);
  CHECK(created(gke, "service-123456789012@container-engine-robot.iam.gserviceaccount.com",
                "kube-system") == quiet);
  CHECK(created(gke, "mallory@example.com", "gke-managed-cim") == reported);
  CHECK(created(gke, "system:serviceaccount:gke-managed-system:dashboard", "kube-system") == quiet);
  CHECK(created(gke, "system:admin", "kube-system") == reported);
  CHECK(created(gke, "eks:addon-manager", "kube-system") == reported);

  DetectorOptions eks;
  eks.system = policy::SystemScope::with({"eks"}, {}, {});
  CHECK(created(eks, "eks:addon-manager", "kube-system") == quiet);
  CHECK(created(eks, "system:serviceaccount:kube-system:aws-node", "kube-system") == quiet);
  DetectorOptions aks;
  aks.system = policy::SystemScope::with({"aks"}, {}, {});
  CHECK(created(aks, "aksService", "kube-system") == quiet);
  CHECK(created(aks, "mallory@example.com", "gatekeeper-system") == reported);

  DetectorOptions settings;
  settings.system =
      policy::SystemScope::with({"none"}, {"platform-*"}, {"system:serviceaccount:argocd:*"});
  CHECK(created(settings, "mallory@example.com", "platform-agents") == reported);
  CHECK(created(settings, "system:serviceaccount:argocd:argocd-application-controller",
                "kube-system") == quiet);
  CHECK(created(settings, "system:serviceaccount:platform-agents:installer", "kube-system") ==
        quiet);
  CHECK(created(settings, "system:serviceaccount:shop:ci", "kube-system") == reported);
}

}  // namespace
}  // namespace kc::audit
