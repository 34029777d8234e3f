#!/usr/bin/env bash
# `make contract`: the real service against Stoplight Prism, a request-validating mock generated
# from Airbyte's own OpenAPI documents (../shared/airbyte, see its README).
#
# Scenarios, each with its own Prism (`--errors`: a request that breaks the spec is answered 4xx with
# an `sl-violations` header, and logged) and its own service, on free ports:
#   current   config.mock.yaml (no /workspaces/list), static answers (the spec's examples)
#   v1.6.0    config_v1.6.0.mock.yaml (still has /workspaces/list), static answers
#   dynamic   both documents again with `-d`: every answer is a random body the spec allows
#   public, public-v1.6.0
#             the service speaking Airbyte's public API (AIRBYTE_API=public, with client
#             credentials, so that it makes the token call too) to a Prism of public_api.yaml (or
#             public_api_v1.6.0.yaml), and, for what the public API cannot do (checks, previews,
#             connector specs, schema refreshes), to a second Prism of the matching Config API
#             document as AIRBYTE_CONFIG_API_URL=http://127.0.0.1:PORT2/v1. Prism serves the public
#             document's paths at its root (the path of its `servers` URL, https://api.airbyte.com/v1,
#             is no prefix there: /v1/health is a 404), so AIRBYTE_BASE_URL=http://127.0.0.1:PORT.
#             The public document has bugs that stop a mock; tests/contract/public_mock.js copies it
#             into the work directory with these fixes and no others:
#             - the 200 examples of the calls the service makes are realistic answers (the MySQL and
#               S3 definitions with their real ids, a source, a destination, streams, a connection
#               between them, a job, a token): the published ones are partial or break their own
#               schema (a job with a UUID `id` where JobResponse has the int64 `jobId`, a token
#               without the required `token_type` and `expires_in`), and Prism answers an example
#               that breaks its schema with a 500;
#             - `format: UUID` is `format: uuid`: formats are case-sensitive, and random ids would
#               not be UUIDs;
#             - the two `$ref`s to components the document lacks (DataplaneCreateResponseBody,
#               ForbiddenResponse) are empty ones: Prism refuses to load the document otherwise;
#             - MapperConfiguration's `oneOf` is an `anyOf` (its alternatives overlap, as in
#               config.mock.yaml), and RowFilteringOperationNot's `conditions` has no `minItems: 1`
#               (Prism's generator ends the recursive row filter with an empty list): otherwise
#               half the random connections break their own schema, and Prism answers them 500.
#             Requests are validated against the rest as published (the service sends no mappers,
#             so the last fix loosens nothing it sends). ApplicationTokenRequestWithGrant's
#             `required` names `grant_type` where the property is `grant-type`; that is kept: the
#             service sends both spellings, so the document as published must accept its token call.
#             The static answers are those of the Config scenarios but for the job routes: 200
#             where the Config API's mock has a 404, and a clear starts (202) where the Config
#             API's mock has a job running (409) (see public_static_scenario). The Config API's
#             document beside is prepared by tests/contract/companion_mock.js: the bearer token
#             required (its calls' security is `[{}]` though it declares `bearerAuth`, and Prism
#             answers a call that carries a token with 401), and the public mock's job as its job
#             reads answer it, so that attempts and logs reach `attempt/get_for_job`.
#   public-dynamic, public-dynamic-v1.6.0
#             the same with `-d` on both Prisms.
#
# Static: GET /readyz, POST /datasource and /sink with the seed payloads (tests/support/mod.rs),
# POST /ingestion with the ids they return, the ingestion's run-and-watch routes (`operate`), and
# the configuration routes (`configure`: checks, stream previews, changes): every answer must be
# the one expected, and the Airbyte calls made exactly the list below.
# Dynamic: the same calls, CONTRACT_DYNAMIC_ROUNDS times (default 25). The random definition lists
# hold no mysql or s3, so creates may fail with 4xx or 502 (a create is retried with a type the 422
# suggests, to reach sources/create and destinations/create), /ingestion also with 404 and /readyz
# with 503; any other status (a 500 above all) fails the run, and the service must keep serving.
# A 502 for an answer the service "could not read" fails it too: Prism only sends answers that fit.
# Always: any request the service sends that breaks the spec fails the run, with Prism's log lines
# about it; so does a panic in the service's log.
#
# Environment: AIRBYTE_SPEC_DIR (default ../shared/airbyte, from the repo root), BIN (the service
# binary; default: built here with cargo build --locked), CONTRACT_SCENARIOS (a space-separated
# subset of the eight), CONTRACT_DYNAMIC_ROUNDS, KEEP_LOGS=1.
set -euo pipefail
cd "$(dirname "$0")/../.."
source tests/contract/lib.sh

