// Tests of the audit detector as a whole: the adversary emulations of the detection strategy,
// attribution through controllers, the once-per-request bound, memory bounds, hostile bodies,
// the fuzzing corpus seeds, the catalogue, and what holds for every rule. The tests of each
// rule are in test/controller/detect/.
#include <catch2/catch.hpp>
#include <filesystem>
#include <functional>
#include <map>
#include <random>

#include "controller/detect/detections.h"
#include "test/controller/detect/detect_test_util.h"
#include "test/test_util.h"

namespace kc::audit {
namespace {

using namespace detect_test;

TEST_CASE("CatalogIsBoundedKebabCaseWithTechniques", "[detections]") {
  for (const auto& r : detectionRules()) {
    INFO(r.id);
    CHECK(r.id.find_first_not_of("abcdefghijklmnopqrstuvwxyz-") == std::string_view::npos);
    CHECK(r.technique.rfind("T1", 0) == 0);
    CHECK_FALSE(r.techniqueName.empty());
  }
  CHECK(findRule("pod-exec") != nullptr);
  CHECK(findRule("nope") == nullptr);
}

// Every rule of the catalogue has a test file that names it, and every test file there is built
// (named in its directory's CMakeLists.txt): the audit door's rules in test/controller/detect/,
// the node door's in test/node/. A rule cannot land without its tests.
TEST_CASE("EveryRuleHasItsTestFile", "[detections]") {
  auto testFiles = [](const std::filesystem::path& dir) {
    const std::string cmake = kc::testing::readFile((dir / "CMakeLists.txt").string());
    std::map<std::string, std::string> files;  // file name -> text
    for (const auto& entry : std::filesystem::directory_iterator(dir)) {
      const std::string name = entry.path().filename().string();
      if (!name.ends_with("_test.cc")) continue;
      INFO(name);
      CHECK(cmake.find(" " + name) != std::string::npos);
      files[name] = kc::testing::readFile(entry.path().string());
    }
    return files;
  };
  const auto audit = testFiles(KC_DETECT_TEST_DIR);
  const auto node = testFiles(KC_NODE_TEST_DIR);
  REQUIRE(audit.size() >= 20);
  for (const auto& r : detectionRules()) {
    INFO(r.id);
    const std::string quoted = "\"" + std::string(r.id) + "\"";
    size_t naming = 0;
    for (const auto& [name, text] : readsAuditEvents(r) ? audit : node) {
      if (text.find(quoted) != std::string::npos) ++naming;
    }
    CHECK(naming > 0);
  }
}

// Adversary emulation 1: `kubectl create deployment tunnel --image=ngrok/ngrok:latest` in a
// namespace nobody uses, after the baseline has learned the cluster's normal creations.
TEST_CASE("EmulationTunnelingDeploymentInUnusedNamespaceNamesTheHuman", "[detections][emulation]") {
  Baseline baseline(BaselineOptions{7 * kDay, 64, 1000});
  DetectorOptions o;
  o.policies = defaultPolicies;
  o.baseline = &baseline;
  Detector d(o);

  // Learning: the shop team deploys through CI.
  auto learned = rollOut(d, "system:serviceaccount:ci:deployer", "shop", "web",
                         "registry.example.com/shop/web:1.4.2", 1, "web");
  CHECK(rule(learned, "unexpected-creator") == nullptr);
  CHECK(rule(learned, "policy-violation") == nullptr);

  // Day 10, after learning: the tunnel.
  auto fs = rollOut(d, "dev-intern@example.com", "legacy-sandbox", "tunnel", "ngrok/ngrok:latest",
                    10, "tunnel");
  const Finding* creator = rule(fs, "unexpected-creator");
  REQUIRE(creator != nullptr);
  CHECK(creator->user == "dev-intern@example.com");
  CHECK(creator->kind == "Deployment");
  CHECK(creator->namespace_ == "legacy-sandbox");
  CHECK(creator->severity == Severity::kMedium);
  CHECK(creator->technique == "T1078");
  CHECK(creator->details.at("newKey") == "true");

  const Finding* source = rule(fs, "unexpected-image-source");
  REQUIRE(source != nullptr);
  CHECK(source->details.at("value") == "docker.io/ngrok/ngrok");
  CHECK(source->technique == "T1610");
  REQUIRE(rule(fs, "unexpected-user-agent") != nullptr);
  CHECK(rule(fs, "unexpected-user-agent")->details.at("value") == "kubectl");

  // The policy engine re-applied: the denied tunneling image.
  const Finding* policy = rule(fs, "policy-violation");
  REQUIRE(policy != nullptr);
  CHECK(policy->severity == Severity::kHigh);
  CHECK(policy->technique == "T1610");
  CHECK(policy->details.at("rules").find("image.denied") != std::string::npos);
  CHECK(policy->user == "dev-intern@example.com");
  CHECK(policy->images == std::vector<std::string>{"ngrok/ngrok:latest"});

  // The ReplicaSet and Pod made by the controllers are attributed to the human and do not repeat
  // what the Deployment was reported for.
  int novelties = 0, violations = 0;
  for (const auto& f : fs) {
    if (f.rule.rfind("unexpected-", 0) == 0) ++novelties;
    if (f.rule == "policy-violation") ++violations;
    CHECK(f.user == "dev-intern@example.com");
  }
  CHECK(novelties == 3);
  CHECK(violations == 1);
  TrackedObject* p = d.objects().find("pod-tunnel");
  REQUIRE(p != nullptr);
  CHECK(p->actor == "dev-intern@example.com");
  CHECK(p->actorUserAgent == kKubectl);
  CHECK(d.objects().rootUid("pod-tunnel") == "dep-tunnel");

  const json j = toJson(*creator);
  for (const char* k :
       {"rule", "severity", "technique", "auditID", "namespace", "user", "summary"}) {
    CHECK(j.contains(k));
  }
  CHECK(j["severity"] == "medium");
  CHECK(j["auditID"] == "a-dep-tunnel");
}

// A rollout (image change) of a Deployment makes a new ReplicaSet; the controller's creation is
// attributed to the human who changed the Deployment.
TEST_CASE("ControllerCreationsAreAttributedToTheLastHumanChanger", "[detections]") {
  Baseline baseline(BaselineOptions{kDay, 64, 1000});
  DetectorOptions o;
  o.baseline = &baseline;
  Detector d(o);
  rollOut(d, "alice@example.com", "shop", "web", "registry.example.com/shop/web:1", 1, "web");

  Ev patch;
  patch.auditID = "a-patch";
  patch.verb = "patch";
  patch.code = 200;
  patch.uri = "/apis/apps/v1/namespaces/shop/deployments/web?fieldManager=kubectl-set";
  patch.user = "alice@example.com";
  patch.resource = "deployments";
  patch.apiGroup = "apps";
  patch.ns = "shop";
  patch.name = "web";
  patch.requestObject = {
      {"spec",
       {{"template",
         {{"spec", {{"containers", {{{"name", "app"}, {"image", "quay.io/evil/web:2"}}}}}}}}}}};
  patch.responseObject = deployment("shop", "web", "dep-web", "quay.io/evil/web:2");
  patch.time = at(5);
  auto fs = feed(d, patch.str());
  CHECK(rule(fs, "workload-image-changed") == nullptr);  // alice created it

  json rs = replicaSet("shop", "web-7f9b8c", "rs-web-2", "web", "dep-web", "quay.io/evil/web:2");
  Ev r;
  r.auditID = "a-rs2";
  r.uri = "/apis/apps/v1/namespaces/shop/replicasets";
  r.user = "system:serviceaccount:kube-system:deployment-controller";
  r.userAgent = kKcmPrefix + "deployment-controller";
  r.resource = "replicasets";
  r.apiGroup = "apps";
  r.ns = "shop";
  r.responseObject = rs;
  r.time = at(5);
  fs = feed(d, r.str());
  const Finding* src = rule(fs, "unexpected-image-source");
  REQUIRE(src != nullptr);
  CHECK(src->user == "alice@example.com");
  CHECK(src->requestUser == "system:serviceaccount:kube-system:deployment-controller");
  CHECK(src->details.at("value") == "quay.io/evil/web");
  CHECK(rule(fs, "unexpected-user-agent") == nullptr);  // alice's kubectl, learned
  CHECK(toJson(*src)["user"] == "alice@example.com");

  // Its pod: same chain, not reported again.
  json p = pod("shop", "web-7f9b8c-abcde", "pod-web-2", "quay.io/evil/web:2",
               ownerRef("ReplicaSet", "web-7f9b8c", "rs-web-2"));
  Ev pe;
  pe.auditID = "a-pod2";
  pe.uri = "/api/v1/namespaces/shop/pods";
  pe.user = "system:serviceaccount:kube-system:replicaset-controller";
  pe.resource = "pods";
  pe.ns = "shop";
  pe.responseObject = p;
  pe.time = at(5);
  fs = feed(d, pe.str());
  CHECK(rule(fs, "unexpected-image-source") == nullptr);
  CHECK(d.objects().find("pod-web-2")->actor == "alice@example.com");
}

// Adversary emulation 2: a privileged DaemonSet mounting the node's root filesystem.
TEST_CASE("EmulationPrivilegedDaemonSetWithHostRoot", "[detections][emulation]") {
  DetectorOptions o;
  o.policies = defaultPolicies;
  Detector d(o);
  const json ds = json::parse(R"({
    "kind": "DaemonSet", "apiVersion": "apps/v1",
    "metadata": {"name": "node-exporter-extra", "namespace": "monitoring", "uid": "ds-1",
                 "generation": 1, "creationTimestamp": "2026-01-10T09:00:00Z"},
    "spec": {
      "selector": {"matchLabels": {"app": "nx"}},
      "template": {
        "metadata": {"labels": {"app": "nx"}},
        "spec": {
          "hostPID": true,
          "containers": [{
            "name": "app", "image": "docker.io/library/alpine:3.19",
            "command": ["/bin/sh", "-c", "chroot /host sh"],
            "securityContext": {"privileged": true},
            "volumeMounts": [{"name": "host", "mountPath": "/host"}]
          }],
          "volumes": [{"name": "host", "hostPath": {"path": "/", "type": ""}}],
          "restartPolicy": "Always", "dnsPolicy": "ClusterFirst"
        }
      },
      "updateStrategy": {"type": "RollingUpdate"}
    },
    "status": {}
  })");
  Ev e;
  e.auditID = "a-ds";
  e.uri = "/apis/apps/v1/namespaces/monitoring/daemonsets";
  e.user = "mallory@example.com";
  e.resource = "daemonsets";
  e.apiGroup = "apps";
  e.ns = "monitoring";
  e.requestObject = ds;
  e.responseObject = ds;
  // The webhook did not stop it: the apiserver recorded that it failed open.
  e.annotations["failed-open.validating.webhook.admission.k8s.io/round_0_index_0"] =
      "validate.kube-customs.io";
  auto fs = feed(d, e.str());

