#!/usr/bin/env bash
# Builds the tiny GeoLite2-format test databases in tests/fixtures/geoip/
# (GeoLite2-City-Test.mmdb and GeoLite2-ASN-Test.mmdb). They hold only the three
# RFC 5737 documentation networks and back the normalizer's golden tests, so no
# real MaxMind database (licensed, large) is needed. Output is deterministic.
#
# Uses a project-local virtualenv in target/geoip-venv with pinned PyPI
# packages: mmdb-writer (writes), maxminddb (reads back to verify).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/target/geoip-venv"

if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check \
    mmdb-writer==0.2.7 netaddr==1.3.0 maxminddb==3.2.0

if [ "${1:-}" = "--sized-city" ]; then
    # scripts/build-geoip-test-dbs.sh --sized-city PATH MB: a City database of MB megabytes
    "$venv/bin/python" "$root/scripts/build_geoip_test_dbs.py" --sized-city "$2" "$3"
else
    "$venv/bin/python" "$root/scripts/build_geoip_test_dbs.py" "$root/tests/fixtures/geoip"
fi
