#!/usr/bin/env bash
# Serving-path benchmark: kube-customs `/validate` against nginx returning a fixed JSON body,
# same certificate, same machine, same run. Server pinned to CPU 0 (one worker thread), wrk
# pinned to CPU 1, keep-alive, a real ~6 KB Pod AdmissionReview body.
#
#   bench/webhook_bench.sh [--duration 10] [--connections "1 8 64"] [--policies DIR] [--rate N]
#
# Prints a Markdown table (requests/s, p50, p99) for docs/performance.md: first at saturation
# (every connection sends its next request as soon as the answer arrives), then at a fixed
# offered load: 64 connections, each pausing between requests so that together they offer
# --rate requests/s (default: half of nginx's saturated 64-connection rate measured in the same
# run, the throughput target), which is how an API server loads a webhook.
set -euo pipefail
cd "$(dirname "$0")/.."
duration=10
connections="1 8 64"
policies=""
rate=""
while [ $# -gt 0 ]; do
  case "$1" in
    --duration) duration="$2"; shift 2 ;;
    --connections) connections="$2"; shift 2 ;;
    --policies) policies="$2"; shift 2 ;;
    --rate) rate="$2"; shift 2 ;;
    *) echo "usage: $0 [--duration S] [--connections \"1 8 64\"] [--policies DIR] [--rate N]" >&2; exit 2 ;;
  esac
done

scripts/install-deps.sh bench
scripts/build.sh build-bench -DCMAKE_BUILD_TYPE=Release -DKC_BUILD_TESTS=OFF
bin=build-bench/cmd/kube-customs

work=$(mktemp -d /tmp/kc-bench-XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

"$bin" cert generate --service bench --namespace bench --dns localhost --ip 127.0.0.1 \
  --out-dir "$work/tls" >/dev/null 2>&1
body_file=test/testdata/pod_admission_review.json
response=$(printf '{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{"uid":"705ab4f5-6393-11e8-b7cc-42010a800002","allowed":true}}')

# nginx: one worker on CPU 0, TLS with the same certificate, fixed JSON answer.
mkdir -p "$work/nginx"
cat > "$work/nginx/nginx.conf" <<CONF
worker_processes 1;
worker_cpu_affinity 01;
daemon off;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $work/nginx/body;
  keepalive_requests 10000000;
  keepalive_timeout 120s;
  client_max_body_size 4m;
  client_body_buffer_size 16k;
  server {
    listen 127.0.0.1:18444 ssl;
    ssl_certificate $work/tls/tls.crt;
    ssl_certificate_key $work/tls/tls.key;
    ssl_protocols TLSv1.2 TLSv1.3;
    location /validate {
      default_type application/json;
      return 200 '$response';
    }
  }
}
CONF
taskset -c 0 nginx -c "$work/nginx/nginx.conf" -p "$work/nginx" &
pids+=($!)

args=(serve --roles webhook --listen 127.0.0.1:18443 --metrics-listen 127.0.0.1:19091
      --tls-cert "$work/tls/tls.crt" --tls-key "$work/tls/tls.key" --threads 1
      --log-level warn --state-dir "$work/state")
[ -n "$policies" ] && args+=(--policies "$policies")
taskset -c 0 "$bin" "${args[@]}" > "$work/kc.log" 2>&1 &
pids+=($!)

cat > "$work/post.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = io.open("$body_file", "rb")
wrk.body = f:read("*a")
f:close()
local think = tonumber(os.getenv("KC_THINK_MS") or "0")
if think > 0 then
  delay = function() return think end
end
done = function(summary, latency, requests)
  io.write(string.format("RESULT %.0f %.3f %.3f %d %d\n",
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status))
end
LUA

for port in 18443 18444; do
  for _ in $(seq 50); do curl -sk -o /dev/null "https://127.0.0.1:$port/validate" && break; sleep 0.1; done
done

echo "| server | connections | requests/s | p50 ms | p99 ms | errors |"
echo "|---|---:|---:|---:|---:|---:|"
for c in $connections; do
  for target in "kube-customs 18443" "nginx 18444"; do
    set -- $target
    threads=$(( c < 2 ? 1 : 2 ))
    line=$(taskset -c 1 wrk -t"$threads" -c"$c" -d"${duration}s" --latency -s "$work/post.lua" \
             "https://127.0.0.1:$2/validate" | grep '^RESULT')
    read -r _ rps p50 p99 errs status <<<"$line"
    echo "| $1 | $c | $rps | $p50 | $p99 | $((errs + status)) |"
    [ "$1" = nginx ] && [ "$c" = 64 ] && nginx64=$rps
  done
done

# Fixed offered load at 64 connections: each connection waits think = 64 / rate seconds between
# an answer and its next request (wrk's delay hook), so the achieved rate is a little under the
# offered one; latency is measured from send to answer, without the pause.
if [ -z "$rate" ] && [ -n "${nginx64:-}" ]; then rate=$(( nginx64 / 2 )); fi
if [ -n "$rate" ]; then
  think=$(( (64000 + rate / 2) / rate ))   # wrk's delay hook takes whole milliseconds
  [ "$think" -lt 1 ] && think=1
  echo
  echo "Offered load about $(( 64000 / think )) requests/s (asked: $rate) over 64 connections, think time $think ms:"
  echo
  echo "| server | connections | requests/s | p50 ms | p99 ms | errors |"
  echo "|---|---:|---:|---:|---:|---:|"
  for target in "kube-customs 18443" "nginx 18444"; do
    set -- $target
    line=$(KC_THINK_MS=$think taskset -c 1 wrk -t2 -c64 -d"${duration}s" --latency \
             -s "$work/post.lua" "https://127.0.0.1:$2/validate" | grep '^RESULT')
    read -r _ rps p50 p99 errs status <<<"$line"
    echo "| $1 | 64 | $rps | $p50 | $p99 | $((errs + status)) |"
  done
fi
