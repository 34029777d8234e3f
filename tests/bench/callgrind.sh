#!/usr/bin/env bash
# `make callgrind`: the processor instructions one warm `POST /sink` costs the service, counted by
# valgrind's callgrind, and where they go. Deterministic where `make bench`'s rates are not, so it
# is the number to compare two builds by. Prints; asserts nothing.
#
# Usage: callgrind.sh SERVICE_BINARY FAKE_AIRBYTE_BINARY [REQUESTS]
# CALLGRIND_OUT=FILE keeps the dump there, for callgrind_annotate or kcachegrind.
# CALLGRIND_API=public measures the public API dialect (the fake serves both) instead of the Config API.
# CALLGRIND_ENV='NAME=VALUE ...' runs the service with those variables set too (GLIBC_TUNABLES, say).
set -euo pipefail
bin=$1 fake=$2 requests=${3:-500}
# Process bookkeeping (spawn, waits, cleanup on exit), shared with the contract tests.
# shellcheck source=tests/contract/lib.sh
source "$(dirname "$0")/../contract/lib.sh"

spawn "$WORK/fake.log" env FAKE_AIRBYTE_LOAD=1 "$fake"
line=$(wait_for_line "$WORK/fake.log" "$SPAWN_PID" '^fake Airbyte at http://' 60)
airbyte=${line#fake Airbyte at }

if [ "${CALLGRIND_API:-config}" = public ]; then airbyte=${airbyte%/api/v1}/api/public/v1; fi
spawn "$WORK/service.log" env ${CALLGRIND_ENV:-} AIRBYTE_BASE_URL="$airbyte" LISTEN_ADDR=127.0.0.1:0 RUST_LOG=info \
    valgrind --tool=callgrind --callgrind-out-file="$WORK/callgrind.out" "$bin"
service_pid=$SPAWN_PID
line=$(wait_for_line "$WORK/service.log" "$service_pid" 'listening on http://' 120)
port=$(sed -E 's#.*listening on http://[^ ]*:([0-9]+) .*#\1#' <<<"$line")

# The first requests fill the caches (workspace, definitions) and the connection pool; only the
# warm ones after them are counted.
sink() {
    python3 - "$port" "$1" <<'PY'
import http.client, sys
port, n = int(sys.argv[1]), int(sys.argv[2])
body = b'{"name":"s3_sink","type":"s3","config":{"bucket_name":"my-bucket","bucket_region":"us-east-1","access_key_id":"AKIA...","secret_access_key":"secret","path_prefix":"exports/"}}'
conn = http.client.HTTPConnection("127.0.0.1", port)
for _ in range(n):
    conn.request("POST", "/sink", body, {"Content-Type": "application/json"})
    answer = conn.getresponse()
    answer.read()
    assert answer.status == 201, answer.status
PY
}
sink 50
callgrind_control -z "$service_pid" >/dev/null 2>&1
sink "$requests"
callgrind_control -d "$service_pid" >/dev/null 2>&1
dump=$(ls "$WORK"/callgrind.out.* | head -n 1)
if [ -n "${CALLGRIND_OUT:-}" ]; then cp "$dump" "$CALLGRIND_OUT"; fi
total=$(callgrind_annotate "$dump" 2>/dev/null | sed -n 's/^ *\([0-9,]*\) .*PROGRAM TOTALS.*/\1/p' | tr -d ,)
echo "warm POST /sink: $((total / requests)) instructions per request in the service ($requests requests)"
echo "where they go (inclusive, per request; the 30 largest below the threads' entry points):"
callgrind_annotate --inclusive=yes --threshold=100 "$dump" 2>/dev/null | grep -E '^ *[0-9,]+ \(' |
    grep -v -E 'PROGRAM TOTALS|:clone |:start_thread |thread_start|call_once\{\{vtable.shim\}\}' | sed -n '1,30p' |
    while read -r count _share place; do
        printf '%9d  %s\n' $(($(echo "$count" | tr -d ,) / requests)) "$place"
    done | sed -E 's#^( *[0-9]+  )[^:]*:#\1#; s# \[[^]]*\]$##' | cut -c1-150
