#!/usr/bin/env bash
# `stowage run`: a busybox-static image built here is pushed with skopeo
# through the runtime gateway of a `stowage dev` cluster started here, and run
# with runc; the pull goes through the cluster (the master logs a pull
# decision for it). Output and exit code pass through, env and working
# directory come from the image config, a whiteout hides a lower file, the
# layer cache is shared, --rm cleans up, and hostile layers are refused with
# nothing written outside the rootfs.
# usage: test_run_container.sh path/to/stowage   (as root)
source "$(dirname "$0")/run_lib.sh"

start_endpoint
build_busybox_image "$WORK/image"
push_layout "$WORK/image" test busybox:test
ok "image pushed through the gateway $ENDPOINT"

DATA="$WORK/run-data"
srun() { "$STOWAGE" run --runtime "$ENDPOINT" --data "$DATA" "$@"; }

before=$(pull_decisions busybox:test)
out=$(srun --rm busybox:test -- /bin/echo hello)
[ "$out" = hello ] || fail "echo printed '$out'"
ok "stowage run … -- /bin/echo hello prints hello"
after=$(pull_decisions busybox:test)
((after > before)) || fail "no pull decision logged for the run of busybox:test ($before before, $after after)"
curl -fsS "$MASTER/api/v1/decisions?limit=100" |
  jq -e '[.[] | select(.kind == "pull" and .reference == "busybox:test")][0]
         | .chosen != "" and (.candidates | length) >= 1' >/dev/null ||
  fail "the pull decision names no target: $(curl -fsS "$MASTER/api/v1/decisions?limit=1")"
ok "the master logged a pull decision for it: $(curl -fsS "$MASTER/api/v1/decisions?limit=100" |
  jq -c '[.[] | select(.kind == "pull" and .reference == "busybox:test")][0] | {kind, reference, chosen, candidates: [.candidates[].node]}')"

# Without --runtime the endpoint is the dev cluster's gateway, 127.0.0.1:5000
# (stowage dev's default port base): with nothing there the run fails cleanly.
if ! curl -s -o /dev/null --max-time 2 http://127.0.0.1:5000/v2/; then
  set +e
  "$STOWAGE" run --data "$DATA" --rm busybox:test -- /bin/true 2>"$WORK/stderr"
  rc=$?
  set -e
  [ "$rc" = 125 ] && grep -q "127.0.0.1:5000" "$WORK/stderr" || fail "default --runtime: exit $rc, $(cat "$WORK/stderr")"
  ok "the default --runtime is 127.0.0.1:5000: $(head -1 "$WORK/stderr")"
else
  echo "skip: 127.0.0.1:5000 answers here, so the default --runtime is not checked"
fi

set +e
srun --rm busybox:test -- /bin/sh -c 'exit 7'
rc=$?
set -e
[ "$rc" = 7 ] || fail "exit code $rc, want 7"
ok "exit code 7 passes through"

# A command the image lacks, or a file that is not executable: a shell's
# 127 and 126 (runc alone exits 1 for both, like a container exiting 1).
set +e
srun --rm busybox:test -- /nonexistent 2>"$WORK/stderr"
rc=$?
srun --rm busybox:test -- /etc/added 2>"$WORK/stderr2"
rc2=$?
set -e
[ "$rc" = 127 ] && grep -q "no such file in the image" "$WORK/stderr" || fail "missing command: exit $rc, $(cat "$WORK/stderr")"
[ "$rc2" = 126 ] && grep -q "not an executable file" "$WORK/stderr2" || fail "not executable: exit $rc2, $(cat "$WORK/stderr2")"
ok "a missing command exits 127, a file that is not executable 126: $(head -1 "$WORK/stderr")"

# A SIGTERM sent to stowage run (kill, timeout, a supervisor) reaches the
# container, whose exit code is then the command's.
"$STOWAGE" run --runtime "$ENDPOINT" --data "$DATA" --rm busybox:test -- \
  /bin/sh -c 'trap "exit 9" TERM; echo ready; while true; do sleep 0.1; done' >"$WORK/term.out" 2>&1 &
