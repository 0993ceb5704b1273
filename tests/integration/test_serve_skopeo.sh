#!/usr/bin/env bash
# Real clients against `stowage serve`: skopeo pushes an OCI layout (several
# layers of several MiB of random data), copies it back and the manifest
# digests match; podman pulls it into isolated storage.
STOWAGE=${1:?usage: $0 path/to/stowage}
source "$(dirname "$0")/serve_lib.sh"

PORT=$(free_port)
start_server "$WORK/data" "$PORT"
REG="127.0.0.1:$PORT"

cat >"$WORK/policy.json" <<'JSON'
{"default":[{"type":"insecureAcceptAnything"}]}
JSON
SKOPEO=(skopeo --policy "$WORK/policy.json")

digest=$(make_oci_layout "$WORK/src" v1 3 4)
echo "generated image $digest"

"${SKOPEO[@]}" copy --dest-tls-verify=false "oci:$WORK/src:v1" "docker://$REG/test/img:v1"

remote=$("${SKOPEO[@]}" inspect --raw --tls-verify=false "docker://$REG/test/img:v1" | sha256sum | cut -d' ' -f1)
[ "sha256:$remote" = "$digest" ] || fail "registry serves manifest sha256:$remote, pushed $digest"

"${SKOPEO[@]}" copy --src-tls-verify=false "docker://$REG/test/img:v1" "oci:$WORK/back:v1"
back=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["manifests"][0]["digest"])' "$WORK/back/index.json")
[ "$back" = "$digest" ] || fail "copied back $back, pushed $digest"
for f in "$WORK"/src/blobs/sha256/*; do
  cmp -s "$f" "$WORK/back/blobs/sha256/$(basename "$f")" || fail "blob $(basename "$f") differs after the round trip"
done
echo "ok: skopeo round trip, manifest $digest"

# Tags list through the API.
tags=$(curl -sf "http://$REG/v2/test/img/tags/list")
[ "$tags" = '{"name":"test/img","tags":["v1"]}' ] || fail "tags list: $tags"

# podman, isolated from the host's storage and network.
mkdir -p "$WORK/podman"
cat >"$WORK/podman/containers.conf" <<'CONF'
[containers]
netns = "none"
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
[engine]
runtime = "runc"
CONF
export CONTAINERS_CONF="$WORK/podman/containers.conf"
PODMAN=(podman --root "$WORK/podman/root" --runroot "$WORK/podman/runroot" --storage-driver vfs)
"${PODMAN[@]}" pull --tls-verify=false "$REG/test/img:v1"
pulled=$("${PODMAN[@]}" image inspect --format '{{.Digest}}' "$REG/test/img:v1")
[ "$pulled" = "$digest" ] || fail "podman pulled $pulled, pushed $digest"
"${PODMAN[@]}" rmi -a -f >/dev/null 2>&1 || true
echo "ok: podman pull $digest"

stop_server
echo PASS
