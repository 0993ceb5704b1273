# Shared helpers for the benchmarks: free ports, an OCI layout generator, the
# anchor registry (Debian's docker-registry = CNCF distribution 2.8), timing.
# Sourced, not run.

# A port nobody listens on, from a base derived from the PID.
free_port() {
  local p=$(( ${1:-20000} + ($$ % 5000) ))
  while (echo >/dev/tcp/127.0.0.1/$p) 2>/dev/null; do p=$((p + 1)); done
  echo $p
}

wait_http() { # URL [seconds]
  local i
  for ((i = 0; i < ${2:-20} * 10; i++)); do
    curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "timed out waiting for $1" >&2; return 1
}

# make_oci_layout DIR TAG LAYERS MIB_PER_LAYER: an OCI image layout with
# incompressible (random) gzip layers, made here, no download. Gzip, because
# skopeo compresses plain tar layers on push and would time its own gzip.
make_oci_layout() { python3 "$(dirname "${BASH_SOURCE[0]}")/../scripts/oci_layout.py" image "$@" >/dev/null; }

# start_distribution DIR PORT: Debian's docker-registry on 127.0.0.1:PORT; sets DIST_PID.
start_distribution() {
  local dir=$1 port=$2
  # Something else answering on the port would pass for distribution below.
  if (echo >/dev/tcp/127.0.0.1/"$port") 2>/dev/null; then echo "port $port is taken" >&2; return 1; fi
  mkdir -p "$dir/data"
  cat >"$dir/config.yml" <<YML
version: 0.1
log: {level: error}
storage:
  filesystem: {rootdirectory: $dir/data}
  delete: {enabled: true}
http: {addr: 127.0.0.1:$port}
YML
  docker-registry serve "$dir/config.yml" >"$dir/log" 2>&1 &
  DIST_PID=$!
  wait_http "http://127.0.0.1:$port/v2/"
}

# seconds CMD…: runs CMD, prints its wall time in seconds (3 decimals).
seconds() {
  local t0 t1
  local out; out=$(mktemp)
  t0=$(date +%s.%N)
  "$@" >"$out" 2>&1 || { echo "failed: $*" >&2; tail -5 "$out" >&2; rm -f "$out"; return 1; }
  rm -f "$out"
  t1=$(date +%s.%N); awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f\n", b - a}'
}

median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
# spread: the smallest and the largest of the numbers on stdin, as "min-max"
# (printed beside a median so that a reader sees how much the runs moved).
spread() { sort -n | awk 'NR == 1 {lo = $1} {hi = $1} END {printf "%s-%s", lo, hi}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }

# ---- `stowage dev` (the gateway benchmarks) ------------------------------------

. "$(dirname "${BASH_SOURCE[0]}")/../scripts/port_base.sh" # free_port_base

# start_dev STOWAGE DATA PORT_BASE LOG: `stowage dev` in the background, sets
# DEV_PID, returns once the gateway answers and dm1..dm3 and rt1 are up.
start_dev() {
  local stowage=$1 data=$2 p=$3 log=$4 i
  "$stowage" dev --data "$data" --port-base "$p" --log-level warn >>"$log" 2>&1 &
  DEV_PID=$!
  wait_http "http://127.0.0.1:$p/v2/" 60
  for ((i = 0; i < 300; i++)); do
    [ "$(curl -fsS "http://127.0.0.1:$((p + 1))/api/v1/nodes" 2>/dev/null |
      jq '[.[] | select(.state == "up" and (.name | test("^(dm[123]|rt1)$")))] | length')" = 4 ] && return 0
    sleep 0.1
  done
  echo "stowage dev: not every node joined within 30 s" >&2; return 1
}

stop_dev() { # SIGTERM, then wait for the exit
  kill -TERM "$DEV_PID" 2>/dev/null || return 0
  wait "$DEV_PID" 2>/dev/null || true
  DEV_PID=
}

# probe_overhead MASTER_URL PROBE_BYTES JQ_FILTER: over every measured (ok)
# candidate of the decisions JQ_FILTER selects, the time a probe round spends
# beyond moving the packet's bytes, in µs:
#   overhead = arrival_us − probe_bytes × 10⁶ / throughput_bps
# arrival_us is the runtime's clock from the round's start (test_round_start
# reaching the runtime) to the packet's last byte being reported to it;
# throughput_bps = probe_bytes × 10⁶ / transfer_us, transfer_us being the time
# from the probe request's header to its last body byte at the receiver. So the
# difference is the control path: the runtime's ready answer, the master's test
# request to the data manager, the data manager's connect and signed request,
# and the receiver handing the arrival to the runtime actor.
probe_overhead() {
  local master=$1 bytes=$2 filter=$3
  curl -fsS "$master/api/v1/decisions?limit=1000" | jq -r --argjson b "$bytes" \
    ".[] | select($filter) | .candidates[] | select(.ok and .throughput_bps > 0)
     | \"\(.arrival_us) \(\$b * 1000000 / .throughput_bps)\"" |
    awk '{ o[NR] = $1 - $2; a[NR] = $1; t[NR] = $2 }
      function sort(v, n,   i, j, x) { for (i = 2; i <= n; i++) { x = v[i]; for (j = i - 1; j >= 1 && v[j] > x; j--) v[j+1] = v[j]; v[j+1] = x } }
      function pct(v, n, p,   k) { k = int(n * p / 100 + 0.999999); return v[k < 1 ? 1 : k] } # nearest rank, v sorted
      END {
        if (NR == 0) { print "no measured candidates"; exit 1 }
        sort(o, NR); sort(a, NR); sort(t, NR)
        printf "%d candidates: overhead p50 %.0f us, p95 %.0f us (arrival p50 %.0f us, payload p50 %.0f us)\n",
          NR, pct(o, NR, 50), pct(o, NR, 95), pct(a, NR, 50), pct(t, NR, 50) }'
}
