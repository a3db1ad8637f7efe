#!/usr/bin/env bash
# Local test services for cursor-audit-forwarder.
#
#   scripts/services.sh start    start Elasticsearch + moto, and with ENGINE=opensearch an OpenSearch node
#                                beside them (no-op when everything ENGINE needs already answers; with
#                                ENGINE=opensearch after a plain start, only the OpenSearch node is added)
#   scripts/services.sh stop     stop all three (tolerant when nothing runs)
#   scripts/services.sh status   print state (OpenSearch too when it was started or ENGINE=opensearch);
#                                exit 0 only when every service listed answers
#   scripts/services.sh restart
#   scripts/services.sh install  only create/update the virtualenv target/venv from tests/requirements.txt
#                                (moto, cargo-lambda, SAM CLI, cfn-lint, ziglang); start does it too
#
# The services listen on 127.0.0.1 on free ports chosen at start. Their addresses are written to
# target/services.env as KEY=value lines: ES_URL (always the Elasticsearch node), AWS_ENDPOINT_URL, AWS_*
# credentials, ENGINE (the value requested), ENGINE_VERSION (that engine's version), ES_VERSION,
# MOTO_VERSION, and when the OpenSearch node runs OPENSEARCH_URL and OPENSEARCH_VERSION.
# Logs and pid files live in target/services/ (elasticsearch.*, opensearch.*, moto.*).
# The nodes are the Maven projects tests/search-engine (Elasticsearch) and tests/opensearch-node
# (OpenSearch), built on first use and again only when their pom.xml or src/ change.
#
# Environment knobs:
#   ENGINE=elasticsearch      default: Elasticsearch + moto; ENGINE=opensearch: Elasticsearch + OpenSearch + moto
#   SERVICES_TIMEOUT=180      seconds to wait for the services to answer
#   SERVICES_KEEP_DATA=1      keep the search engines' data from the previous run (default: start empty)
#   ES_JAVA_OPTS="..."        extra JVM options for the Elasticsearch node (default heap -Xms512m -Xmx1g)
#   OPENSEARCH_JAVA_OPTS="..." extra JVM options for the OpenSearch node (default heap -Xms512m -Xmx1g)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TARGET="$ROOT/target"
SVC_DIR="$TARGET/services"
ENV_FILE="$TARGET/services.env"
VENV="$TARGET/venv"
REQUIREMENTS="$ROOT/tests/requirements.txt"
ENGINE_DIR="$ROOT/tests/search-engine"
OS_DIR="$ROOT/tests/opensearch-node"
TIMEOUT="${SERVICES_TIMEOUT:-180}"
ENGINE="${ENGINE:-elasticsearch}"

ES_PID_FILE="$SVC_DIR/elasticsearch.pid"
ES_LOG="$SVC_DIR/elasticsearch.log"
ES_HOME_DIR="$SVC_DIR/es-home"
OS_PID_FILE="$SVC_DIR/opensearch.pid"
OS_LOG="$SVC_DIR/opensearch.log"
OS_HOME_DIR="$SVC_DIR/opensearch-home"
MOTO_PID_FILE="$SVC_DIR/moto.pid"
MOTO_LOG="$SVC_DIR/moto.log"
BUILD_LOG="$SVC_DIR/build.log"
OS_BUILD_LOG="$SVC_DIR/opensearch-build.log"
PIP_LOG="$SVC_DIR/pip.log"

log() { printf '[services] %s\n' "$*" >&2; }

case "$ENGINE" in
    elasticsearch | opensearch) ;;
    *)
        log "ENGINE must be elasticsearch (default) or opensearch, not '$ENGINE'"
        exit 2
        ;;
esac

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

# Elasticsearch + moto (what every ENGINE needs) answer at the addresses in the env file.
core_running() {
    local es_url aws_url
    es_url="$(env_value ES_URL)" || return 1
    aws_url="$(env_value AWS_ENDPOINT_URL)" || return 1
    [[ -n "$es_url" && -n "$aws_url" ]] || return 1
    pid_alive "$ES_PID_FILE" && pid_alive "$MOTO_PID_FILE" && es_healthy "$es_url" && moto_healthy "$aws_url"
}

