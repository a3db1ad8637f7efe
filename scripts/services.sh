#!/usr/bin/env bash
# Local test services for cursor-audit-forwarder.
#
#   scripts/services.sh start    start Elasticsearch + moto (no-op when both already answer)
#   scripts/services.sh stop     stop both (tolerant when nothing runs)
#   scripts/services.sh status   print state; exit 0 only when both answer
#   scripts/services.sh restart
#   scripts/services.sh install  only create/update the virtualenv target/venv from tests/requirements.txt
#                                (moto, cargo-lambda, SAM CLI, cfn-lint, ziglang); start does it too
#
# Both services listen on 127.0.0.1 on free ports chosen at start. Their addresses are written to
# target/services.env as KEY=value lines (ES_URL, AWS_ENDPOINT_URL, AWS_* credentials, ENGINE, versions).
# Logs and pid files live in target/services/.
#
# Environment knobs:
#   SERVICES_TIMEOUT=180      seconds to wait for both services to answer
#   SERVICES_KEEP_DATA=1      keep the search engine's data from the previous run (default: start empty)
#   ES_JAVA_OPTS="..."        extra JVM options for the search-engine node (default heap -Xms512m -Xmx1g)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TARGET="$ROOT/target"
SVC_DIR="$TARGET/services"
ENV_FILE="$TARGET/services.env"
VENV="$TARGET/venv"
REQUIREMENTS="$ROOT/tests/requirements.txt"
ENGINE_DIR="$ROOT/tests/search-engine"
TIMEOUT="${SERVICES_TIMEOUT:-180}"

ES_PID_FILE="$SVC_DIR/elasticsearch.pid"
ES_LOG="$SVC_DIR/elasticsearch.log"
ES_HOME_DIR="$SVC_DIR/es-home"
MOTO_PID_FILE="$SVC_DIR/moto.pid"
MOTO_LOG="$SVC_DIR/moto.log"
BUILD_LOG="$SVC_DIR/build.log"
PIP_LOG="$SVC_DIR/pip.log"

log() { printf '[services] %s\n' "$*" >&2; }

now() { date +%s.%N; }
elapsed_since() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.1f}')" "$1" "$(now)"; }

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# http_ok URL [BODY_REGEX]: 0 when URL answers 2xx within 3 s (and the body matches the regex, if given).
http_ok() {
    python3 - "$1" "${2:-}" <<'PY' 2>/dev/null
import re, sys, urllib.request
url, pattern = sys.argv[1], sys.argv[2]
try:
    with urllib.request.urlopen(url, timeout=3) as r:
        body = r.read().decode("utf-8", "replace")
        ok = 200 <= r.status < 300 and (not pattern or re.search(pattern, body) is not None)
except Exception:
    ok = False
sys.exit(0 if ok else 1)
PY
}

alive() { # alive PID: process exists and is not a zombie
    local state=""
    kill -0 "$1" 2>/dev/null || return 1
    if [[ -r "/proc/$1/stat" ]]; then
        state="$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)" || true
    fi
    [[ "$state" != Z ]]
}

pid_alive() { # pid_alive PIDFILE
    [[ -f "$1" ]] || return 1
    local pid
    pid="$(cat "$1" 2>/dev/null || true)"
    [[ "$pid" =~ ^[0-9]+$ ]] && alive "$pid"
}

env_value() { # env_value KEY  (from target/services.env)
    [[ -f "$ENV_FILE" ]] || return 1
    sed -n "s/^$1=//p" "$ENV_FILE" | tail -n1
}

es_healthy() { http_ok "$1/_cluster/health" '"status":"(green|yellow)"'; }
moto_healthy() { http_ok "$1/moto-api/"; }

both_running() {
    local es_url aws_url
    es_url="$(env_value ES_URL)" || return 1
    aws_url="$(env_value AWS_ENDPOINT_URL)" || return 1
    [[ -n "$es_url" && -n "$aws_url" ]] || return 1
    pid_alive "$ES_PID_FILE" && pid_alive "$MOTO_PID_FILE" && es_healthy "$es_url" && moto_healthy "$aws_url"
}

# ---------------------------------------------------------------- build / install (idempotent, fast when done)

