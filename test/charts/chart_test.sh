#!/usr/bin/env bash
# Chart, manifest and alert tests, offline, with real tools:
#   - helm lint --strict and helm template for every values set in test/charts/values, on Helm 3
#     and Helm 4; each render validated against Kubernetes, Prometheus Operator and cert-manager
#     schemas and checked for what matters (validate.mjs);
#   - impossible value combinations refused by the chart, on both Helm versions;
#   - deploy/ in sync with the chart (render.sh --check), on both Helm versions;
#   - promtool check rules / test rules, alert coverage and runbook anchors (check_deploy.mjs);
#   - amtool check-config on the example Alertmanager route; audit policy, kubeconfig and
#     Grafana dashboard checks.
# Tools: test/charts/install_tools.sh (run here first; cached in .deps), promtool and amtool
# (Debian: apt-get install -y prometheus prometheus-alertmanager), node and npm.
# Prints PASS/FAIL per check and a final "N passed, N failed"; exits 1 on any failure.
set -uo pipefail

REPO=$(cd "$(dirname "$0")/../.." && pwd)
export KC_DEPS=${KC_DEPS:-$REPO/.deps}
CHART=$REPO/charts/kube-customs
HERE=$REPO/test/charts
NS=kc-test
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

pass=0
fail=0
ok() { pass=$((pass + 1)); echo "PASS $1"; }
ko() {
  fail=$((fail + 1))
  echo "FAIL $1"
  [[ -n ${2:-} && -s $2 ]] && sed 's/^/    /' "$2" | head -40
}
# run NAME CMD...: passes when CMD exits 0; shows its output when it does not.
run() {
  local name=$1 log=$WORK/log
  shift
  if "$@" >"$log" 2>&1; then ok "$name"; else ko "$name" "$log"; fi
}
# refuse NAME PATTERN HELM ARGS...: passes when helm template fails with PATTERN in its error.
refuse() {
  local name=$1 pattern=$2 helm=$3 log=$WORK/log
  shift 3
  if "$helm" template kube-customs "$CHART" --namespace "$NS" "$@" >"$log" 2>&1; then
    ko "$name (rendered, should have been refused)"
  elif grep -qiE -- "$pattern" "$log"; then
    ok "$name"
  else
    ko "$name (refused without /$pattern/)" "$log"
  fi
}
# count_lines FILE: adds validate.mjs' PASS/FAIL lines to the totals.
count_lines() {
  local p f
  p=$(grep -c '^PASS ' "$1")
  f=$(grep -c '^FAIL ' "$1")
  pass=$((pass + p))
  fail=$((fail + f))
  grep '^FAIL ' "$1"
  echo "     $2: $p checks passed, $f failed"
  if [[ $f -eq 0 ]] && grep -qv '^\(PASS\|FAIL\) ' "$1"; then
    fail=$((fail + 1))
    echo "FAIL $2 (crashed)"
    grep -v '^\(PASS\|FAIL\) ' "$1" | head -20
  fi
}

if ! "$HERE/install_tools.sh" >"$WORK/tools.log" 2>&1; then
  cat "$WORK/tools.log"
  echo "0 passed, 1 failed"
  exit 1
fi
for tool in promtool amtool node; do
  command -v "$tool" >/dev/null || { echo "FAIL $tool not installed"; echo "$pass passed, $((fail + 1)) failed"; exit 1; }
done

CASES=(defaults cert-manager cert-manager-issuer user-provided audit-disabled webhook-disabled node-only full manifests)
values_args() { [[ $1 == defaults ]] || echo "-f $HERE/values/$1.yaml"; }

