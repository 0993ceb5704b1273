#!/usr/bin/env bash
# Runs the OCI distribution-spec conformance suite (see README.md here)
# against `stowage serve`. Usage: tests/conformance/run.sh path/to/stowage [out-dir]
set -euo pipefail
STOWAGE=$(realpath "${1:?usage: $0 path/to/stowage [out-dir]}")
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=$(realpath -m "${2:-$(dirname "$STOWAGE")/conformance}")
mkdir -p "$OUT"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/stowage-conformance.XXXXXX")
SERVER_PID=""
cleanup() {
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT

# Build in GOPATH mode from the vendored sources plus Debian's Go packages.
mkdir -p "$WORK/gopath"
cp -r "$HERE/src" "$WORK/gopath/src"
(cd "$WORK/gopath/src/github.com/opencontainers/distribution-spec/conformance" &&
  GO111MODULE=off GOPATH="$WORK/gopath:/usr/share/gocode" GOFLAGS= GOCACHE="$WORK/gocache" \
    go test -c -o "$WORK/conformance.test")

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$STOWAGE" serve --data "$WORK/data" --listen "127.0.0.1:$PORT" --log-level debug >"$OUT/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 100); do
  curl -sf -o /dev/null "http://127.0.0.1:$PORT/v2/" && break
  sleep 0.1
done

cd "$OUT"
OCI_ROOT_URL="http://127.0.0.1:$PORT" \
OCI_NAMESPACE=conformance/repo \
OCI_CROSSMOUNT_NAMESPACE=conformance/other \
OCI_TEST_PULL=1 OCI_TEST_PUSH=1 OCI_TEST_CONTENT_DISCOVERY=1 OCI_TEST_CONTENT_MANAGEMENT=1 \
OCI_AUTOMATIC_CROSSMOUNT=1 \
  "$WORK/conformance.test" -ginkgo.noColor 2>&1 | tee "$OUT/output.txt" | grep -E "Passed|Fail\]|^ok|^FAIL|SUCCESS"
exit "${PIPESTATUS[0]}"
