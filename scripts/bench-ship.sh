#!/usr/bin/env bash
# Shipping benchmark: `ship --dry-run` and `ship` to the local engine over generated events,
# reporting MB/s of decompressed input, events/s, CPU time and peak RSS.
#
#   scripts/bench-ship.sh                 1,000,000 events per case, plus a >= 1 GB RSS run
#   EVENTS=200000 BIG_EVENTS=0 scripts/bench-ship.sh    a quicker run without the big one
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
EVENTS="${EVENTS:-1000000}"
BIG_EVENTS="${BIG_EVENTS:-2300000}"
WORK="$ROOT/target/bench"
BIN="$ROOT/target/release/cursor-audit-forwarder"
GEN="$ROOT/target/release/examples/generate_events"
mkdir -p "$WORK"

cargo build --release --quiet --bin cursor-audit-forwarder --example generate_events

# make_input NAME COUNT SHAPE: gzip NDJSON; prints decompressed bytes
make_input() {
    local file="$WORK/$1.jsonl.gz"
    if [ ! -s "$file" ]; then
        "$GEN" "$2" 42 "$3" | gzip -1 > "$file"
    fi
    gzip -dc "$file" | wc -c
}

printf '| case | events | MB in (decompressed) | wall s | MB/s | events/s | CPU s | MB per CPU s | peak RSS MB |\n'
printf '|---|---|---|---|---|---|---|---|---|\n'
# measure CASE FILE BYTES EVENTS ARGS...: one table row
measure() {
    local case="$1" file="$2" bytes="$3" events="$4"; shift 4
    local log="$WORK/time.log"
    /usr/bin/time -f '%e %U %S %M' -o "$log" "$BIN" ship "$@" "$file" > /dev/null 2> "$WORK/stderr.log" || {
        echo "ship failed for $case:" >&2; tail -5 "$WORK/stderr.log" >&2; exit 1; }
    grep -q "failed=0" "$WORK/stderr.log" || { echo "$case: not every document acknowledged" >&2; tail -3 "$WORK/stderr.log" >&2; exit 1; }
    read -r wall user sys rss < "$log"
    python3 - "$case" "$events" "$bytes" "$wall" "$user" "$sys" "$rss" <<'PY'
import sys
case, events, size, wall, user, sys_, rss = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), *map(float, sys.argv[4:8])
mb, cpu = size / 1e6, max(user + sys_, 0.01)
wall = max(wall, 0.01)
print(f"| {case} | {events:,} | {mb:,.0f} | {wall:.2f} | {mb / wall:,.0f} | {events / wall:,.0f} | {cpu:.2f} | {mb / cpu:,.0f} | {rss / 1024:.1f} |")
PY
}

s3_bytes=$(make_input "s3-$EVENTS" "$EVENTS" s3)
mixed_bytes=$(make_input "mixed-$EVENTS" "$EVENTS" mixed)
measure "dry-run, S3 shape" "$WORK/s3-$EVENTS.jsonl.gz" "$s3_bytes" "$EVENTS" --dry-run
measure "dry-run, mixed shapes" "$WORK/mixed-$EVENTS.jsonl.gz" "$mixed_bytes" "$EVENTS" --dry-run

started_services=0
if ! scripts/services.sh status > /dev/null 2>&1; then
    scripts/services.sh start >&2
    started_services=1
fi
trap '[ "$started_services" = 1 ] && scripts/services.sh stop >&2' EXIT
set -a; . "$ROOT/target/services.env"; set +a
"$BIN" setup 2> /dev/null
run_id=$(date +%s)
DATA_STREAM_NAMESPACE="bench${run_id}s3" measure "ship to local engine, S3 shape" "$WORK/s3-$EVENTS.jsonl.gz" "$s3_bytes" "$EVENTS"
DATA_STREAM_NAMESPACE="bench${run_id}mixed" measure "ship to local engine, mixed shapes" "$WORK/mixed-$EVENTS.jsonl.gz" "$mixed_bytes" "$EVENTS"
if [ "$BIG_EVENTS" -gt 0 ] && [ "${SKIP_BIG:-0}" != 1 ]; then
    big_bytes=$(make_input "s3-$BIG_EVENTS" "$BIG_EVENTS" s3)
    measure "dry-run, S3 shape, >= 1 GB" "$WORK/s3-$BIG_EVENTS.jsonl.gz" "$big_bytes" "$BIG_EVENTS" --dry-run
    DATA_STREAM_NAMESPACE="bench${run_id}big" measure "ship to local engine, S3 shape, >= 1 GB" "$WORK/s3-$BIG_EVENTS.jsonl.gz" "$big_bytes" "$BIG_EVENTS"
fi

# The S3 path: one >= 100 MB object in moto, shipped with `ship s3://` (the same code as the
# Lambda handler) to the local engine.
S3_EVENTS="${S3_EVENTS:-210000}"
if [ "$S3_EVENTS" -gt 0 ]; then
    s3obj_bytes=$(make_input "s3-$S3_EVENTS" "$S3_EVENTS" s3)
    bucket="bench-$run_id"
    "$ROOT/target/venv/bin/python" - "$bucket" "$WORK/s3-$S3_EVENTS.jsonl.gz" <<'PY'
import os, sys, boto3
s3 = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"], region_name=os.environ.get("AWS_REGION", "us-east-1"))
s3.create_bucket(Bucket=sys.argv[1])
s3.upload_file(sys.argv[2], sys.argv[1], "2026/11/25/object.jsonl.gz")
PY
    DATA_STREAM_NAMESPACE="bench${run_id}object" measure "S3 object (moto) to local engine, S3 shape" "s3://$bucket/2026/11/25/object.jsonl.gz" "$s3obj_bytes" "$S3_EVENTS"
fi