SPEC_DIR=${AIRBYTE_SPEC_DIR:-../shared/airbyte}
PRISM=tests/contract/node_modules/.bin/prism
ROUNDS=${CONTRACT_DYNAMIC_ROUNDS:-25}

if [ ! -x "$PRISM" ]; then
    echo "error: $PRISM is missing; run 'npm ci' in tests/contract (make contract does)" >&2
    exit 2
fi
for spec in config.mock.yaml config_v1.6.0.mock.yaml public_api.yaml public_api_v1.6.0.yaml; do
    if [ ! -r "$SPEC_DIR/$spec" ]; then
        echo "error: $SPEC_DIR/$spec is missing; set AIRBYTE_SPEC_DIR to the folder of Airbyte's documents" >&2
        exit 2
    fi
done
build_service
echo "prism $("$PRISM" --version), service $BIN"

# The seed payloads, read from the Rust test support so that there is one copy of them.
python3 - "$WORK" <<'PY'
import re, sys, json
source = open("tests/support/mod.rs", encoding="utf-8").read()
for name, file in (("MYSQL_SOURCE", "mysql_source.json"), ("S3_SINK", "s3_sink.json")):
    body = re.search(r'pub const %s: &str = r#"(.*?)"#;' % name, source, re.S).group(1)
    json.loads(body)
    open(f"{sys.argv[1]}/{file}", "w", encoding="utf-8").write(body)
PY

# json_field FILE KEY: a top-level string member of a JSON file ("" when absent or not JSON).
json_field() {
    python3 -c 'import json,sys
try: v = json.load(open(sys.argv[1])).get(sys.argv[2], "")
except Exception: v = ""
print(v if isinstance(v, str) else "")' "$1" "$2"
}

# suggested_type FILE: the first type a 422 "unknown ... type" problem suggests ("" if none).
suggested_type() {
    python3 -c 'import json,re,sys
try: d = json.load(open(sys.argv[1])).get("detail", "")
except Exception: d = ""
m = re.search(r"closest known types: \x27([^\x27]*)\x27", d)
print(m.group(1) if m else "")' "$1"
}

# with_type FILE TYPE: the JSON body in FILE with its "type" replaced.
with_type() {
    python3 -c 'import json,sys
d = json.load(open(sys.argv[1])); d["type"] = sys.argv[2]; print(json.dumps(d))' "$1" "$2"
}

# call NAME METHOD PATH [BODY]: one request to the service; the answer's body goes to
# $WORK/NAME.json, its status to STATUS.
call() {
    local name=$1 method=$2 path=$3 body=${4:-}
    local args=(-s -o "$WORK/$name.json" -w '%{http_code}' --max-time 60 -X "$method")
    if [ -n "$body" ]; then
        args+=(-H 'Content-Type: application/json' --data-binary "$body")
    fi
    STATUS=$(curl "${args[@]}" "$SERVICE_URL$path") || STATUS=000
}

FAILURES=0
fail() {
    echo "  FAIL: $*" >&2
    FAILURES=$((FAILURES + 1))
}

# expect NAME ALLOWED...: STATUS (of call NAME) must be one of ALLOWED.
expect() {
    local name=$1
    shift
    local s
    for s in "$@"; do
        [ "$STATUS" = "$s" ] && return 0
    done
    fail "$name answered $STATUS (allowed: $*): $(head -c 600 "$WORK/$name.json" 2>/dev/null)"
}

# readable NAME: with --errors, Prism sends a 2xx answer only when it fits the spec, so a 502 saying
# an answer "could not be read" means the service refused a body the spec allows.
readable() {
    if [ "$STATUS" = 502 ] && grep -q 'could not be read' "$WORK/$1.json"; then
        fail "$1: the service could not read an answer the spec allows: $(head -c 600 "$WORK/$1.json")"
    fi
}

