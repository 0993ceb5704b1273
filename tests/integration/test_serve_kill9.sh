#!/usr/bin/env bash
# kill -9 in the middle of a large streamed upload: after a restart on the same
# directory the half-uploaded blob does not exist, an image pushed before is
# intact, and pushes still work.
STOWAGE=${1:?usage: $0 path/to/stowage}
source "$(dirname "$0")/serve_lib.sh"

PORT=$(free_port)
DATA="$WORK/data"
start_server "$DATA" "$PORT"
B="http://127.0.0.1:$PORT"

# An image pushed before the crash.
make_oci_layout "$WORK/img" v1 1 2 >"$WORK/img.digest"
img=$(cat "$WORK/img.digest")
for f in "$WORK"/img/blobs/sha256/*; do
  d="sha256:$(basename "$f")"
  [ "$d" = "$img" ] && continue
  push_blob "$B" keep/img "$f" >/dev/null
done
expect 201 - PUT "$B/v2/keep/img/manifests/v1" -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' \
  --data-binary "@$WORK/img/blobs/sha256/${img#sha256:}"

# 512 MiB of random data streamed with a rate limit, so it is mid-way when the server dies.
# The digest is of the whole stream, which the server never sees complete.
SIZE_MIB=512
head -c $((SIZE_MIB * 1024 * 1024)) /dev/urandom >"$WORK/big.bin"
big="sha256:$(sha256 "$WORK/big.bin")"
curl -s -o /dev/null --limit-rate 40M -X POST -H 'Content-Type: application/octet-stream' \
  -T "$WORK/big.bin" "$B/v2/crash/blobs/uploads?digest=$big" &
CURL_PID=$!
sleep 3
kill -0 "$CURL_PID" 2>/dev/null || fail "upload finished before the kill; raise SIZE_MIB"
kill -9 "$SERVER_PID"
wait "$SERVER_PID" 2>/dev/null || true
SERVER_PID=""
wait "$CURL_PID" 2>/dev/null || true
echo "ok: killed mid-upload"

start_server "$DATA" "$PORT"
expect 404 - HEAD "$B/v2/crash/blobs/$big"
got=$(curl -sf "$B/v2/keep/img/manifests/v1" | sha256sum | cut -d' ' -f1)
[ "sha256:$got" = "$img" ] || fail "manifest after restart: sha256:$got, want $img"
for f in "$WORK"/img/blobs/sha256/*; do
  d="sha256:$(basename "$f")"
  [ "$d" = "$img" ] && continue
  curl -sf "$B/v2/keep/img/blobs/$d" -o "$WORK/check"
  cmp -s "$WORK/check" "$f" || fail "blob $d differs after restart"
done
echo "ok: earlier image intact"

# Pushes still work, including the same big blob.
printf 'after the crash' >"$WORK/small"
d=$(push_blob "$B" crash "$WORK/small")
expect 200 - GET "$B/v2/crash/blobs/$d"
push_blob "$B" crash "$WORK/big.bin" >/dev/null
expect 200 - HEAD "$B/v2/crash/blobs/$big"
[ "$(header Content-Length)" = $((SIZE_MIB * 1024 * 1024)) ] || fail "big blob length"

stop_server
echo PASS
