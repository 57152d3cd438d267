// Checks the files in deploy/ and docs/alerts.md that no other tool validates:
//   - every alert is unit-tested both firing and quiet (test/charts/alerts_test.yaml), and has a
//     docs/alerts.md section (Meaning, Impact, Diagnosis, Mitigation) its runbook_url points at;
//   - the rules and the Grafana dashboard use only metrics kube-customs, the apiserver and
//     cAdvisor export (the metrics contract below) or the rules' own recordings; the contract's
//     kube_customs_ names are registered by the C++ code, and the alert tests feed only them;
//   - the audit Policy records what the detections need, at the level they need, by evaluating it
//     the way the apiserver does (first matching rule wins);
//   - the audit webhook kubeconfig names a server, a CA and a client certificate.
// Prints "PASS name" / "FAIL name: why" lines; exits 1 when any failed.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const repo = fileURLToPath(new URL("../..", import.meta.url));
const deps = process.env.KC_DEPS || join(repo, ".deps");
const yamlDir = join(deps, "node", "node_modules", "yaml");
const yamlEntry = JSON.parse(readFileSync(join(yamlDir, "package.json"), "utf8")).main;
const YAML = await import(pathToFileURL(join(yamlDir, yamlEntry)).href);
const read = (p) => readFileSync(join(repo, p), "utf8");

let failed = 0;
const check = (name, ok, why = "") => {
  if (ok) console.log(`PASS ${name}`);
  else {
    failed++;
    console.log(`FAIL ${name}${why ? ": " + why : ""}`);
  }
};

// --- Metrics contract -------------------------------------------------------------------------
const CONTRACT = new Set([
  "kube_customs_build_info",
  "kube_customs_admission_requests_total",
  "kube_customs_admission_request_duration_seconds_bucket",
  "kube_customs_admission_request_duration_seconds_sum",
  "kube_customs_admission_request_duration_seconds_count",
  "kube_customs_admission_deadline_exceeded_total",
  "kube_customs_http_bad_requests_total",
  "kube_customs_tls_reloads_total",
  "kube_customs_tls_reload_failures_total",
  "kube_customs_tls_certificate_expiry_timestamp_seconds",
  "kube_customs_policy_load_success",
  "kube_customs_policy_load_timestamp_seconds",
  "kube_customs_policies_loaded",
  "kube_customs_internal_errors_total",
  "kube_customs_policy_evaluations_total",
  "kube_customs_policy_violations_total",
  "kube_customs_policy_exceptions_expiring",
  "kube_customs_audit_events_received_total",
  "kube_customs_audit_events_dropped_total",
  "kube_customs_audit_events_unparsable_total",
  "kube_customs_audit_last_event_timestamp_seconds",
  "kube_customs_audit_findings_total",
  "kube_customs_audit_webhook_rejected_batches_total",
  "kube_customs_audit_queue_bytes",
  "kube_customs_alertmanager_send_failures_total",
  "kube_customs_node_runtime_state",
  "kube_customs_node_runtime_last_event_timestamp_seconds",
  "kube_customs_node_runtime_events_total",
  "kube_customs_node_containers",
  "kube_customs_node_runtime_errors_total",
  "kube_customs_node_runtime_reconnects_total",
  "kube_customs_node_execs_total",
  "kube_customs_node_findings_total",
  "kube_customs_node_sampling_overruns_total",
  "kube_customs_node_responses_total",
  "apiserver_audit_error_total",
  "apiserver_admission_webhook_fail_open_count",
  "apiserver_admission_webhook_rejection_count",
  "apiserver_admission_webhook_admission_duration_seconds_bucket",
  "container_cpu_usage_seconds_total",
  "container_memory_working_set_bytes",
  "container_network_transmit_bytes_total",
  "container_start_time_seconds",
]);
const METRIC = /\b((?:kube_customs|apiserver|container)_[a-z_]+|[a-z_]+:[a-z_:0-9]+)\b/g;
const rules = YAML.parse(read("deploy/prometheus/kube-customs-rules.yaml"));
const allRules = rules.groups.flatMap((g) => g.rules);
const recorded = new Set(allRules.filter((r) => r.record).map((r) => r.record));
const unknownIn = (exprs) => [...new Set(exprs.flatMap((e) => [...e.matchAll(METRIC)].map((m) => m[1])))]
  .filter((m) => !CONTRACT.has(m) && !recorded.has(m));
check("alert rules use only contract metrics and their own recordings", unknownIn(allRules.map((r) => r.expr)).length === 0,
  unknownIn(allRules.map((r) => r.expr)).join(", "));
