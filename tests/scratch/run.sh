#!/usr/bin/env bash
# make scratch-test: the static binary alone in an empty root, as in a `scratch` container.
#
# Copies the binary into an empty directory, runs it there under chroot as a non-root numeric user
# with an empty environment but for its settings, and completes /healthz and a /datasource round
# trip against the fake Airbyte reached as `localhost` (there is no /etc/hosts in the root); then
# the same over https, with the fake's CA in the root as AIRBYTE_CA_FILE.
# Needs root (for chroot), python3, and the static binary from `make static`.
#
# `run.sh ROOT` does the same in a root directory that already holds /airbyte-wrapper, as it is:
# make image-test (tests/scratch/image.sh) passes the image's mounted root filesystem.
set -euo pipefail
cd "$(dirname "$0")/../.."

binary=target/x86_64-unknown-linux-gnu/release/airbyte-wrapper
root=${1:-}
[ -n "$root" ] || [ -x "$binary" ] || { echo "no static binary at $binary: run make static" >&2; exit 1; }
if [ "$(id -u)" != 0 ]; then echo "scratch-test needs root for chroot" >&2; exit 1; fi

# Process bookkeeping, shared with the contract tests: every process is started in its own process
# group and the whole group is ended on exit (killing `cargo test` alone would leave the fake
# running).
source tests/contract/lib.sh

if [ -z "$root" ]; then
    root="$WORK/root"
    mkdir "$root"
    cp "$binary" "$root/airbyte-wrapper"
fi
[ -x "$root/airbyte-wrapper" ] || { echo "no /airbyte-wrapper in $root" >&2; exit 1; }
echo "root holds only: $(cd "$root" && find . -mindepth 1)"

# The fake Airbyte, outside the root, on loopback.
start_fake "$WORK/fake.log"
fake_port=${AIRBYTE_URL##*:}
fake_port=${fake_port%%/*}
service_port=$(free_port)

chroot=$(command -v chroot)
spawn "$WORK/service.err" env -i LISTEN_ADDR="127.0.0.1:$service_port" \
    AIRBYTE_BASE_URL="http://localhost:$fake_port/api/v1" RUST_LOG=info \
    "$chroot" --userspec=65532:65532 "$root" /airbyte-wrapper

python3 - "$service_port" "$WORK/service.err" <<'PY'
import json, sys, time, urllib.request, uuid

port, log = sys.argv[1], sys.argv[2]
base = f"http://127.0.0.1:{port}"

def call(method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())

deadline = time.time() + 10
while True:
    try:
        status, body = call("GET", "/healthz")
        break
    except OSError:
        if time.time() > deadline:
            sys.exit("the service in the scratch root did not answer /healthz:\n" + open(log).read())
        time.sleep(0.05)
assert status == 200 and body == {"status": "ok"}, (status, body)
print("GET /healthz ->", status, body)

status, body = call("POST", "/datasource", {
    "name": "mysql_source", "type": "mysql",
    "config": {"host": "localhost", "port": 3306, "database": "mysql_db", "username": "root", "password": "password"},
})
assert status == 201, (status, body, open(log).read())
uuid.UUID(body["id"])
assert body["config"]["password"] == "**********", body
print("POST /datasource ->", status, "id", body["id"])
PY

# One https case: the fake behind TLS, its certificate from a CA it makes at start; that CA's PEM is
# the one file in the root besides the binary (AIRBYTE_CA_FILE=/ca.pem). The web PKI roots are
# compiled in and do not know the CA; there is no system store to fall back on.
start_fake "$WORK/tls-fake.log" FAKE_AIRBYTE_TLS_CA="$WORK/ca.pem"
tls_fake_port=${AIRBYTE_URL#https://localhost:}
tls_fake_port=${tls_fake_port%%/*}
install -m 644 "$WORK/ca.pem" "$root/ca.pem"
echo "root holds only: $(cd "$root" && find . -mindepth 1 | sort | xargs)"
tls_service_port=$(free_port)
spawn "$WORK/tls-service.err" env -i LISTEN_ADDR="127.0.0.1:$tls_service_port" \
    AIRBYTE_BASE_URL="https://localhost:$tls_fake_port/api/v1" AIRBYTE_CA_FILE=/ca.pem RUST_LOG=info \
    "$chroot" --userspec=65532:65532 "$root" /airbyte-wrapper
wait_for_line "$WORK/tls-service.err" "$SPAWN_PID" 'listening on http://' 10 >/dev/null

python3 - "$tls_service_port" "$WORK/tls-service.err" <<'PY'
import json, sys, urllib.request

port, log = sys.argv[1], sys.argv[2]

def call(method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())

status, body = call("GET", "/readyz")
assert status == 200, (status, body, open(log).read())
status, body = call("POST", "/datasource", {
    "name": "mysql_source", "type": "mysql",
    "config": {"host": "localhost", "port": 3306, "database": "mysql_db", "username": "root", "password": "password"},
})
assert status == 201 and body["config"]["password"] == "**********", (status, body, open(log).read())
print("over https with AIRBYTE_CA_FILE: GET /readyz -> 200, POST /datasource ->", status, "id", body["id"])
PY
echo "scratch-test: ok (${1:-static binary alone in an empty root}, chroot, uid 65532, localhost without /etc/hosts, https with AIRBYTE_CA_FILE)"
