#!/usr/bin/env bash
# A/B comparison of two builds of the binary on the same inputs, in one run, alternating:
# `normalize` (stdin NDJSON → stdout) and `ship --dry-run` (gzip file → stdout). Reports the
# median CPU seconds (user + system) and peak RSS of each, and the ratio B / A. Machines
# drift, so only ratios measured in one run are compared (BENCHMARKS.md).
#
#   scripts/bench-ab.sh BINARY_A BINARY_B [RUNS]        (RUNS: default 5)
#   EVENTS=200000 scripts/bench-ab.sh …                  input size (default 200,000 events)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
A="$1" B="$2" RUNS="${3:-5}"
EVENTS="${EVENTS:-200000}"
WORK="$ROOT/target/bench"
GEN="$ROOT/target/release/examples/generate_events"
mkdir -p "$WORK"
[ -x "$GEN" ] || (cd "$ROOT" && cargo build --release --quiet --example generate_events)
plain="$WORK/ab-$EVENTS.ndjson"
packed="$WORK/ab-$EVENTS.ndjson.gz"
[ -s "$plain" ] || "$GEN" "$EVENTS" 42 mixed > "$plain"
[ -s "$packed" ] || gzip -1 -c "$plain" > "$packed"

# one BINARY CASE: prints "cpu_seconds peak_rss_kb"
one() {
    local log="$WORK/ab-time.log"
    case "$2" in
        normalize) /usr/bin/time -f '%U %S %M' -o "$log" "$1" normalize < "$plain" > /dev/null ;;
        ship) /usr/bin/time -f '%U %S %M' -o "$log" "$1" ship --dry-run "$packed" > /dev/null 2>&1 ;;
    esac
    awk '{ printf "%.3f %d\n", $1 + $2, $3 }' "$log"
}

for case in normalize ship; do
    : > "$WORK/ab-a.txt"; : > "$WORK/ab-b.txt"
    for _ in $(seq "$RUNS"); do
        one "$A" "$case" >> "$WORK/ab-a.txt"
        one "$B" "$case" >> "$WORK/ab-b.txt"
    done
    python3 - "$case" "$WORK/ab-a.txt" "$WORK/ab-b.txt" "$EVENTS" <<'PY'
import statistics, sys
case, a_file, b_file, events = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
def load(path):
    rows = [line.split() for line in open(path)]
    return statistics.median(float(r[0]) for r in rows), max(int(r[1]) for r in rows) / 1024
a_cpu, a_rss = load(a_file)
b_cpu, b_rss = load(b_file)
print(f"{case:10s} events={events} A: {a_cpu:.3f} CPU s, {a_rss:.1f} MB peak | "
      f"B: {b_cpu:.3f} CPU s, {b_rss:.1f} MB peak | B/A CPU = {b_cpu / a_cpu:.3f}")
PY
done
