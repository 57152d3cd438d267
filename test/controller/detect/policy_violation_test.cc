// Tests of the policy-violation rule: the admission policies re-applied by the audit detector to
// pods, workloads, Services and exec, attach and port-forward sessions that got into the cluster.
#include <catch2/catch.hpp>

#include "controller/detect/detections.h"
#include "policies/loader.h"
#include "test/controller/detect/detect_test_util.h"

namespace kc::audit {
namespace {

using namespace detect_test;

// The admission policies' Service rules re-applied to what got in, as the webhook applies them:
// a Service whose type or externalIPs changed, judged whole.
TEST_CASE("ServicePoliciesAreReappliedToWhatGotIn", "[detections][services]") {
  auto withPolicies = [](std::shared_ptr<const policy::PolicySet> set) {
    DetectorOptions o;
    o.policies = [set] { return set; };
    return o;
  };
  Detector d(withPolicies(defaultPolicies()));
  int n = 0;
  auto service = [](const std::string& name, const std::string& ns, json spec) {
    spec["selector"] = {{"app", name}};
    spec["ports"] = {{{"port", 53}, {"protocol", "UDP"}}};
    return json{{"kind", "Service"},
                {"apiVersion", "v1"},
                {"metadata", {{"name", name}, {"namespace", ns}, {"uid", "svc-" + name}}},
                {"spec", spec}};
  };
  auto write = [&](Detector& det, const std::string& verb, const std::string& ns,
                   const json& object, json request = json()) {
    Ev e;
    e.auditID = "svcp-" + std::to_string(++n);
    e.verb = verb;
    e.code = verb == "create" ? 201 : 200;
    const std::string name = object["metadata"]["name"];
    e.uri = "/api/v1/namespaces/" + ns + "/services" + (verb == "create" ? "" : "/" + name);
    e.user = "mallory@example.com";
    e.resource = "services";
    e.ns = ns;
    e.name = name;
    e.requestObject = request.is_null() ? object : request;
    e.responseObject = object;
    return feed(det, e.str());
  };

  // The built-in policy denies externalIPs: this one got past the webhook.
  const json capture = service("dns", "sandbox", {{"externalIPs", {"8.8.8.8"}}});
  auto fs = write(d, "create", "sandbox", capture);
  REQUIRE(rules(fs) == std::vector<std::string>{"policy-violation", "service-external-ips"});
  CHECK(fs[0].severity == Severity::kHigh);
  CHECK(fs[0].kind == "Service");
  CHECK(fs[0].details.at("rules") == "service.externalIPNotAllowed");
  CHECK(fs[0].details.at("policies") == "service-external-ips");
  CHECK(fs[0].summary ==
        "Service sandbox/dns was admitted despite enforced policy violations "
        "(service.externalIPNotAllowed): the admission webhook failed open, was bypassed or was "
        "down");
  REQUIRE(fs[0].violations.size() == 1);
  CHECK(fs[0].violations[0].find("[service-external-ips] service.externalIPNotAllowed: external "
                                 "IP \"8.8.8.8\" is not allowed") == 0);
  // A change that leaves the exposure as it was is not judged again.
  json relabelled = capture;
  relabelled["metadata"]["labels"] = {{"tier", "edge"}};
  CHECK(write(d, "update", "sandbox", relabelled).empty());
  CHECK(
      write(d, "patch", "sandbox", relabelled, {{"metadata", {{"labels", {{"a", "b"}}}}}}).empty());
  // The built-in set allows NodePort; kube-system is exempt from the externalIPs policy.
  CHECK(rules(write(d, "create", "sandbox", service("np", "sandbox", {{"type", "NodePort"}}))) ==
        std::vector<std::string>{"service-exposed"});
  CHECK(rules(write(d, "create", "kube-system",
                    service("dns", "kube-system", {{"externalIPs", {"8.8.8.8"}}}))) ==
        std::vector<std::string>{"service-external-ips"});

  // A policy of one's own in audit mode: a finding of medium severity; in warn mode, none unless
  // warnings are reported.
  auto load = [](const std::string& mode) {
    auto r = policy::loadPolicies({{"s.yaml",
                                    "apiVersion: policy.kube-customs.io/v1alpha1\n"
                                    "kind: DeploymentPolicy\nmetadata: {name: types}\n"
                                    "spec:\n  mode: " +
                                        mode +
                                        "\n"
                                        "  services: {allowedTypes: [ClusterIP]}\n"}});
    REQUIRE(r.ok());
    return r.policies;
  };
  Detector audited(withPolicies(load("audit")));
  fs = write(audited, "create", "shop", service("web", "shop", {{"type", "LoadBalancer"}}));
  REQUIRE(rules(fs) == std::vector<std::string>{"policy-violation", "service-exposed"});
  CHECK(fs[0].severity == Severity::kMedium);
  CHECK(fs[0].summary == "Service shop/web violates audited policies (service.typeNotAllowed)");
  Detector warned(withPolicies(load("warn")));
  CHECK(
      rules(write(warned, "create", "shop", service("web", "shop", {{"type", "LoadBalancer"}}))) ==
      std::vector<std::string>{"service-exposed"});
  DetectorOptions reporting = withPolicies(load("warn"));
  reporting.reportWarnViolations = true;
  Detector warnedReported(reporting);
  fs = write(warnedReported, "create", "shop", service("web", "shop", {{"type", "LoadBalancer"}}));
  REQUIRE(rules(fs) == std::vector<std::string>{"policy-violation", "service-exposed"});
  CHECK(fs[0].severity == Severity::kLow);

  // A change of ports alone is judged again, as the webhook judges it, by a port policy.
  auto ports = policy::loadPolicies({{"p.yaml",
                                      "apiVersion: policy.kube-customs.io/v1alpha1\n"
                                      "kind: DeploymentPolicy\nmetadata: {name: ports}\n"
                                      "spec:\n  mode: audit\n"
                                      "  services: {allowedPorts: [53]}\n"}});
  REQUIRE(ports.ok());
  Detector byPorts(withPolicies(ports.policies));
  json dns = service("dns", "shop", json::object());
  CHECK(write(byPorts, "create", "shop", dns).empty());
  dns["spec"]["ports"][0]["port"] = 5353;
  fs = write(byPorts, "update", "shop", dns);
  REQUIRE(rules(fs) == std::vector<std::string>{"policy-violation"});
  CHECK(fs[0].summary == "Service shop/dns violates audited policies (service.portNotAllowed)");
}

// The podConnect rules re-applied to the sessions the audit log shows: an exec by an identity the
// policy does not allow got past the webhook (or the webhook was not asked).
TEST_CASE("SessionPoliciesAreReappliedToExecsThatGotThrough", "[detections][podConnect]") {
  auto r = policy::loadPolicies({{"s.yaml", R"(apiVersion: policy.kube-customs.io/v1alpha1
kind: DeploymentPolicy
metadata: {name: sessions}
spec:
  podConnect: {allowedGroups: [oncall]}
  exemptions: {namespaces: [sandbox]}
)"}});
  REQUIRE(r.ok());
  DetectorOptions o;
  o.policies = [set = r.policies] { return set; };
  Detector d(o);
  auto exec = [](const std::string& id, const std::string& stage, const std::string& ns,
                 const std::string& groups) {
    return R"({"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":")" + id +
           R"(","stage":")" + stage + R"(","requestURI":"/api/v1/namespaces/)" + ns +
           R"(/pods/web-1/exec?command=sh&container=app&stdin=true&stdout=true&tty=true",
      "verb":"create","user":{"username":"mallory@example.com","groups":)" +
           groups + R"(},
      "objectRef":{"resource":"pods","namespace":")" +
           ns +
           R"(","name":"web-1","apiVersion":"v1","subresource":"exec"},
      "responseStatus":{"metadata":{},"code":101},
      "requestReceivedTimestamp":"2026-01-10T10:00:00.100000Z",
      "stageTimestamp":"2026-01-10T10:00:00.180000Z"})";
  };
  auto fs = feed(d, exec("s-1", "ResponseStarted", "shop", R"(["system:authenticated"])"));
  REQUIRE(rules(fs) == std::vector<std::string>{"policy-violation", "pod-exec"});
  CHECK(fs[0].severity == Severity::kHigh);
  CHECK(fs[0].kind == "Pod");
  CHECK(fs[0].details.at("rules") == "podConnect.notAllowed");
  CHECK(fs[0].summary ==
        "exec into pod shop/web-1 by mallory@example.com was admitted despite enforced policy "
        "violations (podConnect.notAllowed): the admission webhook did not judge it "
        "(webhook.judgePodConnect off, or it failed open, was bypassed or was down)");
  // The same session's end is not reported again; an on-call member and an exempt namespace
  // give only the session itself.
  CHECK(feed(d, exec("s-1", "ResponseComplete", "shop", R"(["system:authenticated"])")).empty());
  CHECK(rules(feed(d, exec("s-2", "ResponseStarted", "shop", R"(["oncall"])"))) ==
        std::vector<std::string>{"pod-exec"});
  CHECK(rules(feed(d, exec("s-3", "ResponseStarted", "sandbox", R"(["devs"])"))) ==
        std::vector<std::string>{"pod-exec"});
}

// The admission policies re-applied to the same objects: pod-security-baseline enforces on
// pods, and its violation names the init container.
TEST_CASE("PolicyViolationOfAPrivilegedInitContainerNamesIt", "[detections]") {
  DetectorOptions o;
  o.policies = defaultPolicies;
  Detector d(o);
  const PodCarryingKind& k = kPodCarryingKinds[0];
  REQUIRE(k.kind == "Pod");
  const auto fs = feed(
      d,
      createEvent(k, "shop", "web-pod", "uid-pv", initEscapeSpec(), "mallory@example.com").str());
  const Finding* pv = rule(fs, "policy-violation");
  REQUIRE(pv != nullptr);
  CHECK(pv->severity == Severity::kHigh);
  CHECK(pv->kind == "Pod");
  CHECK(pv->name == "web-pod");
  CHECK(pv->details.at("rules").find("pss.privileged") != std::string::npos);
  CHECK(pv->details.at("rules").find("pss.hostPathVolumes") != std::string::npos);
  CHECK(pv->details.at("rules").find("pss.capabilities") != std::string::npos);
  bool initNamed = false;
  for (const auto& v : pv->violations) {
    if (v.find("pss.privileged (init-setup)") != std::string::npos) initNamed = true;
  }
  CHECK(initNamed);
  CHECK(std::find(pv->containers.begin(), pv->containers.end(), "init-setup") !=
        pv->containers.end());
}

// A Pod Security check that fails for several containers names them all in one violation: a
// second debugging container with the same setting as an earlier one must still be reported.
TEST_CASE("EphemeralContainersFailingOneCheckTogetherAreEachReported", "[detections]") {
  const PodCarryingKind& k = kPodCarryingKinds[0];
  REQUIRE(k.kind == "Pod");
  DetectorOptions o;
  o.policies = defaultPolicies;
  Detector d(o);
  const json spec = podTemplateSpec("registry.example.com/shop/web:1.4.2");
  Ev c = createEvent(k, "shop", "web-1", "uid-dbg", spec,
                     "system:serviceaccount:kube-system:replicaset-controller");
  CHECK(feed(d, c.str()).empty());
  json pod = podCarryingObject(k, "shop", "web-1", "uid-dbg", spec, true);
  auto debug = [&](const std::string& id, const std::vector<std::string>& names) {
    json containers = json::array();
    for (const auto& n : names) {
      containers.push_back(
          fullContainer(n, "docker.io/nicolaka/netshoot:v0.13",
                        {{"targetContainerName", "app"},
                         {"securityContext", {{"seccompProfile", {{"type", "Unconfined"}}}}}}));
    }
    pod["spec"]["ephemeralContainers"] = containers;
    Ev e;
    e.auditID = id;
    e.verb = "patch";
    e.code = 200;
    e.uri = "/api/v1/namespaces/shop/pods/web-1/ephemeralcontainers";
    e.user = "bob@example.com";
    e.resource = "pods";
    e.subresource = "ephemeralcontainers";
    e.ns = "shop";
    e.name = "web-1";
    e.requestObject = {{"spec", {{"ephemeralContainers", containers}}}};
    e.responseObject = pod;
    return feed(d, e.str());
  };
  auto violationOf = [](const std::vector<Finding>& fs) -> const Finding* {
    return rule(fs, "policy-violation");
  };
  const auto first = debug("a-dbg1", {"dbg1"});
  REQUIRE(violationOf(first) != nullptr);
  CHECK(violationOf(first)->containers == std::vector<std::string>{"dbg1"});
  const auto second = debug("a-dbg2", {"dbg1", "dbg2"});
  CHECK(rule(second, "ephemeral-container") != nullptr);
  REQUIRE(violationOf(second) != nullptr);
  CHECK(violationOf(second)->containers == std::vector<std::string>{"dbg2"});
  REQUIRE(!violationOf(second)->violations.empty());
  CHECK(violationOf(second)->violations[0].find("(dbg2)") != std::string::npos);
}

// A privileged pod that got past an enforced policy is high; the look-alike, the same pod while
// an exception waives it, is not reported: the exception is judged at the event's time, so the
// pod is reported once the exception has expired (the false positive the rule documents); the
// identity that deploys the agent can be trusted for this rule without silencing the others.
TEST_CASE("PolicyViolationExceptionsAtTheEventTimeAndTrustedIdentities", "[detections]") {
  auto r = policy::loadPolicies({{"baseline.yaml", R"(apiVersion: policy.kube-customs.io/v1alpha1
kind: DeploymentPolicy
metadata: {name: monitoring-baseline}
spec:
  mode: enforce
  podSecurity: {level: baseline, version: latest}
  exceptions:
  - rule: pss.privileged
    namespace: monitoring
    name: node-exporter-*
    owner: sre@example.com
    reason: reads host metrics until the eBPF agent replaces it
    expires: 2026-01-15
)"}});
  REQUIRE(r.ok());
  auto create = [](Detector& d, const std::string& name, const std::string& user, int day) {
    Ev e = podCreation("monitoring", name, user, "quay.io/prometheus/node-exporter:v1.8.1",
                       json::object(), {{"securityContext", {{"privileged", true}}}});
    e.time = at(day);
    return feed(d, e.str());
  };
  DetectorOptions o;
  o.policies = [set = r.policies] { return set; };
  o.trustedIdentities["policy-violation"] = {"system:serviceaccount:monitoring:deployer"};
  Detector d(o);

  // Waived on day 10: only the privileged container itself is reported.
  CHECK(rules(create(d, "node-exporter-a", "bob@example.com", 10)) ==
        std::vector<std::string>{"privileged-container"});
  // Expired on day 20: the webhook would have denied it.
  auto fs = create(d, "node-exporter-b", "bob@example.com", 20);
  REQUIRE(rules(fs) == std::vector<std::string>{"privileged-container", "policy-violation"});
  CHECK(fs[1].severity == Severity::kHigh);
  CHECK(fs[1].technique == "T1610");
  CHECK(fs[1].details.at("rules") == "pss.privileged");
  CHECK(fs[1].details.at("policies") == "monitoring-baseline");
  CHECK(fs[1].containers == std::vector<std::string>{"app"});
  // A pod the exception does not name is reported on day 10 too.
  fs = create(d, "debug-a", "bob@example.com", 10);
  CHECK(rules(fs) == std::vector<std::string>{"privileged-container", "policy-violation"});

  // The trusted identity: no policy-violation, the container rule still reports.
  CHECK(rules(create(d, "node-exporter-c", "system:serviceaccount:monitoring:deployer", 20)) ==
        std::vector<std::string>{"privileged-container"});
}

}  // namespace
}  // namespace kc::audit
