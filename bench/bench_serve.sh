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

echo "generating the image (4 x 64 MiB random layers)…"
make_oci_layout "$work/img" v1 4 64
head -c $((256 << 20)) /dev/urandom >"$work/blob"
blob_digest=sha256:$(sha256sum "$work/blob" | cut -d' ' -f1)

push() { skopeo copy -q --dest-tls-verify=false "oci:$work/img:v1" "docker://127.0.0.1:$1/bench/r$2:v1"; }
pull() { rm -rf "$work/out"; skopeo copy -q --src-tls-verify=false "docker://127.0.0.1:$1/bench/r$2:v1" "dir:$work/out"; }
upload() { # monolithic POST then PUT of one blob, as clients do
  local loc
  loc=$(curl -fsS -X POST -D - -o /dev/null "http://127.0.0.1:$1/v2/blob/u$2/blobs/uploads/" | tr -d '\r' | awk -F': ' 'tolower($1)=="location"{print $2}')
  case $loc in http*) ;; *) loc="http://127.0.0.1:$1$loc" ;; esac
  case $loc in *\?*) loc="$loc&digest=$blob_digest" ;; *) loc="$loc?digest=$blob_digest" ;; esac
  curl -fsS -X PUT -H 'Content-Type: application/octet-stream' --data-binary "@$work/blob" -o /dev/null "$loc"
}
download() { curl -fsS -o /dev/null "http://127.0.0.1:$1/v2/blob/u$2/blobs/$blob_digest"; }

declare -A t
for i in $(seq 1 "$runs"); do
  for target in stowage:$sp distribution:$dp; do
    name=${target%%:*}; port=${target##*:}
    t[$name.push]+="$(seconds push $port $i) "
    t[$name.pull]+="$(seconds pull $port $i) "
    t[$name.upload]+="$(seconds upload $port $i) "
    t[$name.download]+="$(seconds download $port $i) "
  done
done

printf '\n%-28s %12s %14s %8s\n' "median of $runs runs" "stowage (s)" "distribution (s)" "ratio"
for op in push pull upload download; do
  s=$(tr ' ' '\n' <<<"${t[stowage.$op]}" | grep . | median)
  d=$(tr ' ' '\n' <<<"${t[distribution.$op]}" | grep . | median)
  case $op in push|pull) what="skopeo $op 256 MiB image" ;; *) what="curl $op 256 MiB blob" ;; esac
  printf '%-28s %12s %14s %7sx\n' "$what" "$s" "$d" "$(ratio "$d" "$s")"
done