for v in 3 4; do
  H=$KC_DEPS/helm$v/helm
  # --- every values set: lint, render; then validate all renders in one node process ---
  renders=()
  for c in "${CASES[@]}"; do
    # shellcheck disable=SC2046
    run "helm$v lint --strict ($c)" "$H" lint --strict "$CHART" --namespace "$NS" $(values_args "$c")
    out=$WORK/helm$v-$c.yaml
    # shellcheck disable=SC2046
    if "$H" template kube-customs "$CHART" --namespace "$NS" $(values_args "$c") >"$out" 2>"$WORK/log"; then
      ok "helm$v template ($c)"
      renders+=("$c=$out")
    else
      ko "helm$v template ($c)" "$WORK/log"
    fi
  done
  node "$HERE/validate.mjs" --namespace "$NS" "${renders[@]}" >"$WORK/validate.log" 2>&1
  count_lines "$WORK/validate.log" "helm$v: schemas and assertions over ${#renders[@]} renders"

  # --- impossible combinations ---
  refuse "helm$v refuses: nothing enabled" "nothing to deploy" "$H" --set webhook.enabled=false --set audit.enabled=false
  refuse "helm$v refuses: node role watching no runtime" "would watch no runtime" "$H" --set node.enabled=true --set node.dockerSocket= --set node.containerdSocket=
  refuse "helm$v refuses: node state on a system directory (schema)" "stateHostPath" "$H" --set node.enabled=true --set node.stateHostPath=/var/lib
  refuse "helm$v refuses: relative runtime socket path (schema)" "dockerSocket" "$H" --set node.enabled=true --set node.dockerSocket=docker.sock
  refuse "helm$v refuses: userProvided without a Secret" "needs tls.userProvided.secretName" "$H" --set tls.mode=userProvided
  refuse "helm$v refuses: userProvided without a CA bundle" "needs tls.userProvided.caBundle" "$H" --set tls.mode=userProvided --set tls.userProvided.secretName=s
  refuse "helm$v refuses: userProvided values in another mode" "tls.userProvided.\* is set" "$H" --set tls.userProvided.secretName=s
  refuse "helm$v refuses: failurePolicy Fail with one replica" "fewer than 2 replicas" "$H" --set webhook.failurePolicy=Fail --set webhook.replicas=1
  refuse "helm$v refuses: PDB that blocks every drain" "must be below webhook.replicas" "$H" --set webhook.podDisruptionBudget.minAvailable=2
  refuse "helm$v refuses: own policy ConfigMap without dropping the defaults" "set policies.defaults=false" "$H" --set policies.existingConfigMap=mine
  refuse "helm$v refuses: policies from values and a ConfigMap" "not both" "$H" --set policies.existingConfigMap=mine --set policies.defaults=false --set-string 'policies.files.a\.yaml=x'
  refuse "helm$v refuses: nodePort without NodePort" "not NodePort" "$H" --set audit.service.nodePort=30443
  refuse "helm$v refuses: persistence without audit" "needs audit.enabled" "$H" --set audit.enabled=false --set audit.persistence.enabled=true
  refuse "helm$v refuses: judgePodConnect that is not a boolean" "judgePodConnect" "$H" --set-string webhook.judgePodConnect=yes
  refuse "helm$v refuses: hard anti-affinity with custom affinity" "leave webhook.podAntiAffinity" "$H" --set webhook.podAntiAffinity=hard --set webhook.affinity.nodeAffinity.x=y
  refuse "helm$v refuses: unknown value (schema)" "additional propert|not allowed" "$H" --set webhook.replica=3
  refuse "helm$v refuses: timeout above 30s (schema)" "timeoutSeconds" "$H" --set webhook.timeoutSeconds=31
  refuse "helm$v refuses: unknown TLS mode (schema)" "tls/mode|tls.mode|mode" "$H" --set tls.mode=selfsigned
  refuse "helm$v refuses: audit ClusterIP that is not an address (schema)" "clusterIP" "$H" --set audit.service.clusterIP=audit.local
  refuse "helm$v refuses: malformed image digest (schema)" "digest" "$H" --set image.digest=sha256:abc
  refuse "helm$v refuses: latency ratio at the timeout (schema)" "latencyTimeoutRatio" "$H" --set prometheusRule.webhook.latencyTimeoutRatio=1
  refuse "helm$v refuses: a quote in the pods' cgroup regex (schema)" "podsCgroups" "$H" --set-string 'prometheusRule.containers.outsidePods.podsCgroups=/kubepods"}'

  # --- deploy/ is what the chart renders ---
  run "helm$v: deploy/ rules and manifests match the chart (render.sh --check)" env HELM="$H" "$HERE/render.sh" --check
