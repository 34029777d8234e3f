#!/usr/bin/env bash
# make scratch-test: the static binary alone in an empty root, as in a `scratch` container.
#
# Copies the binary into an empty directory, runs it there under chroot as a non-root numeric user
# with an empty environment but for its settings, and completes /healthz and a /datasource round
# trip against the fake Airbyte reached as `localhost` (there is no /etc/hosts in the root).
# Needs root (for chroot), python3, and the static binary from `make static`.
set -euo pipefail
cd "$(dirname "$0")/../.."

binary=target/x86_64-unknown-linux-gnu/release/airbyte-wrapper
[ -x "$binary" ] || { echo "no static binary at $binary: run make static" >&2; exit 1; }
if [ "$(id -u)" != 0 ]; then echo "scratch-test needs root for chroot" >&2; exit 1; fi

work=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

root="$work/root"
mkdir "$root"
cp "$binary" "$root/airbyte-wrapper"
echo "root holds only: $(cd "$root" && find . -mindepth 1)"

# The fake Airbyte, outside the root, on loopback.
cargo build --locked --quiet --tests
cargo test --locked --quiet --test serve_fake > "$work/fake.out" 2>"$work/fake.err" &
pids+=($!)
fake_url=""
for _ in $(seq 1 600); do
    fake_url=$(sed -n 's/^fake Airbyte at //p' "$work/fake.out")
    [ -n "$fake_url" ] && break
    sleep 0.1
done
[ -n "$fake_url" ] || { cat "$work/fake.err" >&2; echo "the fake Airbyte did not start" >&2; exit 1; }
fake_port=${fake_url##*:}
fake_port=${fake_port%%/*}
service_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

chroot=$(command -v chroot)
env -i LISTEN_ADDR="127.0.0.1:$service_port" AIRBYTE_BASE_URL="http://localhost:$fake_port/api/v1" RUST_LOG=info \
    "$chroot" --userspec=65532:65532 "$root" /airbyte-wrapper 2> "$work/service.err" &
pids+=($!)

python3 - "$service_port" "$work/service.err" <<'PY'
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
echo "scratch-test: ok (static binary alone, chroot, uid 65532, localhost without /etc/hosts)"
