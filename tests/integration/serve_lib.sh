# Shared by the test_serve_*.sh scripts: free ports, starting and stopping
# `stowage serve`, assertions. Source it after setting STOWAGE (the binary).
set -euo pipefail

WORK=$(mktemp -d "${TMPDIR:-/tmp}/stowage-it.XXXXXX")
SERVER_PID=""

cleanup() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# start_server DATA_DIR PORT: runs stowage serve in the background and waits until /v2/ answers.
start_server() {
  local data=$1 port=$2
  "$STOWAGE" serve --data "$data" --listen "127.0.0.1:$port" --log-level "${LOG_LEVEL:-info}" \
    >>"$WORK/server.log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 1 100); do
    if curl -sf -o /dev/null "http://127.0.0.1:$port/v2/"; then return 0; fi
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/server.log" >&2; fail "server exited"; }
    sleep 0.1
  done
  cat "$WORK/server.log" >&2
  fail "server did not come up on port $port"
}

stop_server() {
  kill -TERM "$SERVER_PID"
  wait "$SERVER_PID" || fail "server exited with status $? on SIGTERM"
  SERVER_PID=""
}

# http METHOD URL [curl args…]: prints the status; the body lands in $WORK/body, headers in $WORK/headers.
http() {
  local method=$1 url=$2
  shift 2
  local verb=(-X "$method")
  [ "$method" = HEAD ] && verb=(-I) # -X HEAD would wait for a body
  curl -s --path-as-is "${verb[@]}" -o "$WORK/body" -D "$WORK/headers" -w '%{http_code}' "$@" "$url"
}

header() { grep -i "^$1:" "$WORK/headers" | head -1 | cut -d' ' -f2- | tr -d '\r'; }
error_code() { jq -r '.errors[0].code' "$WORK/body" 2>/dev/null || true; }

# expect STATUS CODE METHOD URL [curl args…]: the status and (if CODE is not "-") the OCI error code.
expect() {
  local want_status=$1 want_code=$2 method=$3 url=$4
  shift 4
  local got
  got=$(http "$method" "$url" "$@")
  [ "$got" = "$want_status" ] || { cat "$WORK/body" >&2; fail "$method $url: status $got, want $want_status"; }
  if [ "$want_code" != "-" ]; then
    local code
    code=$(error_code)
    [ "$code" = "$want_code" ] || { cat "$WORK/body" >&2; fail "$method $url: code '$code', want $want_code"; }
  fi
  echo "ok: $method $url -> $got $want_code"
}

sha256() { sha256sum "$1" | cut -d' ' -f1; }

# push_blob BASE REPO FILE: monolithic upload, prints the digest.
push_blob() {
  local base=$1 repo=$2 file=$3 d
  d="sha256:$(sha256 "$file")"
  local st
  st=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/octet-stream' \
    -T "$file" "$base/v2/$repo/blobs/uploads?digest=$d") # no trailing slash: -T would append the file name
  [ "$st" = 201 ] || fail "push of $file to $repo: $st"
  echo "$d"
}

# make_oci_layout DIR TAG LAYERS MIB: an OCI image layout with LAYERS layers of
# MIB MiB random data each (tar+gzip), a config whose diff_ids match, a
# manifest and index.json naming TAG. Prints the manifest digest.
make_oci_layout() { python3 "$(dirname "${BASH_SOURCE[0]}")/../../scripts/oci_layout.py" image "$@"; }

# make_oci_index_layout DIR TAG: a multi-platform image (an OCI image index
# of linux/amd64 and linux/arm64, one 512 KiB layer each) in an OCI layout
# naming TAG. Prints the index digest, then the amd64 and arm64 manifests'.
make_oci_index_layout() { python3 "$(dirname "${BASH_SOURCE[0]}")/../../scripts/oci_layout.py" index "$@"; }
