#!/usr/bin/env bash
# `kube-customs respond isolate-pod|release-pod` as a process:
#   pod_manifests_schema.sh cli BIN     exit codes, usage errors with nothing on stdout
#   pod_manifests_schema.sh schema BIN  every printed document (each owner kind, isolate and
#                                       release) against the Kubernetes schemas of
#                                       kubernetes-models (pod_manifests_schema.mjs), and the
#                                       kubectl command of each header parsed by kubectl
# The schema mode needs node and $KC_DEPS/node/node_modules (test/charts/install_tools.sh) and
# kubectl ($KC_DEPS/helm3/kubectl or on PATH): without them it is skipped (exit 77), unless
# CI=true or KC_REQUIRE_TOOLS=1, where it installs them with install_tools.sh or fails.
# Prints PASS/FAIL per check and "N passed, N failed".
set -uo pipefail

mode=${1:?usage: pod_manifests_schema.sh cli|schema KUBE_CUSTOMS}
BIN=${2:?usage: pod_manifests_schema.sh cli|schema KUBE_CUSTOMS}
REPO=$(cd "$(dirname "$0")/../.." && pwd)
export KC_DEPS=${KC_DEPS:-$REPO/.deps}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
required=0
[[ ${KC_REQUIRE_TOOLS:-} == 1 || ${CI:-} == true ]] && required=1

pass=0
fail=0
ok() { pass=$((pass + 1)); echo "PASS $1"; }
ko() {
  fail=$((fail + 1))
  echo "FAIL $1"
  [[ -n ${2:-} && -s $2 ]] && sed 's/^/    /' "$2" | head -20
}
finish() {
  echo "$pass passed, $fail failed"
  [[ $fail -eq 0 ]]
  exit
}
# refused NAME PATTERN ARGS...: exit 2, PATTERN on stderr, nothing on stdout.
refused() {
  local name=$1 pattern=$2 rc
  shift 2
  "$BIN" respond "$@" >"$WORK/out" 2>"$WORK/err"
  rc=$?
  if [[ $rc -eq 2 && ! -s $WORK/out ]] && grep -q -- "$pattern" "$WORK/err"; then
    ok "$name"
  else
    echo "exit $rc; stdout $(wc -c <"$WORK/out") bytes" >>"$WORK/err"
    ko "$name" "$WORK/err"
  fi
}
# printed NAME FILE ARGS...: exit 0, stdout (kept in FILE) starts with the comment header.
printed() {
  local name=$1 file=$2 rc
  shift 2
  "$BIN" respond "$@" >"$file" 2>"$WORK/err"
  rc=$?
  if [[ $rc -eq 0 && $(head -n 1 "$file") == "# kube-customs respond $1: "* ]]; then
    ok "$name"
  else
    echo "exit $rc" >>"$WORK/err"
    ko "$name" "$WORK/err"
  fi
}

if [[ $mode == cli ]]; then
  printed "isolate-pod prints its header and documents" "$WORK/a.yaml" \
    isolate-pod --namespace shop --name web-1
  printed "release-pod prints its header and documents" "$WORK/b.yaml" \
    release-pod -n shop --name=web-1 --owner Deploy/web --replicas 2
  if grep -q '^  replicas: 2$' "$WORK/b.yaml" && grep -q '^kind: Deployment$' "$WORK/b.yaml"; then
    ok "release-pod --owner Deploy/web --replicas 2 restores 2 replicas"
  else
    ko "release-pod --owner Deploy/web --replicas 2 restores 2 replicas" "$WORK/b.yaml"
  fi
  if "$BIN" respond isolate-pod --help >"$WORK/out" 2>&1 && grep -q 'deployment (deploy)' "$WORK/out"; then
    ok "isolate-pod --help names the owner kinds"
  else
    ko "isolate-pod --help names the owner kinds" "$WORK/out"
  fi
  refused "a namespace that is not a DNS-1123 label" "not a valid Kubernetes namespace" \
    isolate-pod --namespace Shop --name web-1
  refused "a pod name with a newline" "not a valid Kubernetes name" \
    isolate-pod --namespace shop --name $'web\nkind: Secret'
  refused "an owner name with a space" "owner name" \
    isolate-pod --namespace shop --name web-1 --owner 'deploy/web x'
  refused "an unknown owner kind, naming the kinds" "daemonset (ds), job, cronjob (cj)" \
    isolate-pod --namespace shop --name web-1 --owner service/web
  refused "an owner without a slash" "KIND/NAME" isolate-pod --namespace shop --name web-1 --owner web
  refused "release of a scalable owner without --replicas" "needs --replicas N" \
    release-pod --namespace shop --name web-1 --owner sts/db
  refused "--replicas that is not a count" "whole number" \
    release-pod --namespace shop --name web-1 --owner sts/db --replicas -1
  refused "--replicas on isolate-pod" "unknown flag --replicas" \
    isolate-pod --namespace shop --name web-1 --owner sts/db --replicas 1
  refused "a missing --name" "--name is required" isolate-pod --namespace shop
  refused "a stray argument" "unexpected argument" isolate-pod --namespace shop --name a b
  finish