  const Finding* priv = rule(fs, "privileged-container");
  REQUIRE(priv != nullptr);
  CHECK(priv->severity == Severity::kHigh);
  CHECK(priv->technique == "T1611");
  CHECK(priv->container() == "app");
  const Finding* hp = rule(fs, "sensitive-host-path");
  REQUIRE(hp != nullptr);
  CHECK(hp->severity == Severity::kCritical);
  CHECK(hp->details.at("what") == "/");
  const Finding* created = rule(fs, "daemonset-created");
  REQUIRE(created != nullptr);
  CHECK(created->severity == Severity::kMedium);
  CHECK(created->user == "mallory@example.com");
  REQUIRE(rule(fs, "host-namespace") != nullptr);
  CHECK(rule(fs, "host-namespace")->severity == Severity::kHigh);
  // pod-security-baseline enforces on pods, and only warns on templates (as the webhook does).
  CHECK(rule(fs, "policy-violation") == nullptr);

  // The daemon-set controller's pods: the enforced policy catches them, attributed to mallory;
  // what the template was already reported for is not repeated.
  json p = ds;
  p["kind"] = "Pod";
  p["apiVersion"] = "v1";
  p["metadata"] = {{"name", "node-exporter-extra-4kq9z"},
                   {"namespace", "monitoring"},
                   {"uid", "ds-pod-1"},
                   {"ownerReferences",
                    {{{"apiVersion", "apps/v1"},
                      {"kind", "DaemonSet"},
                      {"name", "node-exporter-extra"},
                      {"uid", "ds-1"},
                      {"controller", true},
                      {"blockOwnerDeletion", true}}}}};
  p["spec"] = ds["spec"]["template"]["spec"];
  p["spec"]["nodeName"] = "worker-3";
  Ev pe = e;
  pe.auditID = "a-ds-pod";
  pe.uri = "/api/v1/namespaces/monitoring/pods";
  pe.user = "system:serviceaccount:kube-system:daemon-set-controller";
  pe.userAgent = kKcmPrefix + "system:serviceaccount:kube-system:daemon-set-controller";
  pe.resource = "pods";
  pe.apiGroup = "";
  pe.requestObject = p;
  pe.responseObject = p;
  auto podFindings = feed(d, pe.str());
  REQUIRE(podFindings.size() == 1);
  const Finding* policy = &podFindings[0];
  CHECK(policy->rule == "policy-violation");
  CHECK(policy->severity == Severity::kHigh);
  CHECK(policy->user == "mallory@example.com");
  CHECK(policy->requestUser == "system:serviceaccount:kube-system:daemon-set-controller");
  CHECK(policy->details.at("rules").find("pss.privileged") != std::string::npos);
  CHECK(policy->details.at("rules").find("pss.hostPathVolumes") != std::string::npos);
  CHECK(policy->details.at("failedOpenWebhooks") == "validate.kube-customs.io");

