#!/usr/bin/env bash
# The probe round's cost on loopback: `stowage dev` (master, dm1..dm3, runtime
# rt1 in one process), one small image pushed through rt1's gateway and
# replicated to all three data managers, then PULLS skopeo pulls of it by tag,
# 2.1 s apart; each asks the master to schedule it, so each runs a probe round
# over the data managers holding it. From /api/v1/decisions, per measured
# candidate:
#   overhead = arrival_us − probe_bytes × 10⁶ / throughput_bps   (µs)
# the round's time beyond the test packet's own bytes (lib.sh, probe_overhead,
# says what arrival_us and throughput_bps measure). Target: p50 ≤ 2 ms.
# Usage: bench/bench_probe.sh [path/to/stowage] [pulls]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
stowage=$(readlink -f "${1:-$here/../build/stowage}")
pulls=${2:-50}
work=$(mktemp -d)
DEV_PID=
trap 'kill $DEV_PID 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT

p=$(free_port_base); gw=127.0.0.1:$p; master=http://127.0.0.1:$((p + 1))
start_dev "$stowage" "$work/dev" "$p" "$work/dev.log"
probe_bytes=$("$stowage" dev --print-config --data "$work/dev" --port-base "$p" | awk -F'[ =]+' '/^probe_bytes/ {print $2}')

make_oci_layout "$work/img" v1 1 1
skopeo copy -q --dest-tls-verify=false "oci:$work/img:v1" "docker://$gw/probe/small:v1"
for ((w = 0; w < 600; w++)); do
  [ "$(curl -fsS "$master/api/v1/images" | jq '[.[] | select(.repository == "probe/small") | .replicas[]] | length')" = 3 ] && break
  sleep 0.05
done

# The gateway serves a tag it resolved within the last 2 s again without
# asking the cluster (gateway_options::tag_reuse: engines send HEAD, then GET),
# so the pulls are spaced past that: each one runs its own probe round.
times=
for i in $(seq 1 "$pulls"); do
  sleep 2.1
  times+="$(seconds sh -c "rm -rf '$work/out' && skopeo copy -q --src-tls-verify=false docker://$gw/probe/small:v1 dir:$work/out") "
done
rounds=$(curl -fsS "$master/api/v1/decisions?limit=1000" |
  jq '[.[] | select(.kind == "pull" and .reference == "probe/small:v1")] | length')

echo "$pulls skopeo pulls by tag of a 1 MiB image through the gateway, median $(tr ' ' '\n' <<<"$times" | grep . | median) s each, $rounds pull decisions"
echo "probe_bytes = $probe_bytes; per measured candidate of their pull decisions,"
echo "overhead = arrival_us - probe_bytes*1e6/throughput_bps, i.e. the round's time beyond the packet's own transfer:"
probe_overhead "$master" "$probe_bytes" '.kind == "pull" and .reference == "probe/small:v1"'