done

# Helm 3 and Helm 4 render the same objects (the cert-manager set has no random material).
run "helm3 and helm4 render the same objects (cert-manager)" node "$HERE/same_docs.mjs" "$WORK/helm3-cert-manager.yaml" "$WORK/helm4-cert-manager.yaml"

# --- Alerts ---
run "promtool check rules deploy/prometheus/kube-customs-rules.yaml" promtool check rules "$REPO/deploy/prometheus/kube-customs-rules.yaml"
run "promtool test rules test/charts/alerts_test.yaml" promtool test rules "$HERE/alerts_test.yaml"

# Thresholds really come from values: render with non-default ones and check the rules.
cat >"$WORK/custom.yaml" <<'EOF'
webhook:
  timeoutSeconds: 10
prometheusRule:
  enabled: true
  webhook:
    errorRatio: 0.2
  audit:
    silenceMinutes: 30
  containers:
    selector: 'container!="",container!="POD",namespace!~"ci-.*"'
    cpu:
      for: 45m
    memory:
      minBytes: 1073741824
EOF
# shellcheck disable=SC2016
run "helm3 template with non-default alert thresholds" bash -c '
  "$1" template kube-customs "$2" --show-only templates/prometheusrule.yaml -f "$3" |
    awk "body { sub(/^  /, \"\"); print; next } /^spec:\$/ { body = 1 }" >"$4" && test -s "$4"' \
  _ "$KC_DEPS/helm3/helm" "$CHART" "$WORK/custom.yaml" "$WORK/custom-rules.yaml"
run "promtool check rules on rules rendered with non-default values" promtool check rules "$WORK/custom-rules.yaml"
# shellcheck disable=SC2016
run "non-default thresholds reach the rules" bash -c '
  f=$1
  grep -q "> 0.2\$" "$f" && grep -q "> 1073741824\$" "$f" && grep -q "for: 45m" "$f" &&
  grep -q "> 30 \* 60" "$f" && grep -q "> 5\$" "$f" && grep -q "namespace!~\"ci-.\*\"" "$f"' _ "$WORK/custom-rules.yaml"

