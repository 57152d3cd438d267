#!/usr/bin/env bash
# Audit consumer benchmark: `kube-customs audit replay` over generated realistic audit events
# (bench/audit_gen.cc), side by side in the same run with simdjson's raw parse of the same file
# (bench/audit_parse_bench.cc), and the peak RSS of replay for N and 10 N events (streamed, so
# memory must not grow with the input). --attacks measures the attack burst instead of the
# realistic mix (audit_gen --attacks: every event is one a detection reports); --big-events 0
# skips the RSS run.
#
#   bench/audit_bench.sh [--events 1000000] [--big-events 10000000] [--attacks]
set -euo pipefail
cd "$(dirname "$0")/.."
events=1000000
big=10000000
mix=()
while [ $# -gt 0 ]; do
  case "$1" in
    --events) events="$2"; shift 2 ;;
    --big-events) big="$2"; shift 2 ;;
    --attacks) mix=(--attacks); shift ;;
    *) echo "usage: $0 [--events N] [--big-events N] [--attacks]" >&2; exit 2 ;;
  esac
done
scripts/install-deps.sh bench
scripts/build.sh build-bench -DCMAKE_BUILD_TYPE=Release -DKC_BUILD_TESTS=OFF
bin=build-bench/cmd/kube-customs
work=$(mktemp -d /tmp/kc-audit-bench-XXXXXX)
trap 'rm -rf "$work"' EXIT

build-bench/bench/audit_gen "$events" "$work/audit.jsonl" 42 "${mix[@]}" >/dev/null
bytes=$(stat -c %s "$work/audit.jsonl")
echo "input: $events events${mix:+ (attack burst)}, $((bytes / 1000000)) MB"

# Each side runs on one core (CPU 0), then on every core: simdjson's parse_many runs stage 1 of
# the next batch on a helper thread, and so does replay when it may use a second CPU.
# This machine's speed drifts by tens of percent from one second to the next (shared host), so
# the two sides run in interleaved pairs (raw parse, then replay, $pairs times): the ratio of
# the best of each, and the median of the pairs' own ratios, are both reported.
pairs=5
for cores in "1 core" "all cores"; do
  pin=(taskset -c 0)
  [ "$cores" = "all cores" ] && pin=()
  echo "== $cores: simdjson raw parse and EventParser (best of 3)"
  "${pin[@]}" build-bench/bench/audit_parse_bench "$work/audit.jsonl" 3
  echo "== $cores: $pairs pairs of simdjson raw parse (best of 2 rounds) and kube-customs audit replay (full detections, built-in policies re-applied)"
  : > "$work/pairs.txt"
  for _ in $(seq "$pairs"); do
    raw=$("${pin[@]}" build-bench/bench/audit_parse_bench "$work/audit.jsonl" 2 --raw-only |
      awk '/parse_many \(raw\)/ {print $(NF-1)}')
    /usr/bin/time -f "%e %M" -o "$work/time" "${pin[@]}" "$bin" audit replay "$work/audit.jsonl" \
      -o json >/dev/null 2>"$work/replay.err"
    read -r secs rss < "$work/time"
    echo "$raw $secs" >> "$work/pairs.txt"
    echo "raw parse $raw s; replay: $secs s, $(awk -v n="$events" -v s="$secs" 'BEGIN{printf "%.0f", n/s}') events/s, $(awk -v b="$bytes" -v s="$secs" 'BEGIN{printf "%.1f", b/1e6/s}') MB/s, peak RSS $((rss / 1024)) MiB ($(awk -v r="$raw" -v s="$secs" 'BEGIN{printf "%.1f", 100 * r / s}') % of this raw); $(tail -1 "$work/replay.err")"
  done
  med=$(awk '{print $1 / $2}' "$work/pairs.txt" | sort -g |
    awk '{r[NR] = $1} END {print (NR % 2) ? r[(NR + 1) / 2] : (r[NR / 2] + r[NR / 2 + 1]) / 2}')
  awk -v cores="$cores" -v n="$events" -v b="$bytes" -v med="$med" '
    { if (NR == 1 || $1 < braw) braw = $1
      if (NR == 1 || $2 < brep) brep = $2 }
    END {
      printf "%s: best raw %.3f s (%.0f events/s, %.1f MB/s), best replay %.3f s (%.0f events/s, %.1f MB/s): %.1f %% of raw; median of the pairs: %.1f %%\n",
        cores, braw, n / braw, b / 1e6 / braw, brep, n / brep, b / 1e6 / brep, 100 * braw / brep, 100 * med
    }' "$work/pairs.txt"
done
rm -f "$work/audit.jsonl"
[ "$big" -gt 0 ] || exit 0

echo "== peak RSS streaming $big events through replay (generator piped to stdin)"
/usr/bin/time -f "%e %M" -o "$work/time" bash -c \
  "build-bench/bench/audit_gen $big /dev/stdout 42 ${mix[*]} | taskset -c 0 $bin audit replay - -o json >/dev/null 2>$work/replay.err"
read -r secs rss < "$work/time"
echo "replay of $big events: $secs s, peak RSS $((rss / 1024)) MiB; $(tail -1 "$work/replay.err")"
