#!/usr/bin/env bash
# Every bad input gets the OCI error code the spec names, and changes nothing.
STOWAGE=${1:?usage: $0 path/to/stowage}
source "$(dirname "$0")/serve_lib.sh"

PORT=$(free_port)
start_server "$WORK/data" "$PORT"
B="http://127.0.0.1:$PORT"

# A good image to compare against afterwards.
printf '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}' >"$WORK/config.json"
head -c 100000 /dev/urandom >"$WORK/layer.bin"
cfg=$(push_blob "$B" good/img "$WORK/config.json")
lay=$(push_blob "$B" good/img "$WORK/layer.bin")
manifest() { # manifest CONFIG_DIGEST LAYER_DIGEST
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%d},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"%s","size":100000}]}' \
    "$1" "$(stat -c %s "$WORK/config.json")" "$2"
}
manifest "$cfg" "$lay" >"$WORK/good.json"
MT='Content-Type: application/vnd.oci.image.manifest.v1+json'
expect 201 - PUT "$B/v2/good/img/manifests/v1" -H "$MT" --data-binary "@$WORK/good.json"
good=$(header Docker-Content-Digest)

snapshot() {
  curl -sf "$B/v2/_catalog"
  curl -sf "$B/v2/good/img/tags/list"
  curl -sf "$B/v2/good/img/manifests/v1" | sha256sum
  # content files only (not the database, not upload or temporary files)
  find "$WORK/data" -type f -not -name '*-wal' -not -name '*-shm' -not -name '*.db' -not -name '*.sqlite*' \
    -not -path '*upload*' -not -path '*tmp*' | sort
}
snapshot >"$WORK/before"

zero="sha256:$(printf '' | sha256sum | cut -d' ' -f1)"
other="sha256:$(printf 'other' | sha256sum | cut -d' ' -f1)"

# Names: upper case, "..", empty components.
expect 400 NAME_INVALID POST "$B/v2/Good/Img/blobs/uploads/"
expect 400 NAME_INVALID GET "$B/v2/good/../img/manifests/v1"
expect 400 NAME_INVALID PUT "$B/v2/../etc/manifests/v1" -H "$MT" --data-binary "@$WORK/good.json"
expect 400 NAME_INVALID GET "$B/v2/good//img/tags/list"
# Digests.
expect 400 DIGEST_INVALID GET "$B/v2/good/img/blobs/sha256:1234"
expect 400 DIGEST_INVALID POST "$B/v2/good/img/blobs/uploads/?digest=$other" --data-binary "@$WORK/layer.bin"
expect 400 DIGEST_INVALID PUT "$B/v2/good/img/manifests/$other" -H "$MT" --data-binary "@$WORK/good.json"
expect 404 BLOB_UNKNOWN GET "$B/v2/good/img/blobs/$other"
# Manifests.
expect 400 MANIFEST_INVALID PUT "$B/v2/good/img/manifests/v2" -H "$MT" --data-binary 'garbage {'
manifest "$cfg" "$other" >"$WORK/missing.json"
expect 400 MANIFEST_BLOB_UNKNOWN PUT "$B/v2/good/img/manifests/v2" -H "$MT" --data-binary "@$WORK/missing.json"
# A descriptor whose size is not the blob's: every pull of it would fail.
manifest "$cfg" "$lay" | sed 's/"size":100000/"size":99999/' >"$WORK/wrong_size.json"
expect 400 MANIFEST_INVALID PUT "$B/v2/good/img/manifests/v2" -H "$MT" --data-binary "@$WORK/wrong_size.json"
expect 404 MANIFEST_UNKNOWN GET "$B/v2/good/img/manifests/v2"
# Requests the server cannot parse: an OCI error body all the same.
expect 400 UNSUPPORTED POST "$B/v2/good/img/blobs/uploads/" -H 'Content-Length: abc'
expect 400 UNSUPPORTED GET "$B/v2/good/img/tags/list?n=1&last=%ZZ"
expect 404 NAME_UNKNOWN GET "$B/v2/no/such/manifests/v1"
# Ranges.
expect 416 RANGE_INVALID GET "$B/v2/good/img/blobs/$lay" -H 'Range: bytes=200000-300000'
expect 206 - GET "$B/v2/good/img/blobs/$lay" -H 'Range: bytes=0-9'
[ "$(stat -c %s "$WORK/body")" = 10 ] || fail "range body length"
# Nothing changed.
snapshot >"$WORK/after"
diff "$WORK/before" "$WORK/after" >&2 || fail "state changed by refused requests"
echo "ok: state unchanged"

