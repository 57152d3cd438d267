#!/usr/bin/env bash
# Webhook memory under hostile bodies: starts `kube-customs serve` on its defaults, sends
# bodies chosen to inflate a JSON DOM (dense arrays of numbers), one at a time and then many at
# once, and prints the process's resident memory (VmRSS) and peak (VmHWM) after each step, and
# the refusals counted. The chart's memory limit for the webhook is 256 MiB.
#
#   bench/webhook_memory.sh
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh bench
scripts/build.sh build-bench -DCMAKE_BUILD_TYPE=Release -DKC_BUILD_TESTS=OFF
bin=build-bench/cmd/kube-customs

work=$(mktemp -d /tmp/kc-memory-XXXXXX)
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

"$bin" serve --state-dir "$work/state" --listen 127.0.0.1:0 --metrics-listen 127.0.0.1:0 \
  --threads 2 >"$work/log" 2>"$work/err" &
pid=$!
for _ in $(seq 100); do grep -q '"listening"' "$work/log" 2>/dev/null && break; sleep 0.1; done
port=$(grep '"listening"' "$work/log" | sed 's/.*"https_port":\([0-9]*\).*/\1/')
mport=$(grep '"listening"' "$work/log" | sed 's/.*"metrics_port":\([0-9]*\).*/\1/')

# A review-shaped body whose field `x` is an array of N zeros.
dense() {
  { printf '{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","x":[0'
    { yes ',0' || true; } | head -n "$1" | tr -d '\n'
    printf ']}'; } >"$2"
}
dense 10000000 "$work/dense-20m.json"  # 20 MB, 10 M separators: over the cap, refused unparsed
dense 4000000 "$work/dense-8m.json"    # 8 MB, 4 M separators: under the cap, parsed

memory() { grep -E 'VmRSS|VmHWM' "/proc/$pid/status" | awk '{printf "%s %d MiB  ", $1, $2 / 1024}'; }
post() {
  curl -s -o /dev/null -w '%{http_code}' --cacert "$work/state/tls/ca.crt" \
    -H 'Content-Type: application/json' -H 'Expect:' --data-binary "@$1" \
    "https://127.0.0.1:$port/validate"
}
echo "started: $(memory)"
for f in dense-20m dense-20m dense-8m dense-8m; do
  echo "$f.json: HTTP $(post "$work/$f.json"); $(memory)"
done
codes=""
posts=()
for i in $(seq 12); do post "$work/dense-8m.json" >"$work/code.$i" & posts+=($!); done
wait "${posts[@]}"
for i in $(seq 12); do codes+="$(cat "$work/code.$i") "; done
echo "12 x dense-8m.json at once: HTTP $codes; $(memory)"
curl -s "http://127.0.0.1:$mport/metrics" |
  grep -E 'kube_customs_http_bad_requests_total\{reason="(body_budget|too_many_values|missing_request)"'