  // The same object updated later (scaled, relabelled) is not reported again.
  Ev u = e;
  u.auditID = "a-ds-update";
  u.verb = "update";
  u.code = 200;
  u.name = "node-exporter-extra";
  u.time = at(11);
  fs = feed(d, u.str());
  CHECK(rules(fs).empty());
}

// Adversary emulation 3: exec into a pod to read its service-account token.
TEST_CASE("EmulationExecReadingServiceAccountToken", "[detections][emulation]") {
  Detector d(DetectorOptions{});
  const std::string started = R"({"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata",
    "auditID":"6a1f0b63-3a1e-4d0c-9b52-0c5f2e0f9b11","stage":"ResponseStarted",
    "requestURI":"/api/v1/namespaces/shop/pods/web-6d4cf56db6-x7k2p/exec?command=cat&command=%2Fvar%2Frun%2Fsecrets%2Fkubernetes.io%2Fserviceaccount%2Ftoken&container=app&stderr=true&stdout=true",
    "verb":"create","user":{"username":"mallory@example.com","groups":["developers","system:authenticated"]},
    "sourceIPs":["203.0.113.50"],"userAgent":"kubectl/v1.30.1 (linux/amd64) kubernetes/7c48c2b",
    "objectRef":{"resource":"pods","namespace":"shop","name":"web-6d4cf56db6-x7k2p","apiVersion":"v1","subresource":"exec"},
    "responseStatus":{"metadata":{},"code":101},
    "requestReceivedTimestamp":"2026-01-10T10:00:00.100000Z","stageTimestamp":"2026-01-10T10:00:00.180000Z",
    "annotations":{"authorization.k8s.io/decision":"allow","authorization.k8s.io/reason":"RBAC: allowed by RoleBinding \"dev/shop\" of ClusterRole \"edit\" to Group \"developers\""}})";
  auto fs = feed(d, started);
  REQUIRE(fs.size() == 1);
  const Finding& f = fs[0];
  CHECK(f.rule == "pod-exec");
  CHECK(f.severity == Severity::kHigh);
  CHECK(f.technique == "T1609");
  CHECK(f.user == "mallory@example.com");
  CHECK(f.namespace_ == "shop");
  CHECK(f.name == "web-6d4cf56db6-x7k2p");
  CHECK(f.container() == "app");
  CHECK(f.sourceIP == "203.0.113.50");
  CHECK(f.command.find("/var/run/secrets/kubernetes.io/serviceaccount/token") != std::string::npos);
  REQUIRE_FALSE(f.indicators.empty());
  CHECK(f.indicators[0].rfind("sa_token_read", 0) == 0);
  CHECK(f.summary.find("sa_token_read") != std::string::npos);

  // Its ResponseComplete is the same request: no second finding.
  std::string complete = started;
  complete.replace(complete.find("ResponseStarted"), 15, "ResponseComplete");
  CHECK(feed(d, complete).empty());

  // With ResponseStarted omitted by the audit policy, ResponseComplete decides.
  std::string onlyComplete = complete;
  onlyComplete.replace(onlyComplete.find("6a1f0b63"), 8, "7b2e1c74");
  REQUIRE(feed(d, onlyComplete).size() == 1);

  // A denied exec is not a finding.
  std::string denied = started;
  denied.replace(denied.find("6a1f0b63"), 8, "8c3f2d85");
  denied.replace(denied.find("\"code\":101"), 10, "\"code\":403");
  CHECK(feed(d, denied).empty());
}