# Prism's log lines about requests that broke the spec, each after the request it is about.
violations() {
    local log=$1 from=$2
    tail -n "+$from" "$log" | awk '
        /\[HTTP SERVER\] [a-z]+ \/[^ ]* .*Request received/ {
            request = $0; sub(/.*\[HTTP SERVER\] /, "", request); sub(/ *ℹ.*/, "", request); next
        }
        /\[VALIDATOR\] (✖|⚠)/ {
            line = $0; sub(/.*\[VALIDATOR\] /, "", line)
            print "    " request ": " line
        }'
}

# Requests Prism could not route, other than the ones the service makes on purpose.
unexpected_unrouted() {
    local log=$1 from=$2 allowed=$3
    tail -n "+$from" "$log" | grep 'NO_PATH_MATCHED' | grep -vE "$allowed" || true
}

# start_prism SCENARIO SPEC [PRISM FLAGS...]: a Prism of the Config API document SPEC (in
# SPEC_DIR); sets PRISM_URL, PRISM_LOG, PRISM_PID and PRISM_FROM (the first log line after the
# detector's self-check).
start_prism() {
    local scenario=$1 spec=$2
    shift 2
    start_prism_of "$scenario" "$SPEC_DIR/$spec" /v1 /sources/create "$@"
}

# start_prism_of NAME SPEC_PATH ROOT PROBE [PRISM FLAGS...]: a Prism of the document at SPEC_PATH,
# whose API is served at ROOT (/v1 for the Config API's paths, none for the public API's), and
# whose POST PROBE with `{}` breaks the spec (the self-check; with PROBE_AUTH as its Authorization
# header when set, for a document that requires one).
start_prism_of() {
    local scenario=$1 spec=$2 root=$3 probe_path=$4
    shift 4
    local auth=()
    if [ -n "${PROBE_AUTH:-}" ]; then
        auth=(-H "Authorization: $PROBE_AUTH")
    fi
    local port
    port=$(free_port)
    PRISM_LOG="$WORK/prism-$scenario.log"
    spawn "$PRISM_LOG" "$PRISM" mock -h 127.0.0.1 -p "$port" --errors "$@" "$spec"
    PRISM_PID=$SPAWN_PID
    wait_for_line "$PRISM_LOG" "$PRISM_PID" 'Prism is listening on' 120 >/dev/null
    PRISM_URL="http://127.0.0.1:$port$root"
    wait_for_http "$PRISM_URL/health" "$PRISM_PID" 30

    # Self-check: a request that breaks the spec must be seen by the detector, or a clean run
    # would prove nothing.
    local before probe deadline=$((SECONDS + 10))
    before=$(wc -l <"$PRISM_LOG")
    probe=$(curl -s -o /dev/null -D - -X POST -H 'Content-Type: application/json' "${auth[@]}" -d '{}' \
        "$PRISM_URL$probe_path" | tr -d '\r' | grep -ci '^sl-violations:' || true)
    until [ -n "$(violations "$PRISM_LOG" "$((before + 1))")" ] || [ "$SECONDS" -ge "$deadline" ]; do
        sleep 0.1
    done
    if [ "$probe" != 1 ] || [ -z "$(violations "$PRISM_LOG" "$((before + 1))")" ]; then
        echo "error: Prism did not flag a request that breaks the spec; the violation check would be blind" >&2
        tail -n 20 "$PRISM_LOG" >&2
        exit 1
    fi
    wait_until_quiet "$PRISM_LOG" 10
    PRISM_FROM=$(($(wc -l <"$PRISM_LOG") + 1))
}

# check_prism NAME LOG FROM ALLOWED_UNROUTED: no request in LOG (from line FROM) broke the spec
# or called a path that is not in it, other than ALLOWED_UNROUTED.
check_prism() {
    local name=$1 log=$2 from=$3 allowed_unrouted=$4 found
    wait_until_quiet "$log" 10 || fail "$name's log did not settle"
    found=$(violations "$log" "$from")
    if [ -n "$found" ]; then
        fail "the service sent requests that break $name's spec; Prism logged:"
        echo "$found" >&2
    fi
    found=$(unexpected_unrouted "$log" "$from" "$allowed_unrouted")
    if [ -n "$found" ]; then
        fail "the service called paths that are not in $name's spec; Prism logged:"
        awk '{ print "    " $0 }' <<<"$found" >&2
    fi
}

