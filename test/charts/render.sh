#!/usr/bin/env bash
# Regenerates the files that are copies or renders of another source:
#   charts/kube-customs/files/policies/        copies of policies/defaults/ (the chart cannot
#                                              read outside its directory)
#   deploy/prometheus/kube-customs-rules.yaml  the chart's rule groups with default values
#   deploy/manifests/kube-customs.yaml         the chart with test/charts/values/manifests.yaml
# With --check, renders into a temporary directory and fails (exit 1, with a diff) when the
# committed files differ (as sets of documents). Uses Helm 3 from .deps (run install_tools.sh first) or $HELM.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/../.." && pwd)
HELM=${HELM:-$REPO/.deps/helm3/helm}
CHART=$REPO/charts/kube-customs
check=false
[[ ${1:-} == --check ]] && check=true

out=$REPO/deploy
if $check; then
  out=$(mktemp -d)
  trap 'rm -rf "$out"' EXIT
  mkdir -p "$out/prometheus" "$out/manifests"
fi

# Default policies: the chart ships the repository's defaults.
if $check; then
  if ! diff -r "$REPO/policies/defaults" "$CHART/files/policies"; then
    echo "render.sh: charts/kube-customs/files/policies differs from policies/defaults; run test/charts/render.sh" >&2
    policies_drift=1
  fi
else
  rm -rf "$CHART/files/policies"
  mkdir -p "$CHART/files/policies"
  cp "$REPO"/policies/defaults/*.yaml "$CHART/files/policies/"
fi

# Rules: the PrometheusRule's spec, unindented; nothing but defaults plus enabling the rule.
{
  echo "# Generated from charts/kube-customs/files/prometheus-rules.yaml with the chart's default"
  echo "# values by test/charts/render.sh. Do not edit: change the chart and re-run it."
  "$HELM" template kube-customs "$CHART" --namespace kube-customs \
      --set prometheusRule.enabled=true --show-only templates/prometheusrule.yaml |
    awk 'body { sub(/^  /, ""); print; next } /^spec:$/ { body = 1 }'
} >"$out/prometheus/kube-customs-rules.yaml"

# Plain manifests for clusters without Helm: the Namespace (Pod Security, see below), then the chart.
{
  echo "# kube-customs for clusters without Helm, rendered from charts/kube-customs with"
  echo "# test/charts/values/manifests.yaml by test/charts/render.sh. Do not edit: change the chart"
  echo "# and re-run it. Needs cert-manager (the certificates come from it); see docs/install.md."
  echo "apiVersion: v1"
  echo "kind: Namespace"
  echo "metadata:"
  echo "  name: kube-customs"
  echo "  labels:"
  # The node agents run as root with the runtime sockets and host paths mounted, which only the
  # privileged level admits; every other pod here is restricted, and warn/audit at restricted
  # name anything else that is not (docs/install.md, "The node role").
  echo "    pod-security.kubernetes.io/enforce: privileged"
  echo "    pod-security.kubernetes.io/enforce-version: latest"
  echo "    pod-security.kubernetes.io/warn: restricted"
  echo "    pod-security.kubernetes.io/warn-version: latest"
  echo "    pod-security.kubernetes.io/audit: restricted"
  echo "    pod-security.kubernetes.io/audit-version: latest"
  "$HELM" template kube-customs "$CHART" --namespace kube-customs \
      -f "$REPO/test/charts/values/manifests.yaml" |
    sed -e '/^# Source: /d' -e '/helm.sh\/chart: /d' -e 's/app.kubernetes.io\/managed-by: Helm/app.kubernetes.io\/managed-by: kube-customs-manifests/'
} >"$out/manifests/kube-customs.yaml"

if $check; then
  rc=${policies_drift:-0}
  for f in prometheus/kube-customs-rules.yaml manifests/kube-customs.yaml; do
    # Documents are compared as a set: Helm 3 and Helm 4 order the same objects differently.
    if ! node "$REPO/test/charts/same_docs.mjs" "$REPO/deploy/$f" "$out/$f" >/dev/null; then
      diff -u "$REPO/deploy/$f" "$out/$f" | head -60
      echo "render.sh: deploy/$f is out of date; run test/charts/render.sh" >&2
      rc=1
    fi
  done
  exit "$rc"
fi
