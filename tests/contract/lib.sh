# shellcheck shell=bash
# Shared by the contract tests (run.sh, schemathesis.sh), tests/scratch/run.sh and
# tests/bench/callgrind.sh: process bookkeeping, free ports, bounded waits.
# Sourced, not run. Every process started through `spawn` is ended on exit, with its process group.

SPAWNED=()
WORK=$(mktemp -d "${TMPDIR:-/tmp}/airbyte-wrapper-contract.XXXXXX")

cleanup() {
    local status=$?
    local pid
    for pid in "${SPAWNED[@]}"; do
        # Each was started in its own process group (setsid): end the group, then make sure.
        kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${SPAWNED[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    if [ "${KEEP_LOGS:-}" = 1 ]; then
        echo "logs kept in $WORK" >&2
    else
        rm -rf "$WORK"
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# spawn LOG CMD...: starts CMD in its own process group, stdout and stderr to LOG; sets SPAWN_PID.
spawn() {
    local log=$1
    shift
    setsid "$@" >"$log" 2>&1 </dev/null &
    SPAWN_PID=$!
    SPAWNED+=("$SPAWN_PID")
}

# stop PID: ends one spawned process group now (the rest wait for exit).
stop() {
    kill -TERM -- "-$1" 2>/dev/null || kill -TERM "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}

# free_port: a TCP port on 127.0.0.1 that nothing listens on at this moment.
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_for_line LOG PID REGEX SECONDS: waits until LOG has a line matching the extended REGEX and
# prints the first match; fails early if PID ends first, and after SECONDS at most.
wait_for_line() {
    local log=$1 pid=$2 regex=$3 seconds=$4
    local deadline=$((SECONDS + seconds))
    while [ "$SECONDS" -lt "$deadline" ]; do
        if grep -m1 -E "$regex" "$log" 2>/dev/null; then
            return 0
        fi
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "error: the process ended before printing /$regex/; its output:" >&2
            tail -n 40 "$log" >&2
            return 1
        fi
        sleep 0.2
    done
    echo "error: no line matching /$regex/ within ${seconds}s; the output so far:" >&2
    tail -n 40 "$log" >&2
    return 1
}

# wait_for_http URL PID SECONDS: waits until URL answers any HTTP status.
wait_for_http() {
    local url=$1 pid=$2 seconds=$3
    local deadline=$((SECONDS + seconds))
    while [ "$SECONDS" -lt "$deadline" ]; do
        if curl -s -o /dev/null --max-time 2 "$url"; then
            return 0
        fi
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "error: the process ended before $url answered" >&2
            return 1
        fi
        sleep 0.2
    done
    echo "error: $url did not answer within ${seconds}s" >&2
    return 1
}

# wait_until_quiet LOG SECONDS: waits until LOG has stopped growing (no new bytes for 0.5 s), for
# at most SECONDS: a log written asynchronously is then complete for the requests made so far.
wait_until_quiet() {
    local log=$1 seconds=$2
    local deadline=$((SECONDS + seconds)) size=-1 quiet=0 now
    while [ "$SECONDS" -lt "$deadline" ]; do
        now=$(wc -c <"$log")
        if [ "$now" = "$size" ]; then
            quiet=$((quiet + 1))
            [ "$quiet" -ge 5 ] && return 0
        else
            size=$now
            quiet=0
        fi
        sleep 0.1
    done
    echo "error: $log was still growing after ${seconds}s" >&2
    return 1
}

# build_service: the service binary to test in BIN: as given, else the debug build, built here.
build_service() {
    if [ -z "${BIN:-}" ]; then
        cargo build --locked --quiet
        BIN="${CARGO_TARGET_DIR:-target}/debug/airbyte-wrapper"
    fi
}

# start_fake LOG [VAR=VALUE...]: the fake Airbyte (tests/serve_fake.rs) with the given
# environment, compiled first so that its start-up wait is not a build; waits for its line and
# sets FAKE_PID and AIRBYTE_URL (its API root, http:// or https://).
start_fake() {
    local log=$1
    shift
    cargo test --locked --quiet --test serve_fake --no-run 2>"$log.build" || {
        cat "$log.build" >&2
        return 1
    }
    spawn "$log" env "$@" cargo test --locked --quiet --test serve_fake
    FAKE_PID=$SPAWN_PID
    local line
    line=$(wait_for_line "$log" "$FAKE_PID" '^fake Airbyte at https?://' 60) || return 1
    # shellcheck disable=SC2034 # for the scripts that source this file
    AIRBYTE_URL=${line#fake Airbyte at }
}

# start_service LOG AIRBYTE_BASE_URL [VAR=VALUE...]: starts the service binary ($BIN) on a free
# port and waits for its "listening on" line; sets SERVICE_URL and SERVICE_PID.
start_service() {
    local log=$1 base=$2
    shift 2
    spawn "$log" env AIRBYTE_BASE_URL="$base" LISTEN_ADDR=127.0.0.1:0 WORKERS=4 RUST_LOG=info "$@" "$BIN"
    SERVICE_PID=$SPAWN_PID
    local line
    line=$(wait_for_line "$log" "$SERVICE_PID" 'listening on http://' 30) || return 1
    # shellcheck disable=SC2034 # for the scripts that source this file
    SERVICE_URL=$(sed -E 's#.*listening on (http://[^ ]+).*#\1#' <<<"$line")
}

# service_panicked LOG: fails (and shows them) when the service logged a panic.
check_no_panic() {
    if grep -E 'panic|panicked' "$1" >&2; then
        echo "error: the service panicked (lines above)" >&2
        return 1
    fi
}