# finish SCENARIO ALLOWED_UNROUTED: the checks every scenario ends with; stops its processes.
finish() {
    local scenario=$1 allowed_unrouted=$2
    if [ -n "${COMPANION_PID:-}" ]; then
        check_prism "the Config API" "$COMPANION_LOG" "$COMPANION_FROM" '^$'
        stop "$COMPANION_PID"
        COMPANION_PID=
    fi
    call healthz GET /healthz
    expect healthz 200
    if ! kill -0 "$SERVICE_PID" 2>/dev/null; then
        fail "the service stopped"
    fi
    check_no_panic "$SERVICE_LOG" || fail "the service panicked"
    wait_until_quiet "$PRISM_LOG" 10 || fail "Prism's log did not settle"
    local found
    found=$(violations "$PRISM_LOG" "$PRISM_FROM")
    if [ -n "$found" ]; then
        fail "the service sent requests that break Airbyte's spec; Prism logged:"
        echo "$found" >&2
    fi
    found=$(unexpected_unrouted "$PRISM_LOG" "$PRISM_FROM" "$allowed_unrouted")
    if [ -n "$found" ]; then
        fail "the service called paths that are not in Airbyte's spec; Prism logged:"
        awk '{ print "    " $0 }' <<<"$found" >&2
    fi
    stop "$SERVICE_PID"
    stop "$PRISM_PID"
    if [ "$FAILURES" -gt 0 ]; then
        echo "contract[$scenario]: FAILED; the service's log:" >&2
        tail -n 30 "$SERVICE_LOG" >&2
        exit 1
    fi
}

# prism_calls [LOG FROM]: the Airbyte calls a Prism received in this scenario (by default the
# scenario's first), in order, deduplicated; ids in paths as {id}, queries left out.
prism_calls() {
    local log=${1:-$PRISM_LOG} from=${2:-$PRISM_FROM}
    tail -n "+$from" "$log" | grep -oE '\[HTTP SERVER\] [a-z]+ /[^ ?]*' |
        sed -E 's/\[HTTP SERVER\] //; s#/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}#/{id}#g; s#/[0-9]+(/|$)#/{id}\1#g' |
        awk '!seen[$0]++' | paste -sd, - | sed 's/,/, /g'
}

# Running and watching the ingestion `$1` (static answers): each call the service makes for it is
# one Prism validates. Prism's generated jobs belong to no real ingestion (their `configId` is a
# placeholder), so reading or cancelling one, its attempts and its log are a 404 after
# `jobs/get_without_logs`: `jobs/cancel` and `attempt/get_for_job` are never reached here (the
# public scenarios reach them), and `jobs/cancel`'s body is `jobs/get_without_logs`'s
# (`JobIdRequestBody`). Its generated jobs list holds a `pending` job, so a clear is a 409 that
# names it; the public mock's list holds an ended job, so there a clear starts (202).
operate() {
    local id=$1 job_status=${2:-404} clear_status=${3:-409}
    call ingestion-read GET "/ingestion/$id"
    echo "  GET /ingestion/{id} $STATUS"
    expect ingestion-read 200
    call sync POST "/ingestion/$id/sync"
    echo "  POST /ingestion/{id}/sync $STATUS"
    expect sync 202
    call jobs GET "/ingestion/$id/jobs?limit=5&status=running"
    echo "  GET /ingestion/{id}/jobs $STATUS"
    expect jobs 200
    call job GET "/ingestion/$id/jobs/1"
    echo "  GET /ingestion/{id}/jobs/1 $STATUS"
    expect job "$job_status"
    call cancel DELETE "/ingestion/$id/jobs/1"
    echo "  DELETE /ingestion/{id}/jobs/1 $STATUS"
    expect cancel "$job_status"
    call patch PATCH "/ingestion/$id" '{"name": "renamed", "status": "inactive", "schedule": null}'
    echo "  PATCH /ingestion/{id} $STATUS"
    expect patch 200
    call refresh POST "/ingestion/$id/refresh?apply=true&selectNew=true"
    echo "  POST /ingestion/{id}/refresh $STATUS"
    expect refresh 200
    call wait GET "/ingestion/$id/jobs/1?wait=1"
    echo "  GET /ingestion/{id}/jobs/1?wait=1 $STATUS"
    expect wait "$job_status"
    call attempts GET "/ingestion/$id/jobs/1/attempts"
    echo "  GET /ingestion/{id}/jobs/1/attempts $STATUS"
    expect attempts "$job_status"
    call logs GET "/ingestion/$id/jobs/1/logs?tail=10"
    echo "  GET /ingestion/{id}/jobs/1/logs $STATUS"
    expect logs "$job_status"
    call clear POST "/ingestion/$id/clear"
    echo "  POST /ingestion/{id}/clear $STATUS"
    expect clear "$clear_status"
    call clear-streams POST "/ingestion/$id/clear" '{"streams": ["users"]}'
    echo "  POST /ingestion/{id}/clear {streams} $STATUS"
    # The Config API's generated connection has no stream `users` (422), or its generated jobs
    # one that has not ended (409).
    expect clear-streams "$clear_status" 422
}

