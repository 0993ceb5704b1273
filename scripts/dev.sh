#!/usr/bin/env bash
# From a fresh Debian 12 machine: install, build, and start a whole cluster in
# one process (`stowage dev`), then show a short push and pull through its
# runtime gateway. The cluster keeps running in the foreground; Ctrl-C stops it.
# Arguments go to `stowage dev` (--data DIR, --data-managers N, --port-base P).
# STOWAGE_DEMO=0 skips the push and pull.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh --target stowage

port_base=5000
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  case ${args[i]} in
    --port-base) port_base=${args[i + 1]:-5000} ;;
    --port-base=*) port_base=${args[i]#*=} ;;
    --print-config | -h | --help) exec build/stowage dev "$@" ;; # nothing to demo
  esac
done

build/stowage dev "$@" &
cluster=$!
trap 'kill "$cluster" 2>/dev/null || true; wait "$cluster" 2>/dev/null || true' INT TERM

# Ready when the runtime gateway (P) and the master (P+1) answer.
ready=0
for ((t = 0; t < 300; t++)); do
  if ! kill -0 "$cluster" 2>/dev/null; then
    wait "$cluster"; exit $? # it failed to start; its own message says why
  fi
  if curl -fsS -o /dev/null "http://127.0.0.1:$port_base/v2/" 2>/dev/null &&
     curl -fsS -o /dev/null "http://127.0.0.1:$((port_base + 1))/healthz" 2>/dev/null; then
    ready=1; break
  fi
  sleep 0.1
done
if ((ready)); then
  echo "stowage dev is up: gateway 127.0.0.1:$port_base, master http://127.0.0.1:$((port_base + 1))/"
  if [ "${STOWAGE_DEMO:-1}" != 0 ]; then
    bash scripts/demo.sh "127.0.0.1:$port_base" "http://127.0.0.1:$((port_base + 1))" ||
      echo "the demo push/pull failed (the cluster keeps running)" >&2
  fi
else
  echo "stowage dev did not answer within 30 s (the cluster keeps running)" >&2
fi
wait "$cluster"
