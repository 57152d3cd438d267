// Tests of the RBAC rules: rbac-dangerous-grant, rbac-privileged-binding, system-rbac-changed.
#include <catch2/catch.hpp>

#include "controller/detect/detections.h"
#include "test/controller/detect/detect_test_util.h"

namespace kc::audit {
namespace {

using namespace detect_test;

const std::string kRbac = "rbac.authorization.k8s.io";

// The envelope of a write of RBAC `resource` ns/name (cluster-wide when `ns` is empty) by `user`,
// at RequestResponse level: the object `obj` (its metadata filled in) as request and response.
Ev rbacEvent(const std::string& id, const std::string& verb, const std::string& user,
             const std::string& resource, const std::string& ns, const std::string& name,
             json obj) {
  Ev e;
  e.auditID = id;
  e.verb = verb;
  e.code = verb == "create" ? 201 : 200;
  e.user = user;
  e.apiGroup = kRbac;
  e.resource = resource;
  e.ns = ns;
  e.name = name;
  e.uri = "/apis/rbac.authorization.k8s.io/v1/" +
          (ns.empty() ? std::string() : "namespaces/" + ns + "/") + resource +
          (verb == "create" ? "" : "/" + name);
  obj["apiVersion"] = "rbac.authorization.k8s.io/v1";
  obj["metadata"]["name"] = name;
  obj["metadata"]["uid"] = "uid-" + name;
  if (!ns.empty()) obj["metadata"]["namespace"] = ns;
  e.requestObject = obj;
  e.responseObject = obj;
  return e;
}

// A Role or ClusterRole (`ns` empty) written by `user`, as the API server logs it at
// RequestResponse level.
Ev roleEvent(const std::string& id, const std::string& verb, const std::string& user,
             const std::string& ns, const std::string& name, const json& rules,
             const json& labels = json::object()) {
  json obj = {{"kind", ns.empty() ? "ClusterRole" : "Role"},
              // A braced list of one rule is that rule, not a list of it.
              {"rules", rules.is_array() ? rules : json::array({rules})}};
  if (!labels.empty()) obj["metadata"]["labels"] = labels;
  return rbacEvent(id, verb, user, ns.empty() ? "clusterroles" : "roles", ns, name, obj);
}

// A RoleBinding or ClusterRoleBinding (`ns` empty) of `roleKind` `role` to `subjects`.
Ev bindingEvent(const std::string& id, const std::string& verb, const std::string& user,
                const std::string& ns, const std::string& name, const std::string& roleKind,
                const std::string& role, const json& subjects) {
  const json obj = {{"kind", ns.empty() ? "ClusterRoleBinding" : "RoleBinding"},
                    {"roleRef", {{"apiGroup", kRbac}, {"kind", roleKind}, {"name", role}}},
                    {"subjects", subjects.is_array() ? subjects : json::array({subjects})}};
  return rbacEvent(id, verb, user, ns.empty() ? "clusterrolebindings" : "rolebindings", ns, name,
                   obj);
}

json user(const std::string& name) {
  return {{"apiGroup", "rbac.authorization.k8s.io"}, {"kind", "User"}, {"name", name}};
}

const json kExecRule = {{"apiGroups", {""}}, {"resources", {"pods/exec"}}, {"verbs", {"create"}}};
const json kReadPods = {
    {"apiGroups", {""}}, {"resources", {"pods", "pods/log"}}, {"verbs", {"get", "list", "watch"}}};

TEST_CASE("RolesGrantingAWayInAreReportedWithWhatTheyGrant", "[detections][rbac]") {
  Detector d(DetectorOptions{});
  // kubectl create clusterrole pod-debugger --verb=create --resource=pods/exec,
  // plus secrets read and impersonation.
  auto fs = feed(
      d, roleEvent("r-1", "create", "mallory@example.com", "", "pod-debugger",
                   {kExecRule,
                    {{"apiGroups", {""}}, {"resources", {"secrets"}}, {"verbs", {"list"}}},
                    {{"apiGroups", {""}}, {"resources", {"users"}}, {"verbs", {"impersonate"}}}})
             .str());
  REQUIRE(rules(fs) == std::vector<std::string>{"rbac-dangerous-grant"});
  CHECK(fs[0].severity == Severity::kHigh);
  CHECK(fs[0].technique == "T1098.006");
  CHECK(fs[0].kind == "ClusterRole");
  CHECK(fs[0].details.at("grants") == "pods/exec, secrets read, cluster-wide, impersonate");
  CHECK(fs[0].summary ==
        "mallory@example.com created ClusterRole pod-debugger to grant pods/exec, secrets read, "
        "cluster-wide, impersonate");

  // Everything: critical.
  fs = feed(d, roleEvent("r-2", "create", "mallory@example.com", "", "root",
                         {{{"apiGroups", {"*"}}, {"resources", {"*"}}, {"verbs", {"*"}}}})
                   .str());
  REQUIRE(rules(fs) == std::vector<std::string>{"rbac-dangerous-grant"});
  CHECK(fs[0].severity == Severity::kCritical);

  // A namespaced Role granting exec: one step lower (medium), and pods/* covers exec.
  fs = feed(
      d, roleEvent("r-3", "create", "dev@example.com", "shop", "debug",
                   {{{"apiGroups", {""}}, {"resources", {"pods/*"}}, {"verbs", {"get", "create"}}}})
             .str());
  REQUIRE(rules(fs) == std::vector<std::string>{"rbac-dangerous-grant"});
  CHECK(fs[0].severity == Severity::kMedium);
  CHECK(fs[0].details.at("grants") == "pods/exec, pods/attach, pods/portforward");
}

// A role that reads pods, a Role reading secrets in its own namespace, and a change that adds
// nothing dangerous are not reported; a change that adds exec reports only what it adds.
TEST_CASE("RoleLookAlikesAndChangesReportOnlyWhatTheyAdd", "[detections][rbac]") {
  Detector d(DetectorOptions{});
  CHECK(feed(d, roleEvent("l-1", "create", "dev@example.com", "", "pod-reader", {kReadPods}).str())
            .empty());
  CHECK(feed(d, roleEvent("l-2", "create", "dev@example.com", "shop", "secret-reader",
                          {{{"apiGroups", {""}}, {"resources", {"secrets"}}, {"verbs", {"get"}}}})
                    .str())
            .empty());
  // exec in another API group is not pods/exec.
  CHECK(feed(d, roleEvent("l-3", "create", "dev@example.com", "", "crd-exec",
                          {{{"apiGroups", {"example.com"}},
                            {"resources", {"pods/exec"}},
                            {"verbs", {"create"}}}})
                    .str())
            .empty());
  auto fs = feed(
      d, roleEvent("l-4", "update", "mallory@example.com", "", "pod-reader", {kReadPods, kExecRule})
             .str());
  REQUIRE(rules(fs) == std::vector<std::string>{"rbac-dangerous-grant"});
  CHECK(fs[0].details.at("grants") == "pods/exec");
  CHECK(fs[0].summary == "mallory@example.com changed ClusterRole pod-reader to grant pods/exec");
  // The same again: nothing new.
  CHECK(feed(d, roleEvent("l-5", "update", "mallory@example.com", "", "pod-reader",
                          {kReadPods, kExecRule})
                    .str())
            .empty());
}

TEST_CASE("BindingsThatHandOutTheKeysAreReported", "[detections][rbac]") {
  Detector d(DetectorOptions{});
  // kubectl create clusterrolebinding backdoor --clusterrole=cluster-admin --user=mallory
  auto fs = feed(d, bindingEvent("b-1", "create", "mallory@example.com", "", "backdoor",
                                 "ClusterRole", "cluster-admin", {user("mallory")})
                        .str());
  REQUIRE(rules(fs) == std::vector<std::string>{"rbac-privileged-binding"});
  CHECK(fs[0].severity == Severity::kCritical);
  CHECK(fs[0].details.at("role") == "ClusterRole cluster-admin");
  CHECK(fs[0].details.at("subjects") == "User mallory");
  CHECK(fs[0].summary ==
        "mallory@example.com bound ClusterRole cluster-admin to User mallory cluster-wide "
        "(ClusterRoleBinding backdoor): ClusterRole cluster-admin grants everything (verbs, "
        "resources and API groups *)");

  // cluster-admin in one namespace: high.
  fs = feed(d, bindingEvent("b-2", "create", "dev@example.com", "shop", "ops-admin", "ClusterRole",
                            "cluster-admin",
                            {{{"kind", "ServiceAccount"}, {"name", "ci"}, {"namespace", "shop"}}})
                   .str());
  REQUIRE(rules(fs) == std::vector<std::string>{"rbac-privileged-binding"});
  CHECK(fs[0].severity == Severity::kHigh);
  CHECK(fs[0].details.at("subjects") == "ServiceAccount shop/ci");

  // A binding naming the system:masters group, whatever the role.
  fs = feed(
      d, bindingEvent("b-3", "create", "mallory@example.com", "", "masters", "ClusterRole", "view",
                      {{{"apiGroup", kRbac}, {"kind", "Group"}, {"name", "system:masters"}}})
             .str());
  REQUIRE(rules(fs) == std::vector<std::string>{"rbac-privileged-binding"});
  CHECK(fs[0].severity == Severity::kCritical);

  // A role seen earlier granting exec, bound cluster-wide: what it grants is said.
  feed(d, roleEvent("b-4", "create", "dev@example.com", "", "pod-debugger", {kExecRule}).str());
  fs = feed(d, bindingEvent("b-5", "create", "dev@example.com", "", "debuggers", "ClusterRole",
                            "pod-debugger", {user("alice")})
                   .str());
  REQUIRE(rules(fs) == std::vector<std::string>{"rbac-privileged-binding"});
  CHECK(fs[0].severity == Severity::kHigh);
  CHECK(fs[0].details.at("grants") == "pods/exec");

  // A subject added to an existing binding: only the new one is named.
  fs = feed(d, bindingEvent("b-6", "update", "mallory@example.com", "", "debuggers", "ClusterRole",
                            "pod-debugger", {user("alice"), user("mallory")})
                   .str());
  REQUIRE(rules(fs) == std::vector<std::string>{"rbac-privileged-binding"});
  CHECK(fs[0].details.at("subjects") == "User mallory");
}

// Routine bindings are not reported (view anywhere, admin or edit in one namespace, a role
// granting nothing dangerous); a GitOps agent's identity can be trusted.
TEST_CASE("BindingLookAlikesAndTrustedIdentities", "[detections][rbac]") {
  Detector d(DetectorOptions{});
  CHECK(feed(d, bindingEvent("n-1", "create", "dev@example.com", "", "viewers", "ClusterRole",
                             "view", {user("alice")})
                    .str())
            .empty());
  CHECK(feed(d, bindingEvent("n-2", "create", "dev@example.com", "shop", "team", "ClusterRole",
                             "admin", {user("alice")})
                    .str())
            .empty());
  feed(d, roleEvent("n-3", "create", "dev@example.com", "", "pod-reader", {kReadPods}).str());
  CHECK(feed(d, bindingEvent("n-4", "create", "dev@example.com", "", "readers", "ClusterRole",
                             "pod-reader", {user("alice")})
                    .str())
            .empty());
  // But edit cluster-wide hands exec in every namespace.
  auto fs = feed(d, bindingEvent("n-5", "create", "dev@example.com", "", "editors", "ClusterRole",
                                 "edit", {user("alice")})
                        .str());
  REQUIRE(rules(fs) == std::vector<std::string>{"rbac-privileged-binding"});
  CHECK(fs[0].severity == Severity::kHigh);

  DetectorOptions o;
  o.trustedIdentities["rbac-privileged-binding"] = {"system:serviceaccount:argocd:*"};
  o.trustedIdentities["rbac-dangerous-grant"] = {"system:serviceaccount:argocd:*"};
  Detector trusting(o);
  const std::string argo = "system:serviceaccount:argocd:argocd-application-controller";
  CHECK(feed(trusting, bindingEvent("t-1", "create", argo, "", "platform", "ClusterRole",
                                    "cluster-admin", {user("platform-bot")})
                           .str())
            .empty());
  CHECK(feed(trusting, roleEvent("t-2", "create", argo, "", "debug", {kExecRule}).str()).empty());
  fs = feed(trusting, bindingEvent("t-3", "create", "mallory@example.com", "", "backdoor",
                                   "ClusterRole", "cluster-admin", {user("mallory")})
                          .str());
  CHECK(rules(fs) == std::vector<std::string>{"rbac-privileged-binding"});
}

TEST_CASE("ChangesToBuiltInSystemRolesAreReported", "[detections][rbac]") {
  Detector d(DetectorOptions{});
  const json defaults = {{"kubernetes.io/bootstrapping", "rbac-defaults"}};
  // The API server reconciling its defaults at start: not reported.
  CHECK(feed(d, roleEvent("s-1", "update", "system:apiserver", "", "system:node", {kReadPods},
                          defaults)
                    .str())
            .empty());
  // Someone adding exec to the kubelets' role.
  auto fs = feed(d, roleEvent("s-2", "patch", "mallory@example.com", "", "system:node",
                              {kReadPods, kExecRule}, defaults)
                        .str());
  REQUIRE(rules(fs) == std::vector<std::string>{"system-rbac-changed", "rbac-dangerous-grant"});
  CHECK(fs[0].severity == Severity::kHigh);
  CHECK(fs[0].summary == "mallory@example.com changed built-in ClusterRole system:node");
  // Deleting a built-in binding (no body at Metadata level).
  Ev del;
  del.auditID = "s-3";
  del.verb = "delete";
  del.code = 200;
  del.level = "Metadata";
  del.user = "mallory@example.com";
  del.apiGroup = kRbac;
  del.resource = "clusterrolebindings";
  del.name = "system:kube-dns";
  del.uri = "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/system:kube-dns";
  fs = feed(d, del.str());
  REQUIRE(rules(fs) == std::vector<std::string>{"system-rbac-changed"});
  CHECK(fs[0].severity == Severity::kHigh);
  CHECK(fs[0].kind == "ClusterRoleBinding");
  // A new role named like the built-in ones: medium. A Role in a namespace named system:x is
  // not a built-in one.
  fs = feed(
      d, roleEvent("s-4", "create", "mallory@example.com", "", "system:kube-updater", {kReadPods})
             .str());
  REQUIRE(rules(fs) == std::vector<std::string>{"system-rbac-changed"});
  CHECK(fs[0].severity == Severity::kMedium);
  CHECK(
      feed(d, roleEvent("s-5", "create", "dev@example.com", "shop", "system:x", {kReadPods}).str())
          .empty());
  DetectorOptions o;
  o.trustedIdentities["system-rbac-changed"] = {"platform-admin@example.com"};
  Detector trusting(o);
  CHECK(feed(trusting, roleEvent("s-6", "patch", "platform-admin@example.com", "", "system:node",
                                 {kReadPods}, defaults)
                           .str())
            .empty());
}

}  // namespace
}  // namespace kc::audit