# Trying out and changing configurations (static answers): checks and a stream preview that
# create nothing, a stored source's streams, a merge-patch change with and without a check.
configure() {
    local source_id=$1 sink_id=$2
    call check-source POST /datasource/check "$(cat "$WORK/mysql_source.json")"
    echo "  POST /datasource/check $STATUS"
    expect check-source 200
    call check-sink POST /sink/check "$(cat "$WORK/s3_sink.json")"
    echo "  POST /sink/check $STATUS"
    expect check-sink 200
    call preview POST /datasource/streams "$(cat "$WORK/mysql_source.json")"
    echo "  POST /datasource/streams $STATUS"
    expect preview 200
    call streams GET "/datasource/$source_id/streams"
    echo "  GET /datasource/{id}/streams $STATUS"
    expect streams 200
    call change-source PATCH "/datasource/$source_id" '{"config": {"port": 3307, "password": null}}'
    echo "  PATCH /datasource/{id} $STATUS"
    expect change-source 200
    call change-sink PATCH "/sink/$sink_id?check=true" '{"name": "renamed"}'
    echo "  PATCH /sink/{id}?check=true $STATUS"
    expect change-sink 200
    call checked-source POST "/datasource?check=true" "$(cat "$WORK/mysql_source.json")"
    echo "  POST /datasource?check=true $STATUS"
    expect checked-source 201
}

static_scenario() {
    local scenario=$1 spec=$2 allowed_unrouted=$3 expected_calls=$4
    echo "== contract[$scenario]: $spec, static answers"
    start_prism "$scenario" "$spec"
    SERVICE_LOG="$WORK/service-$scenario.log"
    start_service "$SERVICE_LOG" "$PRISM_URL"
    drive_statically 404 409
    local calls
    wait_until_quiet "$PRISM_LOG" 10 || true
    calls=$(prism_calls)
    echo "  Airbyte calls: $calls"
    if [ "$calls" != "$expected_calls" ]; then
        fail "the service made other Airbyte calls than expected: $expected_calls"
    fi
    finish "$scenario" "$allowed_unrouted"
    echo "contract[$scenario]: passed"
}

# start_public SCENARIO PUBLIC_SPEC CONFIG_SPEC [PRISM FLAGS...]: a Prism of the public API
# document (prepared by public_mock.js) and one of the Config API document beside it, and the
# service speaking the public API to the first and asking the second for what it cannot do. Sets
# PRISM_* for the public Prism, COMPANION_* for the other, SERVICE_*.
start_public() {
    local scenario=$1 public_spec=$2 config_spec=$3
    shift 3
    local mock="$WORK/$scenario.${public_spec%.yaml}.mock.yaml"
    node tests/contract/public_mock.js "$SPEC_DIR/$public_spec" "$mock"
    # The Config API's document with the bearer token required and the public mock's job as its
    # job reads answer it (companion_mock.js says why).
    local companion="$WORK/$scenario.${config_spec%.yaml}.companion.yaml"
    node tests/contract/companion_mock.js "$SPEC_DIR/$config_spec" "$companion"
    PROBE_AUTH="Bearer self-check" start_prism_of "$scenario-config" "$companion" /v1 /sources/create "$@"
    COMPANION_PID=$PRISM_PID COMPANION_LOG=$PRISM_LOG COMPANION_FROM=$PRISM_FROM COMPANION_URL=$PRISM_URL
    start_prism_of "$scenario" "$mock" "" /sources "$@"
    SERVICE_LOG="$WORK/service-$scenario.log"
    # Client credentials: the token call (`POST /applications/token`) is validated too, and every
    # other call to either Prism then carries the token.
    start_service "$SERVICE_LOG" "$PRISM_URL" AIRBYTE_API=public AIRBYTE_CONFIG_API_URL="$COMPANION_URL" \
        AIRBYTE_CLIENT_ID=contract-client AIRBYTE_CLIENT_SECRET=contract-secret DEFINITIONS_TTL_SECS=3600
    grep -q "Airbyte's public API at $PRISM_URL (the Config API at $COMPANION_URL" "$SERVICE_LOG" ||
        fail "the start-up line does not say which APIs: $(grep 'listening on' "$SERVICE_LOG")"
}

