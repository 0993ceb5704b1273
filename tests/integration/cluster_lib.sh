# Shared by the cluster tests (test_dev_*, test_up_*, test_handoff, test_pull_failover):
# ports from a base derived from $$, `stowage dev` / `stowage up --node` as
# background processes, bounded waits, the master's admin API through jq,
# skopeo and podman against the runtime gateway. Source it after setting
# STOWAGE (the binary); it sources serve_lib.sh for fail, make_oci_layout…
set -euo pipefail
STOWAGE=$(readlink -f "$STOWAGE")
source "$(dirname "${BASH_SOURCE[0]}")/serve_lib.sh"

for tool in jq curl skopeo python3; do
  command -v "$tool" >/dev/null || fail "$tool is not installed (scripts/install-deps.sh)"
done

declare -A PIDS=() # node (or "dev") -> pid

cleanup() {
  set +e
  local name
  for name in "${!PIDS[@]}"; do kill -TERM "${PIDS[$name]}" 2>/dev/null; kill -CONT "${PIDS[$name]}" 2>/dev/null; done
  local deadline=$((SECONDS + 15))
  for name in "${!PIDS[@]}"; do
    while kill -0 "${PIDS[$name]}" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.1; done
    kill -KILL "${PIDS[$name]}" 2>/dev/null
    wait "${PIDS[$name]}" 2>/dev/null
  done
  if [ -n "${KEEP_LOGS:-}" ] || [ "${TEST_FAILED:-0}" = 1 ]; then
    for f in "$WORK"/*.log; do [ -f "$f" ] && { echo "=== $f"; tail -n 60 "$f"; }; done >&2
  fi
  rm -rf "$WORK"
}
trap 'TEST_FAILED=$([ $? -eq 0 ] && echo 0 || echo 1); cleanup' EXIT

source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/port_base.sh" # free_port_base
P=$(free_port_base) || fail "no free port range found"
GW="127.0.0.1:$P"             # rt1's gateway
MASTER="http://127.0.0.1:$((P + 1))"
dm_http() { echo "127.0.0.1:$((P + 10 + ${1#dm}))"; }

# wait_until SECONDS WHAT COMMAND…: runs COMMAND every 0.2 s until it succeeds.
wait_until() {
  local limit=$1 what=$2
  shift 2
  local deadline=$((SECONDS + limit))
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || fail "$what: not within ${limit}s"
    sleep 0.2
  done
}

healthy() { curl -fsS -o /dev/null "$MASTER/healthz" && curl -fsS -o /dev/null "http://$GW/v2/"; }

# node_state NAME: up/down/absent in /api/v1/nodes.
node_state() { curl -fsS "$MASTER/api/v1/nodes" | jq -r --arg n "$1" '(.[] | select(.name == $n) | .state) // "absent"'; }
node_is() { [ "$(node_state "$1")" = "$2" ]; }
all_joined() {
  local n
  for n in "$@"; do node_is "$n" up || return 1; done
}

start_dev() { # DATA_DIR [extra args]
  local data=$1
  shift
  "$STOWAGE" dev --data "$data" --port-base "$P" --log-level "${LOG_LEVEL:-info}" "$@" >>"$WORK/dev.log" 2>&1 &
  PIDS[dev]=$!
  wait_until 60 "stowage dev answering" healthy
  wait_until 30 "every node joined" all_joined dm1 dm2 dm3 rt1
}

stop_pid() { # NAME: SIGTERM and wait for a clean exit
  local name=$1 pid=${PIDS[$1]}
  kill -TERM "$pid"
  local deadline=$((SECONDS + 30))
  while kill -0 "$pid" 2>/dev/null; do
    ((SECONDS < deadline)) || fail "$name did not stop within 30s of SIGTERM"
    sleep 0.1
  done
  wait "$pid" || fail "$name exited with status $? on SIGTERM"
  unset "PIDS[$name]"
}

kill9() { # NAME
  kill -KILL "${PIDS[$1]}"
  wait "${PIDS[$1]}" 2>/dev/null || true
  unset "PIDS[$1]"
}

write_cluster_file() { # DATA_DIR FILE [retry_interval_ms [more args of stowage dev]]: --print-config, optionally faster retries
  "$STOWAGE" dev --print-config --data "$1" --port-base "$P" "${@:4}" >"$2"
  if [ -n "${3:-}" ]; then
    sed -i "s/^retry_interval_ms = [0-9]*/retry_interval_ms = $3/" "$2"
  fi
  grep -q '^public_key = "[0-9a-f]\{64\}"' "$2" || fail "--print-config wrote no public keys"
  grep -q '^master_public_key = "[0-9a-f]\{64\}"' "$2" || fail "--print-config wrote no master_public_key"
}

start_node() { # CLUSTER_FILE NAME [KEY]: KEY names the process in PIDS and its log (default NAME)
  local key=${3:-$2}
  "$STOWAGE" up --config "$1" --node "$2" --log-level "${LOG_LEVEL:-info}" >>"$WORK/$key.log" 2>&1 &
  PIDS[$key]=$!
}

# linked_to_data_managers NODE…: each NODE's log says it has its own middleman
# link to every other data manager (node/peer_links.hpp). A push's runtime
# notices its target hanging by that link; one still being set up when the
# target stops never completes, and the push would wait out the data
# plane's timeouts instead.
linked_to_data_managers() {
  local n d
  for n in "$@"; do
    for d in dm1 dm2 dm3; do
      [ "$n" = "$d" ] || grep -q "$n: linked to $d at" "$WORK/$n.log" || return 1
    done
  done
}