fi

# --- schema mode ----------------------------------------------------------------------------
files=()
for owner in "" deployment/web statefulset/db replicaset/web-5d8f replicationcontroller/old \
  daemonset/agent job/once cronjob/nightly; do
  tag=${owner%%/*}
  tag=${tag:-none}
  args=(--namespace shop --name web-1)
  [[ -n $owner ]] && args+=(--owner "$owner")
  printed "isolate-pod ($tag) prints" "$WORK/isolate-$tag.yaml" isolate-pod "${args[@]}"
  case $tag in deployment | statefulset | replicaset | replicationcontroller) args+=(--replicas 3) ;; esac
  printed "release-pod ($tag) prints" "$WORK/release-$tag.yaml" release-pod "${args[@]}"
  files+=("$WORK/isolate-$tag.yaml" "$WORK/release-$tag.yaml")
done

# skip_or_fail WHAT: a missing tool skips (exit 77), or fails where tools are required.
skip_or_fail() {
  if [[ $required == 1 ]]; then
    ko "$1 (CI=true or KC_REQUIRE_TOOLS=1)"
    finish
  fi
  echo "SKIP $1"
  echo "$pass passed, $fail failed"
  [[ $fail -eq 0 ]] && exit 77
  exit 1
}
have_modules() { [[ -f $KC_DEPS/node/node_modules/kubernetes-models/package.json && -f $KC_DEPS/node/node_modules/yaml/package.json ]]; }
if [[ $required == 1 ]] && command -v npm >/dev/null && ! have_modules; then
  "$REPO/test/charts/install_tools.sh" >"$WORK/install.log" 2>&1 || ko "install_tools.sh" "$WORK/install.log"
fi
command -v node >/dev/null || skip_or_fail "schemas: no node"
have_modules || skip_or_fail "schemas: no kubernetes-models in $KC_DEPS/node (test/charts/install_tools.sh)"
node "$REPO/test/respond/pod_manifests_schema.mjs" "${files[@]}" >"$WORK/schema.log" 2>&1
p=$(grep -c '^PASS ' "$WORK/schema.log")
f=$(grep -c '^FAIL ' "$WORK/schema.log")
pass=$((pass + p))
fail=$((fail + f))
grep '^FAIL ' "$WORK/schema.log"
echo "     pod_manifests_schema.mjs: $p checks passed, $f failed"
if [[ $f -eq 0 ]] && grep -qv '^PASS ' "$WORK/schema.log"; then
  ko "pod_manifests_schema.mjs printed more than checks" "$WORK/schema.log"
fi

# kubectl cannot apply without an API server (--dry-run=client is refused with --server-side,
# and the apply needs the server's discovery), so what is checked offline is that kubectl
# accepts the command line each header prints: run with --dry-run=server against a port where
# nothing listens, it must fail on the connection, not on a flag.
KUBECTL=$KC_DEPS/helm3/kubectl
[[ -x $KUBECTL ]] || KUBECTL=$(command -v kubectl || true)
[[ -n $KUBECTL ]] || skip_or_fail "kubectl command lines: no kubectl"
cat >"$WORK/kubeconfig" <<'KUBECONFIG_EOF'
apiVersion: v1
kind: Config
clusters:
- name: nowhere
  cluster: {server: "https://127.0.0.1:1"}
contexts:
- name: nowhere
  context: {cluster: nowhere, user: nobody}
current-context: nowhere
users:
- name: nobody
  user: {token: none}
KUBECONFIG_EOF
for file in "${files[@]}"; do
  name=${file##*/}
  cmd=$(sed -n 's/^#     | \(kubectl apply .*\) -f -$/\1/p' "$file" | head -1)
  read -ra words <<<"$cmd"
  if [[ ${words[0]:-} != kubectl ]]; then
    ko "$name: header has the kubectl apply command" "$file"
    continue
  fi
  KUBECONFIG=$WORK/kubeconfig timeout 60 "$KUBECTL" "${words[@]:1}" --dry-run=server \
    --request-timeout=5s -f "$file" >"$WORK/kubectl.log" 2>&1
  if grep -q 'connection refused' "$WORK/kubectl.log" && ! grep -qi 'unknown flag\|flag needs\|invalid argument' "$WORK/kubectl.log"; then
    ok "$name: kubectl accepts the printed command (${words[*]:1})"
  else
    ko "$name: kubectl accepts the printed command (${words[*]:1})" "$WORK/kubectl.log"
  fi
done
finish
