#!/usr/bin/env bash
# `stowage run`: a busybox-static image built here is pushed to the endpoint
# and run with runc. Output and exit code pass through, env and working
# directory come from the image config, a whiteout hides a lower file, the
# layer cache is shared, --rm cleans up, and hostile layers are refused with
# nothing written outside the rootfs.
# usage: test_run_container.sh path/to/stowage   (as root; ENDPOINT=HOST:PORT to use another registry)
source "$(dirname "$0")/run_lib.sh"

start_endpoint
build_busybox_image "$WORK/image"
push_layout "$WORK/image" test busybox:test
ok "image pushed to $ENDPOINT"

DATA="$WORK/run-data"
srun() { "$STOWAGE" run --runtime "$ENDPOINT" --data "$DATA" "$@"; }

out=$(srun --rm busybox:test -- /bin/echo hello)
[ "$out" = hello ] || fail "echo printed '$out'"
ok "stowage run … -- /bin/echo hello prints hello"

set +e
srun --rm busybox:test -- /bin/sh -c 'exit 7'
rc=$?
set -e
[ "$rc" = 7 ] || fail "exit code $rc, want 7"
ok "exit code 7 passes through"

out=$(srun --rm busybox:test -- /bin/sh -c 'echo "$GREETING"; pwd; cat marker')
[ "$out" = "$(printf 'hello-from-config\n/srv/app\nfrom layer 1')" ] || fail "env/workdir: '$out'"
ok "Env and WorkingDir from the image config apply"

out=$(srun --rm busybox:test -- /bin/sh -c 'if [ -e /etc/doomed ]; then echo present; else echo hidden; fi; cat /etc/added')
[ "$out" = "$(printf 'hidden\nfrom layer 2')" ] || fail "whiteout: '$out'"
ok "the whiteout in layer 2 hides /etc/doomed"

out=$(srun --rm busybox:test)
[ "$out" = default-cmd ] || fail "default Cmd printed '$out'"
ok "the image's Cmd runs when no command is given"

out=$(srun --rm busybox:test -- /bin/sh -c 'echo err >&2; echo out' 2>"$WORK/stderr")
[ "$out" = out ] && [ "$(cat "$WORK/stderr")" = err ] || fail "stdout '$out' stderr '$(cat "$WORK/stderr")'"
ok "stdout and stderr are the container's"

# The merged-copy rootfs (no overlay) gives the same view.
out=$(srun --rm --no-overlay busybox:test -- /bin/sh -c 'test -e /etc/doomed && echo present; cat /etc/added; echo "$GREETING"')
[ "$out" = "$(printf 'from layer 2\nhello-from-config')" ] || fail "copy rootfs: '$out'"
ok "the copied rootfs applies whiteouts too"

# Cache: two layers unpacked once, shared by every run; --rm left no bundle.
[ "$(ls "$DATA/layers/sha256" | wc -l)" = 2 ] || fail "layer cache: $(ls "$DATA/layers/sha256")"
[ -z "$(ls -A "$DATA/containers" 2>/dev/null)" ] || fail "--rm left bundles: $(ls "$DATA/containers")"
ok "layers cached by diff ID; --rm removed the bundles"

# Without --rm the bundle stays, with the container's writes, and no mount lingers.
srun busybox:test -- /bin/sh -c 'echo scribble > /root/note' >/dev/null
bundle=$(ls -d "$DATA"/containers/*)
[ -f "$bundle/config.json" ] || fail "bundle kept without config.json"
grep -q " $bundle/rootfs " /proc/mounts && fail "rootfs still mounted after the run"
grep -rq scribble "$bundle" || fail "the container's write is not in its bundle"
[ ! -e "$DATA/layers/sha256/"*/root/note ] || fail "the container wrote into the shared cache"
ok "without --rm the bundle is kept; the cache is untouched"

# A tampered digest reference is refused.
set +e
srun --rm "busybox@sha256:$(printf '0%.0s' {1..64})" -- /bin/true 2>"$WORK/stderr"
rc=$?
set -e
[ "$rc" = 125 ] || fail "unknown digest: exit $rc"
ok "an unknown manifest fails with 125: $(head -1 "$WORK/stderr")"

# Hostile layers: a '../' entry, and a write through a symlink to an absolute
# path outside. Each is refused; the marker directory stays empty.
OUTSIDE="$WORK/outside"
mkdir -p "$OUTSIDE"
hostile_image() { # NAME TARFILE
  local diff
  diff=$(sha "$2")
  gzip -n "$2"
  make_layout "$WORK/$1" evil \
    '{"architecture":"amd64","os":"linux","config":{"Cmd":["/bin/true"]},"rootfs":{"type":"layers","diff_ids":[@DIFF_IDS@]}}' \
    "$2.gz:application/vnd.oci.image.layer.v1.tar+gzip:$diff"
  push_layout "$WORK/$1" evil "$1:evil"
}
# 1. "../../…/$OUTSIDE/pwned-dotdot": enough ../ to reach / from anywhere,
#    so a layer that slipped through would land in $OUTSIDE. GNU tar keeps ../ with -P.
mkdir -p "$WORK/h1"
echo pwned >"$WORK/h1/f"
(cd "$WORK/h1" && tar -P --owner=0 --group=0 --transform "s|^f\$|../../../../../../../../../../../..$OUTSIDE/pwned-dotdot|" -cf "$WORK/h1.tar" f)
hostile_image dotdot "$WORK/h1.tar"
# 2. symlink "evil" -> $OUTSIDE, then "evil/pwned-symlink".
mkdir -p "$WORK/h2a" "$WORK/h2b/evil"
ln -s "$OUTSIDE" "$WORK/h2a/evil"
echo pwned >"$WORK/h2b/evil/pwned-symlink"
tar -C "$WORK/h2a" --owner=0 --group=0 -cf "$WORK/h2.tar" evil
tar -C "$WORK/h2b" --owner=0 --group=0 -rf "$WORK/h2.tar" evil/pwned-symlink
hostile_image symlink "$WORK/h2.tar"

for name in dotdot symlink; do
  set +e
  srun --rm "$name:evil" >"$WORK/stdout" 2>"$WORK/stderr"
  rc=$?
  set -e
  [ "$rc" = 125 ] || fail "hostile $name: exit $rc"
  grep -q "layer refused" "$WORK/stderr" || fail "hostile $name: stderr $(cat "$WORK/stderr")"
  [ "$(wc -l <"$WORK/stderr")" = 1 ] || fail "hostile $name: more than one error line"
  ok "hostile layer ($name) refused: $(cat "$WORK/stderr")"
done
[ -z "$(ls -A "$OUTSIDE")" ] || fail "written outside the rootfs: $(ls -A "$OUTSIDE")"
[ "$(ls "$DATA/layers/sha256" | wc -l)" = 2 ] || fail "a hostile layer entered the cache"
[ -z "$(ls -A "$DATA/tmp")" ] || fail "a refused layer left a temporary tree"
ok "nothing written outside the rootfs; the cache holds only the good layers"
echo "PASS test_run_container"
