#!/usr/bin/env bash
# A short push and pull through a running registry, with nothing downloaded:
# builds a one-layer image from Debian's static busybox, pushes it with skopeo,
# pulls it back and checks the manifest digest. With a master URL it also
# shows what the master recorded (replicas, placement decisions).
#   scripts/demo.sh HOST:PORT [MASTER_URL]
set -euo pipefail
registry=${1:?usage: scripts/demo.sh HOST:PORT [MASTER_URL]}
master=${2:-}
image=$registry/demo/busybox:1

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The image: /bin/busybox and /bin/sh, uncompressed tar layer, OCI layout.
layout=$work/layout
mkdir -p "$layout/blobs/sha256" "$work/rootfs/bin"
cp /bin/busybox "$work/rootfs/bin/busybox"
ln -s busybox "$work/rootfs/bin/sh"
tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$work/rootfs" -cf "$work/blob" .
put_blob() { # moves $work/blob into the layout; prints its hex digest
  local hex
  hex=$(sha256sum "$work/blob" | cut -d' ' -f1)
  mv "$work/blob" "$layout/blobs/sha256/$hex"
  echo "$hex"
}
size_of() { stat -c %s "$layout/blobs/sha256/$1"; }
layer=$(put_blob)
printf '{"architecture":"%s","os":"linux","config":{"Cmd":["/bin/sh"]},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' \
  "$(dpkg --print-architecture)" "$layer" >"$work/blob"
config=$(put_blob)
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:%s","size":%s}]}' \
  "$config" "$(size_of "$config")" "$layer" "$(size_of "$layer")" >"$work/blob"
manifest=$(put_blob)
printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"1"}}]}' \
  "$manifest" "$(size_of "$manifest")" >"$layout/index.json"
echo '{"imageLayoutVersion":"1.0.0"}' >"$layout/oci-layout"

copy() { skopeo --insecure-policy copy --quiet --preserve-digests --src-tls-verify=false --dest-tls-verify=false "$@"; }

echo "push  $image  (sha256:$manifest, $(size_of "$layer") bytes of layer)"
copy "oci:$layout:1" "docker://$image"
echo "pull  $image"
copy "docker://$image" "oci:$work/pulled:1"
pulled=$(jq -r '.manifests[0].digest' "$work/pulled/index.json")
if [ "$pulled" != "sha256:$manifest" ]; then
  echo "pulled manifest $pulled differs from the pushed sha256:$manifest" >&2
  exit 1
fi
echo "ok    the pulled image has the pushed digest"

if [ -n "$master" ]; then
  echo "--- $master/api/v1/images"
  curl -fsS "$master/api/v1/images" | jq -c '.[]'
  echo "--- $master/api/v1/decisions?limit=2"
  curl -fsS "$master/api/v1/decisions?limit=2" | jq -c '.[]'
fi
