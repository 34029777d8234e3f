#!/usr/bin/env bash
# `make schemathesis`: Schemathesis against the running service and its own contract.
#
# Starts the fake Airbyte (`cargo test --locked --test serve_fake`) and the service in front of it,
# each on a free port, then runs Schemathesis on the service's `GET /openapi.json` with the settings
# in schemathesis.toml: a bounded number of examples per operation, and every answer checked against
# the document (no 5xx, documented status codes, content types, headers and response schemas;
# bodies the document forbids answered 4xx, bodies it allows on the create routes never 400).
#
# First checks that src/openapi.json is a valid OpenAPI 3.1 document (openapi-spec-validator).
# Needs both tools in $VENV (default .venv; `make venv` makes it). Environment:
#   SCHEMATHESIS_MAX_EXAMPLES  examples per operation and phase (default 50)
#   SCHEMATHESIS_SEED          a seed, to repeat a run (default: a random one, printed)
#   BIN                        the service binary (default: built here with cargo build --locked)
#   SCHEMATHESIS_ARGS          more options for `schemathesis run` (split on spaces)
#   KEEP_LOGS=1                keep the logs (their folder is printed)
set -euo pipefail
cd "$(dirname "$0")/../.."
source tests/contract/lib.sh

VENV=${VENV:-.venv}
SCHEMATHESIS="$VENV/bin/schemathesis"
MAX_EXAMPLES=${SCHEMATHESIS_MAX_EXAMPLES:-50}
SEED=${SCHEMATHESIS_SEED:-$((RANDOM * 32768 + RANDOM))}

if [ ! -x "$SCHEMATHESIS" ] || [ ! -x "$VENV/bin/openapi-spec-validator" ]; then
    echo "error: $VENV lacks schemathesis or openapi-spec-validator; run 'make venv' first" >&2
    exit 2
fi

# The document itself first: valid OpenAPI 3.1, or nothing below means much.
"$VENV/bin/openapi-spec-validator" src/openapi.json

build_service
start_fake "$WORK/fake.log"
echo "fake Airbyte at $AIRBYTE_URL"

# The fake's jobs run until a test ends them, so a `?wait=` waits its whole length: at most 2 s here
# (a larger one is a 400), well inside Schemathesis's 30 s request timeout.
start_service "$WORK/service.log" "$AIRBYTE_URL" MAX_WAIT_SECS=2
echo "airbyte-wrapper at $SERVICE_URL"

echo "schemathesis: $MAX_EXAMPLES examples per operation, seed $SEED"
status=0
# Hypothesis keeps its example database and caches under target/ too, not in a new top-level folder.
export HYPOTHESIS_STORAGE_DIRECTORY="${HYPOTHESIS_STORAGE_DIRECTORY:-${CARGO_TARGET_DIR:-target}/hypothesis}"
read -ra extra <<<"${SCHEMATHESIS_ARGS:-}"
"$SCHEMATHESIS" --config-file tests/contract/schemathesis.toml run \
    --max-examples "$MAX_EXAMPLES" --seed "$SEED" --no-color \
    "${extra[@]}" "$SERVICE_URL/openapi.json" || status=$?

if ! kill -0 "$SERVICE_PID" 2>/dev/null; then
    echo "error: the service stopped during the run; its log:" >&2
    tail -n 40 "$WORK/service.log" >&2
    status=1
fi
check_no_panic "$WORK/service.log" || status=1
if [ "$status" -ne 0 ]; then
    echo "schemathesis: FAILED (seed $SEED; SCHEMATHESIS_SEED=$SEED repeats the run)" >&2
    echo "last lines of the service log:" >&2
    tail -n 20 "$WORK/service.log" >&2
    exit "$status"
fi
echo "schemathesis: passed"
