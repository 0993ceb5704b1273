#!/usr/bin/env bash
# Real container engines pull, run and push the busybox-static image through
# the runtime gateway of a `stowage dev` cluster started here (pushed there
# with skopeo; every pull by tag goes through the cluster's pull flow): podman
# (runc, ulimits 1024, no network: what this host allows) and containerd's
# ctr against a containerd started here with its own state. Each pushes the
# image back under a tag of its own, which reaches all three data managers.
# usage: test_engines.sh path/to/stowage   (as root)
source "$(dirname "$0")/run_lib.sh"
for tool in podman containerd ctr; do
  command -v "$tool" >/dev/null || fail "$tool is not installed (scripts/install-deps.sh)"
done

start_endpoint
build_busybox_image "$WORK/image"
push_layout "$WORK/image" test busybox:test
ok "image pushed through the gateway $ENDPOINT"
IMAGE="$ENDPOINT/busybox:test"
EXPECT="$(printf 'hello\nhello-from-config\n/srv/app\nhidden')"
PROBE='echo hello; echo "$GREETING"; pwd; if [ -e /etc/doomed ]; then echo present; else echo hidden; fi'

# --- podman: private storage, config written here ---------------------------
PD="$WORK/podman" # not P: that is the port base of cluster_lib.sh
mkdir -p "$PD/root" "$PD/runroot" "$PD/tmp"
cat >"$PD/containers.conf" <<CONF
[containers]
netns = "none"
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$PD/events.log"
tmp_dir = "$PD/tmp"
CONF
cat >"$PD/storage.conf" <<CONF
[storage]
driver = "vfs"
graphroot = "$PD/root"
runroot = "$PD/runroot"
CONF
: >"$PD/registries.conf"
export CONTAINERS_CONF="$PD/containers.conf" CONTAINERS_STORAGE_CONF="$PD/storage.conf" \
  CONTAINERS_REGISTRIES_CONF="$PD/registries.conf"
pod() { podman --root "$PD/root" --runroot "$PD/runroot" --storage-driver vfs "$@"; }
CLEANUP_HOOKS+=("pod rm -af >/dev/null 2>&1; pod rmi -af >/dev/null 2>&1")

tag_everywhere() { # REPO TAG: each data manager's own endpoint serves the tag, as the gateway resolves it
  local d dm
  d=$(curl -fsS -o /dev/null -D - -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
    "http://$ENDPOINT/v2/$1/manifests/$2" | tr -d '\r' | awk -F': ' 'tolower($1)=="docker-content-digest"{print $2}')
  [ -n "$d" ] || fail "the gateway does not resolve $1:$2"
  for dm in dm1 dm2 dm3; do wait_until 20 "$1:$2 on $dm" dm_has "$dm" "$1" "$2" "$d"; done
}

before=$(pull_decisions busybox:test)
pod pull --quiet --tls-verify=false "$IMAGE" >"$PD/pull.log" 2>&1 || { cat "$PD/pull.log" >&2; fail "podman pull"; }
after=$(pull_decisions busybox:test)
podman_pulled=$(date +%s.%N)
# podman asks for the manifest more than once; the gateway reuses a tag it
# resolved a moment ago, so that is one probe round and one decision.
((after == before + 1)) || fail "podman's pull logged $((after - before)) pull decisions, not 1"
ok "podman pull $IMAGE (the master logged one pull decision)"
out=$(pod run --rm --network none "$IMAGE" /bin/sh -c "$PROBE" 2>"$PD/run.err") ||
  { cat "$PD/run.err" >&2; fail "podman run"; }
[ "$out" = "$EXPECT" ] || { cat "$PD/run.err" >&2; fail "podman run printed '$out'"; }
ok "podman run prints the expected output (env, workdir, whiteout)"
out=$(pod run --rm --network none "$IMAGE" 2>>"$PD/run.err")
[ "$out" = default-cmd ] || fail "podman run (default Cmd) printed '$out'"
ok "podman run runs the image's Cmd"
pod tag "$IMAGE" "$ENDPOINT/busybox:by-podman"
pod push --quiet --tls-verify=false "$ENDPOINT/busybox:by-podman" >"$PD/push.log" 2>&1 ||
  { cat "$PD/push.log" >&2; fail "podman push"; }
tag_everywhere busybox by-podman
ok "podman push through the gateway (the tag on dm1, dm2 and dm3)"

# --- containerd + ctr: a containerd of our own ------------------------------
C="$WORK/containerd"
mkdir -p "$C/root" "$C/state"
cat >"$C/config.toml" <<CONF
version = 2
root = "$C/root"
state = "$C/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$C/containerd.sock"
[ttrpc]
  address = "$C/containerd.ttrpc.sock"
[debug]
  address = "$C/debug.sock"
[plugins."io.containerd.internal.v1.opt"]
  path = "$C/opt"
CONF
containerd --config "$C/config.toml" >"$C/containerd.log" 2>&1 &
CONTAINERD_PID=$!
CLEANUP_HOOKS+=('kill -TERM $CONTAINERD_PID 2>/dev/null; wait $CONTAINERD_PID 2>/dev/null; grep " $C/" /proc/mounts | cut -d" " -f2 | sort -r | xargs -r -n1 umount -l')
c() { ctr --address "$C/containerd.sock" --namespace stowage-test "$@"; }
for _ in $(seq 1 100); do
  c version >/dev/null 2>&1 && break
  kill -0 "$CONTAINERD_PID" 2>/dev/null || { cat "$C/containerd.log" >&2; fail "containerd exited"; }
  sleep 0.1
done
c version >/dev/null 2>&1 || { cat "$C/containerd.log" >&2; fail "containerd did not come up"; }
ok "containerd up on $C/containerd.sock"

# Past the gateway's tag reuse window (2 s), ctr's pull asks the cluster again.
sleep "$(awk -v t="$podman_pulled" -v now="$(date +%s.%N)" 'BEGIN {w = t + 2.2 - now; print (w > 0 ? w : 0)}')"
before=$(pull_decisions busybox:test)
c images pull --plain-http "$IMAGE" >"$C/pull.log" 2>&1 || { cat "$C/pull.log" >&2; fail "ctr images pull"; }
after=$(pull_decisions busybox:test)
((after > before)) || fail "ctr's pull logged no pull decision ($before before, $after after)"
ok "ctr images pull --plain-http $IMAGE (the master logged a pull decision)"
out=$(c run --rm "$IMAGE" "probe-$$" /bin/sh -c "$PROBE" 2>"$C/run.err") ||
  { cat "$C/run.err" "$C/containerd.log" >&2; fail "ctr run"; }
[ "$out" = "$EXPECT" ] || { cat "$C/run.err" >&2; fail "ctr run printed '$out'"; }
ok "ctr run prints the expected output (env, workdir, whiteout)"
set +e
c run --rm "$IMAGE" "exit-$$" /bin/sh -c 'exit 3' 2>>"$C/run.err"
rc=$?
set -e
[ "$rc" = 3 ] || fail "ctr run exit code $rc, want 3"
ok "ctr run passes the exit code"
c images tag "$IMAGE" "$ENDPOINT/busybox:by-ctr" >/dev/null
c images push --plain-http "$ENDPOINT/busybox:by-ctr" >"$C/push.log" 2>&1 || { cat "$C/push.log" >&2; fail "ctr images push"; }
tag_everywhere busybox by-ctr
ok "ctr images push through the gateway (the tag on dm1, dm2 and dm3)"
echo "PASS test_engines"
