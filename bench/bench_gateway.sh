#!/usr/bin/env bash
# `stowage dev` (master, dm1..dm3, runtime rt1 in one process) driven through
# rt1's gateway, against Debian's docker-registry (CNCF distribution 2.8), in
# the same run, alternating, medians, printed as ratios (>1: Stowage faster).
#   skopeo push of a 256 MiB image (4 incompressible gzip layers of 64 MiB):
#     until the PUT of the manifest returns (>= min_copies durable), and
#     until /api/v1/images lists it on all three data managers
#   skopeo pull of it back into a fresh directory:
#     warm: right after the push, when rt1's cache already holds its blobs
#     cold: after `stowage dev` was stopped, rt1's cache (DATA/rt1/cache)
#           deleted and the cluster started again, so the image comes from a
#           data manager; distribution is simply pulled a second time,
#           from its files in the page cache
#     cold from disk (as root): the same again, with the page cache dropped
#           before each pull, so that both read the image from the disk
# and the probe rounds of those pulls (see probe_overhead in lib.sh).
# Usage: bench/bench_gateway.sh [path/to/stowage] [runs]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
stowage=$(readlink -f "${1:-$here/../build/stowage}")
runs=${2:-5}
work=$(mktemp -d)
DEV_PID= DIST_PID=
trap 'kill $DEV_PID $DIST_PID 2>/dev/null; wait 2>/dev/null; [ -n "${KEEP_WORK:-}" ] || rm -rf "$work"' EXIT

p=$(free_port_base); gw=127.0.0.1:$p; master=http://127.0.0.1:$((p + 1))
start_dev "$stowage" "$work/dev" "$p" "$work/dev.log"
dp=$(free_port 22000) # after start_dev: not one of the cluster's ports
start_distribution "$work/dist" "$dp"
probe_bytes=$("$stowage" dev --print-config --data "$work/dev" --port-base "$p" | awk -F'[ =]+' '/^probe_bytes/ {print $2}')

echo "generating $((runs * 2)) images (4 x 64 MiB random gzip layers each)…"
for i in $(seq 1 "$runs"); do
  make_oci_layout "$work/img-stowage-$i" v1 4 64
  make_oci_layout "$work/img-distribution-$i" v1 4 64
done

push() { skopeo copy -q --dest-tls-verify=false "oci:$work/img-$3-$2:v1" "docker://$1/bench/r$2:v1"; }
pull() { rm -rf "$work/out"; skopeo copy -q --src-tls-verify=false "docker://$1/bench/r$2:v1" "dir:$work/out"; }
replicas() { # REPO TAG: how many data managers /api/v1/images lists it on
  curl -fsS "$master/api/v1/images" |
    jq --arg r "$1" --arg t "$2" '[.[] | select(.repository == $r and .tag == $t) | .replicas[]] | length'
}
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN {printf "%.3f\n", b - a}'; }

declare -A t
for i in $(seq 1 "$runs"); do
  # Stowage: push, then wait for the third replica, then pull back (warm).
  t0=$(now)
  push "$gw" "$i" stowage >"$work/push.log" 2>&1 || { cat "$work/push.log" >&2; exit 1; }
  t[stowage.push]+="$(since "$t0") "
  for ((w = 0; w < 1200; w++)); do
    [ "$(replicas bench/r$i v1)" = 3 ] && break
    sleep 0.05
  done
  [ "$(replicas bench/r$i v1)" = 3 ] || { echo "bench/r$i:v1 not on 3 data managers within 60 s" >&2; exit 1; }
  t[stowage.replicated]+="$(since "$t0") "
  t[stowage.pull_warm]+="$(seconds pull "$gw" "$i") "
  # distribution: the same two steps.
  t[distribution.push]+="$(seconds push "127.0.0.1:$dp" "$i" distribution) "
  t[distribution.pull_warm]+="$(seconds pull "127.0.0.1:$dp" "$i") "
done

# Cold: a restarted cluster without rt1's cache; every image comes from a data manager.
stop_dev
rm -rf "$work/dev/rt1/cache"
start_dev "$stowage" "$work/dev" "$p" "$work/dev.log"
for i in $(seq 1 "$runs"); do
  t[stowage.pull_cold]+="$(seconds pull "$gw" "$i") "
  t[distribution.pull_cold]+="$(seconds pull "127.0.0.1:$dp" "$i") "
done

# Cold from disk: the same, with the page cache dropped before each pull (as
# root), so that distribution too reads its blobs from the disk; skopeo's own
# binary is read back in before the clock starts.
disk=
if [ "$(id -u)" = 0 ]; then
  disk=1
  stop_dev
  rm -rf "$work/dev/rt1/cache"
  start_dev "$stowage" "$work/dev" "$p" "$work/dev.log"
  dropped() { sync; echo 3 >/proc/sys/vm/drop_caches; skopeo --version >/dev/null; "$@"; }
  for i in $(seq 1 "$runs"); do
    if ((i % 2)); then
      t[stowage.pull_disk]+="$(dropped seconds pull "$gw" "$i") "
      t[distribution.pull_disk]+="$(dropped seconds pull "127.0.0.1:$dp" "$i") "
    else
      t[distribution.pull_disk]+="$(dropped seconds pull "127.0.0.1:$dp" "$i") "
      t[stowage.pull_disk]+="$(dropped seconds pull "$gw" "$i") "
    fi
  done
fi

med() { tr ' ' '\n' <<<"${t[$1]}" | grep . | median; }
span() { tr ' ' '\n' <<<"${t[$1]}" | grep . | spread; }
printf '\n%-42s %22s %22s %7s\n' "256 MiB image, median of $runs (min-max)" "stowage (s)" "distribution (s)" "ratio"
row() {
  printf '%-42s %22s %22s %6sx\n' "$1" "$(med "stowage.$2") ($(span "stowage.$2"))" \
    "$(med "distribution.$3") ($(span "distribution.$3"))" "$(ratio "$(med "distribution.$3")" "$(med "stowage.$2")")"
}
row "skopeo push via gateway (PUT returned)" push push
row "skopeo push via gateway until 3 replicas" replicated push
row "skopeo pull via gateway, warm rt1 cache" pull_warm pull_warm
row "skopeo pull via gateway, cold (restarted)" pull_cold pull_cold
[ -z "$disk" ] || row "  the same, page cache dropped before each" pull_disk pull_disk
echo
echo "probe rounds of the $((runs * (disk ? 3 : 2))) pulls, warm and cold (the decision log survives the restart; probe_bytes = $probe_bytes; overhead = arrival_us - probe_bytes*1e6/throughput_bps):"
probe_overhead "$master" "$probe_bytes" '.kind == "pull" and (.reference | startswith("bench/r"))'
