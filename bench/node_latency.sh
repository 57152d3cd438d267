#!/usr/bin/env bash
# Node door latency: `kube-customs serve --roles node` watches a private dockerd of this
# script's own; N containers are started one after the other with `docker run -d --network
# none`, and for each the time until its container-outside-kubernetes finding line is measured
# from three points:
#   command: the start of the `docker run` command (what a user waits for end to end; on this
#            machine dominated by dockerd itself: vfs copies the image for every container),
#   start:   the daemon's own time of the container's `start` event (what the node role adds),
#   return:  the moment `docker run -d` returned.
# Prints p50, p90, p99 and max of each.
#
#   bench/node_latency.sh [--starts 100] [--burst N] [--respond] [--bin PATH]
#
# --respond: the node role isolates and keeps the evidence of each container by itself
# (node.respond.isolate: high, evidencePerMinute: 600): the script also measures the daemon's
# start event -> the container paused and disconnected (the isolate line of node_response), and
# the finding -> its evidence bundle complete, and checks that every container is paused.
# --burst N: the starts are N parallel `docker run`s at a time (a burst): the script then also
# checks that every container got exactly one finding and says how long the last one took.
#
# Without --bin it builds build-bench (Release). Needs root, docker.io, containerd and
# busybox-static. The daemon runs with no bridge, no iptables, no forwarding, its own data,
# exec and pid paths under a temporary directory; everything is stopped by pid at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
starts=100
burst=1
respond=false
bin=
while [ $# -gt 0 ]; do
  case "$1" in
    --starts) starts="$2"; shift 2 ;;
    --burst) burst="$2"; shift 2 ;;
    --respond) respond=true; shift ;;
    --bin) bin="$2"; shift 2 ;;
    *) echo "usage: $0 [--starts N] [--burst N] [--respond] [--bin PATH]" >&2; exit 2 ;;
  esac
done
[ "$(id -u)" -eq 0 ] || { echo "node_latency: needs root (a private dockerd)" >&2; exit 1; }
for tool in /usr/sbin/dockerd /usr/bin/docker /bin/busybox python3; do
  command -v "$tool" >/dev/null || { echo "node_latency: missing $tool" >&2; exit 1; }
done
if [ -z "$bin" ]; then
  scripts/build.sh build-bench -DCMAKE_BUILD_TYPE=Release -DKC_BUILD_TESTS=OFF
  bin=build-bench/cmd/kube-customs