TEST_CASE("RequestLevelRulesDecideOncePerRequestWithinTheBound", "[detections]") {
  DetectorOptions o;
  o.maxTrackedRequests = 4;
  Detector d(o);
  std::vector<kc::audit::DedupeKey> hooked;  // what the audit role journals
  d.setDecidedHook([&](const kc::audit::DedupeKey& k) { hooked.push_back(k); });
  auto exec = [](const std::string& id, const std::string& stage) {
    Ev x;
    x.auditID = id;
    x.stage = stage;
    x.code = 101;
    x.level = "Metadata";
    x.uri = "/api/v1/namespaces/shop/pods/p/exec?command=ls&container=app";
    x.user = "mallory@example.com";
    x.resource = "pods";
    x.subresource = "exec";
    x.ns = "shop";
    x.name = "p";
    return x.str();
  };
  REQUIRE(rules(feed(d, exec("exec-1", "ResponseStarted"))) ==
          std::vector<std::string>{"pod-exec"});
  auto watch = [](const std::string& id, const std::string& user) {
    Ev w;
    w.auditID = id;
    w.stage = "ResponseStarted";
    w.verb = "watch";
    w.code = 200;
    w.level = "Metadata";
    w.uri = "/api/v1/namespaces/shop/pods?watch=true";
    w.user = user;
    w.resource = "pods";
    w.ns = "shop";
    return w;
  };
  // Many long-running requests no rule applies to (watches) do not crowd it out.
  for (int i = 0; i < 50; ++i) {
    CHECK(feed(d, watch("watch-" + std::to_string(i), "system:serviceaccount:shop:runner").str())
              .empty());
  }
  // Nor do the watches of people behind an impersonating proxy (Rancher, kube-oidc-proxy),
  // which the impersonation rule looks at and does not report.
  for (int i = 0; i < 50; ++i) {
    Ev w = watch("proxied-" + std::to_string(i), "system:serviceaccount:cattle-system:rancher");
    w.impersonated = {{"username", "bob@example.com"}, {"groups", {"developers"}}};
    CHECK(feed(d, w.str()).empty());
  }
  CHECK(feed(d, exec("exec-1", "ResponseComplete")).empty());
  // Other execs do: the memory keeps the newest maxTrackedRequests requests.
  for (int i = 2; i <= 5; ++i) {
    CHECK(feed(d, exec("exec-" + std::to_string(i), "ResponseStarted")).size() == 1);
  }
  CHECK(feed(d, exec("exec-5", "ResponseComplete")).empty());
  CHECK(feed(d, exec("exec-2", "ResponseComplete")).empty());
  CHECK(feed(d, exec("exec-1", "ResponseComplete")).size() == 1);  // forgotten: decided again
  // A request that only logs ResponseComplete decides there, every time (not remembered).
  CHECK(feed(d, exec("exec-6", "ResponseComplete")).size() == 1);
  CHECK(feed(d, exec("exec-6", "ResponseComplete")).size() == 1);
  // Each session reported on its start was handed to the hook once, as it joined the set:
  // exec-1 to exec-5, of which the set now holds the newest four.
  REQUIRE(hooked.size() == 5);
  CHECK(std::vector<kc::audit::DedupeKey>(hooked.begin() + 1, hooked.end()) ==
        d.reportedRequests());
  // Restored keys are not handed again.
  Detector restored(o);
  restored.setDecidedHook([&](const kc::audit::DedupeKey& k) { hooked.push_back(k); });
  restored.restoreReportedRequests(d.reportedRequests());
  CHECK(feed(restored, exec("exec-5", "ResponseComplete")).empty());
  CHECK(hooked.size() == 5);
}

// Adversary emulation 4: a pod created while the webhook was failing open.
TEST_CASE("EmulationPodAdmittedWhileWebhookFailedOpen", "[detections][emulation]") {
  DetectorOptions o;
  o.policies = defaultPolicies;
  Detector d(o);
  json p = pod("payments", "debug-shell", "pod-fo", "docker.io/library/busybox:1.36", nullptr,
               json::object(),
               {{"securityContext",
                 {{"privileged", true}, {"capabilities", {{"add", {"SYS_ADMIN", "NET_ADMIN"}}}}}},
                {"ports", {{{"containerPort", 22}, {"hostPort", 2222}}}}});
  Ev e;
  e.auditID = "a-fo";
  e.uri = "/api/v1/namespaces/payments/pods?fieldManager=kubectl-run";
  e.user = "bob@example.com";
  e.resource = "pods";
  e.ns = "payments";
  e.requestObject = p;
  e.responseObject = p;
  e.annotations["failed-open.validating.webhook.admission.k8s.io/round_0_index_0"] =
      "validate.kube-customs.io";
  auto fs = feed(d, e.str());
  const Finding* policy = rule(fs, "policy-violation");
  REQUIRE(policy != nullptr);
  CHECK(policy->severity == Severity::kHigh);
  CHECK(policy->details.at("rules").find("pss.privileged") != std::string::npos);
  CHECK(policy->details.at("rules").find("pss.capabilities") != std::string::npos);
  CHECK(policy->summary.find("failed open") != std::string::npos);
  CHECK_FALSE(policy->violations.empty());
  CHECK(policy->violations[0].rfind("[pod-security-baseline]", 0) == 0);
  REQUIRE(rule(fs, "dangerous-capability") != nullptr);
  CHECK(rule(fs, "dangerous-capability")->severity == Severity::kCritical);
  CHECK(rule(fs, "dangerous-capability")->details.at("what") == "app +SYS_ADMIN, app +NET_ADMIN");
  REQUIRE(rule(fs, "host-port") != nullptr);
  CHECK(rule(fs, "host-port")->details.at("what") == "app:2222");

  // The same pod denied (403) never got in: nothing.
  Detector d2(o);
  Ev denied = e;
  denied.code = 403;
  denied.responseObject = nullptr;
  CHECK(feed(d2, denied.str()).empty());
}