# --- deploy/ and docs ---
run "amtool check-config deploy/alertmanager/route.yaml" amtool check-config "$REPO/deploy/alertmanager/route.yaml"
# route LABELS... -> RECEIVERS: the example route sends each kind of alert where it says.
route() {
  local want=$1
  shift
  run "Alertmanager route: $* -> $want" amtool config routes test --config.file="$REPO/deploy/alertmanager/route.yaml" --verify.receivers="$want" "$@"
}
route security-pager,security-chat alertname=KubeCustomsFindingCritical severity=critical category=detection rule=privileged-container namespace=shop
route security-pager,security-chat alertname=KubeCustomsAuditSilent severity=critical category=detection source=webhook
route platform-oncall alertname=KubeCustomsPolicyLoadFailing severity=warning category=health
route platform-oncall alertname=KubeCustomsAuditWebhookBatchesRejected severity=warning category=health namespace=kube-customs
route security-chat alertname=KubeCustomsContainerCPUSpike severity=warning category=detection namespace=shop
route security-chat alertname=KubeCustomsContainerCPUSpike severity=warning category=detection namespace=perf
route blackhole alertname=KubeCustomsAuditFinding severity=low rule=nodes-proxy-access
route security-pager,security-chat alertname=KubeCustomsNodeFindingCritical severity=critical category=detection rule=container-outside-kubernetes node=node-a
route security-chat alertname=KubeCustomsNodeFinding severity=high rule=container-exec namespace=shop node=node-a
route platform-oncall alertname=KubeCustomsNodeNoRuntime severity=warning category=health node=node-a
route default alertname=SomethingElse severity=critical
# The sweep of docs/install.md: its go-template (read from the doc) turns the policies ConfigMap
# of deploy/ into a YAML stream, which `kube-customs check --policies` loads and judges a
# cluster listing with. Needs the built binary (scripts/test.sh builds it first).
KC_BIN=${KC_BIN:-$REPO/build/cmd/kube-customs}
if [[ -x $KC_BIN && -x $KC_DEPS/helm3/kubectl ]]; then
  mkdir -p "$WORK/sweep/policies"
  node -e '
    const fs = require("fs");
    const docs = fs.readFileSync(process.argv[1], "utf8").split(/^---$/m);
    const cm = docs.find((d) => /^kind: ConfigMap$/m.test(d) && /^  name: kube-customs-policies$/m.test(d));
    if (!cm) process.exit(1);
    fs.writeFileSync(process.argv[2], cm);' "$REPO/deploy/manifests/kube-customs.yaml" "$WORK/sweep/cm.yaml"
  tmpl=$(sed -n "s|.*-o go-template='\(.*\)' > policies/in-force.yaml|\1|p" "$REPO/docs/install.md")
  cat >"$WORK/sweep/list.json" <<'JSON'
{"apiVersion":"v1","kind":"List","items":[
 {"apiVersion":"v1","kind":"Pod","metadata":{"name":"tunnel-1","namespace":"scratch"},
  "spec":{"containers":[{"name":"ngrok","image":"ngrok/ngrok:3"}]}},
 {"apiVersion":"v1","kind":"Service","metadata":{"name":"dns","namespace":"scratch"},
  "spec":{"externalIPs":["8.8.8.8"],"ports":[{"port":53}]}},
 {"apiVersion":"v1","kind":"Pod","metadata":{"name":"web-1","namespace":"shop"},
  "spec":{"containers":[{"name":"web","image":"registry.example.com/web:1.2"}]}}]}
JSON
  sweep() {
    [[ -n $tmpl ]] || { echo "no go-template in docs/install.md"; return 1; }
    "$KC_DEPS/helm3/kubectl" label -f "$WORK/sweep/cm.yaml" --local sweep=1 -o go-template="$tmpl" \
      >"$WORK/sweep/policies/in-force.yaml" || return 1
    grep -q 'name: service-external-ips' "$WORK/sweep/policies/in-force.yaml" || return 1
    local out rc
    out=$("$KC_BIN" check -f - --policies "$WORK/sweep/policies" <"$WORK/sweep/list.json")
    rc=$?
    echo "$out"
    [[ $rc -eq 1 ]] && grep -q '^DENIED  Pod scratch/tunnel-1' <<<"$out" &&
      grep -q '^DENIED  Service scratch/dns' <<<"$out" && grep -q '^ALLOWED Pod shop/web-1' <<<"$out" &&
      grep -q '^3 checked, 2 denied$' <<<"$out"
  }
  run "docs/install.md sweep: the policies ConfigMap through its go-template judges a cluster listing" sweep
elif [[ ${KC_REQUIRE_TOOLS:-} == 1 ]]; then
  ko "docs/install.md sweep: needs $KC_BIN (build first) and kubectl"
else
  echo "SKIP docs/install.md sweep: no $KC_BIN or kubectl"
fi
node "$HERE/check_deploy.mjs" >"$WORK/deploy.log" 2>&1
count_lines "$WORK/deploy.log" "deploy/ and docs checks"

echo "$pass passed, $fail failed"
[[ $fail -eq 0 ]]
