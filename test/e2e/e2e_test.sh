#!/usr/bin/env bash
# shellcheck disable=SC2317 # functions run indirectly: by trap, wait_for and check
# End-to-end test: kube-customs (webhook and audit roles), a real Prometheus scraping it with the
# shipped alert rules (deploy/prometheus/kube-customs-rules.yaml, the chart's rules rendered with
# its default values), and a real Alertmanager that both Prometheus and kube-customs send to, all
# on 127.0.0.1. It replays the emulated attack: admission requests to /validate (a tunneling
# tool, to be denied, and a benign pod, to be allowed) and the audit events of
# test/testdata/audit_history.jsonl (ten days of ordinary creations, which the baseline learns)
# then test/testdata/audit_attack.jsonl appended to the audit log kube-customs follows. Then it checks
# that the webhook denied what policy forbids, the findings were logged and counted, Prometheus
# fired the findings alerts and Alertmanager holds both Prometheus' alerts and kube-customs' own
# KubeCustomsAuditFinding alerts. Then the node door: a private dockerd of its own (no bridge, no
# iptables, no forwarding), a second kube-customs with the node role on its socket, `docker run`
# of the tunneling tool's image (busybox-static imported under that name): found outside
# Kubernetes, denied by the same image policy, and a KubeCustomsNodeFinding in Alertmanager.
#
#   test/e2e/e2e_test.sh [PATH_TO_KUBE_CUSTOMS]     # default: build/cmd/kube-customs
#
# Tools: prometheus, prometheus-alertmanager (Debian 12 packages), curl, node; for the node door
# root, docker.io, containerd and busybox-static (skipped without them, a failure under
# KC_REQUIRE_TOOLS=1).
# The findings alerts of the shipped rules have no `for:`, so the rules are used unchanged.
# Every wait has a deadline (all within E2E_TIMEOUT, default 90 s) and timeout(1) stops the run
# 15 s after that; every process started here is stopped on exit, failure or interruption.
# Prints PASS/FAIL per check and a final "N passed, N failed"; exits 1 on any failure.
set -uo pipefail

# The whole run is bounded: re-run under timeout(1), whose SIGTERM goes through the cleanup below.
if [[ -z ${KC_E2E_UNDER_TIMEOUT:-} ]] && command -v timeout >/dev/null; then
  KC_E2E_UNDER_TIMEOUT=1 exec timeout --foreground -s TERM "$((${E2E_TIMEOUT:-90} + 15))" \
    bash "$0" "$@"
fi

