#!/usr/bin/env bash
# Audit consumer benchmark: `kube-customs audit replay` over generated realistic audit events
# (bench/audit_gen.cc), side by side in the same run with simdjson's raw parse of the same file
# (bench/audit_parse_bench.cc), and the peak RSS of replay for N and 10 N events (streamed, so
# memory must not grow with the input).
#
#   bench/audit_bench.sh [--events 1000000] [--big-events 10000000]
set -euo pipefail
cd "$(dirname "$0")/.."
events=1000000
big=10000000
while [ $# -gt 0 ]; do
  case "$1" in
    --events) events="$2"; shift 2 ;;
    --big-events) big="$2"; shift 2 ;;
    *) echo "usage: $0 [--events N] [--big-events N]" >&2; exit 2 ;;
  esac
done
scripts/install-deps.sh bench
scripts/build.sh build-bench -DCMAKE_BUILD_TYPE=Release -DKC_BUILD_TESTS=OFF
bin=build-bench/cmd/kube-customs
work=$(mktemp -d /tmp/kc-audit-bench-XXXXXX)
trap 'rm -rf "$work"' EXIT

build-bench/bench/audit_gen "$events" "$work/audit.jsonl" >/dev/null
bytes=$(stat -c %s "$work/audit.jsonl")
echo "input: $events events, $((bytes / 1000000)) MB"

# Each side runs on one core (CPU 0), then on every core: simdjson's parse_many runs stage 1 of
# the next batch on a helper thread, and replay reads the next chunk on a reader thread and
# lends stage 1 to simdjson's helper the same way, so both may use a second core.
for cores in "1 core" "all cores"; do
  pin=(taskset -c 0)
  [ "$cores" = "all cores" ] && pin=()
  echo "== $cores: simdjson raw parse and EventParser (best of 3)"
  "${pin[@]}" build-bench/bench/audit_parse_bench "$work/audit.jsonl" 3 | tee "$work/parse.txt"
  raw=$(awk '/parse_many \(raw\)/ {print $(NF-1)}' "$work/parse.txt")  # seconds, best of 3
  echo "== $cores: kube-customs audit replay (full detections, built-in policies re-applied)"
  best=""
  for _ in 1 2 3; do
    /usr/bin/time -f "%e %M" -o "$work/time" "${pin[@]}" "$bin" audit replay "$work/audit.jsonl" \
      -o json >/dev/null 2>"$work/replay.err"
    read -r secs rss < "$work/time"
    echo "replay: $secs s, $(awk -v n="$events" -v s="$secs" 'BEGIN{printf "%.0f", n/s}') events/s, $(awk -v b="$bytes" -v s="$secs" 'BEGIN{printf "%.1f", b/1e6/s}') MB/s, peak RSS $((rss / 1024)) MiB; $(tail -1 "$work/replay.err")"
    if [ -z "$best" ] || awk -v a="$secs" -v b="$best" 'BEGIN{exit !(a < b)}'; then best=$secs; fi
  done
  echo "$cores: best replay $best s against raw parse_many ${raw} s: $(awk -v r="$raw" -v b="$best" 'BEGIN{printf "%.1f", 100 * r / b}') % of raw"
done
rm -f "$work/audit.jsonl"

echo "== peak RSS streaming $big events through replay (generator piped to stdin)"
/usr/bin/time -f "%e %M" -o "$work/time" bash -c \
  "build-bench/bench/audit_gen $big /dev/stdout | taskset -c 0 $bin audit replay - -o json >/dev/null 2>$work/replay.err"
read -r secs rss < "$work/time"
echo "replay of $big events: $secs s, peak RSS $((rss / 1024)) MiB; $(tail -1 "$work/replay.err")"