opensearch_running() {
    local os_url
    os_url="$(env_value OPENSEARCH_URL)" || return 1
    [[ -n "$os_url" ]] && pid_alive "$OS_PID_FILE" && es_healthy "$os_url"
}

pid_file_of() {
    case "$1" in
        elasticsearch) echo "$ES_PID_FILE" ;;
        opensearch) echo "$OS_PID_FILE" ;;
        moto) echo "$MOTO_PID_FILE" ;;
    esac
}

log_of() {
    case "$1" in
        elasticsearch) echo "$ES_LOG" ;;
        opensearch) echo "$OS_LOG" ;;
        moto) echo "$MOTO_LOG" ;;
    esac
}

healthy() { # healthy NAME URL
    case "$1" in
        elasticsearch | opensearch) es_healthy "$2" ;;
        moto) moto_healthy "$2" ;;
    esac
}

pom_property() { # pom_property POM NAME
    sed -n "s:.*<$2>\(.*\)</$2>.*:\1:p" "$1" | head -n1
}

# ---------------------------------------------------------------- build / install (idempotent, fast when done)

# ensure_maven_built DIR MAIN_CLASS_FILE BUILD_LOG WHAT: `mvn package` in DIR unless target/.build-stamp is
# newer than pom.xml and src/ (and the build's output is there).
ensure_maven_built() {
    local dir="$1" main_class="$2" build_log="$3" what="$4"
    local stamp="$dir/target/.build-stamp"
    if [[ -f "$stamp" && -f "$dir/target/classes/$main_class" && -d "$dir/target/lib" ]] \
        && [[ -z "$(find "$dir/pom.xml" "$dir/src" -newer "$stamp" -print -quit)" ]]; then
        return 0
    fi
    command -v mvn >/dev/null || { log "mvn not found (Maven 3.8+ and Java 17 are required)"; return 1; }
    log "building $what (Maven; first run downloads ~45 MB from Maven Central) ..."
    rm -rf "$dir/target/lib"
    if ! (cd "$dir" && mvn -q -B -Dstyle.color=never package) >"$build_log" 2>&1; then
        log "Maven build failed; see $build_log"
        tail -n 40 "$build_log" >&2
        return 1
    fi
    touch "$stamp"
}

ensure_engine_built() {
    ensure_maven_built "$ENGINE_DIR" localdev/Main.class "$BUILD_LOG" "search engine (Elasticsearch)"
}

