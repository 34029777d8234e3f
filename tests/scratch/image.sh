#!/usr/bin/env bash
# make image-test: the image `make image` built, checked and run without a container runtime.
#
# Checks the image's configuration (`buildah inspect`) against what the Dockerfile promises: user
# 65532:65532, entrypoint /airbyte-wrapper, port 8080, LISTEN_ADDR=0.0.0.0:8080 and the default
# PATH alone, no command. Then mounts a container's root filesystem, requires it to hold
# /airbyte-wrapper alone (no shell, no libc), and hands it to tests/scratch/run.sh, which runs it
# there under chroot as uid 65532 and completes /healthz and a create against the fake Airbyte.
# Needs root, python3, and, from make: BUILDAH (the buildah command with the image store's flags)
# and IMAGE (the image's name).
set -euo pipefail
cd "$(dirname "$0")/../.."

: "${BUILDAH:?run through make image-test, which sets BUILDAH}" "${IMAGE:?and IMAGE}"
if [ "$(id -u)" != 0 ]; then echo "image-test needs root for buildah mount and chroot" >&2; exit 1; fi
read -ra buildah <<<"$BUILDAH"

"${buildah[@]}" inspect --type image "$IMAGE" | python3 -c '
import json, sys
config = json.load(sys.stdin)["OCIv1"]["config"]
promised = {
    "User": "65532:65532",
    "Entrypoint": ["/airbyte-wrapper"],
    "Cmd": None,
    "ExposedPorts": {"8080/tcp": {}},
    # PATH: the default that buildah and Docker both set when the base image has none.
    "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LISTEN_ADDR=0.0.0.0:8080"],
}
wrong = {key: config.get(key) for key, value in promised.items() if config.get(key) != value}
if wrong:
    sys.exit(f"the image config differs from the Dockerfile: {wrong}")
for key in promised:
    print(f"image {key}: {json.dumps(config.get(key))}")
'

container=$("${buildah[@]}" from --pull=never --quiet "$IMAGE")
trap '"${buildah[@]}" umount "$container" >/dev/null; "${buildah[@]}" rm "$container" >/dev/null' EXIT
root=$("${buildah[@]}" mount "$container")

echo "image root filesystem:"
(cd "$root" && find . -mindepth 1 -printf '  %M %U:%G %10s %P\n')
files=$(cd "$root" && find . -mindepth 1 -printf '%P\n')
[ "$files" = airbyte-wrapper ] || { echo "error: the image must hold /airbyte-wrapper alone" >&2; exit 1; }

bash tests/scratch/run.sh "$root"
echo "image-test: ok ($IMAGE: config as promised, the binary alone, served under chroot as uid 65532)"
