# Shared by test_run_container.sh and test_engines.sh: a `stowage dev`
# cluster of our own (fresh --data under $WORK, a free --port-base), whose
# runtime gateway is the endpoint everything pulls from (ENDPOINT, HOST:PORT),
# and a tiny busybox-static image built here (no download) as an OCI layout,
# pushed with skopeo through that gateway.
set -euo pipefail

STOWAGE=${1:?usage: $0 path/to/stowage}
# cluster_lib.sh: WORK, fail, free_port, the port base P, GW, MASTER,
# start_dev, wait_until, pull_decisions, SKOPEO and the cleanup of the cluster.
source "$(dirname "${BASH_SOURCE[0]}")/cluster_lib.sh"
CLEANUP_HOOKS=()

# Ours runs first (engines, containers and their mounts live under $WORK and
# may use the cluster), then the cluster's: stop the nodes, remove $WORK.
eval "cluster_cleanup() $(declare -f cleanup | tail -n +2)"
cleanup() {
  set +e
  local hook
  for hook in "${CLEANUP_HOOKS[@]}"; do eval "$hook" || true; done
  # Overlay mounts of containers that a failed check left behind.
  grep " $WORK/" /proc/mounts | cut -d' ' -f2 | sort -r | while read -r m; do umount -l "$m" || true; done
  cluster_cleanup
}

ok() { echo "ok: $*"; }

[ "$(id -u)" -eq 0 ] || fail "needs root (runc, overlay mounts, owners in layers)"
for tool in runc skopeo busybox tar gzip zstd sha256sum curl jq python3; do
  command -v "$tool" >/dev/null || fail "$tool is not installed (scripts/install-deps.sh)"
done

# start_endpoint: the dev cluster (master, dm1..dm3, rt1) in one process;
# ENDPOINT is rt1's gateway.
CLUSTER_DATA="$WORK/cluster"
start_endpoint() {
  start_dev "$CLUSTER_DATA"
  ENDPOINT=$GW
  ok "stowage dev up on port base $P; gateway $ENDPOINT, master $MASTER"
}

sha() { sha256sum "$1" | cut -d' ' -f1; }
size() { stat -c %s "$1"; }

# add_blob LAYOUT FILE: moves FILE into the layout's blobs, prints its hex digest.
add_blob() {
  local layout=$1 file=$2 d
  d=$(sha "$file")
  mkdir -p "$layout/blobs/sha256"
  mv "$file" "$layout/blobs/sha256/$d"
  echo "$d"
}

# make_layout LAYOUT TAG CONFIG_JSON LAYER_FILE:MEDIA_TYPE:DIFF_ID…
# Writes config, manifest and index.json around layers already built.
make_layout() {
  local layout=$1 tag=$2 config_json=$3
  shift 3
  mkdir -p "$layout/blobs/sha256"
  echo '{"imageLayoutVersion":"1.0.0"}' >"$layout/oci-layout"
  local layers="" diff_ids="" spec file mt diff d
  for spec in "$@"; do
    IFS=: read -r file mt diff <<<"$spec"
    local sz
    sz=$(size "$file")
    d=$(add_blob "$layout" "$file")
    layers+="${layers:+,}{\"mediaType\":\"$mt\",\"digest\":\"sha256:$d\",\"size\":$sz}"
    diff_ids+="${diff_ids:+,}\"sha256:$diff\""
  done
  printf '%s' "${config_json/@DIFF_IDS@/$diff_ids}" >"$WORK/config.json"
  local csz cd
  csz=$(size "$WORK/config.json")
  cd=$(add_blob "$layout" "$WORK/config.json")
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[%s]}' \
    "$cd" "$csz" "$layers" >"$WORK/manifest.json"
  local msz md
  msz=$(size "$WORK/manifest.json")
  md=$(add_blob "$layout" "$WORK/manifest.json")
  printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"%s"}}]}' \
    "$md" "$msz" "$tag" >"$layout/index.json"
}

# tar_dir DIR OUT: a reproducible tar of DIR's contents, owned by root.
tar_dir() {
  tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@1700000000 -C "$1" -cf "$2" .
}

# build_busybox_image LAYOUT: layer 1 (gzip) holds busybox-static and its
# applet links, /etc/doomed and the working directory; layer 2 (zstd) whites
# out /etc/doomed and adds /etc/added.
# An optional USER goes into the config's User (default: none, i.e. root).
build_busybox_image() {
  local layout=$1 user=${2:-} s1="$WORK/l1" s2="$WORK/l2"
  rm -rf "$s1" "$s2"
  mkdir -p "$s1/bin" "$s1/etc" "$s1/tmp" "$s1/srv/app" "$s1/root"
  cp "$(readlink -f /bin/busybox)" "$s1/bin/busybox"
  local applet
  for applet in sh echo cat ls pwd env test true false id sleep; do ln -s /bin/busybox "$s1/bin/$applet"; done
  chmod 1777 "$s1/tmp"
  printf 'root:x:0:0:root:/root:/bin/sh\nwww:x:33:34:www:/srv:/bin/sh\n' >"$s1/etc/passwd"
  printf 'root:x:0:\nstaff:x:50:\n' >"$s1/etc/group"
  echo "this file is whited out by layer 2" >"$s1/etc/doomed"
  echo "from layer 1" >"$s1/srv/app/marker"
  tar_dir "$s1" "$WORK/l1.tar"
  local diff1
  diff1=$(sha "$WORK/l1.tar")
  gzip -n "$WORK/l1.tar"

  mkdir -p "$s2/etc"
  : >"$s2/etc/.wh.doomed"
  echo "from layer 2" >"$s2/etc/added"
  tar_dir "$s2" "$WORK/l2.tar"
  local diff2
  diff2=$(sha "$WORK/l2.tar")
  zstd -q --rm "$WORK/l2.tar"

  make_layout "$layout" test \
    '{"architecture":"amd64","os":"linux","config":{'"${user:+\"User\":\"$user\",}"'"Env":["PATH=/bin","GREETING=hello-from-config"],"WorkingDir":"/srv/app","Cmd":["/bin/echo","default-cmd"]},"rootfs":{"type":"layers","diff_ids":[@DIFF_IDS@]}}' \
    "$WORK/l1.tar.gz:application/vnd.oci.image.layer.v1.tar+gzip:$diff1" \
    "$WORK/l2.tar.zst:application/vnd.oci.image.layer.v1.tar+zstd:$diff2"
}

# push_layout LAYOUT TAG REPO:TAG: skopeo copy through the gateway over plain
# HTTP (the runtime runs the push flow; 201 only once the image is durable).
push_layout() {
  "${SKOPEO[@]}" copy --quiet --dest-tls-verify=false "oci:$1:$2" "docker://$ENDPOINT/$3" >"$WORK/skopeo.log" 2>&1 ||
    { cat "$WORK/skopeo.log" >&2; fail "skopeo copy to $ENDPOINT/$3"; }
}