const dash = JSON.parse(read("deploy/grafana/kube-customs.json"));
const dashExprs = dash.panels.flatMap((p) => (p.targets || []).map((t) => t.expr));
check("Grafana dashboard parses and has panels for webhook, findings and audit health",
  ["kube_customs_admission_requests_total", "kube_customs_admission_request_duration_seconds_bucket",
    "kube_customs_audit_findings_total", "kube_customs_audit_events_received_total"].every((m) => dashExprs.some((e) => e.includes(m))));
check("Grafana dashboard uses only contract metrics and the rules' recordings", unknownIn(dashExprs).length === 0, unknownIn(dashExprs).join(", "));
check("Grafana panel ids are unique", new Set(dash.panels.map((p) => p.id)).size === dash.panels.length);
// The contract's own metrics are the ones the C++ code registers (`.Name("...")`, or a family
// built by hand, `family.name = "..."`), and the alert
// tests feed only contract metrics: a test on a series kube-customs never exports proves nothing.
const sources = (d) => readdirSync(join(repo, d), { withFileTypes: true }).flatMap((e) =>
  e.isDirectory() ? sources(`${d}/${e.name}`) : e.name.endsWith(".cc") ? [`${d}/${e.name}`] : []);
const registered = new Set(["controller", "webhook", "common", "cmd", "node", "respond", "policies"]
  .flatMap(sources)
  .flatMap((f) => [...read(f).matchAll(/(?:\.Name\(|\.name = )"([a-z_:]+)"/g)].map((m) => m[1])));
const notRegistered = [...CONTRACT].filter((m) => m.startsWith("kube_customs_") &&
  !registered.has(m) && !registered.has(m.replace(/_(bucket|sum|count)$/, "")));
check("the contract's kube_customs_ metrics are registered by the code", notRegistered.length === 0, notRegistered.join(", "));

// --- Alerts: tests and runbooks -------------------------------------------------------------------
const alerts = allRules.filter((r) => r.alert);
const tests = YAML.parse(read("test/charts/alerts_test.yaml"));
const cases = tests.tests.flatMap((t) => t.alert_rule_test || []);
const testSeries = tests.tests.flatMap((t) => (t.input_series || []).map((i) => i.series.split("{")[0]));
const unknownSeries = [...new Set(testSeries)].filter((m) => !CONTRACT.has(m) && !recorded.has(m));
check("alert tests feed only contract metrics", unknownSeries.length === 0, unknownSeries.join(", "));
const docs = read("docs/alerts.md");
for (const a of alerts) {
  const mine = cases.filter((c) => c.alertname === a.alert);
  check(`${a.alert} is tested firing`, mine.some((c) => (c.exp_alerts || []).length > 0));
  check(`${a.alert} is tested staying quiet`, mine.some((c) => (c.exp_alerts || []).length === 0));
  const anchor = a.annotations.runbook_url.split("#")[1];
  const section = docs.split(/^## /m).find((s) => s.startsWith(a.alert + "\n"));
  check(`${a.alert} runbook anchor #${anchor} is a docs/alerts.md heading`, anchor === a.alert.toLowerCase() && !!section);
  const parts = ["Meaning", "Impact", "Diagnosis", "Mitigation"].filter((h) => !new RegExp(`^### ${h}$`, "m").test(section || ""));
  check(`${a.alert} runbook has Meaning, Impact, Diagnosis and Mitigation`, parts.length === 0, "missing " + parts.join(", "));
}
const documented = [...docs.matchAll(/^## (KubeCustoms\w+)$/gm)].map((m) => m[1]);
const stale = documented.filter((d) => !alerts.some((a) => a.alert === d));
check("docs/alerts.md documents no alert that does not exist", stale.length === 0, stale.join(", "));

// --- Plain manifests: the node agents --------------------------------------------------------------
// What a cluster without Helm gets on every node: root for the runtime sockets and nothing else.
const manifests = YAML.parseAllDocuments(read("deploy/manifests/kube-customs.yaml")).map((d) => d.toJS()).filter(Boolean);
const nsDoc = manifests.find((o) => o.kind === "Namespace");
const ds = manifests.find((o) => o.kind === "DaemonSet" && o.metadata.labels?.["app.kubernetes.io/component"] === "node");
check("deploy/manifests has the node DaemonSet", !!ds);
if (ds) {
  const pod = ds.spec.template.spec;
  const c = pod.containers[0];
  const sc = c.securityContext || {};
  const vols = Object.fromEntries(pod.volumes.map((v) => [v.name, v]));
  const mountOf = (path) => (c.volumeMounts || []).find((m) => vols[m.name]?.hostPath?.path === path);
  const sockets = ["/var/run/docker.sock", "/run/containerd/containerd.sock"];
  check("node DaemonSet mounts both runtime sockets read-only at their host paths",
    sockets.every((p) => mountOf(p)?.readOnly === true && mountOf(p).mountPath === p));
  check("node DaemonSet mounts the host's /proc and /sys/fs/cgroup read-only under /host",
    mountOf("/proc")?.readOnly === true && mountOf("/proc").mountPath === "/host/proc" &&
      mountOf("/sys/fs/cgroup")?.readOnly === true && mountOf("/sys/fs/cgroup").mountPath === "/host/sys/fs/cgroup");
  check("node DaemonSet keeps its state on a hostPath of its own",
    vols.state?.hostPath?.path === "/var/lib/kube-customs-node" && vols.state.hostPath.type === "DirectoryOrCreate" &&
      (c.args || [])[(c.args || []).indexOf("--state-dir") + 1]?.startsWith(c.volumeMounts.find((m) => m.name === "state").mountPath + "/"));
  check("node DaemonSet is not privileged, drops every capability and has no host namespaces",
    sc.privileged === false && sc.allowPrivilegeEscalation === false && sc.readOnlyRootFilesystem === true &&
      (sc.capabilities?.drop || []).includes("ALL") && !(sc.capabilities?.add || []).length &&
      !pod.hostNetwork && !pod.hostPID && !pod.hostIPC);
  check("node DaemonSet takes NODE_NAME from spec.nodeName",
    (c.env || []).some((e) => e.name === "NODE_NAME" && e.valueFrom?.fieldRef?.fieldPath === "spec.nodeName"));
  check("node DaemonSet has no ServiceAccount token",
    pod.automountServiceAccountToken === false && !manifests.some((o) => /Role(Binding)?$/.test(o.kind)));
  const labels = nsDoc?.metadata?.labels || {};
  check("the Namespace admits the node agents (privileged) and warns and audits at restricted",
    labels["pod-security.kubernetes.io/enforce"] === "privileged" &&
      labels["pod-security.kubernetes.io/warn"] === "restricted" && labels["pod-security.kubernetes.io/audit"] === "restricted");
}

// --- Audit policy -----------------------------------------------------------------------------------
const policy = YAML.parse(read("deploy/audit/audit-policy.yaml"));
check("audit policy is an audit.k8s.io/v1 Policy", policy.apiVersion === "audit.k8s.io/v1" && policy.kind === "Policy");
const LEVELS = ["None", "Metadata", "Request", "RequestResponse"];
check("audit policy levels are valid", policy.rules.every((r) => LEVELS.includes(r.level)));
check("audit policy ends with a catch-all Metadata rule", (() => {
  const last = policy.rules.at(-1);
  return last.level === "Metadata" && Object.keys(last).length === 1;
})());
// The apiserver's matching: a rule applies when its verbs, resources and nonResourceURLs match;
// "pods" matches only the resource, "pods/exec" the subresource, "*/exec" any resource's exec.
const levelFor = ({ group = "", resource, sub = "", verb }) => {
  for (const r of policy.rules) {
    if (r.verbs && !r.verbs.includes(verb)) continue;
    if (r.nonResourceURLs) continue;
    if (r.resources) {
      const name = sub ? `${resource}/${sub}` : resource;
      const hit = r.resources.some((g) => (g.group ?? "") === group &&
        (!g.resources || g.resources.some((x) => x === name || x === "*" || (sub && x === `*/${sub}`) || x === `${resource}/*`)));
      if (!hit) continue;
    }
    return r.level;
  }
  return "None";
};
const EXPECT = [
  [{ resource: "pods", verb: "create" }, "RequestResponse"],
  [{ resource: "pods", verb: "update" }, "RequestResponse"],
  [{ resource: "pods", sub: "exec", verb: "create" }, "RequestResponse"],
  [{ resource: "pods", sub: "exec", verb: "get" }, "RequestResponse"],
  [{ resource: "pods", sub: "attach", verb: "create" }, "RequestResponse"],
  [{ resource: "pods", sub: "portforward", verb: "create" }, "RequestResponse"],
  [{ resource: "pods", sub: "ephemeralcontainers", verb: "patch" }, "RequestResponse"],
  [{ resource: "pods", sub: "status", verb: "patch" }, "Request"],
  [{ resource: "nodes", sub: "status", verb: "patch" }, "Request"],
  [{ resource: "nodes", verb: "create" }, "Request"],
  [{ resource: "nodes", verb: "get" }, "Metadata"],
  [{ resource: "pods", verb: "list" }, "Metadata"],
  [{ group: "apps", resource: "deployments", verb: "create" }, "RequestResponse"],
  [{ group: "apps", resource: "deployments", verb: "patch" }, "RequestResponse"],
  [{ group: "apps", resource: "daemonsets", verb: "create" }, "RequestResponse"],
  [{ group: "apps", resource: "statefulsets", verb: "update" }, "RequestResponse"],
  [{ group: "apps", resource: "replicasets", verb: "create" }, "RequestResponse"],
  [{ group: "batch", resource: "jobs", verb: "create" }, "RequestResponse"],
  [{ group: "batch", resource: "cronjobs", verb: "create" }, "RequestResponse"],
  [{ resource: "replicationcontrollers", verb: "create" }, "RequestResponse"],
  [{ group: "admissionregistration.k8s.io", resource: "validatingwebhookconfigurations", verb: "delete" }, "RequestResponse"],
  [{ group: "admissionregistration.k8s.io", resource: "mutatingwebhookconfigurations", verb: "patch" }, "RequestResponse"],
  [{ resource: "services", verb: "create" }, "RequestResponse"],
  [{ resource: "services", verb: "patch" }, "RequestResponse"],
  [{ resource: "services", sub: "status", verb: "update" }, "Metadata"],
  [{ resource: "services", verb: "list" }, "Metadata"],
  [{ resource: "events", verb: "delete" }, "Metadata"],
  [{ resource: "events", verb: "deletecollection" }, "Metadata"],
  [{ resource: "secrets", verb: "get" }, "Metadata"],
  [{ resource: "secrets", verb: "create" }, "Metadata"],
  [{ resource: "configmaps", verb: "update" }, "Metadata"],
  [{ resource: "nodes", sub: "proxy", verb: "get" }, "Metadata"],
  [{ resource: "serviceaccounts", sub: "token", verb: "create" }, "Request"],
  [{ resource: "serviceaccounts", sub: "token", verb: "get" }, "Metadata"],
  [{ resource: "serviceaccounts", verb: "create" }, "Metadata"],
  [{ group: "certificates.k8s.io", resource: "certificatesigningrequests", verb: "create" }, "Request"],
  [{ group: "certificates.k8s.io", resource: "certificatesigningrequests", sub: "approval", verb: "update" }, "Request"],
  [{ group: "certificates.k8s.io", resource: "certificatesigningrequests", sub: "status", verb: "update" }, "Metadata"],
  [{ group: "rbac.authorization.k8s.io", resource: "clusterrolebindings", verb: "create" }, "RequestResponse"],
  [{ group: "rbac.authorization.k8s.io", resource: "clusterroles", verb: "patch" }, "RequestResponse"],
  [{ group: "rbac.authorization.k8s.io", resource: "rolebindings", verb: "delete" }, "RequestResponse"],
  [{ group: "rbac.authorization.k8s.io", resource: "roles", verb: "get" }, "Metadata"],
];
for (const [req, level] of EXPECT) {
  const got = levelFor(req);
  const id = `${req.group ? req.group + "/" : ""}${req.resource}${req.sub ? "/" + req.sub : ""} ${req.verb}`;
  check(`audit policy records ${id} at ${level}`, got === level, `got ${got}`);
}

// --- Audit webhook kubeconfig ----------------------------------------------------------------------
const kc = YAML.parse(read("deploy/audit/audit-webhook-kubeconfig.yaml"));
const ctx = kc.contexts.find((c) => c.name === kc["current-context"])?.context;
const cluster = kc.clusters.find((c) => c.name === ctx?.cluster)?.cluster;
const user = kc.users.find((u) => u.name === ctx?.user)?.user;
check("audit kubeconfig: current context resolves to a cluster and a user", !!cluster && !!user);
check("audit kubeconfig: HTTPS server on /audit/webhook with a CA", /^https:\/\/[^/]+\/audit\/webhook$/.test(cluster?.server || "") &&
  !!(cluster["certificate-authority"] || cluster["certificate-authority-data"]));
check("audit kubeconfig: client certificate and key", !!(user?.["client-certificate"] || user?.["client-certificate-data"]) &&
  !!(user?.["client-key"] || user?.["client-key-data"]));

process.exit(failed ? 1 : 0);