fi
work=$(mktemp -d /tmp/kc-node-latency.XXXXXX)
sock="$work/docker.sock"
docker() { DOCKER_CONFIG="$work/cli" /usr/bin/docker -H "unix://$sock" "$@"; }
kc_pid=
cleanup() {
  set +e
  [ -n "$kc_pid" ] && kill "$kc_pid" 2>/dev/null && wait "$kc_pid" 2>/dev/null
  if [ -S "$sock" ]; then
    ids=$(docker ps -aq)
    [ -n "$ids" ] && docker rm -f $ids >/dev/null 2>&1
  fi
  if [ -f "$work/docker.pid" ]; then
    pid=$(cat "$work/docker.pid")
    kill "$pid" 2>/dev/null
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null
  fi
  # Whatever still runs under our directory (containerd, shims), by pid; then its mounts.
  for p in /proc/[0-9]*; do
    if tr "\0" " " 2>/dev/null < "$p/cmdline" | grep -q "$work"; then kill -9 "${p#/proc/}" 2>/dev/null; fi
  done
  grep " $work" /proc/mounts | awk '{print $2}' | sort -r | xargs -r -n1 umount -l 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

mkdir -p "$work/data" "$work/exec" "$work/cli" "$work/state" "$work/rootfs/bin"
/usr/sbin/dockerd --data-root="$work/data" --exec-root="$work/exec" --pidfile="$work/docker.pid" \
  -H "unix://$sock" --bridge=none --iptables=false --ip6tables=false --ip-forward=false \
  --ip-masq=false --storage-driver=vfs >"$work/dockerd.log" 2>&1 &
for _ in $(seq 300); do docker version >/dev/null 2>&1 && break; sleep 0.1; done
cp /bin/busybox "$work/rootfs/bin/busybox"
for a in sh sleep; do ln -s busybox "$work/rootfs/bin/$a"; done
tar -C "$work/rootfs" -c . | docker import - kc-bench/busybox:1 >/dev/null

if $respond; then
  printf 'node:\n  respond:\n    isolate: high\n    evidencePerMinute: 600\n' >"$work/kc.yaml"
else
  printf 'node:\n  respond:\n    evidenceMinSeverity: "off"\n' >"$work/kc.yaml"
fi
"$bin" serve --config "$work/kc.yaml" --roles node --docker-socket "$sock" --containerd-socket "" --node-name bench \
  --state-dir "$work/state" --listen 127.0.0.1:0 --metrics-listen 127.0.0.1:0 \
  >"$work/kc.log" 2>&1 &
kc_pid=$!
for _ in $(seq 100); do grep -q '"Docker Engine connected"' "$work/kc.log" && break; sleep 0.1; done

: >"$work/runs.txt"
since=$(date +%s)
run_one() {
  local t0 t1 id
  t0=$(date +%s%N)
  id=$(docker run -d --network none kc-bench/busybox:1 sleep 600)
  t1=$(date +%s%N)
  echo "$id $t0 $t1" >>"$work/runs.txt"
}
burst_start=$(date +%s%N)
if [ "$burst" -gt 1 ]; then
  export -f run_one docker
  export work sock
  seq "$starts" | xargs -P "$burst" -I{} bash -c run_one
else
  for _ in $(seq "$starts"); do run_one; done
fi
echo "$burst_start" >"$work/burst_start.txt"
# Every finding in, or 30 s after the last start.
for _ in $(seq 300); do
  [ "$(grep -c '"rule":"container-outside-kubernetes"' "$work/kc.log")" -ge "$starts" ] && break
  sleep 0.1
done
if $respond; then
  # Every response in, or 60 s more.
  for _ in $(seq 600); do
    [ "$(grep -c '"event_type":"node_response".*"action":"evidence"' "$work/kc.log")" -ge "$starts" ] && break
    sleep 0.1
  done
  paused=$(docker ps -q --filter status=paused | wc -l)
  echo "containers paused: $paused of $starts"
fi
docker events --since "$since" --until "$(date +%s)" --filter event=start \
  --format '{{.ID}} {{.TimeNano}}' >"$work/events.txt"

[ "${KC_BENCH_DEBUG:-}" = 1 ] && head -c 3000 "$work/kc.log" >&2
python3 - "$work/runs.txt" "$work/events.txt" "$work/kc.log" "$work/burst_start.txt" <<'EOF'
import calendar, json, sys, time
runs = {l.split()[0]: (int(l.split()[1]), int(l.split()[2])) for l in open(sys.argv[1]) if l.strip()}
starts = {l.split()[0]: int(l.split()[1]) for l in open(sys.argv[2]) if l.strip()}
found = {}
reports = {}
isolated = {}
kept = {}
failed = 0
def stamp(ts):  # 2026-12-07T21:19:35.123456Z
    base, frac = ts.rstrip("Z").split(".")
    return calendar.timegm(time.strptime(base, "%Y-%m-%dT%H:%M:%S")) * 10**9 + int(frac.ljust(9, "0"))
for line in open(sys.argv[3]):
    if '"node_response"' in line:
        j = json.loads(line)
        if j.get("outcome") != "ok":
            failed += 1
        elif j.get("action") == "isolate":
            isolated.setdefault(j["containerID"], stamp(j["ts"]))
        elif j.get("action") == "evidence":
            kept.setdefault(j["containerID"], stamp(j["ts"]))
        continue
    if '"node_finding"' not in line: continue
    j = json.loads(line)
    if j.get("rule") != "container-outside-kubernetes": continue
    found.setdefault(j["containerID"], stamp(j["ts"]))
    reports[j["containerID"]] = reports.get(j["containerID"], 0) + 1
def pct(xs, p):
    xs = sorted(xs); return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]
rows = {"command": [], "start": [], "return": []}
for cid, (t0, t1) in runs.items():
    if cid not in found: continue
    rows["command"].append((found[cid] - t0) / 1e6)
    rows["return"].append((found[cid] - t1) / 1e6)
    if cid in starts: rows["start"].append((found[cid] - starts[cid]) / 1e6)
twice = sum(1 for n in reports.values() if n > 1)
print(f"containers started: {len(runs)}, containers reported: {len(found)}, reported twice: {twice}")
burst_start = int(open(sys.argv[4]).read())
if found:
    print(f"last finding {(max(found.values()) - burst_start) / 1e9:.1f} s after the first start, "
          f"last start returned {(max(t1 for _, t1 in runs.values()) - burst_start) / 1e9:.1f} s after it")
if isolated or kept or failed:
    print(f"isolated: {len(isolated)}, evidence kept: {len(kept)}, responses failed: {failed}")
    rows["start -> isolated"] = [(isolated[c] - starts[c]) / 1e6 for c in isolated if c in starts]
    rows["finding -> evidence"] = [(kept[c] - found[c]) / 1e6 for c in kept if c in found]
for name, xs in rows.items():
    if not xs: continue
    label = name if "->" in name else f"{name} -> finding"
    print(f"{label:>22} (ms): p50 {pct(xs,50):7.1f}  p90 {pct(xs,90):7.1f}  "
          f"p99 {pct(xs,99):7.1f}  max {max(xs):7.1f}  (n={len(xs)})")
EOF
