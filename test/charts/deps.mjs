// The test tools' npm modules, installed by test/charts/install_tools.sh into
// $KC_DEPS/node/node_modules (default: the repository's .deps), imported without a package.json
// of the project's own.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const deps = process.env.KC_DEPS || fileURLToPath(new URL("../../.deps", import.meta.url));
export const nodeModules = join(deps, "node", "node_modules");

// Resolves a bare specifier inside that node_modules through the package's "exports".
export const importDep = async (spec) => {
  const parts = spec.split("/");
  const pkg = spec.startsWith("@") ? parts.slice(0, 2).join("/") : parts[0];
  const sub = "." + spec.slice(pkg.length);
  const dir = join(nodeModules, pkg);
  const pj = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
  let entry = typeof pj.exports === "string" && sub === "." ? pj.exports : pj.exports?.[sub];
  while (entry && typeof entry === "object") entry = entry.node ?? entry.import ?? entry.default;
  if (!entry && sub === ".") entry = pj.main ?? "index.js";
  if (!entry) throw new Error(`${spec} is not exported by ${pkg}`);
  return import(pathToFileURL(join(dir, entry)).href);
};