# The public API with static answers: the same routes as the Config API's static scenarios, with
# the same statuses except the job routes: the mock's job belongs to the mock's connection, which
# is the ingestion created, so reading and cancelling it are 200 (the Config API's mock answers a
# job of no connection: 404).
public_static_scenario() {
    local scenario=$1 public_spec=$2 config_spec=$3 expected_calls=$4 expected_config_calls=$5
    echo "== contract[$scenario]: $public_spec beside $config_spec, static answers"
    start_public "$scenario" "$public_spec" "$config_spec"
    drive_statically 200 202
    local calls
    wait_until_quiet "$PRISM_LOG" 10 || true
    calls=$(prism_calls)
    echo "  public API calls: $calls"
    if [ "$calls" != "$expected_calls" ]; then
        fail "the service made other public API calls than expected: $expected_calls"
    fi
    # One token for the whole run: it is a JWT that expires in 2100.
    local tokens
    tokens=$(tail -n "+$PRISM_FROM" "$PRISM_LOG" | grep -c '\[HTTP SERVER\] post /applications/token .*Request received' || true)
    if [ "$tokens" != 1 ]; then
        fail "the service asked for $tokens tokens, not 1"
    fi
    calls=$(prism_calls "$COMPANION_LOG" "$COMPANION_FROM")
    echo "  Config API calls: $calls"
    if [ "$calls" != "$expected_config_calls" ]; then
        fail "the service made other Config API calls than expected: $expected_config_calls"
    fi
    finish "$scenario" '^$'
    echo "contract[$scenario]: passed"
}

# drive_statically JOB_STATUS CLEAR_STATUS: the static scenarios' requests and the statuses they
# must get.
drive_statically() {
    local job_status=$1 clear_status=$2
    call readyz GET /readyz
    echo "  GET /readyz $STATUS"
    expect readyz 200
    call source POST /datasource "$(cat "$WORK/mysql_source.json")"
    echo "  POST /datasource $STATUS"
    expect source 201
    call sink POST /sink "$(cat "$WORK/s3_sink.json")"
    echo "  POST /sink $STATUS"
    expect sink 201
    local source_id sink_id
    source_id=$(json_field "$WORK/source.json" id)
    sink_id=$(json_field "$WORK/sink.json" id)
    if [ -z "$source_id" ] || [ -z "$sink_id" ]; then
        fail "no ids to connect (source '$source_id', sink '$sink_id')"
    else
        call ingestion POST /ingestion "{\"sourceId\": \"$source_id\", \"sinkId\": \"$sink_id\", \"created\": \"2024-01-01T00:00:00Z\", \"updated\": \"2024-01-01T00:00:00Z\"}"
        echo "  POST /ingestion $STATUS"
        expect ingestion 201
        operate "$(json_field "$WORK/ingestion.json" id)" "$job_status" "$clear_status"
        configure "$source_id" "$sink_id"
    fi
}

# The ingestion routes against random answers: any status but a 5xx of the service's own.
operate_randomly() {
    local id=$1 tally=$2
    call sync POST "/ingestion/$id/sync"
    expect sync 200 202 404 409 422 502
    readable sync
    echo "POST /ingestion/{id}/sync $STATUS" >>"$tally"
    call jobs GET "/ingestion/$id/jobs?status=failed"
    expect jobs 200 404 502
    readable jobs
    echo "GET /ingestion/{id}/jobs $STATUS" >>"$tally"
    call patch PATCH "/ingestion/$id" '{"status": "active", "schedule": "0 0 2 * * ?"}'
    expect patch 200 404 422 502
    readable patch
    echo "PATCH /ingestion/{id} $STATUS" >>"$tally"
    call refresh POST "/ingestion/$id/refresh?apply=true"
    expect refresh 200 404 422 502
    readable refresh
    echo "POST /ingestion/{id}/refresh $STATUS" >>"$tally"
    call job GET "/ingestion/$id/jobs/1?wait=1"
    expect job 200 404 502
    readable job
    echo "GET /ingestion/{id}/jobs/1?wait=1 $STATUS" >>"$tally"
    call attempts GET "/ingestion/$id/jobs/1/attempts"
    expect attempts 200 404 501 502
    readable attempts
    echo "GET /ingestion/{id}/jobs/1/attempts $STATUS" >>"$tally"
    call logs GET "/ingestion/$id/jobs/1/logs"
    expect logs 200 404 501 502
    readable logs
    echo "GET /ingestion/{id}/jobs/1/logs $STATUS" >>"$tally"
    call clear POST "/ingestion/$id/clear"
    expect clear 200 202 404 409 422 502
    readable clear
    echo "POST /ingestion/{id}/clear $STATUS" >>"$tally"
}