// Adversary emulation 5: a served workload's image swapped by an identity that never changed it.
TEST_CASE("EmulationServedWorkloadImageChangedByUnexpectedIdentity", "[detections][emulation]") {
  Detector d(DetectorOptions{});
  const std::string ci = "system:serviceaccount:ci:deployer";
  rollOut(d, ci, "shop", "storefront", "registry.example.com/shop/storefront:3.1.0", 1, "sf");

  Ev up;
  up.verb = "update";
  up.code = 200;
  up.auditID = "a-up1";
  up.uri = "/apis/apps/v1/namespaces/shop/deployments/storefront";
  up.user = ci;
  up.resource = "deployments";
  up.apiGroup = "apps";
  up.ns = "shop";
  up.name = "storefront";
  up.requestObject =
      deployment("shop", "storefront", "dep-sf", "registry.example.com/shop/storefront:3.2.0");
  up.responseObject = up.requestObject;
  up.time = at(3);
  CHECK(rule(feed(d, up.str()), "workload-image-changed") == nullptr);  // CI releases it

  Ev patch = up;
  patch.verb = "patch";
  patch.auditID = "a-patch-evil";
  patch.user = "mallory@example.com";
  patch.requestObject = {
      {"spec", {{"template", {{"spec", {{"$setElementOrder/containers", {{{"name", "app"}}}}}}}}}}};
  patch.responseObject = deployment("shop", "storefront", "dep-sf", "docker.io/attacker/defaced:1");
  patch.time = at(4);
  auto fs = feed(d, patch.str());
  const Finding* f = rule(fs, "workload-image-changed");
  REQUIRE(f != nullptr);
  CHECK(f->severity == Severity::kHigh);
  CHECK(f->technique == "T1491.001");
  CHECK(f->user == "mallory@example.com");
  CHECK(f->details.at("oldImages") == "registry.example.com/shop/storefront:3.2.0");
  CHECK(f->details.at("newImages") == "docker.io/attacker/defaced:1");
  CHECK(f->details.at("previousChangers") == ci);

  // Now mallory has changed it: a second change by mallory is not new.
  patch.auditID = "a-patch-evil-2";
  patch.responseObject = deployment("shop", "storefront", "dep-sf", "docker.io/attacker/defaced:2");
  CHECK(rule(feed(d, patch.str()), "workload-image-changed") == nullptr);

  // A command change counts too.
  json dep = deployment("shop", "storefront", "dep-sf", "docker.io/attacker/defaced:2");
  dep["spec"]["template"]["spec"]["containers"][0]["command"] = {"/bin/sh", "-c", "ngrok tcp 22"};
  Ev cmd = up;
  cmd.auditID = "a-cmd";
  cmd.user = "eve@example.com";
  cmd.requestObject = dep;
  cmd.responseObject = dep;
  fs = feed(d, cmd.str());
  REQUIRE(rule(fs, "workload-image-changed") != nullptr);
  CHECK(rule(fs, "workload-image-changed")->details.at("change") == "app: command changed");
}

// Adversary emulation 6: the admission webhook configuration deleted.
TEST_CASE("EmulationValidatingWebhookConfigurationDeleted", "[detections][emulation]") {
  Detector d(DetectorOptions{});
  const std::string ev =
      R"({"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"RequestResponse",
    "auditID":"0f5c2a9e-77d1-4b8e-a1c3-5d6e7f809a1b","stage":"ResponseComplete",
    "requestURI":"/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/kube-customs",
    "verb":"delete","user":{"username":"mallory@example.com","groups":["system:authenticated"]},
    "sourceIPs":["203.0.113.50"],"userAgent":"kubectl/v1.30.1 (linux/amd64) kubernetes/7c48c2b",
    "objectRef":{"resource":"validatingwebhookconfigurations","name":"kube-customs","apiGroup":"admissionregistration.k8s.io","apiVersion":"v1"},
    "responseStatus":{"metadata":{},"status":"Success","code":200},
    "requestObject":{"kind":"DeleteOptions","apiVersion":"meta.k8s.io/__internal","propagationPolicy":"Background"},
    "responseObject":{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Success","details":{"name":"kube-customs","group":"admissionregistration.k8s.io","kind":"validatingwebhookconfigurations","uid":"3e0b9c55-7a66-4b55-8c0c-3d7b8f4f2c10"}},
    "requestReceivedTimestamp":"2026-01-10T11:00:00.000000Z","stageTimestamp":"2026-01-10T11:00:00.012000Z",
    "annotations":{"authorization.k8s.io/decision":"allow","authorization.k8s.io/reason":"RBAC: allowed by ClusterRoleBinding \"ops\" of ClusterRole \"cluster-admin\" to User \"mallory@example.com\""}})";
  auto fs = feed(d, ev);
  REQUIRE(fs.size() == 1);
  CHECK(fs[0].rule == "webhook-config-changed");
  CHECK(fs[0].severity == Severity::kCritical);
  CHECK(fs[0].technique == "T1562.001");
  CHECK(fs[0].name == "kube-customs");
  CHECK(fs[0].user == "mallory@example.com");
  CHECK(fs[0].summary.find("deleted validatingwebhookconfigurations kube-customs") !=
        std::string::npos);

  // A change that makes a webhook fail open is named; a trusted identity is ignored.
  DetectorOptions o;
  o.trustedIdentities["webhook-config-changed"] = {"system:serviceaccount:cert-manager:*"};
  Detector d2(o);
  json cfg = {{"kind", "ValidatingWebhookConfiguration"},
              {"apiVersion", "admissionregistration.k8s.io/v1"},
              {"metadata", {{"name", "kube-customs"}}},
              {"webhooks", {{{"name", "validate.kube-customs.io"}, {"failurePolicy", "Ignore"}}}}};
  Ev up;
  up.auditID = "a-vwc";
  up.verb = "update";
  up.code = 200;
  up.uri = "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/kube-customs";
  up.user = "mallory@example.com";
  up.resource = "validatingwebhookconfigurations";
  up.apiGroup = "admissionregistration.k8s.io";
  up.name = "kube-customs";
  up.requestObject = cfg;
  up.responseObject = cfg;
  fs = feed(d2, up.str());
  REQUIRE(fs.size() == 1);
  CHECK(fs[0].severity == Severity::kHigh);
  CHECK(fs[0].details.at("failOpenWebhooks") == "validate.kube-customs.io");
  up.auditID = "a-vwc-2";
  up.user = "system:serviceaccount:cert-manager:cert-manager-cainjector";
  CHECK(feed(d2, up.str()).empty());
}

