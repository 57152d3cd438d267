#include "node/container.h"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "common/metrics.h"
#include "policies/store/policy_store.h"
#include "test/node/node_test_policies.h"
#include "webhook/admission_handler.h"

namespace {

using kc::testing::builtInPolicies;

using kc::node::Container;

std::chrono::sys_seconds now() {
  return std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
}

// The admission webhook's answer for `pod` created in its namespace by a user, with the built-in
// policies: what the node door's verdict must say in the same words.
nlohmann::json webhookAnswer(const nlohmann::json& pod) {
  auto registry = std::make_shared<prometheus::Registry>();
  kc::metrics::ServerMetrics serverMetrics{*registry};
  kc::webhook::WebhookMetrics metrics{*registry};
  auto policies = builtInPolicies();
  kc::webhook::AdmissionHandler handler{[&] { return policies; }, metrics, serverMetrics};
  nlohmann::json review = {
      {"apiVersion", "admission.k8s.io/v1"},
      {"kind", "AdmissionReview"},
      {"request",
       {{"uid", "4b7d0c56-1f3e-4a8e-9d2c-6e5f4a3b2c10"},
        {"kind", {{"group", ""}, {"version", "v1"}, {"kind", "Pod"}}},
        {"resource", {{"group", ""}, {"version", "v1"}, {"resource", "pods"}}},
        {"name", pod["metadata"]["name"]},
        {"namespace", pod["metadata"]["namespace"]},
        {"operation", "CREATE"},
        {"userInfo", {{"username", "dev@example.com"}, {"groups", {"system:authenticated"}}}},
        {"object", pod},
        {"oldObject", nullptr},
        {"dryRun", false}}}};
  kc::http::Request req;
  req.method = "POST";
  req.path = "/validate";
  const std::string body = review.dump();
  req.body = body;
  kc::http::Response res;
  handler.handle(req, res);
  REQUIRE(res.status == 200);
  return nlohmann::json::parse(res.body)["response"];
}

std::vector<std::string> ruleIds(const kc::policy::Verdict& v) {
  std::vector<std::string> ids;
  for (const auto& viol : v.violations)
    if (viol.mode == kc::policy::Mode::kEnforce) ids.push_back(viol.rule);
  return ids;
}

Container dockerContainer(std::string name, std::string image) {
  Container c;
  c.runtime = kc::node::Runtime::kDocker;
  c.id = "52ab989d4bd966450a58291d8d1ae6538d9c3606a48d9c0ac408cffff524ad01";
  c.name = std::move(name);
  c.image = std::move(image);
  c.command = {"ngrok", "http", "80"};
  return c;
}

TEST_CASE("ClassifiesKubeletContainersByTheirLabels", "[node][container]") {
  Container plain = dockerContainer("tunnel", "ngrok/ngrok:latest");
  CHECK_FALSE(kc::node::classify(plain).kubernetes);

  // cri-dockerd's labels on an application container and on the pod's sandbox.
  Container app = plain;
  app.labels = {{"io.kubernetes.container.name", "web"},
                {"io.kubernetes.docker.type", "container"},
                {"io.kubernetes.pod.name", "web-7d9f8c6b5-x2k4q"},
                {"io.kubernetes.pod.namespace", "shop"},
                {"io.kubernetes.pod.uid", "5b1c2f4e-8a3d-4c1e-9f2a-7e6d5c4b3a21"}};
  const auto k = kc::node::classify(app);
  CHECK(k.kubernetes);
  CHECK_FALSE(k.sandbox);
  CHECK(k.podName == "web-7d9f8c6b5-x2k4q");
  CHECK(k.podNamespace == "shop");
  CHECK(k.containerName == "web");
  CHECK(k.podUid == "5b1c2f4e-8a3d-4c1e-9f2a-7e6d5c4b3a21");

  Container sandbox = plain;
  sandbox.labels = {{"io.kubernetes.container.name", "POD"},
                    {"io.kubernetes.docker.type", "podsandbox"},
                    {"io.kubernetes.pod.name", "web-7d9f8c6b5-x2k4q"},
                    {"io.kubernetes.pod.namespace", "shop"}};
  CHECK(kc::node::classify(sandbox).kubernetes);
  CHECK(kc::node::classify(sandbox).sandbox);

  // From labels in any order, as an event's attributes or an inventory row gives them.
  const auto fromLabels = kc::node::classifyLabels(
      kc::node::Runtime::kDocker, "",
      {{"io.kubernetes.pod.namespace", "shop"}, {"io.kubernetes.pod.name", "web-7d9f8c6b5-x2k4q"}});
  CHECK(fromLabels.kubernetes);
  CHECK(fromLabels.podNamespace == "shop");

  // A pod name alone is not the kubelet's labelling.
  Container half = plain;
  half.labels = {{"io.kubernetes.pod.name", "web"}};
  CHECK_FALSE(kc::node::classify(half).kubernetes);

  // containerd: the CRI plugin's containers live in the k8s.io namespace.
  Container cri;
  cri.runtime = kc::node::Runtime::kContainerd;
  cri.namespace_ = "k8s.io";
  cri.id = "9f0c";
  cri.labels = {{"io.cri-containerd.kind", "sandbox"},
                {"io.kubernetes.pod.name", "coredns-5d78c9869d-abcde"},
                {"io.kubernetes.pod.namespace", "kube-system"}};
  CHECK(kc::node::classify(cri).kubernetes);
  CHECK(kc::node::classify(cri).sandbox);
  CHECK(kc::node::classify(cri).podNamespace == "kube-system");
  // The same labels in another namespace ("ctr run" in "default") are not the kubelet's.
  cri.namespace_ = "default";
  CHECK_FALSE(kc::node::classify(cri).kubernetes);
  cri.namespace_ = "k8s.io";
  cri.labels = {{"io.cri-containerd.kind", "container"}};
  CHECK(kc::node::classify(cri).kubernetes);
  cri.labels.clear();
  CHECK_FALSE(kc::node::classify(cri).kubernetes);
}

// `docker run -d ngrok/ngrok` on a node is judged as `kubectl run tunnel --image=ngrok/ngrok`
// is at the webhook: the same rule and the same words.
TEST_CASE("DeniesTheTunnelingImageWithTheWebhooksRuleAndMessage", "[node][container][policy]") {
  const Container c = dockerContainer("tunnel", "ngrok/ngrok:latest");
  const auto k = kc::node::classify(c);
  const auto v = kc::node::judge(*builtInPolicies(), c, k, now());
  REQUIRE(v.error.empty());
  CHECK(v.namespace_ == kc::node::kOutsideNamespace);
  CHECK_FALSE(v.verdict.allowed);
  CHECK(ruleIds(v.verdict) == std::vector<std::string>{"image.denied"});

  const nlohmann::json pod = nlohmann::json::parse(R"({
    "apiVersion": "v1", "kind": "Pod",
    "metadata": {"name": "tunnel", "namespace": "scratch"},
    "spec": {"containers": [{"name": "tunnel", "image": "ngrok/ngrok:latest",
                             "args": ["http", "80"]}]}})");
  const auto answer = webhookAnswer(pod);
  CHECK(answer["allowed"] == false);
  CHECK(answer["status"]["message"] == v.verdict.message);
  CHECK(v.verdict.message.find("ngrok/ngrok") != std::string::npos);
  // The "latest" tag is warned about at both doors alike.
  std::vector<std::string> warnings = answer.value("warnings", std::vector<std::string>{});
  CHECK(warnings == v.verdict.warnings);
}