run_pid=$! # stowage's own pid (a shell function would run in a subshell)
for ((i = 0; i < 100; i++)); do grep -q ready "$WORK/term.out" && break; sleep 0.1; done
grep -q ready "$WORK/term.out" || fail "the trapping container did not start: $(cat "$WORK/term.out")"
kill -TERM "$run_pid"
for ((i = 0; i < 100; i++)); do kill -0 "$run_pid" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$run_pid" 2>/dev/null; then
  kill -KILL "$run_pid" 2>/dev/null
  for id in $(runc --root "$DATA/runc-state" list -q 2>/dev/null); do
    runc --root "$DATA/runc-state" delete --force "$id" || true
  done
  fail "stowage run still running 10 s after SIGTERM"
fi
set +e
wait "$run_pid"
rc=$?
set -e
[ "$rc" = 9 ] || fail "after SIGTERM: exit code $rc, want the container's 9"
ok "SIGTERM to stowage run reaches the container (its trap exited 9)"

# A registry in the reference and another --runtime: refused, not guessed.
set +e
srun --rm 127.0.0.1:1/busybox:test -- /bin/true 2>"$WORK/stderr"
rc=$?
set -e
[ "$rc" = 125 ] && grep -q "give one of the two" "$WORK/stderr" || fail "registry and --runtime: exit $rc, $(cat "$WORK/stderr")"
ok "a reference naming another registry than --runtime is refused: $(head -1 "$WORK/stderr")"
srun --rm "localhost:${ENDPOINT##*:}/busybox:test" -- /bin/true || fail "localhost:PORT and 127.0.0.1:PORT taken for two registries"
ok "a reference naming the --runtime endpoint as localhost runs"

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
[ "$(stat -c %a "$DATA")" = 700 ] || fail "the run directory is open to others: $(stat -c %a "$DATA")"
mkdir -m 755 "$WORK/open-run"
if "$STOWAGE" run --runtime "$ENDPOINT" --data "$WORK/open-run" --rm busybox:test -- /bin/true 2>"$WORK/stderr"; then
  fail "stowage run used a run directory others can reach"
fi
grep -q "no one else can reach" "$WORK/stderr" || fail "no clear refusal: $(cat "$WORK/stderr")"
[ "$(stat -c %a "$WORK/open-run")" = 755 ] || fail "stowage run changed the mode of a directory it did not create"
ok "layers cached by diff ID; --rm removed the bundles; only root reaches them"

# Without --rm the bundle stays, with the container's writes, and no mount lingers.
srun busybox:test -- /bin/sh -c 'echo scribble > /root/note' >/dev/null
bundle=$(ls -d "$DATA"/containers/*)
[ -f "$bundle/config.json" ] || fail "bundle kept without config.json"
grep -q " $bundle/rootfs " /proc/mounts && fail "rootfs still mounted after the run"
grep -rq scribble "$bundle" || fail "the container's write is not in its bundle"
[ ! -e "$DATA/layers/sha256/"*/root/note ] || fail "the container wrote into the shared cache"
ok "without --rm the bundle is kept; the cache is untouched"

# User from the image config: numeric, and names from the image's /etc/passwd and /etc/group.
build_busybox_image "$WORK/image-user" www:staff
push_layout "$WORK/image-user" test busybox:user
out=$(srun --rm busybox:user -- /bin/sh -c 'echo $(id -u):$(id -g)')
[ "$out" = "33:50" ] || fail "User www:staff ran as '$out'"
ok "User from the image config applies (www:staff -> 33:50)"

# With a cluster file (the one `stowage dev --print-config` writes for this
# cluster), the runtime node gives the endpoint and the data directory.
write_cluster_file "$CLUSTER_DATA" "$WORK/cluster.toml"
rt1_data=$(awk '/^name = "rt1"/{f=1} f && /^data = /{gsub(/^data = "|"$/, ""); print; exit}' "$WORK/cluster.toml")
[ -n "$rt1_data" ] || fail "no rt1 data line in the cluster file"
out=$("$STOWAGE" run --config "$WORK/cluster.toml" --rm busybox:test -- /bin/echo via-cluster-file) ||
  fail "stowage run --config failed"