# Uploads.
expect 202 - POST "$B/v2/scratch/blobs/uploads/"
loc=$(header Location)
expect 416 RANGE_INVALID PATCH "$B$loc" -H 'Content-Range: 5-9' --data-binary '01234'
expect 202 - PATCH "$B$loc" -H 'Content-Range: 0-4' --data-binary '01234'
[ "$(header Range)" = "0-4" ] || fail "Range after PATCH: $(header Range)"
expect 400 DIGEST_INVALID PUT "$B$loc?digest=$other"
expect 404 BLOB_UPLOAD_UNKNOWN PATCH "$B/v2/good/img/blobs/uploads/.." --data-binary 'x'
expect 404 BLOB_UPLOAD_UNKNOWN GET "$B/v2/good/img/blobs/uploads/no-such-upload"
# Chunked transfer-encoding and Expect: 100-continue on the monolithic path.
expect 201 - POST "$B/v2/scratch/blobs/uploads/?digest=$zero" -H 'Transfer-Encoding: chunked' --data-binary ''
expect 201 - POST "$B/v2/scratch/blobs/uploads/?digest=$lay" -H 'Transfer-Encoding: chunked' -H 'Expect: 100-continue' --data-binary "@$WORK/layer.bin"
expect 200 - GET "$B/v2/scratch/blobs/$lay"
cmp -s "$WORK/body" "$WORK/layer.bin" || fail "chunked upload round trip"

[ "$(curl -sf "$B/v2/good/img/manifests/v1" -o /dev/null -w '%{http_code}')" = 200 ] || fail "good image lost"
expect 200 - HEAD "$B/v2/good/img/manifests/$good"

stop_server

# Bad command lines: a message naming the problem, a non-zero exit, nothing served.
cli_refuses() { # MESSAGE ARGS…: `stowage ARGS…` must fail and say MESSAGE
  local want=$1
  shift
  if timeout 10 "$STOWAGE" "$@" >"$WORK/cli.out" 2>&1; then fail "stowage $* was accepted"; fi
  grep -qF -- "$want" "$WORK/cli.out" || { cat "$WORK/cli.out" >&2; fail "stowage $*: no '$want' in its message"; }
}
cli_refuses "--log-level" serve --data "$WORK/cli" --listen "127.0.0.1:$PORT" --log-level Info
cli_refuses "--listen must be HOST:PORT" serve --data "$WORK/cli" --listen "127.0.0.1:${PORT}x"
cli_refuses "--cache-max-bytes" dev --data "$WORK/cli" --cache-max-bytes -1 --print-config
"$STOWAGE" dev --data "$WORK/cli-cluster" --port-base 20000 --print-config >"$WORK/cli.toml"
cli_refuses "--node dm1 is given twice" up --config "$WORK/cli.toml" --node dm1 --node dm1
# dm2 moved to another host without its key: nothing here can stand for it.
awk '/^name = / {n = $3} n == "\"dm2\"" && /^public_key/ {next}
     n == "\"dm2\"" && /^host/ {$0 = "host = \"10.9.9.9\""} {print}' "$WORK/cli.toml" >"$WORK/cli-nokey.toml"
cli_refuses "node dm2 (on 10.9.9.9) has no public_key in the cluster file" up --config "$WORK/cli-nokey.toml" --node dm1
# The master's line without its key, and master_public_key not its identity.
awk '/^name = / {n = $3} n == "\"master\"" && /^public_key/ {next}
     /^master_public_key/ {$0 = "master_public_key = \"" sprintf("%064d", 0) "\""} {print}' "$WORK/cli.toml" >"$WORK/cli-wrongkey.toml"
cli_refuses "master: the identity in" up --config "$WORK/cli-wrongkey.toml" --node master
[ ! -e "$WORK/cli" ] || fail "a refused command line created its data directory"
[ ! -e "$WORK/cli-cluster/dm1/store" ] || fail "a refused --node started a node"
echo "ok: bad command lines are refused with a message"
echo PASS
