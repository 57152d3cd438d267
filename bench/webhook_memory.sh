#!/usr/bin/env bash
# Webhook memory under hostile bodies: starts `kube-customs serve` on its defaults, sends
# bodies chosen to inflate a JSON DOM (dense arrays of numbers), one at a time and then many at
# once; then 100 clients that each send a 0.5 MB review that is denied for ten privileged
# containers with 50 kB names (a large answer) and never read the answer. Prints the process's
# resident memory (VmRSS) and peak (VmHWM) after each step, and the refusals counted. The
# chart's memory limit for the webhook is 256 MiB.
#
#   bench/webhook_memory.sh                 # Release build in build-bench/
#   KC_BIN=build/cmd/kube-customs bench/webhook_memory.sh   # an existing binary
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${KC_BIN:-}
if [ -z "$bin" ]; then
  scripts/install-deps.sh bench
  scripts/build.sh build-bench -DCMAKE_BUILD_TYPE=Release -DKC_BUILD_TESTS=OFF
  bin=build-bench/cmd/kube-customs
fi

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

# Clients that send a review and never read its answer: each answer waits in the server until
# the client reads it, so answers are capped (128 KiB) and held against the same budget as bodies.
python3 - "$work/hostile.json" <<'PY'
import json, sys
review = json.load(open("test/testdata/pod_admission_review.json"))
review["request"]["object"]["spec"]["containers"] = [
    {"name": "c" * 50_000 + str(i), "image": "docker.io/xmrig/xmrig:6.21.0",
     "securityContext": {"privileged": True}} for i in range(10)]
open(sys.argv[1], "w").write(json.dumps(review))
PY
answer=$(curl -s --cacert "$work/state/tls/ca.crt" -H 'Content-Type: application/json' -H 'Expect:' \
  --data-binary "@$work/hostile.json" "https://127.0.0.1:$port/validate" | wc -c)
echo "hostile review: $(stat -c %s "$work/hostile.json") bytes, its answer $answer bytes"
python3 - "$port" "$work/state/tls/ca.crt" "$work/hostile.json" 100 >"$work/readers" <<'PY' &
import socket, ssl, sys, time
port, ca, path, n = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
body = open(path, "rb").read()
head = ("POST /validate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
        "Content-Length: %d\r\n\r\n" % len(body)).encode()
ctx = ssl.create_default_context(cafile=ca)
held = []
for _ in range(n):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", port))
    t = ctx.wrap_socket(s, server_hostname="localhost")
    t.sendall(head + body)
    held.append(t)
print("held", flush=True)
time.sleep(30)
PY
readers=$!
for _ in $(seq 300); do grep -q held "$work/readers" 2>/dev/null && break; sleep 0.1; done
sleep 3
echo "100 clients holding unread answers: $(memory)"
kill "$readers" 2>/dev/null; wait "$readers" 2>/dev/null || true
curl -s "http://127.0.0.1:$mport/metrics" |
  grep -E '^kube_customs_http_bad_requests_total\{reason="response_budget"'