REPO=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${1:-$REPO/build/cmd/kube-customs}
[[ $BIN == /* ]] || BIN=$PWD/$BIN
RULES=$REPO/deploy/prometheus/kube-customs-rules.yaml
ATTACK=$REPO/test/testdata/audit_attack.jsonl
HISTORY=$REPO/test/testdata/audit_history.jsonl
REVIEW=$REPO/test/testdata/pod_admission_review.json
PROMETHEUS=${PROMETHEUS:-/usr/bin/prometheus}
ALERTMANAGER=${ALERTMANAGER:-/usr/bin/prometheus-alertmanager}
DEADLINE=$((SECONDS + ${E2E_TIMEOUT:-90}))

# The audit findings every run must produce (rule names of docs/detections.md).
REQUIRED_RULES=(policy-violation privileged-container sensitive-host-path pod-exec
                workload-image-changed webhook-config-changed unexpected-creator
                unexpected-image-source)
DENIED_IMAGE=ngrok/ngrok:latest

pass=0
fail=0
ok() { pass=$((pass + 1)); echo "PASS $1"; }
ko() { fail=$((fail + 1)); echo "FAIL $1${2:+: $2}"; }
check() { # check NAME CMD...: PASS when CMD exits 0
  local name=$1
  shift
  if "$@"; then ok "$name"; else ko "$name"; fi
}

WORK=$(mktemp -d)
PIDS=()
summarized=
any_alive() {
  local pid
  for pid in "${PIDS[@]}"; do kill -0 "$pid" 2>/dev/null && return 0; done
  return 1
}
# stop_all: SIGTERM to every process started here, SIGKILL to those still there after 5 s.
stop_all() {
  local pid i
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
  for ((i = 0; i < 50; i++)); do
    any_alive || break
    sleep 0.1
  done
  for pid in "${PIDS[@]}"; do
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  done
  PIDS=()
}
dump_logs() {
  local f
  for f in kube-customs.out kube-customs.err prometheus.log alertmanager.log; do
    [[ -s $WORK/$f ]] || continue
    echo "---- last lines of $f"
    tail -n 15 "$WORK/$f" | cut -c1-400
  done
}
# summary: stops every process, shows the logs on failure, removes the temp dir (kept with
# E2E_KEEP=1), prints the final count and exits 0 only when nothing failed.
summary() {
  trap - INT TERM
  summarized=1
  node_cleanup
  stop_all
  [[ $fail -eq 0 ]] || dump_logs
  if [[ -n ${E2E_KEEP:-} ]]; then echo "kept $WORK"; else rm -rf "$WORK"; fi
  echo "$pass passed, $fail failed"
  [[ $fail -eq 0 ]]
  exit $?
}
# node_cleanup: the node door's private dockerd, when one was started: its containers removed,
# the daemon stopped by pid, what still runs under its directory killed by pid, its mounts
# detached. Never a system daemon: only what this script started, under $WORK.
DOCKERD_DIR=
node_cleanup() {
  [[ -n $DOCKERD_DIR ]] || return 0
  local ids pid p i
  ids=$(e2e_docker ps -aq 2>/dev/null)
  # shellcheck disable=SC2086 # one argument per id
  [[ -n $ids ]] && e2e_docker rm -f $ids >/dev/null 2>&1
  if [[ -f $DOCKERD_DIR/docker.pid ]]; then
    pid=$(cat "$DOCKERD_DIR/docker.pid")
    kill -TERM "$pid" 2>/dev/null
    for ((i = 0; i < 100; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null
  fi
  for p in /proc/[0-9]*; do
    if tr "\\0" " " 2>/dev/null <"$p/cmdline" | grep -q "$DOCKERD_DIR"; then
      kill -KILL "${p#/proc/}" 2>/dev/null
    fi
  done
  grep " $DOCKERD_DIR" /proc/mounts | awk '{print $2}' | sort -r | xargs -r -n1 umount -l 2>/dev/null
  DOCKERD_DIR=
}
e2e_docker() { DOCKER_CONFIG="$DOCKERD_DIR/cli" /usr/bin/docker -H "unix://$DOCKERD_DIR/docker.sock" "$@"; }

# abort WHY [DETAIL]: a step the rest depends on failed; report it and stop.
abort() {
  ko "$1" "${2:-}"
  summary
}
finish() { # on any exit, also an unexpected one
  local rc=$?
  [[ -n $summarized ]] && return
  ko "script ended early (exit $rc)"
  summary
}
trap finish EXIT
trap 'ko "interrupted"; summary' INT TERM

# wait_for SECONDS CMD...: polls CMD every 0.2 s until it succeeds; fails after SECONDS or at
# the global deadline, whichever comes first.
wait_for() {
  local until=$((SECONDS + $1))
  shift
  ((until > DEADLINE)) && until=$DEADLINE
  while true; do
    "$@" && return 0
    ((SECONDS >= until)) && return 1
    sleep 0.2
  done
}
alive() { kill -0 "$1" 2>/dev/null; }

# js EXPR < JSON: evaluates EXPR with `d` bound to the parsed input; prints a string as is,
# anything else as JSON. Exits 1 when EXPR is false, null or undefined.
js() {
  node -e '
    let s = "";
    process.stdin.on("data", c => (s += c)).on("end", () => {
      let d;
      try {
        d = JSON.parse(s);
      } catch {
        console.error("not JSON: " + s.slice(0, 200));
        process.exit(1);
      }
      const r = eval(process.argv[1]);
      if (r === false || r === null || r === undefined) process.exit(1);
      if (r !== true) console.log(typeof r === "string" ? r : JSON.stringify(r));
    });' "$1"
}
# get URL: HTTP GET on loopback, bounded.
get() { curl -sS --fail --max-time 5 "$@"; }

# free_port: a TCP port nothing listens on (below the ephemeral range).
free_port() {
  local p i
  for ((i = 0; i < 100; i++)); do
    p=$((20000 + RANDOM % 12000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "$p"
      return 0
    fi
  done
  return 1
}

# ---- prerequisites
missing=()
[[ -x $BIN ]] || missing+=("kube-customs binary $BIN (build it: scripts/build.sh build)")
[[ -x $PROMETHEUS ]] || missing+=("$PROMETHEUS (apt-get install prometheus)")
[[ -x $ALERTMANAGER ]] || missing+=("$ALERTMANAGER (apt-get install prometheus-alertmanager)")
for cmd in curl node; do command -v "$cmd" >/dev/null || missing+=("$cmd"); done
for f in "$RULES" "$ATTACK" "$HISTORY" "$REVIEW"; do [[ -r $f ]] || missing+=("$f"); done
if [[ ${#missing[@]} -gt 0 ]]; then
  for m in "${missing[@]}"; do echo "missing: $m"; done
  abort "prerequisites present"
fi
ok "prerequisites present"

# ---- Alertmanager: one null receiver, no clustering, storage in the temp dir
cat >"$WORK/alertmanager.yml" <<'EOF'
route:
  receiver: "null"
  group_wait: 1s
  group_interval: 1s
receivers:
  - name: "null"
EOF
am_ready() { get "http://127.0.0.1:$AM_PORT/-/ready" >/dev/null 2>&1; }
am_started() { ! alive "$AM_PID" || am_ready; }
for attempt in 1 2 3; do
  AM_PORT=$(free_port) || abort "free port for Alertmanager"
  "$ALERTMANAGER" --config.file="$WORK/alertmanager.yml" --storage.path="$WORK/am-data" \
    --web.listen-address="127.0.0.1:$AM_PORT" --cluster.listen-address= \
    --log.level=warn >>"$WORK/alertmanager.log" 2>&1 &
  AM_PID=$!
  PIDS+=("$AM_PID")
  wait_for 20 am_started
  am_ready && break
  echo "Alertmanager did not start on port $AM_PORT (attempt $attempt)"
done
am_ready || abort "Alertmanager ready"
ok "Alertmanager ready on 127.0.0.1:$AM_PORT"
AM=http://127.0.0.1:$AM_PORT

# ---- kube-customs: both roles, ports chosen by the kernel, audit log in the temp dir
touch "$WORK/audit.log"
cat >"$WORK/kube-customs.yaml" <<EOF
audit:
  pollIntervalSeconds: 0.2
alertmanager:
  urls: [$AM]
  resendIntervalSeconds: 1
EOF
"$BIN" serve --config "$WORK/kube-customs.yaml" --roles webhook,audit \
  --state-dir "$WORK/state" --listen 127.0.0.1:0 --metrics-listen 127.0.0.1:0 \
  --audit-log-path "$WORK/audit.log" >"$WORK/kube-customs.out" 2>"$WORK/kube-customs.err" &
KC_PID=$!
PIDS+=("$KC_PID")
kc_listening() {
  grep -h '"event_type":"listening"' "$WORK/kube-customs.out" "$WORK/kube-customs.err" 2>/dev/null |
    head -n 1
}
kc_started() { ! alive "$KC_PID" || [[ -n $(kc_listening) ]]; }
wait_for 30 kc_started
line=$(kc_listening)
[[ -n $line ]] ||
  abort "kube-customs listening" "no listening line (exited: $(alive "$KC_PID" && echo no || echo yes))"
HTTPS_PORT=$(js 'd.https_port' <<<"$line")
METRICS_PORT=$(js 'd.metrics_port' <<<"$line")
CA=$WORK/state/tls/ca.crt
[[ $HTTPS_PORT =~ ^[0-9]+$ && $METRICS_PORT =~ ^[0-9]+$ && -s $CA ]] ||
  abort "kube-customs listening" "https_port=$HTTPS_PORT metrics_port=$METRICS_PORT ca=$CA"
KC=https://127.0.0.1:$HTTPS_PORT
METRICS=http://127.0.0.1:$METRICS_PORT/metrics
kc_ready() { get --cacert "$CA" "$KC/readyz" >/dev/null 2>&1; }
wait_for 15 kc_ready || abort "kube-customs ready" "$KC/readyz"
ok "kube-customs ready (https $HTTPS_PORT, metrics $METRICS_PORT)"

# ---- Prometheus: scrapes kube-customs every second, evaluates the shipped rules every second
prom_ready() { get "http://127.0.0.1:$PROM_PORT/-/ready" >/dev/null 2>&1; }
prom_started() { ! alive "$PROM_PID" || prom_ready; }
for attempt in 1 2 3; do
  PROM_PORT=$(free_port) || abort "free port for Prometheus"
  cat >"$WORK/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
  - $RULES
alerting:
  alertmanagers:
    - static_configs:
        - targets: ["127.0.0.1:$AM_PORT"]
scrape_configs:
  - job_name: kube-customs
    static_configs:
      - targets: ["127.0.0.1:$METRICS_PORT"]
EOF
  "$PROMETHEUS" --config.file="$WORK/prometheus.yml" --storage.tsdb.path="$WORK/prom-data" \
    --web.listen-address="127.0.0.1:$PROM_PORT" --web.external-url="http://127.0.0.1:$PROM_PORT" \
    --log.level=warn >>"$WORK/prometheus.log" 2>&1 &
  PROM_PID=$!
  PIDS+=("$PROM_PID")
  wait_for 30 prom_started
  prom_ready && break
  echo "Prometheus did not start on port $PROM_PORT (attempt $attempt)"
done
prom_ready || abort "Prometheus ready"
PROM=http://127.0.0.1:$PROM_PORT
# query PROMQL: prints the result vector of an instant query as JSON.
query() {
  get -G "$PROM/api/v1/query" --data-urlencode "query=$1" |
    js 'd.status === "success" && d.data.result'
}
rules_loaded() {
  get "$PROM/api/v1/rules" 2>/dev/null |
    js 'd.data.groups.some(g => g.name === "kube-customs.findings")'
}
target_up() { local v; v=$(query 'up{job="kube-customs"} == 1' 2>/dev/null) && [[ $v != "[]" ]]; }
wait_for 20 rules_loaded || abort "Prometheus loaded the shipped rules" "$RULES"
wait_for 20 target_up || abort "Prometheus scrapes kube-customs" "up{job=\"kube-customs\"} not 1"
ok "Prometheus ready on 127.0.0.1:$PROM_PORT, rules loaded, kube-customs target up"

# ---- every query of the Grafana dashboard is valid PromQL for this Prometheus (its template
# variables filled in as Grafana would)
dashboard_queries() {
  node -e '
    const d = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    for (const p of d.panels)
      for (const t of p.targets || [])
        console.log(t.expr.replaceAll("$__rate_interval", "5m").replaceAll("$namespace", ".*"));
  ' "$REPO/deploy/grafana/kube-customs.json"
}
dash_total=0
dash_rejected=0
while IFS= read -r q; do
  dash_total=$((dash_total + 1))
  status=$(get -G "$PROM/api/v1/query" --data-urlencode "query=$q" 2>/dev/null | js 'd.status') ||
    status=error
  if [[ $status != success ]]; then
    dash_rejected=$((dash_rejected + 1))
    echo "  rejected: $q"
  fi
done < <(dashboard_queries)
check "Prometheus accepts all $dash_total queries of the Grafana dashboard" \
  test "$dash_total" -gt 20 -a "$dash_rejected" -eq 0

# ---- the attack, admission side: a tunneling tool is denied, the benign pod is allowed
review() { # review FILE: POSTs an AdmissionReview, prints the response body
  curl -sS --max-time 10 --cacert "$CA" -H 'Content-Type: application/json' \
    --data-binary "@$1" "$KC/validate"
}
node -e '
  const fs = require("fs");
  const r = JSON.parse(fs.readFileSync(process.argv[1], "utf8"));
  r.request.uid = "e2e00000-0000-4000-8000-000000000001";
  r.request.namespace = "scratch";
  r.request.name = "tunnel-5f6d8b9c7-q8w2z";
  r.request.userInfo = { username: "mallory@example.com", groups: ["system:authenticated"] };
  const p = r.request.object;
  p.metadata = { name: r.request.name, namespace: "scratch", labels: { app: "tunnel" } };
  p.spec.containers = [{ name: "ngrok", image: process.argv[2], args: ["tcp", "22"] }];
  p.spec.volumes = [];
  fs.writeFileSync(process.argv[3], JSON.stringify(r));
' "$REVIEW" "$DENIED_IMAGE" "$WORK/denied_review.json" || abort "build the denied AdmissionReview"

resp=$(review "$WORK/denied_review.json")
check "webhook denies the tunneling-tool pod (allowed:false, uid echoed)" \
  js 'd.kind === "AdmissionReview" && d.response.allowed === false &&
      d.response.uid === "e2e00000-0000-4000-8000-000000000001"' <<<"$resp"
msg=$(js 'd.response.status.message' <<<"$resp" 2>/dev/null)
if [[ $msg == *"$DENIED_IMAGE"* ]]; then
  ok "deny message names the denied image $DENIED_IMAGE"
else
  ko "deny message names the denied image $DENIED_IMAGE" "got '$(head -c 300 <<<"${msg:-$resp}")'"
fi
uid=$(js 'd.request.uid' <"$REVIEW")
resp=$(review "$REVIEW")
check "webhook allows the benign pod fixture (allowed:true)" \
  js "d.response.uid === '$uid' && d.response.allowed === true" <<<"$resp"

# A Service that takes over traffic for an outside address (CVE-2020-8554) is new exposure:
# the built-in externalIPs policy denies it at the door.
cat >"$WORK/service_review.json" <<'JSON'
{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{
 "uid":"e2e00000-0000-4000-8000-000000000002",
 "kind":{"group":"","version":"v1","kind":"Service"},
 "resource":{"group":"","version":"v1","resource":"services"},
 "name":"dns","namespace":"scratch","operation":"CREATE",
 "userInfo":{"username":"mallory@example.com","groups":["system:authenticated"]},
 "object":{"apiVersion":"v1","kind":"Service","metadata":{"name":"dns","namespace":"scratch"},
  "spec":{"selector":{"app":"tunnel"},"ports":[{"port":53,"protocol":"UDP"}],
          "externalIPs":["8.8.8.8"]}},
 "options":{"apiVersion":"meta.k8s.io/v1","kind":"CreateOptions"},"dryRun":false}}
JSON
resp=$(review "$WORK/service_review.json")
check "webhook denies a Service with an external IP, saying why (CVE-2020-8554)" \
  js 'd.response.allowed === false && d.response.uid === "e2e00000-0000-4000-8000-000000000002" &&
      d.response.status.message.includes("external IP \"8.8.8.8\" is not allowed") &&
      d.response.status.message.includes("CVE-2020-8554")' <<<"$resp"

# ---- the attack, audit side: the API server writes the attacker's requests to its audit log
# Before the attack, ten days of ordinary creations (the audit role learns a week): the
# attacker's creations are then new to the baseline, the tunnel's namespace new altogether.
# Expected findings: what the offline replay of the same pipeline, with a baseline, reports.
cat "$HISTORY" "$ATTACK" |
  "$BIN" audit replay - -o json --baseline "$WORK/replay-baseline.json" \
    >"$WORK/expected.jsonl" 2>"$WORK/replay.err" ||
  abort "audit replay of $HISTORY and $ATTACK" "$(cat "$WORK/replay.err")"
expected_count=$(grep -c . "$WORK/expected.jsonl")
declare -A SEVERITY=()
while IFS=' ' read -r rule sev; do SEVERITY[$rule]=$sev; done < <(
  node -e '
    for (const l of require("fs").readFileSync(process.argv[1], "utf8").split("\n"))
      if (l.trim()) { const f = JSON.parse(l); console.log(f.rule + " " + f.severity); }' \
    "$WORK/expected.jsonl")
for rule in "${REQUIRED_RULES[@]}"; do
  [[ -n ${SEVERITY[$rule]:-} ]] || ko "offline replay reports rule $rule" "$ATTACK changed?"
done
cat "$HISTORY" "$ATTACK" >>"$WORK/audit.log"

# finding_rules: the rule of every audit_finding line kube-customs logged, one a line.
finding_rules() {
  cat "$WORK/kube-customs.out" "$WORK/kube-customs.err" | node -e '
    let s = "";
    process.stdin.on("data", c => (s += c)).on("end", () => {
      for (const l of s.split("\n")) {
        if (!l.startsWith("{")) continue;
        let e;
        try { e = JSON.parse(l); } catch { continue; }
        if (e.event_type === "audit_finding") console.log(e.rule);
      }
    });'
}
all_findings() { [[ $(finding_rules | grep -c .) -ge $expected_count ]]; }
wait_for 30 all_findings
finding_rules >"$WORK/found.txt"
got=$(grep -c . "$WORK/found.txt")
if [[ $got -eq $expected_count ]]; then
  ok "kube-customs logged $got audit_finding lines, as many as the offline replay"
else
  ko "kube-customs logged $expected_count audit_finding lines" "got $got"
fi
for rule in "${REQUIRED_RULES[@]}"; do
  check "finding logged: $rule" grep -qx -- "$rule" "$WORK/found.txt"
done
# The tunnel deployed with kubectl into a namespace nobody uses: new to the baseline.
tunnel_unexpected() {
  cat "$WORK/kube-customs.out" "$WORK/kube-customs.err" | node -e '
    let s = "";
    process.stdin.on("data", c => (s += c)).on("end", () => {
      const want = new Set(["unexpected-creator|mallory@example.com",
                            "unexpected-image-source|docker.io/ngrok/ngrok",
                            "unexpected-user-agent|kubectl"]);
      for (const l of s.split("\n")) {
        if (!l.startsWith("{")) continue;
        let e;
        try { e = JSON.parse(l); } catch { continue; }
        if (e.event_type === "audit_finding" && e.namespace === "scratch" && e.name === "tunnel" &&
            e.kind === "Deployment" && e.details && e.details.newKey === "true")
          want.delete(e.rule + "|" + e.details.value);
      }
      process.exit(want.size === 0 ? 0 : 1);
    });'
}
check "the tunnel in an unused namespace is new to the baseline: creator, image source, user agent" \
  tunnel_unexpected

# ---- metrics
get "$METRICS" >"$WORK/metrics.txt" 2>&1 || ko "scrape $METRICS"
for rule in "${REQUIRED_RULES[@]}"; do
  sev=${SEVERITY[$rule]:-unknown}
  check "kube_customs_audit_findings_total{rule=\"$rule\",severity=\"$sev\"} >= 1" \
    grep -qE "^kube_customs_audit_findings_total\{rule=\"$rule\",severity=\"$sev\"\} [1-9]" \
    "$WORK/metrics.txt"
done
total=$(awk '/^kube_customs_audit_findings_total\{/ { s += $2 } END { print s + 0 }' \
  "$WORK/metrics.txt")
check "kube_customs_audit_findings_total sums to $expected_count (got $total)" \
  test "$total" -eq "$expected_count"
check 'kube_customs_admission_requests_total{outcome="denied"} is 2 (the tunnel pod, the Service)' \
  grep -qE '^kube_customs_admission_requests_total\{outcome="denied"\} 2$' "$WORK/metrics.txt"

# ---- Prometheus fired the findings alerts of the shipped rules
# One alert per required rule, named after the finding's severity, and the denial alert.
prom_expect=()
for rule in "${REQUIRED_RULES[@]}"; do
  case ${SEVERITY[$rule]:-} in
    critical) prom_expect+=("KubeCustomsFindingCritical|$rule") ;;
    high) prom_expect+=("KubeCustomsFindingHigh|$rule") ;;
    medium) prom_expect+=("KubeCustomsFindingMedium|$rule") ;;
    *) prom_expect+=("KubeCustomsFinding?|$rule") ;;
  esac
done
prom_expect+=("KubeCustomsAdmissionDenied|")
# alert_name ALERTNAME|RULE: ALERTNAME{rule="RULE"}, or ALERTNAME without a rule.
alert_name() {
  local a=${1%%|*} r=${1#*|}
  echo "$a${r:+{rule=\"$r\"\}}"
}
# firing_alerts: "ALERTNAME|RULE" of every alert firing in Prometheus, one a line, in firing.txt.
firing_alerts() {
  get -G "$PROM/api/v1/query" --data-urlencode 'query=ALERTS{alertstate="firing"}' 2>/dev/null |
    js 'd.status === "success" &&
        d.data.result.map(r => r.metric.alertname + "|" + (r.metric.rule || "")).join("\n")' \
      >"$WORK/firing.txt"
}
all_firing() {
  local e
  firing_alerts || return 1
  for e in "${prom_expect[@]}"; do grep -qxF -- "$e" "$WORK/firing.txt" || return 1; done
}
wait_for 30 all_firing
for e in "${prom_expect[@]}"; do
  check "Prometheus fires $(alert_name "$e")" grep -qxF -- "$e" "$WORK/firing.txt"
done

# ---- Alertmanager received Prometheus' alerts and kube-customs' own
# am_alerts: "ALERTNAME|RULE|SEVERITY|SENDER" of every active alert in Alertmanager, one a line,
# in am.txt; SENDER is "prometheus" when the generatorURL points at this Prometheus (its
# --web.external-url), "-" otherwise (kube-customs sets none).
am_alerts() {
  get -G "$AM/api/v2/alerts" --data-urlencode active=true 2>/dev/null |
    js "d.map(a => [a.labels.alertname, a.labels.rule || '', a.labels.severity || '',
                    (a.generatorURL || '').startsWith('$PROM/') ? 'prometheus' : '-'].join('|'))
         .join('\\n')" >"$WORK/am.txt"
}
# am_has_prometheus ALERTNAME|RULE: Alertmanager holds that alert, sent by Prometheus.
am_has_prometheus() {
  awk -F'|' -v a="${1%%|*}" -v r="${1#*|}" \
    '$1 == a && $2 == r && $4 == "prometheus" { f = 1 } END { exit !f }' "$WORK/am.txt"
}
# am_has_finding RULE: Alertmanager holds kube-customs' KubeCustomsAuditFinding for RULE.
am_has_finding() { grep -qxF -- "KubeCustomsAuditFinding|$1|${SEVERITY[$1]:-}|-" "$WORK/am.txt"; }
all_received() {
  local e
  am_alerts || return 1
  for e in "${prom_expect[@]}"; do am_has_prometheus "$e" || return 1; done
  for e in "${REQUIRED_RULES[@]}"; do am_has_finding "$e" || return 1; done
}
wait_for 30 all_received
for e in "${prom_expect[@]}"; do
  check "Alertmanager holds Prometheus' $(alert_name "$e")" am_has_prometheus "$e"
done
for rule in "${REQUIRED_RULES[@]}"; do
  sev=${SEVERITY[$rule]:-}
  check "Alertmanager holds kube-customs' KubeCustomsAuditFinding{rule=\"$rule\",severity=\"$sev\"}" \
    am_has_finding "$rule"
done
amtool_query() {
  if ! command -v amtool >/dev/null; then
    echo "amtool missing (Debian package prometheus-alertmanager)"
    return 1
  fi
  timeout 10 amtool alert query --alertmanager.url="$AM" -o simple \
    alertname=KubeCustomsAuditFinding rule=pod-exec namespace=shop | grep -q KubeCustomsAuditFinding
}
check "amtool sees KubeCustomsAuditFinding{rule=\"pod-exec\",namespace=\"shop\"}" amtool_query

# ---- the node door: `docker run` of a tunneling tool on a private dockerd (no bridge, no
# iptables, no forwarding; its own data, exec and pid paths under $WORK), seen by a second
# kube-customs with the node role, judged by the same policies, alerted to the same Alertmanager.
node_prereqs() {
  [[ $(id -u) -eq 0 ]] || { echo "needs root (a private dockerd)"; return 1; }
  local t
  for t in /usr/sbin/dockerd /usr/bin/docker /usr/bin/containerd /bin/busybox; do
    [[ -x $t ]] || { echo "missing $t (docker.io, containerd, busybox-static)"; return 1; }
  done
}
if why=$(node_prereqs); then
  DOCKERD_DIR=$WORK/dockerd
  mkdir -p "$DOCKERD_DIR/data" "$DOCKERD_DIR/exec" "$DOCKERD_DIR/cli" "$DOCKERD_DIR/rootfs/bin"
  /usr/sbin/dockerd --data-root="$DOCKERD_DIR/data" --exec-root="$DOCKERD_DIR/exec" \
    --pidfile="$DOCKERD_DIR/docker.pid" -H "unix://$DOCKERD_DIR/docker.sock" --bridge=none \
    --iptables=false --ip6tables=false --ip-forward=false --ip-masq=false \
    --storage-driver=vfs >"$WORK/dockerd.log" 2>&1 &
  dockerd_ready() { e2e_docker version >/dev/null 2>&1; }
  wait_for 30 dockerd_ready || abort "private dockerd ready" "$(tail -n 5 "$WORK/dockerd.log")"
  cp /bin/busybox "$DOCKERD_DIR/rootfs/bin/busybox"
  ln -s busybox "$DOCKERD_DIR/rootfs/bin/sleep"
  tar -C "$DOCKERD_DIR/rootfs" -c . | e2e_docker import - "$DENIED_IMAGE" >/dev/null ||
    abort "image imported into the private dockerd"
  ok "private dockerd ready, $DENIED_IMAGE imported from busybox-static"

  cat >"$WORK/kube-customs-node.yaml" <<EOF
node:
  name: e2e-node
  dockerSocket: $DOCKERD_DIR/docker.sock
  containerdSocket: ""
  respond:
    isolate: high
alertmanager:
  urls: [$AM]
  resendIntervalSeconds: 1
EOF
  "$BIN" serve --config "$WORK/kube-customs-node.yaml" --roles node \
    --state-dir "$WORK/node-state" --listen 127.0.0.1:0 --metrics-listen 127.0.0.1:0 \
    >"$WORK/kube-customs-node.out" 2>"$WORK/kube-customs-node.err" &
  NODE_PID=$!
  PIDS+=("$NODE_PID")
  node_connected() { grep -q '"Docker Engine connected"' "$WORK/kube-customs-node.out"; }
  wait_for 20 node_connected || abort "node role connected to the private dockerd" \
    "$(tail -n 5 "$WORK/kube-customs-node.err" "$WORK/kube-customs-node.out")"
  ok "node role connected to the private dockerd"
  TUNNEL_ID=$(e2e_docker run -d --network none --name tunnel "$DENIED_IMAGE" sleep 600)
  node_found() {
    grep '"event_type":"node_finding"' "$WORK/kube-customs-node.out" |
      grep '"rule":"container-outside-kubernetes"' | grep -q "\"containerID\":\"$TUNNEL_ID\""
  }
  check "node role reports docker run of $DENIED_IMAGE as container-outside-kubernetes" \
    wait_for 15 node_found
  node_denied() {
    grep '"event_type":"node_finding"' "$WORK/kube-customs-node.out" |
      grep '"rule":"policy-violation"' | grep "\"containerID\":\"$TUNNEL_ID\"" |
      grep -q 'image.denied'
  }
  check "node role judges it image.denied, as the webhook does" wait_for 5 node_denied
  am_node_alert() {
    timeout 10 amtool alert query --alertmanager.url="$AM" -o simple \
      alertname=KubeCustomsNodeFinding rule=container-outside-kubernetes node=e2e-node |
      grep -q KubeCustomsNodeFinding
  }
  check "amtool sees KubeCustomsNodeFinding{rule=\"container-outside-kubernetes\",node=\"e2e-node\"}" \
    wait_for 15 am_node_alert

  # The response (node.respond.isolate: high): the tunnel is isolated and its evidence kept by
  # the node role itself; then released, isolated and accepted by hand with `kube-customs respond`.
  node_responded() {
    grep '"event_type":"node_response"' "$WORK/kube-customs-node.out" |
      grep '"action":"isolate"' | grep '"outcome":"ok"' | grep -q "$TUNNEL_ID" &&
      grep '"event_type":"node_response"' "$WORK/kube-customs-node.out" |
      grep '"action":"evidence"' | grep '"outcome":"ok"' | grep -q "$TUNNEL_ID"
  }
  check "node role isolates the tunnel and keeps its evidence (node_response lines)" \
    wait_for 15 node_responded
  paused() { [[ $(e2e_docker inspect -f '{{.State.Paused}}' tunnel) == "$1" ]]; }
  check "the tunnel is paused" paused true
  bundle_whole() {
    local dir
    dir=$(grep '"event_type":"node_finding"' "$WORK/kube-customs-node.out" |
      grep '"rule":"container-outside-kubernetes"' | grep "$TUNNEL_ID" | head -n 1 |
      node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{process.stdout.write(JSON.parse(s).details.evidence||"")})')
    [[ -n $dir && -f $dir/manifest.json ]] &&
      (cd "$dir" && node -e '
        const fs = require("fs"), crypto = require("crypto");
        const m = JSON.parse(fs.readFileSync("manifest.json", "utf8"));
        for (const f of m.files) {
          const sum = crypto.createHash("sha256").update(fs.readFileSync(f.name)).digest("hex");
          if (sum !== f.sha256) { console.error(f.name); process.exit(1); }
        }
        if (!m.files.some((f) => f.name === "finding.json")) process.exit(1);')
  }
  check "the finding names its evidence bundle, whose files match their SHA-256 sums" bundle_whole
  respond() { "$BIN" respond "$@" --config "$WORK/kube-customs-node.yaml" --state-dir "$WORK/node-state"; }
  listed() { respond list | grep -q "tunnel"; }
  check "kube-customs respond list shows the isolation" listed
  released() { respond release --container tunnel >/dev/null && paused false; }
  check "kube-customs respond release unpauses it" released
  dry_run() { respond isolate --container tunnel --dry-run | grep -q "would pause tunnel" && paused false; }
  check "kube-customs respond isolate --dry-run says what it would do, and does nothing" dry_run
  unknown() {
    local rc=0
    respond evidence --container no-such-container 2>"$WORK/respond.err" >/dev/null || rc=$?
    [[ $rc -eq 1 ]] && grep -q 'no container "no-such-container"' "$WORK/respond.err"
  }
  check "kube-customs respond evidence of an unknown container: exit 1 and why" unknown
  accepted() {
    grep '"event_type":"node_finding"' "$WORK/kube-customs-node.out" |
      grep '"rule":"container-outside-kubernetes"' | grep "$TUNNEL_ID" | head -n 1 |
      respond accept --finding - | grep -q "allow image:" &&
      grep -q '"image:docker.io/' "$WORK/node-state/node-accepted.json"
  }
  check "kube-customs respond accept allows the image on the node" accepted
  node_cleanup
elif [[ ${KC_REQUIRE_TOOLS:-} == 1 || ${CI:-} == true ]]; then
  ko "node door: private dockerd" "$why (KC_REQUIRE_TOOLS=1)"
else
  echo "SKIP node door: $why"
fi

# ---- kube-customs stops cleanly on SIGTERM (its own 10 s, even when the deadline has passed)
kill -TERM "$KC_PID"
for ((i = 0; i < 50; i++)); do
  alive "$KC_PID" || break
  sleep 0.2
done
if ! alive "$KC_PID"; then
  wait "$KC_PID"
  rc=$?
  check "kube-customs exits 0 on SIGTERM (got $rc)" test "$rc" -eq 0
else
  ko "kube-customs exits on SIGTERM within 10 s"
fi
echo "e2e finished in $((SECONDS)) s"
summary
