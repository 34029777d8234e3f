#!/usr/bin/env bash
# `make client-check`: the service's own /openapi.json as generators and linters read it.
#
# Starts the fake Airbyte (`cargo test --locked --test serve_fake`) and the service in front of it,
# each on a free port, fetches the served GET /openapi.json (it must be src/openapi.json), generates
# a Python client from it with openapi-python-client (into target/client-check/; any generator
# warning, such as a response it cannot type, fails the run), and runs client_check.py: the README's
# three creates and an unknown-type 422 through the generated client's typed API. Then lints
# src/openapi.json with Redocly CLI's recommended rules (redocly.yaml), failing on any warning.
#
# Needs openapi-python-client in $VENV (default .venv; `make venv` makes it) and Redocly CLI in
# tests/contract/node_modules (`npm ci` there). Environment:
#   BIN        the service binary (default: built here with cargo build --locked)
#   KEEP_LOGS=1  keep the logs (their folder is printed)
set -euo pipefail
cd "$(dirname "$0")/../.."
source tests/contract/lib.sh

VENV=${VENV:-.venv}
GENERATOR="$VENV/bin/openapi-python-client"
REDOCLY=tests/contract/node_modules/.bin/redocly
OUT="${CARGO_TARGET_DIR:-target}/client-check"

if [ ! -x "$GENERATOR" ]; then
    echo "error: $VENV lacks openapi-python-client; run 'make venv' first" >&2
    exit 2
fi
if [ ! -x "$REDOCLY" ]; then
    echo "error: $REDOCLY is missing; run 'npm ci' in tests/contract first" >&2
    exit 2
fi

build_service
start_fake "$WORK/fake.log"
echo "fake Airbyte at $AIRBYTE_URL"

start_service "$WORK/service.log" "$AIRBYTE_URL"
echo "airbyte-wrapper at $SERVICE_URL"

rm -rf "$OUT"
mkdir -p "$OUT"
curl -fsS --max-time 10 -o "$OUT/openapi.json" "$SERVICE_URL/openapi.json"
# The same JSON value: the service serves the document without its indentation.
if ! python3 -c 'import json, sys; sys.exit(json.load(open(sys.argv[1])) != json.load(open(sys.argv[2])))' \
    "$OUT/openapi.json" src/openapi.json; then
    echo "error: the served /openapi.json is not src/openapi.json (is $BIN up to date?)" >&2
    exit 1
fi

# The generator runs ruff on what it wrote, from PATH and in the output folder: the venv's own, by
# its absolute path.
echo "openapi-python-client $("$GENERATOR" --version | awk '{print $NF}'): generating the client into $OUT"
PATH="$(cd "$VENV" && pwd)/bin:$PATH" "$GENERATOR" generate --path "$OUT/openapi.json" \
    --output-path "$OUT/airbyte_wrapper_client" --meta none --overwrite --fail-on-warning

status=0
"$VENV/bin/python" tests/contract/client_check.py "$OUT" "$SERVICE_URL" || status=$?
check_no_panic "$WORK/service.log" || status=1
if [ "$status" -ne 0 ]; then
    echo "client-check: FAILED; last lines of the service log:" >&2
    tail -n 20 "$WORK/service.log" >&2
    exit "$status"
fi

echo "redocly $(node -p 'require("./tests/contract/node_modules/@redocly/cli/package.json").version'): linting src/openapi.json with the recommended rules, warnings as errors"
REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_NOTIFICATIONS=true \
    "$REDOCLY" lint --config tests/contract/redocly.yaml src/openapi.json || {
    echo "client-check: FAILED: src/openapi.json is not clean under Redocly's recommended rules" >&2
    exit 1
}
echo "client-check: passed"
