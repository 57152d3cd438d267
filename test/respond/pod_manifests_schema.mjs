// Validates the documents `kube-customs respond isolate-pod|release-pod` prints against the
// Kubernetes schemas of kubernetes-models. Prints one "PASS ..." or "FAIL ...: why" line per
// check and exits 1 when any failed.
//
//   node pod_manifests_schema.mjs FILE [FILE ...]
//
// A NetworkPolicy is complete and is validated as printed. The other documents are partial
// objects for server-side apply, which lack fields their schema requires (a Pod's containers,
// a Deployment's selector and template): each is validated as the API server would hold it
// after the apply, merged into a minimal complete object of its kind, and then every field it
// sets is checked to be a field of the schema: given a value of the wrong type there, the
// schema must refuse it at that path (a misspelt or misplaced field would go unnoticed, since
// the schemas do not refuse unknown fields). Modules come from $KC_DEPS/node/node_modules
// (test/charts/install_tools.sh puts them there).
import { readFileSync } from "node:fs";
import { importDep } from "../charts/deps.mjs";


const YAML = await importDep("yaml");
const MODULES = {
  v1: "kubernetes-models/v1",
  "apps/v1": "kubernetes-models/apps/v1",
  "batch/v1": "kubernetes-models/batch/v1",
  "networking.k8s.io/v1": "kubernetes-models/networking.k8s.io/v1",
};

// Minimal complete objects, as a cluster would hold them before the apply.
const container = { name: "app", image: "registry.example.com/app:1" };
const template = { metadata: { labels: { app: "a" } }, spec: { containers: [container] } };
const selector = { matchLabels: { app: "a" } };
const BASE = {
  Pod: { spec: { containers: [container] } },
  Deployment: { spec: { replicas: 3, selector, template } },
  StatefulSet: { spec: { replicas: 3, selector, template, serviceName: "a" } },
  ReplicaSet: { spec: { replicas: 3, selector, template } },
  ReplicationController: { spec: { replicas: 3, selector: { app: "a" }, template } },
  DaemonSet: { spec: { selector, template: { ...template, spec: { ...template.spec, nodeSelector: { "kubernetes.io/os": "linux" } } } } },
  Job: { spec: { template: { spec: { containers: [container], restartPolicy: "Never" } } } },
  CronJob: { spec: { schedule: "0 3 * * *", jobTemplate: { spec: { template: { spec: { containers: [container], restartPolicy: "Never" } } } } } },
};

const isObject = (v) => v && typeof v === "object" && !Array.isArray(v);
// Server-side apply's merge for what these documents hold: maps merged key by key, the
// applied scalar winning.
const merge = (base, over) => {
  if (!isObject(base) || !isObject(over)) return structuredClone(over);
  const out = structuredClone(base);
  for (const [k, v] of Object.entries(over)) out[k] = k in out ? merge(out[k], v) : structuredClone(v);
  return out;
};
// Every leaf of o (scalars and array elements) as a path of keys.
const leaves = (o, path = []) => {
  if (Array.isArray(o)) return o.flatMap((v, i) => leaves(v, [...path, i]));
  if (isObject(o)) return Object.entries(o).flatMap(([k, v]) => leaves(v, [...path, k]));
  return [path];
};
const pointer = (path) => "/" + path.map((k) => String(k).replaceAll("~", "~0").replaceAll("/", "~1")).join("/");
const errorsOf = (Model, o) => {
  try {
    new Model(o).validate();
    return [];
  } catch (e) {
    if (!e.errors) throw e;
    return e.errors;
  }
};
const show = (errors) => errors.map((e) => `${e.instancePath || "/"} ${e.message}`).join("; ");

let failed = 0;
const check = (name, ok, why = "") => {
  if (ok) console.log(`PASS ${name}`);
  else {
    failed++;
    console.log(`FAIL ${name}${why ? ": " + why : ""}`);
  }
};

for (const file of process.argv.slice(2)) {
  const name = file.split("/").pop();
  const parsed = YAML.parseAllDocuments(readFileSync(file, "utf8"), { uniqueKeys: true });
  const errors = parsed.flatMap((d) => d.errors.map((e) => e.message));
  check(`${name}: YAML parses without duplicate keys`, errors.length === 0, errors.join("; "));
  const docs = parsed.map((d) => d.toJS()).filter(Boolean);
  check(`${name}: has documents`, docs.length > 0);
  for (const o of docs) {
    const id = `${name}: ${o.kind}/${o.metadata?.name}`;
    const mod = MODULES[o.apiVersion];
    const Model = mod ? (await importDep(mod))[o.kind] : undefined;
    if (!Model) {
      check(`${id} has a known schema`, false, `no model for ${o.apiVersion} ${o.kind}`);
      continue;
    }
    let subject = o;
    if (o.kind === "NetworkPolicy") {
      const errs = errorsOf(Model, o);
      check(`${id} matches the ${o.apiVersion} NetworkPolicy schema as printed`, errs.length === 0, show(errs));
    } else {
      const base = BASE[o.kind];
      if (!base) {
        check(`${id} has a base object`, false);
        continue;
      }
      check(`${id} base object is valid alone`, errorsOf(Model, { ...base, metadata: o.metadata }).length === 0);
      // Alone, a partial object may only miss required fields.
      const alone = errorsOf(Model, o).filter((e) => e.keyword !== "required");
      check(`${id} alone breaks no schema rule but required fields`, alone.length === 0, show(alone));
      subject = merge(base, o);
      const errs = errorsOf(Model, subject);
      check(`${id} merged into a complete ${o.kind} matches the ${o.apiVersion} schema`, errs.length === 0, show(errs));
    }
    // Each field set is one the schema knows: a wrong type there is refused at that path.
    const unknown = [];
    for (const path of leaves(o)) {
      if (path[0] === "apiVersion" || path[0] === "kind") continue;
      const poisoned = structuredClone(subject);
      let at = poisoned;
      for (const k of path.slice(0, -1)) at = at[k];
      at[path.at(-1)] = { "kube-customs-probe": [1] };
      const where = pointer(path);
      if (!errorsOf(Model, poisoned).some((e) => e.instancePath === where)) unknown.push(where);
    }
    check(`${id} sets only fields of the ${o.kind} schema`, unknown.length === 0, `not in the schema: ${unknown.join(", ")}`);
  }
}
process.exit(failed ? 1 : 0);