ensure_engine_built() {
    local stamp="$ENGINE_DIR/target/.build-stamp"
    if [[ -f "$stamp" && -f "$ENGINE_DIR/target/classes/localdev/Main.class" && -d "$ENGINE_DIR/target/lib" ]] \
        && [[ -z "$(find "$ENGINE_DIR/pom.xml" "$ENGINE_DIR/src" -newer "$stamp" -print -quit)" ]]; then
        return 0
    fi
    command -v mvn >/dev/null || { log "mvn not found (Maven 3.8+ and Java 17 are required)"; return 1; }
    log "building search engine (Maven; first run downloads ~45 MB from Maven Central) ..."
    rm -rf "$ENGINE_DIR/target/lib"
    if ! (cd "$ENGINE_DIR" && mvn -q -B -Dstyle.color=never package) >"$BUILD_LOG" 2>&1; then
        log "Maven build failed; see $BUILD_LOG"
        tail -n 40 "$BUILD_LOG" >&2
        return 1
    fi
    touch "$stamp"
}

ensure_venv() {
    local stamp="$VENV/.requirements.sha256" want
    want="$(sha256sum "$REQUIREMENTS" | cut -d' ' -f1)"
    if [[ -x "$VENV/bin/python" && -x "$VENV/bin/moto_server" && -x "$VENV/bin/sam" && -f "$stamp" \
        && "$(cat "$stamp")" == "$want" ]]; then
        return 0
    fi
    if [[ ! -x "$VENV/bin/python" ]]; then
        log "creating virtualenv $VENV ..."
        python3 -m venv "$VENV"
    fi
    log "installing $(grep -v '^#' "$REQUIREMENTS" | tr '\n' ' ')into $VENV ..."
    mkdir -p "$SVC_DIR"
    if ! "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$REQUIREMENTS" >"$PIP_LOG" 2>&1; then
        log "pip install failed; see $PIP_LOG"
        tail -n 40 "$PIP_LOG" >&2
        return 1
    fi
    echo "$want" >"$stamp"
}

# ---------------------------------------------------------------- process control

# launch PIDFILE LOGFILE CMD...: start CMD detached in its own session/process group.
launch() {
    local pidfile="$1" logfile="$2"
    shift 2
    # setsid does not fork here (a background job of a non-interactive shell is not a group leader),
    # so $! is the service's pid and also its process-group id.
    setsid "$@" >"$logfile" 2>&1 </dev/null &
    echo $! >"$pidfile"
}

stop_one() { # stop_one NAME PIDFILE
    local name="$1" pidfile="$2" pid i
    [[ -f "$pidfile" ]] || return 0
    pid="$(cat "$pidfile" 2>/dev/null || true)"
    if [[ "$pid" =~ ^[0-9]+$ ]] && alive "$pid"; then
        log "stopping $name (pid $pid)"
        kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
        for ((i = 0; i < 300; i++)); do # up to 30 s for a clean shutdown
            alive "$pid" || break
            sleep 0.1
        done
        if alive "$pid"; then
            log "$name did not exit after 30 s; killing"
            kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
        fi
        # any leftover member of the process group
        kill -KILL -- "-$pid" 2>/dev/null || true
        for ((i = 0; i < 50; i++)); do
            alive "$pid" || break
            sleep 0.1
        done
    fi
    rm -f "$pidfile"
}

dump_logs() {
    local f
    for f in "$ES_LOG" "$MOTO_LOG"; do
        [[ -f "$f" ]] || continue
        printf '\n----- last 40 lines of %s -----\n' "$f" >&2
        tail -n 40 "$f" >&2
    done
}

# ---------------------------------------------------------------- commands

