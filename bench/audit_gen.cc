// Generates a JSON-lines audit log of N realistic audit.k8s.io/v1 events, in the shape the
// apiserver's log backend writes: a mix of Metadata-level gets, lists and watches, lease
// updates, pod creates with RequestResponse bodies, deployment creates and patches, and exec
// sessions. Deterministic for a given seed.
//
//   audit_gen N OUT.jsonl [SEED]

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
                    const std::string& bodies, const std::string& id) {
    int64_t received = now;
    int64_t stageTime = now + 1000 + static_cast<int64_t>(pick(50000));
    std::string s = R"({"kind":"Event","apiVersion":"audit.k8s.io/v1","level":")" + level +
                    R"(","auditID":")" + id + R"(","stage":")" + stage + R"(","requestURI":")" +
                    uri + R"(","verb":")" + verb + R"(","user":{"username":")" + user +
                    R"(","groups":[)" + groups + R"(]},"sourceIPs":["10.)" +
                    std::to_string(pick(250)) + "." + std::to_string(pick(250)) + "." +
                    std::to_string(pick(250)) + R"("],"userAgent":")" + agent + R"(")";
    if (!objectRef.empty()) s += R"(,"objectRef":)" + objectRef;
    s += R"(,"responseStatus":{"metadata":{},"code":)" + std::to_string(code) + "}";
    s += bodies;
    s +=
        R"(,"requestReceivedTimestamp":")" + timestamp(received) + R"(","stageTimestamp":")" +
        timestamp(stageTime) +
        R"(","annotations":{"authorization.k8s.io/decision":"allow","authorization.k8s.io/reason":"RBAC: allowed by ClusterRoleBinding \"system:controller\" of ClusterRole \"system:controller\" to ServiceAccount \"generic\""}})";
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
};

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s N OUT.jsonl [SEED]\n", argv[0]);
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
    std::string line = gen.next();
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
