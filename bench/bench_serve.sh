#!/usr/bin/env bash
# `stowage serve` against Debian's docker-registry (CNCF distribution 2.8), in
# the same run, alternating, medians, printed as ratios (>1: Stowage faster).
#   skopeo push / pull of a 256 MiB image of 4 incompressible layers
#   curl upload / download of one 256 MiB blob
# Usage: bench/bench_serve.sh [path/to/stowage] [runs]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
stowage=${1:-$here/../build/stowage}
runs=${2:-5}
work=$(mktemp -d)
trap 'kill $STOWAGE_PID $DIST_PID 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT

sp=$(free_port 21000); dp=$(free_port 22000)
"$stowage" serve --data "$work/stowage" --listen 127.0.0.1:$sp --log-level warn >"$work/stowage.log" 2>&1 &
STOWAGE_PID=$!
wait_http "http://127.0.0.1:$sp/v2/"
start_distribution "$work/dist" $dp

# A fresh image per push: a registry (or skopeo's blob-info cache) that has
# seen the layers before would mount them instead of receiving them.
echo "generating $((runs * 2)) images (4 x 64 MiB random layers each)…"
for i in $(seq 1 "$runs"); do
  make_oci_layout "$work/img-stowage-$i" v1 4 64
  make_oci_layout "$work/img-distribution-$i" v1 4 64
done
for i in $(seq 1 "$runs"); do
  for name in stowage distribution; do
    head -c $((256 << 20)) /dev/urandom >"$work/blob-$name-$i"
    sha256sum "$work/blob-$name-$i" | cut -d' ' -f1 >"$work/blob-$name-$i.sha256"
  done
done

push() { skopeo copy -q --dest-tls-verify=false "oci:$work/img-$3-$2:v1" "docker://127.0.0.1:$1/bench/r$2:v1"; }
pull() { rm -rf "$work/out"; skopeo copy -q --src-tls-verify=false "docker://127.0.0.1:$1/bench/r$2:v1" "dir:$work/out"; }
upload() { # POST then a single PUT of a fresh blob, as clients do
  local loc blob=$work/blob-$3-$2 blob_digest=sha256:$(cat "$work/blob-$3-$2.sha256")
  loc=$(curl -fsS -X POST -D - -o /dev/null "http://127.0.0.1:$1/v2/blob/u$2/blobs/uploads/" | tr -d '\r' | awk -F': ' 'tolower($1)=="location"{print $2}')
  case $loc in http*) ;; *) loc="http://127.0.0.1:$1$loc" ;; esac
  case $loc in *\?*) loc="$loc&digest=$blob_digest" ;; *) loc="$loc?digest=$blob_digest" ;; esac
  curl -fsS -X PUT -H 'Content-Type: application/octet-stream' -T "$blob" -o /dev/null "$loc"
}
download() { curl -fsS -o /dev/null "http://127.0.0.1:$1/v2/blob/u$2/blobs/sha256:$(cat "$work/blob-$3-$2.sha256")"; }

declare -A t
for i in $(seq 1 "$runs"); do
  for target in stowage:$sp distribution:$dp; do
    name=${target%%:*}; port=${target##*:}
    t[$name.push]+="$(seconds push $port $i $name) "
    t[$name.pull]+="$(seconds pull $port $i) "
    t[$name.upload]+="$(seconds upload $port $i $name) "
    t[$name.download]+="$(seconds download $port $i $name) "
  done
done

printf '\n%-28s %22s %22s %7s\n' "median of $runs (min-max)" "stowage (s)" "distribution (s)" "ratio"
for op in push pull upload download; do
  s=$(tr ' ' '\n' <<<"${t[stowage.$op]}" | grep . | median)
  d=$(tr ' ' '\n' <<<"${t[distribution.$op]}" | grep . | median)
  s_span=$(tr ' ' '\n' <<<"${t[stowage.$op]}" | grep . | spread)
  d_span=$(tr ' ' '\n' <<<"${t[distribution.$op]}" | grep . | spread)
  case $op in push|pull) what="skopeo $op 256 MiB image" ;; *) what="curl $op 256 MiB blob" ;; esac
  printf '%-28s %22s %22s %6sx\n' "$what" "$s ($s_span)" "$d ($d_span)" "$(ratio "$d" "$s")"
done