start_up_cluster() { # CLUSTER_FILE: the five nodes as five processes
  local n
  for n in master dm1 dm2 dm3 rt1; do start_node "$1" "$n"; done
  wait_until 60 "the cluster answering" healthy
  wait_until 30 "every node joined" all_joined dm1 dm2 dm3 rt1
  [ "${LOG_LEVEL:-info}" != info ] || wait_until 30 "every node linked" linked_to_data_managers dm1 dm2 dm3 rt1
}

# ---- images and clients --------------------------------------------------------
cat >"$WORK/policy.json" <<'JSON'
{"default":[{"type":"insecureAcceptAnything"}]}
JSON
SKOPEO=(skopeo --policy "$WORK/policy.json")

push_image() { # LAYOUT TAG REPO:TAG
  "${SKOPEO[@]}" copy --quiet --dest-tls-verify=false "oci:$1:$2" "docker://$GW/$3" >"$WORK/skopeo-push.log" 2>&1 ||
    { cat "$WORK/skopeo-push.log" >&2; fail "skopeo push of $3 through the gateway"; }
}

pull_image_to() { # REPO:TAG LAYOUT
  "${SKOPEO[@]}" copy --quiet --src-tls-verify=false "docker://$GW/$1" "oci:$2:back" >"$WORK/skopeo-pull.log" 2>&1 ||
    { cat "$WORK/skopeo-pull.log" >&2; fail "skopeo pull of $1 through the gateway"; }
}

same_blobs() { # SRC_LAYOUT BACK_LAYOUT DIGEST
  local back f
  back=$(jq -r '.manifests[0].digest' "$2/index.json")
  [ "$back" = "$3" ] || fail "pulled manifest $back, pushed $3"
  for f in "$1"/blobs/sha256/*; do
    cmp -s "$f" "$2/blobs/sha256/$(basename "$f")" || fail "blob $(basename "$f") differs after the round trip"
  done
}

# replicas_of REPO TAG: the sorted replica names of that image in /api/v1/images.
replicas_of() {
  curl -fsS "$MASTER/api/v1/images" |
    jq -r --arg r "$1" --arg t "$2" '[.[] | select(.repository == $r and .tag == $t) | .replicas[]] | sort | join(",")'
}
replicas_are() { [ "$(replicas_of "$1" "$2")" = "$3" ]; }

# A push decision for REFERENCE with >= 2 candidates, >= 2 of them measured ok.
has_push_decision() {
  curl -fsS "$MASTER/api/v1/decisions?limit=100" | jq -e --arg ref "$1" \
    'any(.[]; .kind == "push" and .reference == $ref and (.candidates | length) >= 2
              and ([.candidates[] | select(.ok and .arrival_us > 0 and .throughput_bps > 0)] | length) >= 2
              and .chosen != "")' >/dev/null
}
last_decision_id() { curl -fsS "$MASTER/api/v1/decisions?limit=1" | jq '.[0].id // 0'; }
# chosen_after ID KIND: waits (60 s at most) for a KIND decision newer than
# ID that chose a node, and prints that node.
chosen_after() {
  local node="" deadline=$((SECONDS + 60))
  while [ -z "$node" ]; do
    ((SECONDS < deadline)) || fail "no $2 decision within 60s"
    node=$(curl -fsS "$MASTER/api/v1/decisions?limit=5" |
      jq -r --argjson s "$1" --arg k "$2" 'map(select(.id > $s and .kind == $k and .chosen != "")) | last | .chosen // empty')
    [ -n "$node" ] || sleep 0.02
  done
  echo "$node"
}
pull_decisions() { # REFERENCE: how many pull decisions name it
  curl -fsS "$MASTER/api/v1/decisions?limit=1000" | jq --arg ref "$1" '[.[] | select(.kind == "pull" and .reference == $ref)] | length'
}

handoff_pending_for() { # NODE DIGEST
  curl -fsS "$MASTER/api/v1/handoffs" | jq -e --arg n "$1" --arg d "$2" 'any(.[]; .node == $n and .digest == $d)' >/dev/null
}
no_handoffs() { [ "$(curl -fsS "$MASTER/api/v1/handoffs" | jq length)" = 0 ]; }

dm_has() { # DM REPO TAG DIGEST: the data manager's own OCI endpoint serves it (reads are open)
  local got
  got=$(curl -fsS -o /dev/null -D - -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
    "http://$(dm_http "$1")/v2/$2/manifests/$3" | tr -d '\r' | awk -F': ' 'tolower($1)=="docker-content-digest"{print $2}')
  [ "$got" = "$4" ]
}

podman_pull() { # REPO:TAG DIGEST
  command -v podman >/dev/null || fail "podman is not installed (scripts/install-deps.sh)"
  mkdir -p "$WORK/podman"
  cat >"$WORK/podman/containers.conf" <<'CONF'
[containers]
netns = "none"
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
[engine]
runtime = "runc"
CONF
  local podman=(podman --root "$WORK/podman/root" --runroot "$WORK/podman/runroot" --storage-driver vfs)
  CONTAINERS_CONF="$WORK/podman/containers.conf" "${podman[@]}" pull --quiet --tls-verify=false "$GW/$1" \
    >"$WORK/podman.log" 2>&1 || { cat "$WORK/podman.log" >&2; fail "podman pull of $1 through the gateway"; }
  local got
  got=$(CONTAINERS_CONF="$WORK/podman/containers.conf" "${podman[@]}" image inspect --format '{{.Digest}}' "$GW/$1")
  [ "$got" = "$2" ] || fail "podman pulled $got, pushed $2"
  CONTAINERS_CONF="$WORK/podman/containers.conf" "${podman[@]}" rmi -a -f >/dev/null 2>&1 || true
}
