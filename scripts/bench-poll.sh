#!/usr/bin/env bash
# Poller benchmark: the first run backfills 30 days of BENCH_EVENTS (default 100,000) Admin
# API events at the default pace of 18 requests/min, against the fake Admin API enforcing
# Cursor's 20 requests per rolling minute, into the local engine. Takes about 13 minutes.
# Prints the wall time, the requests, the busiest 60 s window seen by the API, and 429s.
#
#   scripts/bench-poll.sh                 (starts the local services if they are not running)
#   BENCH_EVENTS=20000 scripts/bench-poll.sh
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
if ! "$ROOT/scripts/services.sh" status 2>/dev/null | grep -q "running"; then
    "$ROOT/scripts/services.sh" start
fi
set -a
# shellcheck disable=SC1091
. "$ROOT/target/services.env"
set +a
cargo build --release --quiet --bin cursor-audit-forwarder
cargo test --release --quiet --test poll_backfill -- --ignored --nocapture 2>&1 | grep -E "^(backfill|summary|test result)|panicked"
