#!/usr/bin/env bash
# Alertmanager client benchmark: `kube-customs serve --roles audit` follows an audit log of N
# exec sessions, each in a namespace of its own, so that every finding is an alert of its own
# (the labels hold the namespace) and the client holds up to N active alerts. Measured from
# the start of the process: when every event was ingested
# (kube_customs_audit_events_received_total{source="log"}) and when every alert was accepted
# (kube_customs_alertmanager_alerts_sent_total), once without Alertmanager and once against a
# real prometheus-alertmanager on loopback (null receiver, no clustering).
#
#   bench/alertmanager_bench.sh [--events 10000] [--bin PATH] [--timeout 120]
#
# Without --bin it builds build-bench (Release). --timeout caps each run, in seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
events=10000
bin=
timeout=120
while [ $# -gt 0 ]; do
  case "$1" in
    --events) events="$2"; shift 2 ;;
    --bin) bin="$2"; shift 2 ;;
    --timeout) timeout="$2"; shift 2 ;;
    *) echo "usage: $0 [--events N] [--bin PATH] [--timeout SECONDS]" >&2; exit 2 ;;
  esac
done
alertmanager=${ALERTMANAGER:-/usr/bin/prometheus-alertmanager}
[ -x "$alertmanager" ] || { echo "missing $alertmanager (apt-get install prometheus-alertmanager)" >&2; exit 1; }
if [ -z "$bin" ]; then
  scripts/build.sh build-bench -DCMAKE_BUILD_TYPE=Release -DKC_BUILD_TESTS=OFF
  bin=build-bench/cmd/kube-customs
fi
work=$(mktemp -d /tmp/kc-alertmanager-bench-XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# A TCP port nothing listens on (below the ephemeral range).
free_port() {
  local p
  for _ in $(seq 100); do
    p=$((20000 + RANDOM % 12000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return 0; fi
  done
  return 1
}
metric() {  # metric PORT SERIES: its value, 0 when absent
  curl -s --max-time 5 "http://127.0.0.1:$1/metrics" |
    awk -v s="$2" 'index($0, s " ") == 1 {v = $2} END {print v + 0}'
}
metric_sum() {  # metric_sum PORT NAME: the sum of its series
  curl -s --max-time 5 "http://127.0.0.1:$1/metrics" |
    awk -v n="$2" 'index($0, n "{") == 1 || index($0, n " ") == 1 {v += $2} END {print v + 0}'
}
now() { date +%s.%N; }

# One exec session (a person's shell in a pod) per namespace: one pod-exec finding each.
awk -v n="$events" 'BEGIN {
  for (i = 0; i < n; i++)
    printf "{\"kind\":\"Event\",\"apiVersion\":\"audit.k8s.io/v1\",\"level\":\"Request\",\"auditID\":\"bench-%d\",\"stage\":\"ResponseStarted\",\"requestURI\":\"/api/v1/namespaces/ns-%d/pods/web-1/exec?command=sh&container=app&stdin=true&tty=true\",\"verb\":\"create\",\"user\":{\"username\":\"alice@example.com\",\"groups\":[\"devs\"]},\"userAgent\":\"kubectl/v1.29.2\",\"objectRef\":{\"resource\":\"pods\",\"namespace\":\"ns-%d\",\"name\":\"web-1\",\"apiVersion\":\"v1\",\"subresource\":\"exec\"},\"responseStatus\":{\"metadata\":{},\"code\":101},\"requestReceivedTimestamp\":\"2026-11-30T10:00:00.000000Z\",\"stageTimestamp\":\"2026-11-30T10:00:00.001000Z\"}\n", i, i, i
}' > "$work/audit.log"

# run LABEL [ALERTMANAGER_URL]: one serve process over the whole log, from a fresh state.
run() {
  local label=$1 url=${2:-} start log port ingested="" delivered="" received=0 sent=0 t
  local findings dropped
  rm -rf "$work/state" && mkdir -p "$work/state"
  {
    echo "audit:"
    echo "  pollIntervalSeconds: 0.2"
    if [ -n "$url" ]; then
      echo "alertmanager:"
      echo "  urls: [$url]"
    fi
  } > "$work/kube-customs.yaml"
  log="$work/$label.out"
  start=$(now)
  "$bin" serve --config "$work/kube-customs.yaml" --roles audit --state-dir "$work/state" \
    --listen 127.0.0.1:0 --metrics-listen 127.0.0.1:0 --audit-log-path "$work/audit.log" \
    > "$log" 2> "$work/$label.err" &
  local pid=$!
  pids+=("$pid")
  for _ in $(seq 200); do
    port=$(grep -ho '"metrics_port":[0-9]*' "$log" 2>/dev/null | head -1 | cut -d: -f2 || true)
    [ -n "$port" ] && break
    sleep 0.1
  done
  [ -n "$port" ] || { echo "$label: serve did not start: $(cat "$work/$label.err")" >&2; exit 1; }
  while :; do
    t=$(awk -v a="$(now)" -v b="$start" 'BEGIN {printf "%.2f", a - b}')
    received=$(metric "$port" 'kube_customs_audit_events_received_total{source="log"}')
    [ -z "$ingested" ] && [ "${received%.*}" -ge "$events" ] && ingested=$t
    if [ -n "$url" ]; then
      sent=$(metric "$port" kube_customs_alertmanager_alerts_sent_total)
      [ -z "$delivered" ] && [ "${sent%.*}" -ge "$events" ] && delivered=$t
    fi
    if [ -n "$ingested" ] && { [ -z "$url" ] || [ -n "$delivered" ]; }; then break; fi
    awk -v t="$t" -v m="$timeout" 'BEGIN {exit !(t >= m)}' && break
    sleep 0.05
  done
  findings=$(metric_sum "$port" kube_customs_audit_findings_total)
  dropped=$(metric "$port" kube_customs_alertmanager_alerts_dropped_total)
  kill "$pid"; wait "$pid" 2>/dev/null || true
  printf '%s: %s events ingested in %s s' "$label" "${received%.*}" "${ingested:-more than $timeout}"
  printf ' (%s findings)' "${findings%.*}"
  if [ -n "$url" ]; then
    printf ', %s alerts accepted by Alertmanager in %s s, %s dropped' "${sent%.*}" \
      "${delivered:-more than $timeout}" "${dropped%.*}"
  fi
  echo
}

echo "== $events exec sessions, each in a namespace of its own: one alert each"
run "without Alertmanager"

cat > "$work/alertmanager.yml" <<'EOF'
route:
  receiver: "null"
  group_wait: 1h
receivers:
  - name: "null"
EOF
am_port=$(free_port)
"$alertmanager" --config.file="$work/alertmanager.yml" --storage.path="$work/am-data" \
  --web.listen-address="127.0.0.1:$am_port" --cluster.listen-address= --log.level=warn \
  > "$work/alertmanager.log" 2>&1 &
pids+=("$!")
for _ in $(seq 150); do
  curl -s --max-time 2 "http://127.0.0.1:$am_port/-/ready" >/dev/null && break
  sleep 0.1
done
curl -s --max-time 2 "http://127.0.0.1:$am_port/-/ready" >/dev/null ||
  { echo "Alertmanager did not start: $(cat "$work/alertmanager.log")" >&2; exit 1; }
run "with Alertmanager" "http://127.0.0.1:$am_port"
echo "Alertmanager holds $(curl -s --max-time 10 "http://127.0.0.1:$am_port/api/v2/alerts?silenced=false&inhibited=false" |
  grep -o '"fingerprint"' | wc -l) active alerts"
