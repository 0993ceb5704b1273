#!/usr/bin/env bash
# Runs the OCI distribution-spec conformance suite, all four categories,
# against `stowage serve` (or any registry URL). The suite is not part of this
# repository: build it once from a checkout of opencontainers/distribution-spec
# (see README.md here) and point CONFORMANCE_TEST at the binary.
# Usage: tests/conformance/run.sh path/to/stowage        (starts serve itself)
#        tests/conformance/run.sh http://127.0.0.1:PORT  (an endpoint already running)
set -euo pipefail
SUITE=${CONFORMANCE_TEST:-/work/conformance/conformance.test}
[ -x "$SUITE" ] || { echo "conformance binary not found: set CONFORMANCE_TEST (see tests/conformance/README.md)" >&2; exit 2; }
WORK=$(mktemp -d "${TMPDIR:-/tmp}/stowage-conformance.XXXXXX")
SERVER_PID=""
cleanup() {
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT

case ${1:?usage: $0 path/to/stowage | URL} in
  http://*) URL=$1 ;;
  *)
    PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    "$1" serve --data "$WORK/data" --listen "127.0.0.1:$PORT" --log-level warn >"$WORK/server.log" 2>&1 &
    SERVER_PID=$!
    URL=http://127.0.0.1:$PORT
    for _ in $(seq 1 100); do curl -sf -o /dev/null "$URL/v2/" && break; sleep 0.1; done ;;
esac

cd "$WORK"
OCI_ROOT_URL=$URL OCI_NAMESPACE=conformance/repo OCI_CROSSMOUNT_NAMESPACE=conformance/other \
OCI_TEST_PULL=1 OCI_TEST_PUSH=1 OCI_TEST_CONTENT_DISCOVERY=1 OCI_TEST_CONTENT_MANAGEMENT=1 \
OCI_AUTOMATIC_CROSSMOUNT=1 OCI_HIDE_SKIPPED_WORKFLOWS=0 \
  "$SUITE" -ginkgo.noColor >"$WORK/output.txt" 2>&1 && rc=0 || rc=$?
grep -E "^Ran |Passed \|" "$WORK/output.txt" || tail -20 "$WORK/output.txt"
grep -E "^\[Fail\]|• Failure" "$WORK/output.txt" | head -20 || true
exit $rc
