#!/usr/bin/env bash
# The two ratios of the performance goal (issue 14), in one run on the same input, as CPU time
# (user + system), median of RUNS alternating runs:
#   normalize:  `normalize < events.ndjson`          over `jq -c . events.ndjson`   (goal <= 0.20)
#   S3 path:    `ship --dry-run events.ndjson.gz`    over `zcat events.ndjson.gz`   (goal <= 2.5)
#
#   scripts/bench-ratios.sh [RUNS]          (default 5; EVENTS=200000 sets the input size)
#   BIN=path/to/binary scripts/bench-ratios.sh   another build of the binary
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RUNS="${1:-5}"
EVENTS="${EVENTS:-200000}"
WORK="$ROOT/target/bench"
BIN="${BIN:-$ROOT/target/release/cursor-audit-forwarder}"
GEN="$ROOT/target/release/examples/generate_events"
command -v jq >/dev/null || { echo "jq is needed (apt-get install jq)" >&2; exit 1; }
mkdir -p "$WORK"
if [ -z "${BIN_GIVEN:-}" ] && [ "$BIN" = "$ROOT/target/release/cursor-audit-forwarder" ]; then
    (cd "$ROOT" && cargo build --release --quiet --bin cursor-audit-forwarder --example generate_events)
fi
plain="$WORK/ratios-$EVENTS.ndjson"
packed="$WORK/ratios-$EVENTS.ndjson.gz"
[ -s "$plain" ] || "$GEN" "$EVENTS" 42 mixed > "$plain"
[ -s "$packed" ] || gzip -1 -c "$plain" > "$packed"

# cpu COMMAND...: prints user + system seconds of one run (output discarded)
cpu() {
    /usr/bin/time -f '%U %S' -o "$WORK/ratios-time.log" "$@" > /dev/null 2>&1
    awk '{ printf "%.3f\n", $1 + $2 }' "$WORK/ratios-time.log"
}

: > "$WORK/ratios.txt"
for _ in $(seq "$RUNS"); do
    printf 'jq %s\n' "$(cpu jq -c . "$plain")" >> "$WORK/ratios.txt"
    printf 'normalize %s\n' "$(cpu sh -c "\"$BIN\" normalize < \"$plain\"")" >> "$WORK/ratios.txt"
    printf 'zcat %s\n' "$(cpu zcat "$packed")" >> "$WORK/ratios.txt"
    printf 'ship %s\n' "$(cpu "$BIN" ship --dry-run "$packed")" >> "$WORK/ratios.txt"
done
python3 - "$WORK/ratios.txt" "$EVENTS" "$RUNS" <<'PY'
import collections, statistics, sys
runs = collections.defaultdict(list)
for line in open(sys.argv[1]):
    name, value = line.split()
    runs[name].append(float(value))
m = {name: statistics.median(values) for name, values in runs.items()}
print(f"events={sys.argv[2]} runs={sys.argv[3]} (median CPU seconds)")
for name in ("jq", "normalize", "zcat", "ship"):
    print(f"  {name:10s} {m[name]:.3f}")
print(f"normalize / jq   = {m['normalize'] / m['jq']:.3f}  ({m['jq'] / m['normalize']:.2f}x faster than jq; goal >= 5x)")
print(f"ship / zcat      = {m['ship'] / m['zcat']:.3f}  (goal <= 2.5)")
PY
