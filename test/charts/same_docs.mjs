// Compares two multi-document YAML files as sets of documents, ignoring their order and Helm's
// "# Source:" comments (Helm 3 and Helm 4 order the same objects differently).
//   node same_docs.mjs A.yaml B.yaml   -> exit 0 when equal, else 1 with the differing documents
import { readFileSync } from "node:fs";

const docs = (file) =>
  readFileSync(file, "utf8")
    .split(/^---\s*$/m)
    .map((d) => d.replace(/^# Source: .*\n/gm, "").trim())
    .filter((d) => d && !/^(#.*\n?)*$/.test(d))
    .sort();
const [a, b] = process.argv.slice(2).map(docs);
const onlyA = a.filter((d) => !b.includes(d));
const onlyB = b.filter((d) => !a.includes(d));
for (const d of onlyA) console.log(`--- only in ${process.argv[2]}:\n${d}\n`);
for (const d of onlyB) console.log(`+++ only in ${process.argv[3]}:\n${d}\n`);
if (a.length !== b.length) console.log(`document count ${a.length} != ${b.length}`);
process.exit(onlyA.length || onlyB.length || a.length !== b.length ? 1 : 0);