cmd_start() {
    mkdir -p "$SVC_DIR"
    if both_running; then
        log "already running: $(env_value ES_URL) (ES), $(env_value AWS_ENDPOINT_URL) (moto); env in $ENV_FILE"
        return 0
    fi
    # half-running or stale state: start from scratch
    stop_one elasticsearch "$ES_PID_FILE"
    stop_one moto "$MOTO_PID_FILE"
    rm -f "$ENV_FILE"

    local t0 es_port moto_port es_url aws_url es_version moto_version deadline
    t0="$(now)"
    command -v java >/dev/null || { log "java not found (Java 17 is required)"; return 1; }
    ensure_engine_built

    if [[ "${SERVICES_KEEP_DATA:-0}" != 1 ]]; then
        rm -rf "$ES_HOME_DIR"
    fi
    mkdir -p "$ES_HOME_DIR"
    es_port="$(free_port)"
    es_url="http://127.0.0.1:$es_port"
    # shellcheck disable=SC2086 # ES_JAVA_OPTS is a word list
    launch "$ES_PID_FILE" "$ES_LOG" java -Xms512m -Xmx1g -XX:+UseG1GC -Djava.awt.headless=true \
        -Dfile.encoding=UTF-8 -Dlog4j2.disable.jmx=true -Dlog4j.shutdownHookEnabled=false ${ES_JAVA_OPTS:-} \
        -cp "$ENGINE_DIR/target/classes:$ENGINE_DIR/target/lib/*" localdev.Main "$es_port" "$ES_HOME_DIR" 0

    # the JVM boots while the virtualenv is checked / installed
    if ! ensure_venv; then
        stop_one elasticsearch "$ES_PID_FILE"
        return 1
    fi
    moto_port="$(free_port)"
    aws_url="http://127.0.0.1:$moto_port"
    launch "$MOTO_PID_FILE" "$MOTO_LOG" "$VENV/bin/moto_server" -H 127.0.0.1 -p "$moto_port"

    deadline=$((SECONDS + TIMEOUT))
    local es_up=0 moto_up=0
    while :; do
        ((es_up)) || { es_healthy "$es_url" && es_up=1; } || true
        ((moto_up)) || { moto_healthy "$aws_url" && moto_up=1; } || true
        ((es_up && moto_up)) && break
        local dead=""
        pid_alive "$ES_PID_FILE" || dead+=" elasticsearch"
        pid_alive "$MOTO_PID_FILE" || dead+=" moto"
        if [[ -n "$dead" || $SECONDS -ge $deadline ]]; then
            if [[ -n "$dead" ]]; then
                log "service(s) exited during startup:$dead"
            else
                log "timed out after ${TIMEOUT}s waiting for: $( ((es_up)) || printf 'elasticsearch '; ((moto_up)) || printf moto)"
            fi
            dump_logs
            stop_one elasticsearch "$ES_PID_FILE"
            stop_one moto "$MOTO_PID_FILE"
            return 1
        fi
        sleep 0.5
    done

    es_version="$(sed -n 's:.*<es.version>\(.*\)</es.version>.*:\1:p' "$ENGINE_DIR/pom.xml")"
    moto_version="$("$VENV/bin/python" -c 'import moto; print(moto.__version__)')"
    cat >"$ENV_FILE.tmp" <<EOF
ES_URL=$es_url
AWS_ENDPOINT_URL=$aws_url
AWS_REGION=us-east-1
AWS_DEFAULT_REGION=us-east-1
AWS_ACCESS_KEY_ID=testing
AWS_SECRET_ACCESS_KEY=testing
ENGINE=elasticsearch
ENGINE_VERSION=$es_version
ES_VERSION=$es_version
MOTO_VERSION=$moto_version
EOF
    mv "$ENV_FILE.tmp" "$ENV_FILE"
    log "elasticsearch $es_version at $es_url (pid $(cat "$ES_PID_FILE")), moto $moto_version at $aws_url (pid $(cat "$MOTO_PID_FILE"))"
    log "started in $(elapsed_since "$t0") s; environment in $ENV_FILE"
}

cmd_stop() {
    stop_one elasticsearch "$ES_PID_FILE"
    stop_one moto "$MOTO_PID_FILE"
    rm -f "$ENV_FILE"
    log "stopped"
}

cmd_status() {
    local rc=0 es_url aws_url
    es_url="$(env_value ES_URL 2>/dev/null || true)"
    aws_url="$(env_value AWS_ENDPOINT_URL 2>/dev/null || true)"
    if pid_alive "$ES_PID_FILE" && [[ -n "$es_url" ]] && es_healthy "$es_url"; then
        echo "elasticsearch: running  $es_url  pid $(cat "$ES_PID_FILE")"
    elif pid_alive "$ES_PID_FILE"; then
        echo "elasticsearch: process $(cat "$ES_PID_FILE") alive but not answering"; rc=3
    else
        echo "elasticsearch: stopped"; rc=3
    fi
    if pid_alive "$MOTO_PID_FILE" && [[ -n "$aws_url" ]] && moto_healthy "$aws_url"; then
        echo "moto:          running  $aws_url  pid $(cat "$MOTO_PID_FILE")"
    elif pid_alive "$MOTO_PID_FILE"; then
        echo "moto:          process $(cat "$MOTO_PID_FILE") alive but not answering"; rc=3
    else
        echo "moto:          stopped"; rc=3
    fi
    [[ $rc -eq 0 ]] && echo "env file:      $ENV_FILE"
    return $rc
}

case "${1:-}" in
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    restart) cmd_stop && cmd_start ;;
    install) ensure_venv ;;
    *)
        echo "usage: $0 start|stop|status|restart|install" >&2
        exit 2
        ;;
esac