TEST_CASE("BodiesFollowTheAuditSemantics", "[detections]") {
  Detector d(DetectorOptions{});
  json priv = pod("shop", "p", "pod-p", "nginx:1.25", nullptr, json::object(),
                  {{"securityContext", {{"privileged", true}}}});
  // A patch body is not an object: without a responseObject there is nothing to judge.
  Ev patch;
  patch.auditID = "a-p";
  patch.verb = "patch";
  patch.code = 200;
  patch.user = "bob@example.com";
  patch.resource = "pods";
  patch.ns = "shop";
  patch.name = "p";
  patch.requestObject = priv;
  CHECK(feed(d, patch.str()).empty());
  // Truncated events are body-less: what is left is not judged, and that is reported.
  Ev t;
  t.auditID = "a-t";
  t.user = "bob@example.com";
  t.resource = "pods";
  t.ns = "shop";
  t.requestObject = priv;
  t.annotations["audit.k8s.io/truncated"] = "true";
  CHECK(rules(feed(d, t.str())) == std::vector<std::string>{"unjudged-object"});
  // Creation rules decide on ResponseComplete only.
  Ev rr = t;
  rr.auditID = "a-rr";
  rr.annotations.erase("audit.k8s.io/truncated");
  rr.stage = "RequestReceived";
  CHECK(feed(d, rr.str()).empty());
  // Failed creations got nothing in.
  rr.stage = "ResponseComplete";
  rr.code = 409;
  CHECK(feed(d, rr.str()).empty());
  // A create judges the requestObject when the response carries no object.
  rr.code = 201;
  CHECK(rule(feed(d, rr.str()), "privileged-container") != nullptr);
}

// Replays the detections fuzzing corpus (test/controller/detections_corpus/) with the outcome
// expected for each seed: the rules found, in order.
TEST_CASE("DetectionsCorpusSeedsGiveTheExpectedFindings", "[detections]") {
  const std::map<std::string, std::vector<std::string>> expected = {
      {"attack.jsonl",
       {"policy-violation", "privileged-container", "host-namespace", "sensitive-host-path",
        "daemonset-created", "pod-exec", "privileged-container", "policy-violation",
        "workload-image-changed", "webhook-config-changed"}},
      {"webhook_config.jsonl",
       {"webhook-config-changed", "webhook-config-changed", "webhook-config-changed"}},
      // A DaemonSet with no namespace anywhere: the object tracker hashed an empty view with
      // no data pointer (memcpy from null, found by the fuzzer under UBSan).
      {"daemonset_without_namespace.jsonl", {"daemonset-created"}},
      // kubectl expose, then patched to a NodePort, relabelled, given an external IP (which the
      // built-in service-external-ips policy would have denied at admission).
      {"service_exposure.jsonl", {"service-exposed", "policy-violation", "service-external-ips"}},
  };
  const std::filesystem::path dir =
      std::filesystem::path(KC_SOURCE_DIR) / "test/controller/detections_corpus";
  size_t files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    INFO(name);
    auto it = expected.find(name);
    REQUIRE(it != expected.end());  // every seed states its outcome
    DetectorOptions o;
    o.policies = defaultPolicies;
    Detector d(o);
    EventParser parser;
    std::vector<Finding> out;
    const auto stats = parser.parseLines(kc::testing::readFile(entry.path().string()),
                                         [&](const Event& e) { d.onEvent(e, out); });
    CHECK(stats.rejectedTotal() == 0);
    std::vector<std::string> got;
    for (const auto& f : out) got.push_back(f.rule);
    CHECK(got == it->second);
    if (name == "webhook_config.jsonl") {
      REQUIRE(out.size() == 3);
      CHECK(out[1].severity == Severity::kLow);  // the CA bundle rotation
      CHECK(out[2].details.at("changes") ==
            "webhook validate.kube-customs.io: failurePolicy Fail -> Ignore; webhook "
            "validate.kube-customs.io: namespaceSelector changed");
    }
    ++files;
  }
  CHECK(files == expected.size());
}