# The configuration routes against random answers: any status but a 5xx of the service's own.
configure_randomly() {
    local source_id=$1 sink_id=$2 tally=$3
    call check POST /datasource/check "$(cat "$WORK/mysql_source.json")"
    expect check 200 422 502
    readable check
    echo "POST /datasource/check $STATUS" >>"$tally"
    call check POST "/sink?check=true" "$(cat "$WORK/s3_sink.json")"
    expect check 201 422 502
    readable check
    echo "POST /sink?check=true $STATUS" >>"$tally"
    call preview POST /datasource/streams "$(cat "$WORK/mysql_source.json")"
    expect preview 200 422 502
    readable preview
    echo "POST /datasource/streams $STATUS" >>"$tally"
    call streams GET "/datasource/$source_id/streams"
    expect streams 200 404 422 502
    readable streams
    echo "GET /datasource/{id}/streams $STATUS" >>"$tally"
    call change PATCH "/datasource/$source_id?check=true" '{"name": "renamed", "config": {"port": 3307}}'
    expect change 200 404 422 502
    readable change
    echo "PATCH /datasource/{id}?check=true $STATUS" >>"$tally"
    call change PATCH "/sink/$sink_id" '{"config": {"path_prefix": "v2/"}}'
    expect change 200 404 422 502
    readable change
    echo "PATCH /sink/{id} $STATUS" >>"$tally"
}

dynamic_scenario() {
    local scenario=$1 spec=$2 allowed_unrouted=$3
    echo "== contract[$scenario]: $spec, random answers (-d), $ROUNDS rounds"
    start_prism "$scenario" "$spec" -d
    SERVICE_LOG="$WORK/service-$scenario.log"
    # A long cache, so that a type suggested by one answer is still known to the next request.
    start_service "$SERVICE_LOG" "$PRISM_URL" DEFINITIONS_TTL_SECS=3600
    drive_randomly "$WORK/tally-$scenario"
    finish "$scenario" "$allowed_unrouted"
    echo "contract[$scenario]: passed"
}

# The public API, and the Config API beside it, with random answers.
public_dynamic_scenario() {
    local scenario=$1 public_spec=$2 config_spec=$3
    echo "== contract[$scenario]: $public_spec beside $config_spec, random answers (-d), $ROUNDS rounds"
    start_public "$scenario" "$public_spec" "$config_spec" -d
    drive_randomly "$WORK/tally-$scenario"
    finish "$scenario" '^$'
    echo "contract[$scenario]: passed"
}

# drive_randomly TALLY: CONTRACT_DYNAMIC_ROUNDS rounds of every route, each status counted in TALLY.
drive_randomly() {
    local tally=$1
    : >"$tally"
    local route body suggestion ids source_id sink_id
    for _ in $(seq 1 "$ROUNDS"); do
        call readyz GET /readyz
        expect readyz 200 503
        echo "GET /readyz $STATUS" >>"$tally"
        ids=()
        for route in datasource sink; do
            if [ "$route" = datasource ]; then body="$WORK/mysql_source.json"; else body="$WORK/s3_sink.json"; fi
            call "$route" POST "/$route" "$(cat "$body")"
            expect "$route" 201 422 502
            readable "$route"
            echo "POST /$route $STATUS" >>"$tally"
            suggestion=$(suggested_type "$WORK/$route.json")
            if [ "$STATUS" = 422 ] && [ -n "$suggestion" ]; then
                call "$route" POST "/$route" "$(with_type "$body" "$suggestion")"
                expect "$route" 201 422 502
                readable "$route"
                echo "POST /$route (a suggested type) $STATUS" >>"$tally"
            fi
            ids+=("$(json_field "$WORK/$route.json" id)")
        done
        source_id=${ids[0]:-$(python3 -c 'import uuid; print(uuid.uuid4())')}
        sink_id=${ids[1]:-$(python3 -c 'import uuid; print(uuid.uuid4())')}
        call ingestion POST /ingestion "{\"sourceId\": \"$source_id\", \"sinkId\": \"$sink_id\"}"
        expect ingestion 201 404 422 502
        readable ingestion
        echo "POST /ingestion $STATUS" >>"$tally"
        if [ "$STATUS" = 201 ]; then
            operate_randomly "$(json_field "$WORK/ingestion.json" id)" "$tally"
        fi
        configure_randomly "$source_id" "$sink_id" "$tally"
    done
    sort "$tally" | uniq -c | sed 's/^ */  /'
}