// `docker run --privileged -v /:/host` is pss.privileged and pss.hostPathVolumes, as a pod with
// a privileged container and a hostPath volume of "/" is at the webhook.
TEST_CASE("DeniesAPrivilegedContainerWithTheHostRootAsTheWebhookDoes",
          "[node][container][policy]") {
  Container c = dockerContainer("root-shell", "registry.example.com/tools/shell:1.2.3");
  c.privileged = true;
  c.binds = {{"/", "/host", false}};
  const auto v = kc::node::judge(*builtInPolicies(), c, kc::node::classify(c), now());
  REQUIRE(v.error.empty());
  CHECK_FALSE(v.verdict.allowed);
  const auto ids = ruleIds(v.verdict);
  CHECK(std::find(ids.begin(), ids.end(), "pss.privileged") != ids.end());
  CHECK(std::find(ids.begin(), ids.end(), "pss.hostPathVolumes") != ids.end());

  const nlohmann::json pod = nlohmann::json::parse(R"({
    "apiVersion": "v1", "kind": "Pod",
    "metadata": {"name": "root-shell", "namespace": "scratch"},
    "spec": {"containers": [{"name": "root-shell",
                             "image": "registry.example.com/tools/shell:1.2.3",
                             "securityContext": {"privileged": true},
                             "volumeMounts": [{"name": "host-0", "mountPath": "/host"}]}],
             "volumes": [{"name": "host-0", "hostPath": {"path": "/"}}]}})");
  const auto answer = webhookAnswer(pod);
  CHECK(answer["allowed"] == false);
  CHECK(answer["status"]["message"] == v.verdict.message);
  CHECK(v.verdict.message.find("privileged") != std::string::npos);
  CHECK(v.verdict.message.find("hostPath") != std::string::npos);
}

