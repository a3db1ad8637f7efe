#!/usr/bin/env bash
# The project's one test command: installs what the tests need, checks formatting and lints,
# starts the local services (Elasticsearch node + moto) once, runs every test, stops them.
#
#   scripts/test.sh            everything
#   scripts/test.sh -- ARGS    extra arguments for `cargo test` (e.g. a test name filter)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
started=$(date +%s)

step() { printf '\n==> %s\n' "$*"; }

step "toolchain"
for tool in cargo rustc python3 java mvn; do
    command -v "$tool" >/dev/null || { echo "missing $tool: install it first" >&2; exit 1; }
done
for component in rustfmt clippy; do
    if ! cargo "${component/rustfmt/fmt}" --version >/dev/null 2>&1; then
        rustup component add "$component"
    fi
done
cargo --version

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets --quiet -- -D warnings

step "build (tests and release binary)"
cargo build --release --quiet
cargo test --no-run --quiet

step "start local services"
stop_services() { "$ROOT/scripts/services.sh" stop || true; }
trap stop_services EXIT
"$ROOT/scripts/services.sh" start
set -a
# shellcheck disable=SC1091
. "$ROOT/target/services.env"
set +a

step "cargo test"
extra=()
if [ "${1:-}" = "--" ]; then shift; extra=("$@"); fi
cargo test --no-fail-fast "${extra[@]}"

echo
echo "scripts/test.sh: all checks passed in $(( $(date +%s) - started )) s"
