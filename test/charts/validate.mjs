// Validates one `helm template` output offline: every document against its Kubernetes (or
// Prometheus Operator, cert-manager) schema from kubernetes-models, then the properties that
// matter for kube-customs. Prints one "PASS name" or "FAIL name: why" line per check and exits 1
// when any failed.
//
//   node validate.mjs --namespace NS CASE=RENDERED.yaml [CASE=RENDERED.yaml ...]
//
// CASE picks the expectations of a values set (see CASES). Modules come from
// $KC_DEPS/node/node_modules (test/charts/install_tools.sh puts them there).
import { readFileSync } from "node:fs";
import { X509Certificate } from "node:crypto";
import { importDep } from "./deps.mjs";

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  if (i < 0) return dflt;
  const v = args[i + 1];
  args.splice(i, 2);
  return v;
};
const ns = opt("--namespace", "kube-customs");

// What each values set must produce (test/charts/values/<name>.yaml).
const CASES = {
  defaults: { tls: "generate", webhook: true, audit: true, failurePolicy: "Ignore", webhookReplicas: 2, client: true },
  "cert-manager": { tls: "certManager", webhook: true, audit: true, failurePolicy: "Ignore", webhookReplicas: 2, selfIssuer: true, client: true },
  "cert-manager-issuer": { tls: "certManager", webhook: true, audit: true, failurePolicy: "Ignore", webhookReplicas: 2, selfIssuer: false, client: false, clientCAConfigMap: true },
  "user-provided": { tls: "userProvided", webhook: true, audit: true, failurePolicy: "Ignore", deadlineAction: "deny", webhookReplicas: 2, secretName: "kube-customs-serving", client: false },
  "audit-disabled": { tls: "generate", webhook: true, audit: false, failurePolicy: "Ignore", webhookReplicas: 2, client: false },
  "webhook-disabled": { tls: "generate", webhook: false, audit: true, client: true },
  "node-only": { tls: "generate", webhook: false, audit: false, node: true, client: false },
  full: { node: true, extraPolicy: "allowed-registries", podConnect: true, tls: "generate", webhook: true, audit: true, failurePolicy: "Fail", webhookReplicas: 3, monitoring: true, pvc: true, client: true, extraExempt: ["kube-node-lease"], auditIP: "10.96.200.10" },
  manifests: { node: true, tls: "certManager", webhook: true, audit: true, failurePolicy: "Ignore", webhookReplicas: 2, selfIssuer: true, client: true },
};
const YAML = await importDep("yaml");
let failed = 0;