TEST_CASE("MapsTheContainersHostAccessToThePodFields", "[node][container]") {
  Container c = dockerContainer("agent", "registry.example.com/agent:2");
  c.capAdd = {"CAP_SYS_ADMIN", "net_admin"};
  c.hostNetwork = c.hostPID = c.hostIPC = true;
  c.user = "1000:2000";
  c.readOnlyRootfs = true;
  c.seccompUnconfined = c.apparmorUnconfined = true;
  c.binds = {{"/var/run/docker.sock", "/var/run/docker.sock", true}};
  c.devices = {{"/dev/sda", "/dev/xda", false}};
  const auto doc = nlohmann::json::parse(kc::node::podDocument(c, kc::node::classify(c)));
  CHECK(doc["metadata"]["namespace"] == "<node>");
  CHECK(doc["metadata"]["name"] == "agent");
  const auto& spec = doc["spec"];
  CHECK(spec["hostNetwork"] == true);
  CHECK(spec["hostPID"] == true);
  CHECK(spec["hostIPC"] == true);
  const auto& sc = spec["containers"][0]["securityContext"];
  CHECK(sc["capabilities"]["add"] == nlohmann::json({"SYS_ADMIN", "NET_ADMIN"}));
  CHECK(sc["runAsUser"] == 1000);
  CHECK(sc["runAsGroup"] == 2000);
  CHECK(sc["readOnlyRootFilesystem"] == true);
  CHECK(sc["seccompProfile"]["type"] == "Unconfined");
  CHECK(sc["appArmorProfile"]["type"] == "Unconfined");
  CHECK(spec["volumes"][0]["hostPath"]["path"] == "/var/run/docker.sock");
  CHECK(spec["volumes"][1]["hostPath"]["path"] == "/dev/sda");
  CHECK(spec["containers"][0]["volumeMounts"][0]["readOnly"] == true);
  CHECK(spec["containers"][0]["volumeMounts"][1]["mountPath"] == "/dev/xda");

  // Each of them is a Pod Security violation the built-in policies enforce.
  const auto v = kc::node::judge(*builtInPolicies(), c, kc::node::classify(c), now());
  const auto ids = ruleIds(v.verdict);
  for (const char* rule : {"pss.hostNamespaces", "pss.capabilities_baseline", "pss.hostPathVolumes",
                           "pss.seccompProfile_baseline", "pss.appArmorProfile"}) {
    INFO(rule);
    CHECK(std::find(ids.begin(), ids.end(), rule) != ids.end());
  }

  // A user name is resolved in the image: unknown here, so no runAsUser is claimed.
  c.user = "nobody";
  const auto named = nlohmann::json::parse(kc::node::podDocument(c, kc::node::classify(c)));
  CHECK_FALSE(named["spec"]["containers"][0]["securityContext"].contains("runAsUser"));
}

// A Kubernetes container is judged in its pod's namespace, under its pod and container names:
// kube-system's exemption from Pod Security applies to it as it does at the webhook.
TEST_CASE("JudgesAKubernetesContainerInItsPodsNamespace", "[node][container][policy]") {
  Container c = dockerContainer("k8s_kube-proxy_kube-proxy-abcde_kube-system_0",
                                "registry.k8s.io/kube-proxy:v1.31.0");
  c.privileged = true;
  c.hostNetwork = true;
  c.labels = {{"io.kubernetes.container.name", "kube-proxy"},
              {"io.kubernetes.pod.name", "kube-proxy-abcde"},
              {"io.kubernetes.pod.namespace", "kube-system"}};
  const auto k = kc::node::classify(c);
  REQUIRE(k.kubernetes);
  const auto doc = nlohmann::json::parse(kc::node::podDocument(c, k));
  CHECK(doc["metadata"]["name"] == "kube-proxy-abcde");
  CHECK(doc["spec"]["containers"][0]["name"] == "kube-proxy");
  const auto v = kc::node::judge(*builtInPolicies(), c, k, now());
  CHECK(v.namespace_ == "kube-system");
  CHECK(v.verdict.allowed);

  // The same container outside Kubernetes has no exemption.
  c.labels.clear();
  const auto outside = kc::node::judge(*builtInPolicies(), c, kc::node::classify(c), now());
  CHECK_FALSE(outside.verdict.allowed);
}

TEST_CASE("CapsTheCommandLine", "[node][container]") {
  Container c;
  c.command = {"sh", "-c", std::string(5000, 'x')};
  const std::string line = c.commandLine(256);
  CHECK(line.size() <= 256);
  CHECK(line.rfind("sh -c xxx", 0) == 0);
  c.command = {"cat", "/var/run/secrets/kubernetes.io/serviceaccount/token"};
  CHECK(c.commandLine() == "cat /var/run/secrets/kubernetes.io/serviceaccount/token");
}

}  // namespace