ensure_opensearch_built() {
    ensure_maven_built "$OS_DIR" localdev/opensearch/Main.class "$OS_BUILD_LOG" "OpenSearch node"
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

dump_logs() { # dump_logs NAME...
    local name f
    for name in "$@"; do
        f="$(log_of "$name")"
        [[ -f "$f" ]] || continue
        printf '\n----- last 40 lines of %s -----\n' "$f" >&2
        tail -n 40 "$f" >&2
    done
}

stop_all() {
    stop_one elasticsearch "$ES_PID_FILE"
    stop_one opensearch "$OS_PID_FILE"
    stop_one moto "$MOTO_PID_FILE"
}

# wait_healthy NAME=URL...: until every service answers. On a service's exit or after SERVICES_TIMEOUT,
# print the logs of those still pending and return 1.
wait_healthy() {
    local deadline=$((SECONDS + TIMEOUT)) pending=("$@") still entry name dead
    while :; do
        still=()
        dead=""
        for entry in "${pending[@]}"; do
            name="${entry%%=*}"
            healthy "$name" "${entry#*=}" && continue
            still+=("$entry")
            pid_alive "$(pid_file_of "$name")" || dead+=" $name"
        done
        pending=("${still[@]}")
        ((${#pending[@]} == 0)) && return 0
        if [[ -n "$dead" || $SECONDS -ge $deadline ]]; then
            if [[ -n "$dead" ]]; then
                log "service(s) exited during startup:$dead"
            else
                log "timed out after ${TIMEOUT}s waiting for: ${pending[*]%%=*}"
            fi
            dump_logs "${pending[@]%%=*}"
            return 1
        fi
        sleep 0.5
    done
}

# launch_node URL_VAR PIDFILE LOG HOME PROJECT_DIR MAIN_CLASS JAVA_OPTS: (re)creates the node's data home,
# starts the node (a Maven project's Main) on a free port and stores its URL in the variable named URL_VAR.
launch_node() {
    local url_var="$1" pidfile="$2" logfile="$3" home="$4" dir="$5" main="$6" java_opts="$7" port
    if [[ "${SERVICES_KEEP_DATA:-0}" != 1 ]]; then
        rm -rf "$home"
    fi
    mkdir -p "$home"
    port="$(free_port)"
    printf -v "$url_var" '%s' "http://127.0.0.1:$port"
    # shellcheck disable=SC2086 # the JVM options are a word list
    launch "$pidfile" "$logfile" java -Xms512m -Xmx1g -XX:+UseG1GC -Djava.awt.headless=true \
        -Dfile.encoding=UTF-8 -Dlog4j2.disable.jmx=true -Dlog4j.shutdownHookEnabled=false $java_opts \
        -cp "$dir/target/classes:$dir/target/lib/*" "$main" "$port" "$home" 0
}

launch_elasticsearch() { # launch_elasticsearch URL_VAR
    launch_node "$1" "$ES_PID_FILE" "$ES_LOG" "$ES_HOME_DIR" "$ENGINE_DIR" localdev.Main "${ES_JAVA_OPTS:-}"
}

launch_opensearch() { # launch_opensearch URL_VAR
    # the node carries the ingest plugins of the oracle (Elastic's Cursor pipeline, tests/oracle.rs) and
    # reads the test GeoIP databases
    launch_node "$1" "$OS_PID_FILE" "$OS_LOG" "$OS_HOME_DIR" "$OS_DIR" localdev.opensearch.Main \
        "-Dlocaldev.geoip.dir=$ROOT/tests/fixtures/geoip ${OPENSEARCH_JAVA_OPTS:-}"
}

# write_env ES_URL AWS_URL ES_VERSION MOTO_VERSION [OPENSEARCH_URL]
write_env() {
    local es_url="$1" aws_url="$2" es_version="$3" moto_version="$4" os_url="${5:-}" os_version engine_version
    os_version="$(pom_property "$OS_DIR/pom.xml" opensearch.version)"
    engine_version="$es_version"
    [[ "$ENGINE" == opensearch ]] && engine_version="$os_version"
    {
        cat <<EOF
ES_URL=$es_url
AWS_ENDPOINT_URL=$aws_url
AWS_REGION=us-east-1
AWS_DEFAULT_REGION=us-east-1
AWS_ACCESS_KEY_ID=testing
AWS_SECRET_ACCESS_KEY=testing
ENGINE=$ENGINE
ENGINE_VERSION=$engine_version
ES_VERSION=$es_version
MOTO_VERSION=$moto_version
EOF
        if [[ -n "$os_url" ]]; then
            printf 'OPENSEARCH_URL=%s\nOPENSEARCH_VERSION=%s\n' "$os_url" "$os_version"
        fi
    } >"$ENV_FILE.tmp"
    mv "$ENV_FILE.tmp" "$ENV_FILE"
}

# Elasticsearch and moto answer; ENGINE=opensearch wants the OpenSearch node too: start only that one.
add_opensearch() {
    local t0 os_url os_version
    t0="$(now)"
    log "elasticsearch and moto already running; adding the OpenSearch node"
    stop_one opensearch "$OS_PID_FILE"
    sed -i '/^OPENSEARCH_/d' "$ENV_FILE" # a stale node's address must not outlive it
    command -v java >/dev/null || { log "java not found (Java 17 is required)"; return 1; }
    ensure_opensearch_built
    launch_opensearch os_url
    if ! wait_healthy "opensearch=$os_url"; then
        stop_one opensearch "$OS_PID_FILE"
        return 1
    fi
    write_env "$(env_value ES_URL)" "$(env_value AWS_ENDPOINT_URL)" "$(env_value ES_VERSION)" \
        "$(env_value MOTO_VERSION)" "$os_url"
    os_version="$(env_value OPENSEARCH_VERSION)"
    log "opensearch $os_version at $os_url (pid $(cat "$OS_PID_FILE"))"
    log "started in $(elapsed_since "$t0") s; environment in $ENV_FILE"
}

# ---------------------------------------------------------------- commands

cmd_start() {
    mkdir -p "$SVC_DIR"
    if core_running; then
        if opensearch_running; then
            log "already running: $(env_value ES_URL) (ES), $(env_value OPENSEARCH_URL) (OpenSearch)," \
                "$(env_value AWS_ENDPOINT_URL) (moto); env in $ENV_FILE"
            return 0
        elif [[ "$ENGINE" != opensearch ]]; then
            log "already running: $(env_value ES_URL) (ES), $(env_value AWS_ENDPOINT_URL) (moto); env in $ENV_FILE"
            return 0
        fi
        add_opensearch
        return
    fi
    # half-running or stale state: start from scratch
    stop_all
    rm -f "$ENV_FILE"

    local t0 es_url aws_url os_url="" es_version moto_version
    local waits=()
    t0="$(now)"
    command -v java >/dev/null || { log "java not found (Java 17 is required)"; return 1; }
    ensure_engine_built

    launch_elasticsearch es_url
    waits+=("elasticsearch=$es_url")

    # the JVM(s) boot while the OpenSearch project is built and the virtualenv is checked / installed
    if [[ "$ENGINE" == opensearch ]]; then
        if ! ensure_opensearch_built; then
            stop_all
            return 1
        fi
        launch_opensearch os_url
        waits+=("opensearch=$os_url")
    fi
    if ! ensure_venv; then
        stop_all
        return 1
    fi
    aws_url="http://127.0.0.1:$(free_port)"
    launch "$MOTO_PID_FILE" "$MOTO_LOG" "$VENV/bin/moto_server" -H 127.0.0.1 -p "${aws_url##*:}"
    waits+=("moto=$aws_url")

    if ! wait_healthy "${waits[@]}"; then
        stop_all
        return 1
    fi

    es_version="$(pom_property "$ENGINE_DIR/pom.xml" es.version)"
    moto_version="$("$VENV/bin/python" -c 'import moto; print(moto.__version__)')"
    write_env "$es_url" "$aws_url" "$es_version" "$moto_version" "$os_url"
    log "elasticsearch $es_version at $es_url (pid $(cat "$ES_PID_FILE")), moto $moto_version at $aws_url (pid $(cat "$MOTO_PID_FILE"))"
    if [[ -n "$os_url" ]]; then
        log "opensearch $(env_value OPENSEARCH_VERSION) at $os_url (pid $(cat "$OS_PID_FILE"))"
    fi
    log "started in $(elapsed_since "$t0") s; environment in $ENV_FILE"
}

cmd_stop() {
    stop_all
    rm -f "$ENV_FILE"
    log "stopped"
}

# report_one LABEL PIDFILE URL HEALTH_FN: one status line; 0 only when the service answers.
report_one() {
    local label="$1" pidfile="$2" url="$3" healthy="$4"
    if pid_alive "$pidfile" && [[ -n "$url" ]] && "$healthy" "$url"; then
        printf '%-14s running  %s  pid %s\n' "$label:" "$url" "$(cat "$pidfile")"
    elif pid_alive "$pidfile"; then
        printf '%-14s process %s alive but not answering\n' "$label:" "$(cat "$pidfile")"
        return 3
    else
        printf '%-14s stopped\n' "$label:"
        return 3
    fi
}

cmd_status() {
    local rc=0 os_url
    os_url="$(env_value OPENSEARCH_URL 2>/dev/null || true)"
    report_one elasticsearch "$ES_PID_FILE" "$(env_value ES_URL 2>/dev/null || true)" es_healthy || rc=3
    if [[ -f "$OS_PID_FILE" || "$ENGINE" == opensearch || -n "$os_url" ]]; then
        report_one opensearch "$OS_PID_FILE" "$os_url" es_healthy || rc=3
    fi
    report_one moto "$MOTO_PID_FILE" "$(env_value AWS_ENDPOINT_URL 2>/dev/null || true)" moto_healthy || rc=3
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