async function validate(caseName, file) {
  const want = CASES[caseName];
  if (!want) throw new Error(`validate.mjs: unknown case ${caseName}`);
  const check = (name, ok, why = "") => {
    if (ok) console.log(`PASS [${caseName}] ${name}`);
    else {
      failed++;
      console.log(`FAIL [${caseName}] ${name}${why ? ": " + why : ""}`);
    }
  };

  // --- Parse -------------------------------------------------------------------------------
  const docs = [];
  {
    const parsed = YAML.parseAllDocuments(readFileSync(file, "utf8"), { uniqueKeys: true });
    const errors = parsed.flatMap((d) => d.errors.map((e) => e.message));
    check("rendered YAML parses without duplicate keys", errors.length === 0, errors.join("; "));
    for (const d of parsed) {
      const o = d.toJS();
      if (o) docs.push(o);
    }
  }
  check("renders at least one object", docs.length > 0);

  // --- Schemas -----------------------------------------------------------------------------
  const MODULES = {
    v1: "kubernetes-models/v1",
    "apps/v1": "kubernetes-models/apps/v1",
    "policy/v1": "kubernetes-models/policy/v1",
    "networking.k8s.io/v1": "kubernetes-models/networking.k8s.io/v1",
    "admissionregistration.k8s.io/v1": "kubernetes-models/admissionregistration.k8s.io/v1",
    "rbac.authorization.k8s.io/v1": "kubernetes-models/rbac.authorization.k8s.io/v1",
    "monitoring.coreos.com/v1": "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1",
    "cert-manager.io/v1": "@kubernetes-models/cert-manager/cert-manager.io/v1",
  };
  for (const o of docs) {
    const id = `${o.kind}/${o.metadata?.name}`;
    const mod = MODULES[o.apiVersion];
    let Model;
    if (mod) Model = (await importDep(mod))[o.kind];
    if (!Model) {
      check(`${id} has a known schema`, false, `no model for ${o.apiVersion} ${o.kind}`);
      continue;
    }
    try {
      new Model(o).validate();
      check(`${id} matches the ${o.apiVersion} schema`, true);
    } catch (e) {
      check(`${id} matches the ${o.apiVersion} schema`, false, e.message);
    }
  }

  // --- Helpers -----------------------------------------------------------------------------
  const CLUSTER_SCOPED = new Set(["ValidatingWebhookConfiguration", "MutatingWebhookConfiguration", "ClusterRole", "ClusterRoleBinding", "Namespace"]);
  const of = (kind) => docs.filter((o) => o.kind === kind);
  const named = (kind, name) => docs.find((o) => o.kind === kind && o.metadata.name === name);
  const matches = (selector, labels) => Object.entries(selector || {}).every(([k, v]) => labels?.[k] === v);
  const component = (o) => o.metadata.labels?.["app.kubernetes.io/component"];
  const deployments = of("Deployment");
  const webhookDeploy = deployments.find((d) => component(d) === "webhook");
  const auditDeploy = deployments.find((d) => component(d) === "audit");

  check("every namespaced object is in the release namespace",
    docs.every((o) => CLUSTER_SCOPED.has(o.kind) || o.metadata.namespace === ns),
    docs.filter((o) => !CLUSTER_SCOPED.has(o.kind) && o.metadata.namespace !== ns).map((o) => o.kind + "/" + o.metadata.name).join(", "));
  check("no Role, ClusterRole or binding (kube-customs calls no Kubernetes API)",
    docs.every((o) => !/Role(Binding)?$/.test(o.kind)));
  check("webhook Deployment present as expected", !!webhookDeploy === !!want.webhook);
  check("audit Deployment present as expected", !!auditDeploy === !!want.audit);
  const daemonSets = of("DaemonSet");
  const nodeDS = daemonSets.find((d) => component(d) === "node");
  const workloads = [...deployments, ...daemonSets];
  check("node DaemonSet present as expected", !!nodeDS === !!want.node && daemonSets.length === (want.node ? 1 : 0));
  check("ValidatingWebhookConfiguration present as expected", of("ValidatingWebhookConfiguration").length === (want.webhook ? 1 : 0));

  // --- Pods: restricted Pod Security Standard ------------------------------------------------
  for (const d of deployments) {
    const id = `Deployment/${d.metadata.name}`;
    const pod = d.spec.template.spec;
    const psc = pod.securityContext || {};
    const problems = [];
    if (pod.hostNetwork || pod.hostPID || pod.hostIPC) problems.push("host namespaces");
    if (pod.automountServiceAccountToken !== false) problems.push("service account token mounted");
    if (psc.runAsUser === 0) problems.push("pod runAsUser 0");
    for (const v of pod.volumes || []) {
      if (!["configMap", "secret", "emptyDir", "persistentVolumeClaim", "projected"].some((k) => k in v)) problems.push(`volume ${v.name} type`);
    }
    for (const c of [...(pod.initContainers || []), ...pod.containers]) {
      const sc = c.securityContext || {};
      const nonRoot = sc.runAsNonRoot ?? psc.runAsNonRoot;
      const seccomp = (sc.seccompProfile ?? psc.seccompProfile)?.type;
      if (sc.privileged) problems.push(`${c.name}: privileged`);
      if (sc.allowPrivilegeEscalation !== false) problems.push(`${c.name}: allowPrivilegeEscalation`);
      if (sc.readOnlyRootFilesystem !== true) problems.push(`${c.name}: readOnlyRootFilesystem`);
      if (nonRoot !== true) problems.push(`${c.name}: runAsNonRoot`);
      if ((sc.runAsUser ?? psc.runAsUser) === 0) problems.push(`${c.name}: runAsUser 0`);
      if (!["RuntimeDefault", "Localhost"].includes(seccomp)) problems.push(`${c.name}: seccomp`);
      if (!(sc.capabilities?.drop || []).includes("ALL")) problems.push(`${c.name}: capabilities not dropped`);
      if ((sc.capabilities?.add || []).some((x) => x !== "NET_BIND_SERVICE")) problems.push(`${c.name}: capabilities added`);
      if ((c.ports || []).some((p) => p.hostPort)) problems.push(`${c.name}: hostPort`);
      const vols = new Set((pod.volumes || []).map((v) => v.name));
      for (const m of c.volumeMounts || []) if (!vols.has(m.name)) problems.push(`${c.name}: mount ${m.name} has no volume`);
      const a = c.args || [];
      const flag = (f) => a[a.indexOf(f) + 1];
      if (a[0] !== "serve") problems.push(`${c.name}: not serve`);
      if (flag("--roles") !== component(d)) problems.push(`${c.name}: --roles ${flag("--roles")}`);
      for (const [f, v] of [["--config", "/etc/kube-customs/config.yaml"], ["--policies", "/etc/kube-customs/policies"],
        ["--tls-cert", "/etc/kube-customs/tls/tls.crt"], ["--tls-key", "/etc/kube-customs/tls/tls.key"],
        ["--listen", ":8443"], ["--metrics-listen", ":9090"]]) {
        if (flag(f) !== v) problems.push(`${c.name}: ${f} ${flag(f)}`);
      }
      if (component(d) === "audit" && !flag("--audit-client-ca")) problems.push(`${c.name}: no --audit-client-ca`);
      if (c.readinessProbe?.httpGet?.path !== "/readyz" || c.readinessProbe?.httpGet?.scheme !== "HTTPS") problems.push(`${c.name}: readiness probe`);
    }
    check(`${id} pods are restricted, mount what they use and run the contract flags`, problems.length === 0, problems.join("; "));
    check(`${id} selector matches its pods`, matches(d.spec.selector.matchLabels, d.spec.template.metadata.labels));
    // Every ConfigMap and Secret a pod mounts is rendered, or is made by cert-manager / the user.
    const missing = [];
    for (const v of pod.volumes || []) {
      if (v.configMap && !named("ConfigMap", v.configMap.name)) missing.push(`ConfigMap ${v.configMap.name}`);
      if (v.secret) {
        const s = v.secret.secretName;
        const made = named("Secret", s) || of("Certificate").some((c) => c.spec.secretName === s) || s === want.secretName;
        if (!made) missing.push(`Secret ${s}`);
      }
      if (v.persistentVolumeClaim && !named("PersistentVolumeClaim", v.persistentVolumeClaim.claimName)) missing.push(`PVC ${v.persistentVolumeClaim.claimName}`);
    }
    check(`${id} volumes refer to objects that exist`, missing.length === 0, missing.join(", "));
  }
  if (webhookDeploy) {
    const aff = webhookDeploy.spec.template.spec.affinity?.podAntiAffinity;
    check("webhook has the expected replicas and pod anti-affinity",
      webhookDeploy.spec.replicas === want.webhookReplicas && !!aff);
    const pdb = of("PodDisruptionBudget")[0];
    check("webhook PodDisruptionBudget selects the webhook pods and allows a drain",
      pdb && matches(pdb.spec.selector.matchLabels, webhookDeploy.spec.template.metadata.labels) &&
        pdb.spec.minAvailable < webhookDeploy.spec.replicas);
  }
  if (auditDeploy) {
    check("audit is one replica with Recreate", auditDeploy.spec.replicas === 1 && auditDeploy.spec.strategy.type === "Recreate");
    const state = auditDeploy.spec.template.spec.volumes.find((v) => v.name === "state");
    check("audit state is a PVC only when persistence is on", !!state.persistentVolumeClaim === !!want.pvc);
    const args = auditDeploy.spec.template.spec.containers[0].args;
    const ca = args[args.indexOf("--audit-client-ca") + 1];
    check("audit client CA comes from the expected place",
      want.clientCAConfigMap ? ca === "/etc/kube-customs/audit-client-ca/ca.crt" : ca === "/etc/kube-customs/tls/ca.crt");
  }

  // --- Node agents: root for the sockets, nothing else ------------------------------------------
  if (nodeDS) {
    const id = `DaemonSet/${nodeDS.metadata.name}`;
    const pod = nodeDS.spec.template.spec;
    const c = pod.containers[0];
    const sc = c.securityContext || {};
    const problems = [];
    if (pod.hostNetwork || pod.hostPID || pod.hostIPC) problems.push("host namespaces");
    if (pod.automountServiceAccountToken !== false) problems.push("service account token mounted");
    if (pod.containers.length !== 1 || pod.initContainers) problems.push("one container expected");
    if (sc.privileged !== false) problems.push("privileged not false");
    if (sc.allowPrivilegeEscalation !== false) problems.push("allowPrivilegeEscalation");
    if (sc.readOnlyRootFilesystem !== true) problems.push("readOnlyRootFilesystem");
    if (!(sc.capabilities?.drop || []).includes("ALL") || (sc.capabilities?.add || []).length) problems.push("capabilities");
    if ((sc.seccompProfile ?? pod.securityContext?.seccompProfile)?.type !== "RuntimeDefault") problems.push("seccomp");
    if ((c.ports || []).some((p) => p.hostPort)) problems.push("hostPort");
    const a = c.args || [];
    const flag = (f) => a[a.indexOf(f) + 1];
    if (a[0] !== "serve" || flag("--roles") !== "node") problems.push(`--roles ${flag("--roles")}`);
    if (a.includes("--tls-key")) problems.push("the serving key is copied to every node");
    const env = (c.env || []).find((e) => e.name === "NODE_NAME");
    if (env?.valueFrom?.fieldRef?.fieldPath !== "spec.nodeName") problems.push("NODE_NAME not from spec.nodeName");
    const vols = Object.fromEntries((pod.volumes || []).map((v) => [v.name, v]));
    for (const m of c.volumeMounts || []) {
      const v = vols[m.name];
      if (!v) problems.push(`mount ${m.name} has no volume`);
      else if (v.hostPath && m.name !== "state" && m.readOnly !== true) problems.push(`host path ${v.hostPath.path} mounted writable`);
    }
    const hostPaths = Object.values(vols).filter((v) => v.hostPath).map((v) => v.hostPath.path).sort();
    const allowed = ["/proc", "/sys/fs/cgroup", "/var/lib/kube-customs-node", "/var/log/pods", "/var/run/docker.sock", "/run/containerd/containerd.sock"];
    if (hostPaths.some((p) => !allowed.includes(p))) problems.push(`unexpected host paths ${hostPaths}`);
    if (vols.state?.hostPath?.type !== "DirectoryOrCreate") problems.push("state is not a hostPath directory");
    if (c.readinessProbe?.httpGet?.path !== "/readyz" || c.livenessProbe?.httpGet?.path !== "/healthz") problems.push("probes");
    if (!c.resources?.limits?.memory || !c.resources?.requests?.cpu) problems.push("resources");
    check(`${id} is unprivileged apart from root, mounts host paths read-only and names its node`, problems.length === 0, problems.join("; "));
    check(`${id} selector matches its pods`, matches(nodeDS.spec.selector.matchLabels, nodeDS.spec.template.metadata.labels));
    check(`${id} tolerates every taint by default`, (pod.tolerations || []).some((t) => t.operator === "Exists" && !t.key));
    check(`${id} never surges (one agent per state directory)`, nodeDS.spec.updateStrategy?.rollingUpdate?.maxSurge === 0);
    const sa = named("ServiceAccount", pod.serviceAccountName);
    check(`${id} has its own ServiceAccount without a token`, !!sa && sa.automountServiceAccountToken === false &&
      !deployments.some((d) => d.spec.template.spec.serviceAccountName === pod.serviceAccountName));
    const cm = named("ConfigMap", vols.config?.configMap?.name);
    const cfg = cm ? YAML.parse(cm.data["config.yaml"]) : {};
    check(`${id} config reads the host's /proc and cgroup tree where they are mounted, and leaves node.name to NODE_NAME`,
      cfg?.node?.procRoot === "/host/proc" && cfg?.node?.cgroupRoot === "/host/sys/fs/cgroup" && !cfg?.node?.name);
    const mounted = (c.volumeMounts || []).map((m) => m.mountPath);
    check(`${id} config names only sockets it mounts`,
      ["dockerSocket", "containerdSocket"].every((k) => !cfg?.node?.[k] || mounted.includes(cfg.node[k])));
  }

  // Policies: the shipped defaults (or the user's files) are in the policies ConfigMap.
  const polCM = of("ConfigMap").find((c) => /-policies$/.test(c.metadata.name));
  const polDocs = Object.values(polCM?.data || {}).flatMap((t) => YAML.parseAllDocuments(t).map((d) => d.toJS()).filter(Boolean));
  check("policies ConfigMap carries policy.kube-customs.io/v1alpha1 documents, defaults included",
    polDocs.length > 0 && polDocs.every((d) => d.apiVersion === "policy.kube-customs.io/v1alpha1") &&
      ["denied-images", "pod-security-baseline", "system-namespaces"].every((n) => polDocs.some((d) => d.metadata?.name === n)),
    polDocs.map((d) => d.metadata?.name).join(", "));
  if (want.extraPolicy) check(`policies ConfigMap has ${want.extraPolicy} from values`, polDocs.some((d) => d.metadata?.name === want.extraPolicy));

  // Services select pods that exist.
  for (const s of of("Service")) {
    const hit = workloads.some((d) => matches(s.spec.selector, d.spec.template.metadata.labels));
    check(`Service/${s.metadata.name} selects a rendered pod`, hit);
  }
  if (want.auditIP) {
    const s = of("Service").find((x) => component(x) === "audit");
    check("audit Service keeps its fixed ClusterIP and node port", s?.spec.clusterIP === want.auditIP && s.spec.type === "NodePort" && s.spec.ports[0].nodePort === 30443);
  }

  // --- Webhook configuration -------------------------------------------------------------------
  for (const vwc of of("ValidatingWebhookConfiguration")) {
    for (const w of vwc.webhooks) {
      const id = `webhook ${w.name}`;
      const exempt = (w.namespaceSelector?.matchExpressions || []).find((e) => e.key === "kubernetes.io/metadata.name" && e.operator === "NotIn");
      check(`${id} always exempts the release namespace`, !!exempt && exempt.values.includes(ns));
      for (const extra of want.extraExempt || []) check(`${id} exempts ${extra}`, exempt.values.includes(extra));
      const svc = w.clientConfig.service;
      check(`${id} calls a rendered Service in the release namespace on /validate`,
        svc && svc.namespace === ns && svc.path === "/validate" && !!named("Service", svc.name) &&
          named("Service", svc.name).spec.ports.some((p) => p.port === svc.port));
      check(`${id} failurePolicy and timeout`, w.failurePolicy === want.failurePolicy && w.timeoutSeconds >= 1 && w.timeoutSeconds <= 30);
      // A review answered at its deadline goes the way failurePolicy sends one left unanswered,
      // unless config.webhook.deadlineAction says otherwise.
      const webhookConfig = of("ConfigMap").find((c) => c.metadata.labels?.["app.kubernetes.io/component"] === "webhook" && c.data?.["config.yaml"]);
      const action = webhookConfig && YAML.parse(webhookConfig.data["config.yaml"])?.webhook?.deadlineAction;
      check(`${id} deadlineAction is ${want.deadlineAction ?? "the failurePolicy's"}`,
        action === (want.deadlineAction ?? (w.failurePolicy === "Fail" ? "deny" : "allow")), String(action));
      check(`${id} has no side effects and speaks AdmissionReview v1`, w.sideEffects === "None" && w.admissionReviewVersions.includes("v1"));
      const covered = new Set();
      for (const r of w.rules) {
        if (!(r.operations.includes("CREATE") && r.operations.includes("UPDATE"))) continue;
        for (const g of r.apiGroups) for (const res of r.resources) covered.add(`${g}/${res}`);
      }
      const needed = ["/pods", "/pods/ephemeralcontainers", "/replicationcontrollers", "/podtemplates", "apps/deployments",
        "apps/replicasets", "apps/statefulsets", "apps/daemonsets", "batch/jobs", "batch/cronjobs", "/services"];
      const gaps = needed.filter((n) => !covered.has(n));
      check(`${id} covers pods, ephemeral containers, every workload kind and Services on CREATE and UPDATE`, gaps.length === 0, gaps.join(", "));
      const connect = new Set();
      for (const r of w.rules) {
        if (!r.operations.includes("CONNECT")) continue;
        for (const g of r.apiGroups) for (const res of r.resources) connect.add(`${g}/${res}`);
      }
      const sessions = ["/pods/exec", "/pods/attach", "/pods/portforward"];
      check(`${id} sends exec, attach and port-forward (CONNECT) only when judgePodConnect is on`,
        want.podConnect ? sessions.every((n) => connect.has(n)) && connect.size === 3 : connect.size === 0,
        [...connect].join(", "));

      // The CA bundle: set inline (and matching the serving certificate), or injected by cert-manager.
      const inject = vwc.metadata.annotations?.["cert-manager.io/inject-ca-from"];
      if (want.tls === "certManager") {
        const [cns, cname] = (inject || "/").split("/");
        const cert = named("Certificate", cname);
        check(`${id} CA bundle is injected by cert-manager from the serving Certificate`, cns === ns && !!cert && !w.clientConfig.caBundle);
        if (cert) {
          check("serving Certificate covers the webhook Service name", cert.spec.dnsNames.includes(`${svc.name}.${ns}.svc`));
          check("self-signed CA Issuer chain rendered as expected",
            !!named("Issuer", cert.spec.issuerRef.name) === !!want.selfIssuer || cert.spec.issuerRef.kind === "ClusterIssuer");
        }
      } else {
        let pemOk = false;
        let why = "";
        try {
          const caPem = Buffer.from(w.clientConfig.caBundle, "base64").toString();
          const ca = new X509Certificate(caPem);
          pemOk = ca.ca;
          if (want.tls === "generate") {
            const tls = named("Secret", `${svc.name.replace(/-webhook$/, "")}-tls`);
            const crt = new X509Certificate(Buffer.from(tls.data["tls.crt"], "base64"));
            const sans = crt.subjectAltName || "";
            pemOk &&= crt.verify(ca.publicKey) && sans.includes(`DNS:${svc.name}.${ns}.svc`) &&
              Buffer.from(tls.data["ca.crt"], "base64").toString() === caPem;
            if (want.auditIP) pemOk &&= sans.includes(`IP Address:${want.auditIP}`);
            why = `SANs ${sans}`;
          }
        } catch (e) {
          why = e.message;
        }
        check(`${id} CA bundle is set and ${want.tls === "generate" ? "signed the serving certificate" : "is a CA certificate"}`, !inject && pemOk, why);
      }
    }
  }

  // --- TLS objects per mode ---------------------------------------------------------------------
  const tlsSecrets = of("Secret").filter((s) => s.type === "kubernetes.io/tls");
  if (want.tls === "generate") {
    check("generate mode renders CA, serving (and client) Secrets", tlsSecrets.length === (want.client ? 3 : 2));
    check("generate mode renders no cert-manager objects", of("Certificate").length === 0 && of("Issuer").length === 0);
  } else if (want.tls === "certManager") {
    check("certManager mode renders no TLS Secrets", tlsSecrets.length === 0);
    const certs = of("Certificate");
    check("certManager mode renders the expected Certificates",
      certs.length === 1 + (want.selfIssuer ? 1 : 0) + (want.client ? 1 : 0));
    const client = certs.find((c) => c.spec.commonName === "kube-apiserver-audit");
    check("audit client Certificate is for client auth only when expected", !!client === !!want.client && (!client || client.spec.usages.includes("client auth")));
  } else {
    check("userProvided mode renders no TLS Secrets or Certificates", tlsSecrets.length === 0 && of("Certificate").length === 0);
  }

  // --- Network and monitoring ----------------------------------------------------------------
  for (const np of of("NetworkPolicy")) {
    const id = `NetworkPolicy/${np.metadata.name}`;
    const pods = workloads.filter((d) => matches(np.spec.podSelector.matchLabels, d.spec.template.metadata.labels));
    const ports = np.spec.ingress.flatMap((r) => r.ports.map((p) => p.port));
    check(`${id} selects one component and admits 8443 and 9090 only`, pods.length === 1 && ports.sort().join() === "8443,9090");
    if (component(np) === "webhook") check(`${id} denies all egress from the webhook`, np.spec.policyTypes.includes("Egress") && np.spec.egress.length === 0);
  }
  check("ServiceMonitor and PrometheusRule present only when enabled",
    of("ServiceMonitor").length === (want.monitoring ? 1 : 0) && of("PrometheusRule").length === (want.monitoring ? 1 : 0));
  for (const sm of of("ServiceMonitor")) {
    const svcs = of("Service").filter((s) => matches(sm.spec.selector.matchLabels, s.metadata.labels));
    check("ServiceMonitor selects the metrics Service by its metrics port",
      svcs.length === 1 && svcs[0].spec.ports.some((p) => p.name === sm.spec.endpoints[0].port));
  }
  for (const pr of of("PrometheusRule")) {
    const rules = pr.spec.groups.flatMap((g) => g.rules);
    const alerts = rules.filter((r) => r.alert);
    const bad = alerts.filter((a) => !a.annotations?.summary || !a.annotations?.description ||
      !/docs\/alerts\.md#[a-z0-9-]+$/.test(a.annotations?.runbook_url || "") || !a.labels?.severity);
    check("every alert has summary, description, severity and a runbook_url anchor", alerts.length > 0 && bad.length === 0,
      bad.map((a) => a.alert).join(", "));
    const anchors = alerts.map((a) => a.annotations.runbook_url.split("#")[1]);
    check("every runbook_url anchor matches its alert name", alerts.every((a, i) => anchors[i] === a.alert.toLowerCase()));
  }
}

for (const a of args) {
  const [caseName, file] = a.split("=");
  await validate(caseName, file);
}
process.exit(failed ? 1 : 0);