[ "$out" = via-cluster-file ] || fail "--config run printed '$out'"
[ "$(ls "$rt1_data/run/layers/sha256" | wc -l)" = 2 ] || fail "--config did not use the runtime node's data dir"
ok "--config takes the runtime node's endpoint and data directory"

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

# A layer whose tar does not hash to the config's diff ID is refused.
mkdir -p "$WORK/lie/etc"
echo lie >"$WORK/lie/etc/lie"
tar_dir "$WORK/lie" "$WORK/lie.tar"
gzip -n "$WORK/lie.tar"
make_layout "$WORK/liar" liar \
  '{"architecture":"amd64","os":"linux","config":{"Cmd":["/bin/true"]},"rootfs":{"type":"layers","diff_ids":[@DIFF_IDS@]}}' \
  "$WORK/lie.tar.gz:application/vnd.oci.image.layer.v1.tar+gzip:$(printf 'e%.0s' {1..64})"
push_layout "$WORK/liar" liar liar:test
set +e
srun --rm liar:test 2>"$WORK/stderr"
rc=$?
set -e
[ "$rc" = 125 ] && grep -q "hashes to" "$WORK/stderr" || fail "diff ID mismatch: exit $rc, $(cat "$WORK/stderr")"
[ "$(ls "$DATA/layers/sha256" | wc -l)" = 2 ] || fail "a layer with a wrong diff ID entered the cache"
ok "a layer that does not match its diff ID is refused: $(cat "$WORK/stderr")"

# A registry that serves other bytes than the digest it names is caught.
LIAR_PORT=$(free_port)
cat >"$WORK/liar.py" <<'PY'
import hashlib, http.server, json, sys
config = b'{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'
wanted = "sha256:" + hashlib.sha256(config).hexdigest()
manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": wanted, "size": len(config)},
    "layers": []}).encode()
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if "/manifests/" in self.path:
            body, ct = manifest, "application/vnd.oci.image.manifest.v1+json"
        elif "/toolong/" in self.path:
            body, ct = config + b" " * 100000, "application/octet-stream"
        else:
            body, ct = config.replace(b"amd64", b"arm64"), "application/octet-stream"
        self.send_response(200)
        self.send_header("Content-Type", ct)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a): pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
PY
python3 "$WORK/liar.py" "$LIAR_PORT" &
LIAR_PID=$!
CLEANUP_HOOKS+=('kill $LIAR_PID 2>/dev/null')
for _ in $(seq 1 50); do curl -s -o /dev/null "http://127.0.0.1:$LIAR_PORT/v2/" && break; sleep 0.1; done
set +e
"$STOWAGE" run --runtime "127.0.0.1:$LIAR_PORT" --data "$DATA" --rm tricky:test 2>"$WORK/stderr"
rc=$?
set -e
[ "$rc" = 125 ] && grep -q "arrived with digest" "$WORK/stderr" || fail "digest mismatch: exit $rc, $(cat "$WORK/stderr")"
ls "$DATA/blobs" | grep -q . && fail "a blob that failed verification was kept: $(ls "$DATA/blobs")"
ok "a blob that does not match its digest is refused: $(cat "$WORK/stderr")"
set +e
"$STOWAGE" run --runtime "127.0.0.1:$LIAR_PORT" --data "$DATA" --rm toolong:test 2>"$WORK/stderr"
rc=$?
set -e
[ "$rc" = 125 ] && grep -q "its descriptor says" "$WORK/stderr" || fail "oversized blob: exit $rc, $(cat "$WORK/stderr")"
ok "a blob longer than its descriptor is refused: $(cat "$WORK/stderr")"