// Hostile or broken bodies: every node of realistic events replaced, one or a few at a time,
// by a value of another type (or a huge, deep or odd one). The detector must judge what it can,
// never crash (the suite also runs under ASan/UBSan) and stay within its bounds.
TEST_CASE("DetectorSurvivesWrongTypesAnywhereInRealisticEvents", "[detections]") {
  std::vector<json> seeds;
  {
    Ev dep;
    dep.auditID = "s-dep";
    dep.user = "alice@example.com";
    dep.resource = "deployments";
    dep.apiGroup = "apps";
    dep.ns = "shop";
    dep.responseObject = deployment("shop", "web", "uid-dep", "nginx:1.25");
    dep.requestObject = dep.responseObject;
    seeds.push_back(json::parse(dep.str()));
    Ev p;
    p.auditID = "s-pod";
    p.user = "system:serviceaccount:kube-system:replicaset-controller";
    p.resource = "pods";
    p.ns = "shop";
    json spec = {{"hostPID", true},
                 {"hostNetwork", true},
                 {"volumes", {{{"name", "root"}, {"hostPath", {{"path", "/"}}}}}}};
    json c = {{"securityContext",
               {{"privileged", true}, {"capabilities", {{"add", {"SYS_ADMIN", "NET_RAW"}}}}}},
              {"ports", {{{"containerPort", 80}, {"hostPort", 8080}}}}};
    p.responseObject = pod("shop", "web-1", "uid-pod", "ngrok/ngrok:latest",
                           ownerRef("ReplicaSet", "web-7d4", "uid-rs"), spec, c);
    seeds.push_back(json::parse(p.str()));
    Ev eph = p;
    eph.auditID = "s-eph";
    eph.verb = "patch";
    eph.subresource = "ephemeralcontainers";
    eph.user = "mallory@example.com";
    eph.responseObject["spec"]["ephemeralContainers"] = {
        {{"name", "debugger"}, {"image", "busybox"}, {"targetContainerName", "app"}}};
    seeds.push_back(json::parse(eph.str()));
    Ev vwc;
    vwc.auditID = "s-vwc";
    vwc.verb = "update";
    vwc.code = 200;
    vwc.user = "mallory@example.com";
    vwc.resource = "validatingwebhookconfigurations";
    vwc.apiGroup = "admissionregistration.k8s.io";
    vwc.name = "kube-customs";
    vwc.responseObject = {{"kind", "ValidatingWebhookConfiguration"},
                          {"metadata", {{"name", "kube-customs"}}},
                          {"webhooks",
                           {{{"name", "a"},
                             {"failurePolicy", "Ignore"},
                             {"clientConfig", {{"caBundle", "Q0E="}, {"url", "https://x"}}},
                             {"rules", {{{"operations", {"CREATE"}}}}}}}}};
    seeds.push_back(json::parse(vwc.str()));
    Ev svc;
    svc.auditID = "s-svc";
    svc.verb = "patch";
    svc.code = 200;
    svc.user = "mallory@example.com";
    svc.resource = "services";
    svc.ns = "shop";
    svc.name = "tunnel";
    svc.requestObject = {{"spec", {{"type", "NodePort"}, {"externalIPs", {"8.8.8.8"}}}}};
    svc.responseObject = {
        {"kind", "Service"},
        {"metadata", {{"name", "tunnel"}, {"namespace", "shop"}}},
        {"spec",
         {{"type", "NodePort"},
          {"externalIPs", {"8.8.8.8", "1.1.1.1"}},
          {"selector", {{"app", "tunnel"}}},
          {"ports", {{{"port", 8080}, {"nodePort", 31337}, {"protocol", "TCP"}}}}}}};
    seeds.push_back(json::parse(svc.str()));
    Ev exec;
    exec.auditID = "s-exec";
    exec.stage = "ResponseStarted";
    exec.user = "mallory@example.com";
    exec.resource = "pods";
    exec.subresource = "exec";
    exec.ns = "shop";
    exec.name = "web-1";
    exec.code = 101;
    exec.uri =
        "/api/v1/namespaces/shop/pods/web-1/exec?command=sh&command=-c&command="
        "cat%20%2Fvar%2Frun%2Fsecrets%2Fkubernetes.io%2Fserviceaccount%2Ftoken";
    exec.impersonated = {{"username", "system:admin"}, {"groups", {"system:masters"}}};
    seeds.push_back(json::parse(exec.str()));
  }
  std::mt19937 rng(20261130);
  const std::vector<json> odd = {nullptr,
                                 0,
                                 -1,
                                 1.5e308,
                                 true,
                                 "",
                                 std::string(5000, 'x'),
                                 json::array(),
                                 json::object(),
                                 json::array({nullptr, 1, "a", json::object()}),
                                 json{{"k", json::array({json::object()})}},
                                 "\xff\xfe not utf-8",
                                 "../../../etc/passwd",
                                 json::parse(std::string(60, '[') + std::string(60, ']'))};
  // Every node of a JSON document, as pointers, so that one can be picked uniformly.
  std::function<void(json&, std::vector<json*>&)> nodes = [&](json& j, std::vector<json*>& all) {
    all.push_back(&j);
    if (j.is_structured()) {
      for (auto& child : j) nodes(child, all);
    }
  };
  DetectorOptions o;
  o.policies = defaultPolicies;
  o.maxTrackedObjects = 64;
  o.maxTrackedRequests = 64;
  Baseline baseline(BaselineOptions{0, 64, 1000});
  o.baseline = &baseline;
  Detector d(o);
  EventParser parser;
  size_t events = 0, findings = 0;
  for (int i = 0; i < 6000; ++i) {
    json e = seeds[rng() % seeds.size()];
    e["auditID"] = "m-" + std::to_string(i);
    const int edits = 1 + static_cast<int>(rng() % 3);
    for (int k = 0; k < edits; ++k) {
      std::vector<json*> all;
      nodes(e, all);
      *all[rng() % all.size()] = odd[rng() % odd.size()];
    }
    std::vector<Finding> out;
    std::string text = e.dump(-1, ' ', false, json::error_handler_t::replace);
    if (rng() % 8 == 0) text.resize(rng() % text.size());  // truncated as well
    parser.parse(text, [&](const Event& ev) {
      ++events;
      d.onEvent(ev, out);
    });
    for (const Finding& f : out) {
      INFO(text);
      REQUIRE(!f.rule.empty());
      REQUIRE(!f.summary.empty());
      REQUIRE(f.severity != Severity::kInfo);
    }
    findings += out.size();
  }
  CHECK(d.objects().size() <= 64);
  // Many mutations leave an event the parser accepts (a wrong type in a top-level field
  // rejects it: that is the parser's test) and the detector still finds something in.
  CHECK(events > 1500);
  CHECK(findings > 1000);
}

TEST_CASE("MemoryStaysBounded", "[detections]") {
  DetectorOptions o;
  o.maxTrackedObjects = 50;
  o.maxTrackedRequests = 20;
  Detector d(o);
  for (int i = 0; i < 300; ++i) {
    json p = pod("shop", "p" + std::to_string(i), "uid-" + std::to_string(i), "nginx:1.25");
    Ev e;
    e.auditID = "b" + std::to_string(i);
    e.user = "ci";
    e.resource = "pods";
    e.ns = "shop";
    e.responseObject = p;
    feed(d, e.str());
    Ev x;
    x.auditID = "x" + std::to_string(i);
    x.stage = "ResponseStarted";
    x.code = 101;
    x.uri = "/api/v1/namespaces/shop/pods/p/exec?command=ls";
    x.user = "ci";
    x.resource = "pods";
    x.subresource = "exec";
    x.ns = "shop";
    x.name = "p";
    feed(d, x.str());
  }
  CHECK(d.objects().size() == 50);
  CHECK(d.objects().evicted() == 250);
  CHECK(d.objects().find("uid-0") == nullptr);
  CHECK(d.objects().find("uid-299") != nullptr);
}