# The Airbyte calls of a static scenario, in the order they first appear. On a current Airbyte the
# service asks for /workspaces/list first and falls back on its 404.
CALLS="post /v1/source_definitions/list_for_workspace, post /v1/source_definition_specifications/get, post /v1/sources/create, post /v1/destination_definitions/list_for_workspace, post /v1/destination_definition_specifications/get, post /v1/destinations/create, post /v1/sources/discover_schema, post /v1/connections/create, post /v1/connections/get, post /v1/jobs/get_last_replication_job, post /v1/jobs/list, post /v1/connections/sync, post /v1/jobs/get_without_logs, post /v1/connections/update, post /v1/scheduler/sources/check_connection, post /v1/scheduler/destinations/check_connection, post /v1/scheduler/sources/discover_schema, post /v1/sources/get, post /v1/sources/update, post /v1/destinations/get, post /v1/destinations/check_connection_for_update, post /v1/destinations/update"
# The calls of a public static scenario: to the public API, and to the Config API beside it.
PUBLIC_CALLS="post /applications/token, get /health, get /workspaces, get /workspaces/{id}/definitions/sources, post /sources, get /workspaces/{id}/definitions/destinations, post /destinations, get /streams, post /connections, get /connections/{id}, get /jobs, post /jobs, get /jobs/{id}, delete /jobs/{id}, patch /connections/{id}, get /sources/{id}, put /sources/{id}, get /destinations/{id}, put /destinations/{id}"
BESIDE_CALLS="post /v1/source_definition_specifications/get, post /v1/destination_definition_specifications/get, post /v1/sources/discover_schema, post /v1/jobs/get_without_logs, post /v1/attempt/get_for_job, post /v1/connections/clear/stream, post /v1/scheduler/sources/check_connection, post /v1/scheduler/destinations/check_connection, post /v1/scheduler/sources/discover_schema, post /v1/destinations/check_connection_for_update"
for scenario in ${CONTRACT_SCENARIOS:-current v1.6.0 dynamic dynamic-v1.6.0 public public-v1.6.0 public-dynamic public-dynamic-v1.6.0}; do
    case $scenario in
    current)
        static_scenario current config.mock.yaml 'post /v1/workspaces/list ' \
            "get /v1/health, post /v1/workspaces/list, post /v1/workspaces/list_by_organization_id, $CALLS"
        ;;
    v1.6.0)
        static_scenario v1.6.0 config_v1.6.0.mock.yaml '^$' \
            "get /v1/health, post /v1/workspaces/list, $CALLS"
        ;;
    dynamic) dynamic_scenario dynamic config.mock.yaml 'post /v1/workspaces/list ' ;;
    dynamic-v1.6.0) dynamic_scenario dynamic-v1.6.0 config_v1.6.0.mock.yaml '^$' ;;
    public)
        public_static_scenario public public_api.yaml config.mock.yaml "$PUBLIC_CALLS" "$BESIDE_CALLS"
        ;;
    public-v1.6.0)
        public_static_scenario public-v1.6.0 public_api_v1.6.0.yaml config_v1.6.0.mock.yaml \
            "$PUBLIC_CALLS" "$BESIDE_CALLS"
        ;;
    public-dynamic) public_dynamic_scenario public-dynamic public_api.yaml config.mock.yaml ;;
    public-dynamic-v1.6.0)
        public_dynamic_scenario public-dynamic-v1.6.0 public_api_v1.6.0.yaml config_v1.6.0.mock.yaml
        ;;
    *)
        echo "error: unknown scenario '$scenario' (current, v1.6.0, dynamic, dynamic-v1.6.0, public, public-v1.6.0, public-dynamic, public-dynamic-v1.6.0)" >&2
        exit 2
        ;;
    esac
done
echo "contract: all scenarios passed"