# runc missing: stowage says so (125), rather than passing off 127 as the container's.
set +e
srun --runc /nonexistent/runc busybox:test -- /bin/true 2>"$WORK/stderr"
rc=$?
set -e
[ "$rc" = 125 ] && grep -q "cannot run /nonexistent/runc" "$WORK/stderr" || fail "missing runc: exit $rc, $(cat "$WORK/stderr")"
ok "a missing runc is reported: $(cat "$WORK/stderr")"
[ "$(ls "$DATA/containers" | wc -l)" = 1 ] || fail "a container that never started left its bundle"
grep -q " $DATA/" /proc/mounts && fail "a rootfs is still mounted"
ok "a container that never started leaves no bundle and no mount"

# A run killed while its container starts (here: a runc that hangs) leaves its
# mount and bundle behind until the next run sweeps them.
mounts_under() { grep -c " $1/[^ ]*/rootfs " /proc/mounts || true; }
bundles_before=$(ls "$DATA/containers")
printf '#!/bin/sh\nexec sleep 120\n' >"$WORK/hanging-runc"
chmod +x "$WORK/hanging-runc"
setsid "$STOWAGE" run --runtime "$ENDPOINT" --data "$DATA" --runc "$WORK/hanging-runc" --rm busybox:test \
  -- /bin/true </dev/null >/dev/null 2>&1 &
killed=$!
for _ in $(seq 1 100); do [ "$(mounts_under "$DATA/containers")" -ge 1 ] && break; sleep 0.1; done
[ "$(mounts_under "$DATA/containers")" = 1 ] || fail "the hanging run mounted no rootfs"
kill -9 -- "-$killed" # stowage run and its runc
wait "$killed" 2>/dev/null || true
abandoned=$(comm -13 <(echo "$bundles_before") <(ls "$DATA/containers"))
[ -n "$abandoned" ] || fail "the killed run left no bundle to sweep"
srun --rm busybox:test -- /bin/true
[ "$(mounts_under "$DATA/containers")" = 0 ] || fail "the killed run's rootfs is still mounted: $(grep " $DATA/" /proc/mounts)"
[ ! -e "$DATA/containers/$abandoned" ] || fail "the killed --rm run's bundle $abandoned is still there"
ok "a run killed while starting: the next run released its mount and removed its bundle"

# A container outlives its killed `stowage run` under runc, which holds the
# claim: its rootfs stays until it ends; then the next run releases the
# mount and keeps the bundle (no --rm).
bundles_before=$(ls "$DATA/containers")
setsid "$STOWAGE" run --runtime "$ENDPOINT" --data "$DATA" busybox:test -- /bin/sleep 120 </dev/null >/dev/null 2>&1 &
killed=$!
for _ in $(seq 1 100); do
  runc --root "$DATA/runc-state" list -q 2>/dev/null | grep -q . && break
  sleep 0.1
done
running=$(runc --root "$DATA/runc-state" list -q)
[ -n "$running" ] || fail "the sleeping container did not start"
kill -9 "$killed"
wait "$killed" 2>/dev/null || true
srun --rm busybox:test -- /bin/true
grep -q " $DATA/containers/$running/rootfs " /proc/mounts || fail "a running container's rootfs was released"
ok "a container still run by runc after its stowage run was killed keeps its rootfs"
runc_pid=$(pgrep -f -- " run --bundle [^ ]*/$running $running\$") || fail "no runc process runs $running"
runc --root "$DATA/runc-state" kill "$running" KILL
# runc forgets the container before it exits; the claim goes with the process.
for _ in $(seq 1 100); do kill -0 "$runc_pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$runc_pid" 2>/dev/null && fail "runc did not exit after its container was killed"
srun --rm busybox:test -- /bin/true
grep -q " $DATA/containers/$running/rootfs " /proc/mounts && fail "the ended container's rootfs is still mounted"
[ -f "$DATA/containers/$running/config.json" ] || fail "the ended container's bundle went, without --rm"
ok "once it ended, the next run released its mount and kept its bundle"

echo "PASS test_run_container"
