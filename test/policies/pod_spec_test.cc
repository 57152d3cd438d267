#include "policies/pod_spec.h"

#include <catch2/catch.hpp>

#include "test/policies/test_util.h"

namespace kc::policy {
namespace {

using testing::Doc;

TEST_CASE("PodSpec.ReadsPodFieldsInPsaVisitingOrder", "[pod_spec]") {
  Doc d(R"(
apiVersion: v1
kind: Pod
metadata:
  name: web
  namespace: shop
  labels: {app: web}
  annotations:
    container.apparmor.security.beta.kubernetes.io/app: runtime/default
spec:
  serviceAccountName: web-sa
  runtimeClassName: gvisor
  nodeName: node-1
  hostNetwork: true
  hostUsers: false
  os: {name: linux}
  securityContext:
    runAsNonRoot: true
    sysctls: [{name: net.ipv4.tcp_syncookies, value: "1"}]
  containers:
  - name: app
    image: nginx:1.25
    ports: [{containerPort: 80, hostPort: 8080}, {containerPort: 81}]
    livenessProbe: {httpGet: {host: 10.0.0.1, port: 80}}
    securityContext:
      privileged: false
      capabilities: {add: [NET_ADMIN], drop: [ALL]}
      seccompProfile: {type: RuntimeDefault}
  initContainers:
  - name: init
    image: busybox
  ephemeralContainers:
  - name: debug
    image: alpine
  volumes:
  - name: host
    hostPath: {path: /var/run/docker.sock}
  - name: scratch
    emptyDir: {}
)");
  PodModel m = d.pod();
  CHECK(m.unreadable.empty());
  CHECK(m.name == "web");
  CHECK(m.namespace_ == "shop");
  CHECK(m.specPath == "spec");
  CHECK(m.serviceAccountName.value == "web-sa");
  CHECK(m.runtimeClassName.value == "gvisor");
  CHECK(m.nodeName.value == "node-1");
  CHECK(m.hostNetwork == Tri::kTrue);
  CHECK(m.hostPID == Tri::kUnset);
  CHECK(m.userNamespace());
  CHECK_FALSE(m.isWindows());
  CHECK(m.sc.runAsNonRoot == Tri::kTrue);
  REQUIRE(m.sc.sysctlNames.items.size() == 1);
  CHECK(m.annotation("container.apparmor.security.beta.kubernetes.io/app") == "runtime/default");
  REQUIRE(m.containers.size() == 3);
  CHECK(m.containers[0].name == "init");
  CHECK(m.containers[0].kind == ContainerKind::kInit);
  CHECK(m.containers[1].name == "app");
  CHECK(m.containers[2].name == "debug");
  CHECK(m.containerPath(m.containers[2]) == "spec.ephemeralContainers[0]");
  const auto& app = m.containers[1];
  CHECK(app.image.value == "nginx:1.25");
  CHECK(app.hostPorts == std::vector<int64_t>{8080});
  REQUIRE(app.probeHosts.size() == 1);
  CHECK(app.probeHosts[0] == "10.0.0.1");
  CHECK(app.sc.privileged == Tri::kFalse);
  CHECK(app.sc.capAdd.items == std::vector<std::string_view>{"NET_ADMIN"});
  CHECK(app.sc.capDrop.items == std::vector<std::string_view>{"ALL"});
  CHECK(app.sc.seccompType.value == "RuntimeDefault");
  REQUIRE(m.volumes.size() == 2);
  CHECK(m.volumes[0].type == "hostPath");
  CHECK(m.volumes[0].hostPath == "/var/run/docker.sock");
  CHECK(m.volumes[1].type == "emptyDir");
}

TEST_CASE("PodSpec.FindsTheTemplateOfEveryWorkloadKind", "[pod_spec]") {
  for (const char* kind :
       {"Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Job", "ReplicationController"}) {
    Doc d(std::string("kind: ") + kind +
          "\nmetadata: {name: w, namespace: ns}\nspec:\n  template:\n    metadata: {annotations: "
          "{a: b}}\n"
          "    spec:\n      containers: [{name: c, image: x}]\n");
    PodModel m = d.pod();
    CHECK(m.kind == kind);
    CHECK(m.specPath == "spec.template.spec");
    CHECK(m.name == "w");
    CHECK(m.annotation("a") == "b");
    REQUIRE(m.containers.size() == 1);
    CHECK(m.containerPath(m.containers[0]) == "spec.template.spec.containers[0]");
  }
  Doc cron(R"(
kind: CronJob
metadata: {name: nightly}
spec:
  schedule: "@daily"
  jobTemplate:
    spec:
      template:
        spec:
          containers: [{name: job, image: busybox}]
)");
  PodModel cm = cron.pod();
  CHECK(cm.specPath == "spec.jobTemplate.spec.template.spec");
  REQUIRE(cm.containers.size() == 1);
  Doc tmpl("kind: PodTemplate\ntemplate:\n  spec:\n    containers: [{name: t, image: x}]\n");
  CHECK(tmpl.pod().specPath == "template.spec");
}

TEST_CASE("PodSpec.IgnoresKindsWithoutPods", "[pod_spec]") {
  Doc d("kind: ConfigMap\ndata: {a: b}\n");
  PodModel m;
  CHECK(extractPod(d.root(), "", m) == ExtractStatus::kNotPodCarrying);
}

TEST_CASE("PodSpec.ReportsMissingTemplateAsNoPodSpec", "[pod_spec]") {
  Doc d("kind: Deployment\nspec: {replicas: 1}\n");
  PodModel m;
  CHECK(extractPod(d.root(), "", m) == ExtractStatus::kNoPodSpec);
  REQUIRE(m.unreadable.size() == 1);
  CHECK(m.unreadable[0].field == "spec.template.spec");
}

TEST_CASE("PodSpec.RecordsWronglyTypedSecurityFieldsAsUnreadable", "[pod_spec]") {
  Doc d(R"(
kind: Pod
spec:
  hostPID: "yes"
  securityContext: {runAsUser: "0"}
  containers:
  - name: c
    image: x
    securityContext:
      privileged: "true"
      capabilities: {add: NET_ADMIN}
  - name: d
    securityContext: "privileged"
)");
  PodModel m = d.pod();
  CHECK(m.hostPID == Tri::kInvalid);
  CHECK(m.sc.runAsUser.invalid);
  REQUIRE(m.containers.size() == 2);
  CHECK(m.containers[0].sc.privileged == Tri::kInvalid);
  CHECK(m.containers[0].sc.capAdd.invalid);
  CHECK(m.containers[1].sc.invalid);
  std::vector<std::string> fields;
  for (const auto& u : m.unreadable) fields.push_back(u.field);
  CHECK(fields == std::vector<std::string>{"spec.hostPID", "spec.securityContext.runAsUser",
                                           "spec.containers[0].securityContext.privileged",
                                           "spec.containers[0].securityContext.capabilities.add",
                                           "spec.containers[1].securityContext"});
}

TEST_CASE("PodSpec.TreatsNonArrayContainerListAsUnreadable", "[pod_spec]") {
  Doc d("kind: Pod\nspec:\n  containers: {name: c}\n");
  PodModel m = d.pod();
  REQUIRE(m.unreadable.size() == 1);
  CHECK(m.unreadable[0].field == "spec.containers");
  REQUIRE(m.containers.size() == 1);
  CHECK(m.containers[0].sc.invalid);
}

}  // namespace
}  // namespace kc::policy
