// respond isolate-pod / release-pod manifests, parsed back with yaml-cpp: each document has
// exactly the fields expected, names that are not Kubernetes names are refused, and release is
// the reverse of isolate for every owner kind.

#include "respond/pod_manifests.h"

#include <yaml-cpp/yaml.h>

#include <catch2/catch.hpp>
#include <set>
#include <string>
#include <vector>

namespace {

using kc::respond::isolatePodManifests;
using kc::respond::PodQuarantine;
using kc::respond::releasePodManifests;

PodQuarantine pod(std::string ownerKind = "", std::string ownerName = "", int replicas = -1) {
  PodQuarantine q;
  q.namespace_ = "shop";
  q.pod = "web-7d9f-abcde";
  q.ownerKind = std::move(ownerKind);
  q.ownerName = std::move(ownerName);
  q.replicas = replicas;
  return q;
}

std::vector<YAML::Node> parse(const std::string& yaml) {
  std::vector<YAML::Node> docs = YAML::LoadAll(yaml);
  for (const auto& d : docs) REQUIRE(d.IsMap());
  return docs;
}

std::string isolate(const PodQuarantine& q) {
  std::string yaml, error;
  INFO(error);
  REQUIRE(isolatePodManifests(q, yaml, error));
  CHECK(error.empty());
  return yaml;
}

std::string release(const PodQuarantine& q) {
  std::string yaml, error;
  INFO(error);
  REQUIRE(releasePodManifests(q, yaml, error));
  return yaml;
}

std::set<std::string> keys(const YAML::Node& map) {
  std::set<std::string> out;
  for (const auto& kv : map) out.insert(kv.first.as<std::string>());
  return out;
}

// A scalar that was written quoted: yaml-cpp tags it "!" (a plain one gets "?"), so it reads
// back as a string whatever it looks like.
bool isQuotedString(const YAML::Node& n, const std::string& value) {
  return n.IsScalar() && n.Tag() == "!" && n.as<std::string>() == value;
}

// The metadata of a partial object: name and namespace, and `labels` only when given.
void checkMetadata(const YAML::Node& doc, const std::string& apiVersion, const std::string& kind,
                   const std::string& name, bool labels) {
  CHECK(doc["apiVersion"].as<std::string>() == apiVersion);
  CHECK(doc["kind"].as<std::string>() == kind);
  const YAML::Node m = doc["metadata"];
  CHECK(isQuotedString(m["name"], name));
  CHECK(isQuotedString(m["namespace"], "shop"));
  CHECK(keys(m) == (labels ? std::set<std::string>{"name", "namespace", "labels"}
                           : std::set<std::string>{"name", "namespace"}));
}

TEST_CASE("IsolatePrintsDenyAllPolicyAndPodLabelOnly", "[respond]") {
  const std::string yaml = isolate(pod());
  CHECK(yaml.rfind("# kube-customs respond isolate-pod: quarantine of pod shop/web-7d9f-abcde",
                   0) == 0);
  CHECK(yaml.find("kubectl apply --server-side --field-manager=kube-customs-respond -f -") !=
        std::string::npos);
  CHECK(yaml.find("--force-conflicts") == std::string::npos);
  CHECK(yaml.find("keeps running") != std::string::npos);
  const auto docs = parse(yaml);
  REQUIRE(docs.size() == 2);

  const YAML::Node& np = docs[0];
  CHECK(keys(np) == std::set<std::string>{"apiVersion", "kind", "metadata", "spec"});
  checkMetadata(np, "networking.k8s.io/v1", "NetworkPolicy", "kube-customs-quarantine", true);
  CHECK(keys(np["metadata"]["labels"]) == std::set<std::string>{"app.kubernetes.io/managed-by"});
  CHECK(np["metadata"]["labels"]["app.kubernetes.io/managed-by"].as<std::string>() ==
        "kube-customs");
  const YAML::Node spec = np["spec"];
  CHECK(keys(spec) == std::set<std::string>{"podSelector", "policyTypes"});  // no rule at all
  CHECK(keys(spec["podSelector"]) == std::set<std::string>{"matchLabels"});
  CHECK(keys(spec["podSelector"]["matchLabels"]) ==
        std::set<std::string>{"kube-customs.io/quarantine"});
  CHECK(isQuotedString(spec["podSelector"]["matchLabels"]["kube-customs.io/quarantine"], "true"));
  CHECK(spec["policyTypes"].as<std::vector<std::string>>() ==
        std::vector<std::string>{"Ingress", "Egress"});

  const YAML::Node& p = docs[1];
  CHECK(keys(p) == std::set<std::string>{"apiVersion", "kind", "metadata"});
  checkMetadata(p, "v1", "Pod", "web-7d9f-abcde", true);
  CHECK(keys(p["metadata"]["labels"]) == std::set<std::string>{"kube-customs.io/quarantine"});
  CHECK(isQuotedString(p["metadata"]["labels"]["kube-customs.io/quarantine"], "true"));
}

TEST_CASE("ReleasePrintsPodWithoutLabelsAndLeavesThePolicy", "[respond]") {
  const std::string yaml = release(pod());
  CHECK(yaml.rfind("# kube-customs respond release-pod:", 0) == 0);
  CHECK(yaml.find("kubectl apply --server-side --field-manager=kube-customs-respond -f -") !=
        std::string::npos);
  CHECK(yaml.find("#   kubectl delete networkpolicy kube-customs-quarantine -n shop\n") !=
        std::string::npos);
  const auto docs = parse(yaml);
  REQUIRE(docs.size() == 1);
  CHECK(keys(docs[0]) == std::set<std::string>{"apiVersion", "kind", "metadata"});
  checkMetadata(docs[0], "v1", "Pod", "web-7d9f-abcde", false);
}

struct OwnerCase {
  std::string flag;  // as written on the command line
  std::string apiVersion, kind;
};

TEST_CASE("ScalableOwnersAreScaledToZeroAndBackWithForcedConflicts", "[respond]") {
  const std::vector<OwnerCase> cases{
      {"deployment", "apps/v1", "Deployment"},
      {"Deploy", "apps/v1", "Deployment"},
      {"deployments", "apps/v1", "Deployment"},
      {"StatefulSet", "apps/v1", "StatefulSet"},
      {"sts", "apps/v1", "StatefulSet"},
      {"replicaset", "apps/v1", "ReplicaSet"},
      {"RS", "apps/v1", "ReplicaSet"},
      {"replicationcontroller", "v1", "ReplicationController"},
      {"rc", "v1", "ReplicationController"},
  };
  for (const auto& c : cases) {
    INFO(c.flag);
    const std::string iso = isolate(pod(c.flag, "web"));
    CHECK(iso.find("kubectl apply --server-side --field-manager=kube-customs-respond "
                   "--force-conflicts -f -") != std::string::npos);
    CHECK(iso.find("-o jsonpath='{.spec.replicas}'") != std::string::npos);
    auto docs = parse(iso);
    REQUIRE(docs.size() == 3);
    checkMetadata(docs[2], c.apiVersion, c.kind, "web", false);
    CHECK(keys(docs[2]) == std::set<std::string>{"apiVersion", "kind", "metadata", "spec"});
    CHECK(keys(docs[2]["spec"]) == std::set<std::string>{"replicas"});
    CHECK(docs[2]["spec"]["replicas"].Tag() == "?");  // plain: an integer, not a string
    CHECK(docs[2]["spec"]["replicas"].as<int>() == 0);

    const std::string rel = release(pod(c.flag, "web", 3));
    CHECK(rel.find("--force-conflicts") == std::string::npos);
    docs = parse(rel);
    REQUIRE(docs.size() == 2);
    checkMetadata(docs[0], "v1", "Pod", "web-7d9f-abcde", false);
    checkMetadata(docs[1], c.apiVersion, c.kind, "web", false);
    CHECK(keys(docs[1]["spec"]) == std::set<std::string>{"replicas"});
    CHECK(docs[1]["spec"]["replicas"].as<int>() == 3);
  }
}

TEST_CASE("DaemonSetGetsANodeSelectorNoNodeHasAndLosesItOnRelease", "[respond]") {
  for (const std::string flag : {"daemonset", "DS", "DaemonSets"}) {
    INFO(flag);
    const std::string iso = isolate(pod(flag, "agent"));
    CHECK(iso.find("--force-conflicts") == std::string::npos);
    CHECK(iso.find("on every node") != std::string::npos);
    auto docs = parse(iso);
    REQUIRE(docs.size() == 3);
    checkMetadata(docs[2], "apps/v1", "DaemonSet", "agent", false);
    CHECK(keys(docs[2]["spec"]) == std::set<std::string>{"template"});
    CHECK(keys(docs[2]["spec"]["template"]) == std::set<std::string>{"spec"});
    const YAML::Node podSpec = docs[2]["spec"]["template"]["spec"];
    CHECK(keys(podSpec) == std::set<std::string>{"nodeSelector"});
    CHECK(keys(podSpec["nodeSelector"]) == std::set<std::string>{"kube-customs.io/quarantine"});
    CHECK(isQuotedString(podSpec["nodeSelector"]["kube-customs.io/quarantine"], "true"));

    docs = parse(release(pod(flag, "agent")));
    REQUIRE(docs.size() == 2);
    checkMetadata(docs[1], "apps/v1", "DaemonSet", "agent", false);
    CHECK(keys(docs[1]) == std::set<std::string>{"apiVersion", "kind", "metadata"});
  }
}

TEST_CASE("JobsAndCronJobsAreSuspendedAndResumed", "[respond]") {
  const std::vector<OwnerCase> cases{
      {"job", "batch/v1", "Job"},
      {"Jobs", "batch/v1", "Job"},
      {"cronjob", "batch/v1", "CronJob"},
      {"CJ", "batch/v1", "CronJob"},
  };
  for (const auto& c : cases) {
    INFO(c.flag);
    const std::string iso = isolate(pod(c.flag, "nightly"));
    CHECK(iso.find("--force-conflicts -f -") != std::string::npos);
    auto docs = parse(iso);
    REQUIRE(docs.size() == 3);
    checkMetadata(docs[2], c.apiVersion, c.kind, "nightly", false);
    CHECK(keys(docs[2]["spec"]) == std::set<std::string>{"suspend"});
    CHECK(docs[2]["spec"]["suspend"].Tag() == "?");  // plain: a boolean, not a string
    CHECK(docs[2]["spec"]["suspend"].as<bool>() == true);

    docs = parse(release(pod(c.flag, "nightly")));
    REQUIRE(docs.size() == 2);
    checkMetadata(docs[1], c.apiVersion, c.kind, "nightly", false);
    CHECK(keys(docs[1]["spec"]) == std::set<std::string>{"suspend"});
    CHECK(docs[1]["spec"]["suspend"].as<bool>() == false);
  }
}

// Valid names that YAML would read as something else stay strings.
TEST_CASE("NamesThatLookLikeOtherScalarsStayStrings", "[respond]") {
  PodQuarantine q = pod("deploy", "1e3");
  q.namespace_ = "null";
  q.pod = "true";
  const auto docs = parse(isolate(q));
  REQUIRE(docs.size() == 3);
  for (const auto& d : docs) CHECK(isQuotedString(d["metadata"]["namespace"], "null"));
  CHECK(isQuotedString(docs[1]["metadata"]["name"], "true"));
  CHECK(isQuotedString(docs[2]["metadata"]["name"], "1e3"));
}

TEST_CASE("RefusesNamesThatAreNotKubernetesNames", "[respond]") {
  const std::vector<std::string> badLabels{
      "",
      "Shop",
      "-shop",
      "shop-",
      "shop.prod",
      "sh_op",
      "shop\nkind: Secret",
      "shop: x",
      "\"shop\"",
      "shöp",
      std::string(64, 'a'),
  };
  for (const auto& ns : badLabels) {
    INFO(ns);
    PodQuarantine q = pod();
    q.namespace_ = ns;
    std::string yaml = "left over", error;
    CHECK_FALSE(isolatePodManifests(q, yaml, error));
    CHECK(yaml.empty());
    CHECK(error.find("is not a valid Kubernetes namespace") != std::string::npos);
    CHECK_FALSE(releasePodManifests(q, yaml, error));
    CHECK(yaml.empty());
  }
  PodQuarantine ok = pod();
  ok.namespace_ = std::string(63, 'a');
  std::string yaml, error;
  CHECK(isolatePodManifests(ok, yaml, error));

  const std::vector<std::string> badNames{
      "",      "Web",   "web.",     ".web", "web..x", "web-.x",
      "web/x", "web x", "web\n- x", "*",    "a{b}",   std::string(254, 'a'),
  };
  for (const auto& name : badNames) {
    INFO(name);
    PodQuarantine q = pod();
    q.pod = name;
    CHECK_FALSE(isolatePodManifests(q, yaml, error));
    CHECK(error.find("pod name") != std::string::npos);
    q = pod("deployment", name);
    CHECK_FALSE(isolatePodManifests(q, yaml, error));
    CHECK(error.find("owner name") != std::string::npos);
    CHECK(yaml.empty());
  }
  // The longest subdomain: 253 characters in labels of at most 63.
  ok = pod("sts", std::string(63, 'a') + "." + std::string(63, 'b') + "." + std::string(63, 'c') +
                      "." + std::string(61, 'd'));
  ok.pod = "web.prod.v2";
  CHECK(ok.ownerName.size() == 253);
  CHECK(isolatePodManifests(ok, yaml, error));
}

TEST_CASE("RefusesUnknownOwnerKindsNamingTheKnownOnes", "[respond]") {
  for (const std::string kind : {"pod", "service", "deployment.apps", "cron", "", "x"}) {
    INFO(kind);
    std::string yaml, error;
    CHECK_FALSE(isolatePodManifests(pod(kind, "web"), yaml, error));
    CHECK(error.find("unknown owner kind") != std::string::npos);
    CHECK(error.find("deployment (deploy), statefulset (sts)") != std::string::npos);
    CHECK(yaml.empty());
  }
}

TEST_CASE("ReplicasAreRequiredExactlyWhereTheyMeanSomething", "[respond]") {
  std::string yaml, error;
  CHECK_FALSE(releasePodManifests(pod("deployment", "web"), yaml, error));
  CHECK(error.find("needs --replicas N") != std::string::npos);
  CHECK_FALSE(releasePodManifests(pod("job", "once", 2), yaml, error));
  CHECK(error.find("only to a scalable owner") != std::string::npos);
  CHECK_FALSE(releasePodManifests(pod("", "", 2), yaml, error));
  CHECK(error.find("needs a scalable --owner") != std::string::npos);
  CHECK_FALSE(isolatePodManifests(pod("deployment", "web", 2), yaml, error));
  CHECK(error.find("for release-pod") != std::string::npos);
  CHECK(releasePodManifests(pod("rc", "web", 0), yaml, error));
}

TEST_CASE("ParsesOwnerKindSlashName", "[respond]") {
  PodQuarantine q;
  std::string error;
  CHECK(kc::respond::parseOwner("Deployment/web", q, error));
  CHECK(q.ownerKind == "Deployment");
  CHECK(q.ownerName == "web");
  CHECK_FALSE(kc::respond::parseOwner("web", q, error));
  CHECK(error.find("KIND/NAME") != std::string::npos);
  // A second slash stays in the name, which validation then refuses.
  CHECK(kc::respond::parseOwner("deploy/a/b", q, error));
  std::string yaml;
  q.namespace_ = "shop";
  q.pod = "p";
  CHECK_FALSE(isolatePodManifests(q, yaml, error));
}

}  // namespace
