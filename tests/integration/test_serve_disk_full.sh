#!/usr/bin/env bash
# A full disk under `stowage serve` (a 64 MiB tmpfs; root only): the push
# that does not fit gets an OCI error and leaves none of its bytes behind,
# so what was acknowledged stays readable and deleting something makes room
# for the next push again.
STOWAGE=${1:?usage: $0 path/to/stowage}
source "$(dirname "$0")/serve_lib.sh"

if [ "$(id -u)" != 0 ]; then echo "skipped: mounting a small tmpfs needs root"; exit 0; fi
mkdir -p "$WORK/small"
mount -t tmpfs -o size=64M tmpfs "$WORK/small"
trap 'cleanup_full' EXIT
cleanup_full() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then kill -TERM "$SERVER_PID"; wait "$SERVER_PID" || true; fi
  SERVER_PID=""
  umount "$WORK/small" 2>/dev/null || true
  cleanup
}

PORT=$(free_port)
start_server "$WORK/small/data" "$PORT"
B="http://127.0.0.1:$PORT"

push() { # FILE: a monolithic push; prints the status, the body lands in $WORK/body
  curl -s -o "$WORK/body" -w '%{http_code}' -X POST -H 'Content-Type: application/octet-stream' \
    --data-binary "@$1" "$B/v2/full/r/blobs/uploads/?digest=sha256:$(sha256 "$1")"
}
for i in 1 2 3; do
  head -c $((12 << 20)) /dev/urandom >"$WORK/blob$i"
  [ "$(push "$WORK/blob$i")" = 201 ] || fail "blob $i did not fit: $(cat "$WORK/body")"
done
# About 25 MiB are left: a 40 MiB blob is refused once most of it was written.
head -c $((40 << 20)) /dev/urandom >"$WORK/big"
code=$(push "$WORK/big")
[ "$code" != 201 ] && [ "$(jq -r '.errors[0].code' "$WORK/body")" != null ] ||
  fail "the push that did not fit: $code $(cat "$WORK/body")"
echo "ok: the push that did not fit got $code with an OCI error"

left=$(du -sk "$WORK/small/data/uploads" | cut -f1)
[ "$left" -lt 1024 ] || fail "the refused push left ${left} KiB in uploads/"
for i in 1 2 3; do
  curl -fsS "$B/v2/full/r/blobs/sha256:$(sha256 "$WORK/blob$i")" | cmp -s - "$WORK/blob$i" || fail "blob $i changed"
done
echo "ok: the refused push left nothing in uploads/; every acknowledged blob reads back whole"

expect 202 - DELETE "$B/v2/full/r/blobs/sha256:$(sha256 "$WORK/blob1")"
head -c $((8 << 20)) /dev/urandom >"$WORK/next"
[ "$(push "$WORK/next")" = 201 ] || fail "no room after a delete: $(cat "$WORK/body")"
echo "ok: a delete made room and the next push was taken"
echo PASS
