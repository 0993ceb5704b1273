#!/usr/bin/env bash
# Real clients against `stowage serve`: skopeo pushes an OCI layout (several
# layers of several MiB of random data), copies it back and the manifest
# digests match; podman pulls it into isolated storage; containerd's ctr
# (containerd started by hand on private directories) pulls it and pushes it
# under another name.
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

# containerd's ctr, against a containerd of our own.
C="$WORK/containerd"
mkdir -p "$C"
cat >"$C/config.toml" <<CONF
version = 2
root = "$C/root"
state = "$C/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$C/sock"
[ttrpc]
  address = "$C/sock.ttrpc"
CONF
containerd --config "$C/config.toml" >"$C/log" 2>&1 &
CONTAINERD_PID=$!
trap 'kill $CONTAINERD_PID 2>/dev/null; wait $CONTAINERD_PID 2>/dev/null; cleanup' EXIT
for _ in $(seq 1 100); do [ -S "$C/sock" ] && break; sleep 0.1; done
CTR=(ctr --address "$C/sock" -n stowage-test)
"${CTR[@]}" images pull --plain-http "$REG/test/img:v1" >/dev/null
ctr_digest=$("${CTR[@]}" images ls | awk -v r="$REG/test/img:v1" '$1 == r { print $3 }')
[ "$ctr_digest" = "$digest" ] || fail "ctr pulled $ctr_digest, pushed $digest"
"${CTR[@]}" images tag "$REG/test/img:v1" "$REG/test/ctr-pushed:v2" >/dev/null
"${CTR[@]}" images push --plain-http "$REG/test/ctr-pushed:v2" >/dev/null
pushed=$(curl -sfI "http://$REG/v2/test/ctr-pushed/manifests/v2" | grep -i '^Docker-Content-Digest:' | cut -d' ' -f2 | tr -d '\r')
[ "$pushed" = "$digest" ] || fail "ctr pushed $pushed, want $digest"
echo "ok: ctr pull and push $digest"

stop_server
echo PASS