// The webhook backend delivers an EventList; each item is judged as a log line would be.
TEST_CASE("JudgesEveryItemOfAWebhookEventList", "[detections]") {
  Detector d(DetectorOptions{});
  Ev exec;
  exec.auditID = "l-exec";
  exec.stage = "ResponseStarted";
  exec.code = 101;
  exec.uri =
      "/api/v1/namespaces/shop/pods/web-1/exec?command=sh&command=-c&command="
      "curl%20-s%20http%3A%2F%2F169.254.169.254%2Flatest%2Fmeta-data%2Fiam%2F&container=app";
  exec.user = "mallory@example.com";
  exec.resource = "pods";
  exec.subresource = "exec";
  exec.ns = "shop";
  exec.name = "web-1";
  exec.level = "Metadata";
  Ev done = exec;
  done.stage = "ResponseComplete";
  Ev del;
  del.auditID = "l-del";
  del.verb = "delete";
  del.code = 200;
  del.user = "mallory@example.com";
  del.resource = "mutatingwebhookconfigurations";
  del.apiGroup = "admissionregistration.k8s.io";
  del.name = "istio-sidecar-injector";
  const std::string list =
      R"({"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{},"items":[)" + exec.str() +
      "," + done.str() + "," + del.str() + "]}";
  auto fs = feed(d, list);
  REQUIRE(rules(fs) == std::vector<std::string>{"pod-exec", "webhook-config-changed"});
  CHECK(fs[0].severity == Severity::kHigh);  // cloud metadata
  CHECK(fs[1].severity == Severity::kCritical);
}

// Trusted identities are matched against the identity responsible, so trusting the GitOps
// service account also covers the pods its Deployments make.
TEST_CASE("TrustedIdentitiesFollowAttribution", "[detections]") {
  DetectorOptions o;
  o.trustedIdentities["system-namespace-workload"] = {"system:serviceaccount:argocd:*"};
  Detector d(o);
  auto fs =
      rollOut(d, "system:serviceaccount:argocd:argocd-application-controller", "kube-system",
              "metrics-server", "registry.k8s.io/metrics-server/metrics-server:v0.7.1", 1, "ms");
  CHECK(rule(fs, "system-namespace-workload") == nullptr);
  fs = rollOut(d, "alice@example.com", "kube-system", "helper", "docker.io/library/alpine:3", 1,
               "h");
  REQUIRE(rules(fs) == std::vector<std::string>{"system-namespace-workload"});
  CHECK(fs[0].kind == "Deployment");
  CHECK(fs[0].user == "alice@example.com");

  // A controller updating the Deployment (revision annotation) does not take over attribution.
  Ev up;
  up.auditID = "t-up";
  up.verb = "update";
  up.code = 200;
  up.user = "system:serviceaccount:kube-system:deployment-controller";
  up.resource = "deployments";
  up.apiGroup = "apps";
  up.ns = "kube-system";
  up.name = "helper";
  up.responseObject = deployment("kube-system", "helper", "dep-h", "docker.io/library/alpine:3");
  CHECK(feed(d, up.str()).empty());
  CHECK(d.objects().find("dep-h")->actor == "alice@example.com");
}

// GKE entries carry no requestURI: an anonymous readiness probe must not be reported as an
// anonymous request allowed, and a session's command, when the entry logs it, is scored.
TEST_CASE("GkeEntriesAreJudgedByTheirRebuiltRequestLine", "[detections][gke]") {
  DetectorOptions o;
  Detector d(o);
  const std::string probe =
      R"({"protoPayload":{"methodName":"io.k8s.get","resourceName":"readyz","authenticationInfo":{"principalEmail":"system:anonymous"},"requestMetadata":{"callerIp":"35.191.0.9"},"status":{}},"insertId":"g-probe","timestamp":"2024-05-01T10:00:05Z","labels":{"authorization.k8s.io/decision":"allow"}})";
  CHECK(feed(d, probe).empty());
  const std::string secrets =
      R"({"protoPayload":{"methodName":"io.k8s.core.v1.secrets.list","resourceName":"core/v1/secrets","authenticationInfo":{"principalEmail":"system:anonymous"},"status":{}},"insertId":"g-secrets","timestamp":"2024-05-01T10:00:06Z","labels":{"authorization.k8s.io/decision":"allow"}})";
  auto fs = feed(d, secrets);
  REQUIRE(rule(fs, "anonymous-request-allowed") != nullptr);
  CHECK(rule(fs, "anonymous-request-allowed")->summary.find("/api/v1/secrets") !=
        std::string::npos);
  const std::string exec =
      R"({"protoPayload":{"methodName":"io.k8s.core.v1.pods.exec.create","resourceName":"core/v1/namespaces/shop/pods/web/exec","authenticationInfo":{"principalEmail":"mallory@example.com"},"request":{"@type":"core.k8s.io/v1.PodExecOptions","container":"app","command":["cat","/var/run/secrets/kubernetes.io/serviceaccount/token"]},"status":{}},"insertId":"g-exec","timestamp":"2024-05-01T10:00:07Z","operation":{"id":"op-9","first":true},"labels":{"authorization.k8s.io/decision":"allow"}})";
  fs = feed(d, exec);
  const Finding* f = rule(fs, "pod-exec");
  REQUIRE(f != nullptr);
  CHECK(f->severity == Severity::kHigh);
  CHECK(f->containers == std::vector<std::string>{"app"});
}

// trustedIdentities take the policies' identity globs: `*` any run of characters, `?` one.
TEST_CASE("TrustedIdentitiesUseThePoliciesGlobs", "[detections]") {
  DetectorOptions o;
  o.trustedIdentities["pod-exec"] = {"bot-?@example.com", "system:serviceaccount:ci:*"};
  Detector d(o);
  auto exec = [&](const std::string& id, const std::string& user) {
    return rule(feed(d, shopExec(id, user).str()), "pod-exec") != nullptr;
  };
  CHECK_FALSE(exec("t1", "bot-7@example.com"));
  CHECK(exec("t2", "bot-77@example.com"));
  CHECK_FALSE(exec("t3", "system:serviceaccount:ci:deployer"));
  CHECK(exec("t4", "mallory@example.com"));
}

// Text from events is cut to its caps on character boundaries, not inside a character.
TEST_CASE("FindingTextIsCutOnCharacterBoundaries", "[detections]") {
  Detector d(DetectorOptions{});
  Ev e = shopExec("utf8-1", "mallory@example.com");
  e.userAgent = std::string(255, 'a') + "\xC3\xA9";
  const auto fs = feed(d, e.str());
  const Finding* f = rule(fs, "pod-exec");
  REQUIRE(f != nullptr);
  CHECK(f->userAgent == std::string(255, 'a'));
}

}  // namespace
}  // namespace kc::audit
