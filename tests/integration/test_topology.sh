#!/usr/bin/env bash
# Topology: every node in its own network namespace, joined by veth pairs to
# a bridge in a hub namespace (where the master lives). Each data manager's
# egress is shaped with tc tbf: dm1 50 Mbit/s, dm2 200 Mbit/s, dm3 1000 Mbit/s
# (the fastest is deliberately not the first name, so a tie-break by name
# cannot pass). The cluster file is the one of `stowage dev --print-config`
# with each node's `host` line rewritten to its namespace address; the
# product is never told the rates, it only measures test packets.
#
# A 64 MiB image is pushed once and replicated to all three data managers.
# dm1's ingress is shaped too (50 Mbit/s, the hub's side of its veth): the
# push is acknowledged once min_copies (2) places hold it, while dm1, which
# needs over 10 s for 64 MiB, is still receiving. The push's target is then
# hung (SIGSTOP): the master hands the image off for dm1 and delivers it
# from the other holder; the target is resumed before the pulls.
# Then 20 pulls by tag through rt1's gateway, each with an empty runtime
# cache (rt1 is restarted on a wiped cache, keeping its identity), must go to
# dm3 at least 19 times according to the master's decision log. The mean pull
# time is printed next to what a random choice of holder would give, from
# the time each data manager takes to send the image's blobs to rt1.
#
# Needs root and `ip netns`; skips (exit 0) otherwise. Addresses are in
# 10.213.X.0/24, which exists only inside the namespaces created here.
STOWAGE=${1:?usage: $0 path/to/stowage}
set -euo pipefail

skip() { echo "skipped: needs root and ip netns ($*)"; exit 0; }
[ "$(id -u)" = 0 ] || skip "not root"
command -v ip >/dev/null || skip "no ip command"
command -v tc >/dev/null || skip "no tc command"
NS_HUB="stw-hub-$$"
ip netns add "$NS_HUB" 2>/dev/null || skip "ip netns add failed"
ip netns del "$NS_HUB"

source "$(dirname "$0")/cluster_lib.sh"

NS_DM=("" "stw-dm1-$$" "stw-dm2-$$" "stw-dm3-$$") # index i = dm i
NS_RT="stw-rt1-$$"
RATES=("" 50mbit 200mbit 1000mbit)
# tbf bursts: 1000mbit needs 128kb here (GSO packets of 64 KiB); smaller
# rates get smaller bursts so that most of a test packet is shaped.
BURSTS=("" 32kb 64kb 128kb)
FASTEST=dm3
PULLS=20
NEED=19
NET="10.213.$(($$ % 200 + 20))"
MASTER_IP="$NET.1" # the bridge in the hub namespace
dm_ip() { echo "$NET.$((10 + ${1#dm}))"; }
RT_IP="$NET.100"

delete_namespaces() {
  local ns
  for ns in "$NS_RT" "${NS_DM[3]}" "${NS_DM[2]}" "${NS_DM[1]}" "$NS_HUB"; do
    ip netns del "$ns" 2>/dev/null || true
  done
}
# cluster_lib's cleanup stops the processes; the namespaces go after them.
trap 'TEST_FAILED=$([ $? -eq 0 ] && echo 0 || echo 1); cleanup; delete_namespaces' EXIT

# Every client (curl, skopeo) runs in rt1's namespace: the root namespace has
# no route to these addresses, and a runtime host is where pulls come from.
curl() { ip netns exec "$NS_RT" curl "$@"; }
SKOPEO=(ip netns exec "$NS_RT" skopeo --policy "$WORK/policy.json")
GW="$RT_IP:$P"
MASTER="http://$MASTER_IP:$((P + 1))"

# ---- namespaces, bridge, veth pairs, rate limits ----------------------------
ip netns add "$NS_HUB"
ip -n "$NS_HUB" link set lo up
ip -n "$NS_HUB" link add br0 type bridge
ip -n "$NS_HUB" addr add "$MASTER_IP/24" dev br0
ip -n "$NS_HUB" link set br0 up

attach() { # NS HUB_SIDE_NAME ADDRESS: NS gets eth0 at ADDRESS on the bridge
  ip netns add "$1"
  ip -n "$1" link set lo up
  ip -n "$NS_HUB" link add "$2" type veth peer name eth0 netns "$1"
  ip -n "$NS_HUB" link set "$2" master br0 up
  ip -n "$1" addr add "$3/24" dev eth0
  ip -n "$1" link set eth0 up
}
for i in 1 2 3; do
  attach "${NS_DM[$i]}" "hdm$i" "$(dm_ip "dm$i")"
  # Egress of the data manager: everything it sends (test packets, blobs) is
  # held to its rate.
  ip netns exec "${NS_DM[$i]}" tc qdisc add dev eth0 root tbf rate "${RATES[$i]}" burst "${BURSTS[$i]}" latency 400ms ||
    fail "tc tbf on dm$i's veth"
done
# dm1's ingress: what the bridge sends it (replication from the target).
ip netns exec "$NS_HUB" tc qdisc add dev hdm1 root tbf rate "${RATES[1]}" burst "${BURSTS[1]}" latency 400ms ||
  fail "tc tbf on the hub's side of dm1's veth"
attach "$NS_RT" hrt1 "$RT_IP"
echo "ok: namespaces $NS_HUB (master, bridge), ${NS_DM[*]:1}, $NS_RT on $NET.0/24;" \
  "tbf dm1 ${RATES[1]} (both ways), dm2 ${RATES[2]}, dm3 ${RATES[3]}"

# ---- the cluster file: one host line per node moved into its namespace -------
write_cluster_file "$WORK/cluster" "$WORK/cluster.toml"
set_host() { # NAME ADDRESS
  grep -q "^name = \"$1\"" "$WORK/cluster.toml" || fail "no node $1 in the cluster file"
  sed -i "/^name = \"$1\"/,/^host = /s/^host = .*/host = \"$2\"/" "$WORK/cluster.toml"
}
set_host master "$MASTER_IP"
# Test packets of 4 MiB: with the default 256 KiB, the packet's time on this
# shared 2-core machine is dominated by scheduling, not by the link (measured:
# 9 of 20 pulls to the fastest node). The size is a measurement setting; the
# rates appear nowhere.
sed -i 's/^probe_bytes = [0-9]*/probe_bytes = 4194304/' "$WORK/cluster.toml"
grep -q '^probe_bytes = 4194304' "$WORK/cluster.toml" || fail "probe_bytes not set in the cluster file"
for i in 1 2 3; do set_host "dm$i" "$(dm_ip "dm$i")"; done
set_host rt1 "$RT_IP"
(($(grep -c "^host = \"$NET\." "$WORK/cluster.toml") == 5)) || fail "not every host line was rewritten"
if grep -Eqi 'mbit|bandwidth|rate *=' "$WORK/cluster.toml"; then fail "the cluster file mentions a rate"; fi

ns_of() { case $1 in master) echo "$NS_HUB" ;; rt1) echo "$NS_RT" ;; dm*) echo "${NS_DM[${1#dm}]}" ;; esac; }
start_in_ns() { # NAME [LOG_KEY]
  local key=${2:-$1}
  ip netns exec "$(ns_of "$1")" "$STOWAGE" up --config "$WORK/cluster.toml" --node "$1" \
    --log-level "${LOG_LEVEL:-info}" >>"$WORK/$key.log" 2>&1 &
  PIDS[$1]=$!
}
for n in master dm1 dm2 dm3 rt1; do start_in_ns "$n"; done
wait_until 60 "the cluster answering" healthy
wait_until 30 "every node joined" all_joined dm1 dm2 dm3 rt1
echo "ok: five processes in five namespaces joined the master"

# rt1's gateway is on the network (data managers deliver to it), but only
# this host's engines may push or delete through it unsigned: from another
# namespace (another host), 403 DENIED, before the cluster is asked.
from_hub() { ip netns exec "$NS_HUB" curl -sS -o "$WORK/hub.out" -w '%{http_code}' "$@"; }
code=$(from_hub -X POST "http://$GW/v2/topo/img/blobs/uploads/")
[ "$code" = 403 ] && grep -q DENIED "$WORK/hub.out" ||
  fail "an unsigned upload from another host got $code: $(cat "$WORK/hub.out")"
code=$(from_hub -X DELETE "http://$GW/v2/topo/img/manifests/v1")
[ "$code" = 403 ] || fail "an unsigned delete from another host got $code: $(cat "$WORK/hub.out")"
code=$(from_hub "http://$GW/v2/")
[ "$code" = 200 ] || fail "a read from another host got $code"
code=$(curl -sS -o /dev/null -w '%{http_code}' -X POST "http://$GW/v2/topo/img/blobs/uploads/")
[ "$code" = 202 ] || fail "an upload from rt1's own host got $code"
echo "ok: rt1's gateway refuses unsigned writes from another host (403) and takes them from its own"

# ---- one 64 MiB image on every data manager ---------------------------------
digest=$(make_oci_layout "$WORK/src" v1 4 16)
size=$(du -cb "$WORK"/src/blobs/sha256/* | tail -1 | cut -f1)
t0=$(date +%s%3N)
push_image "$WORK/src" v1 topo/img:v1
t_ack=$(($(date +%s%3N) - t0))
# The master hears of each copy from its holder, apart from the ack.
two_replicas() { [ "$(replicas_of topo/img v1 | tr ',' '\n' | grep -c .)" -ge 2 ]; }
wait_until 10 "the acknowledged push listed on 2 data managers" two_replicas
at_ack=$(replicas_of topo/img v1)
# At 50 Mbit/s, 64 MiB take dm1 at least 10.7 s: the rate limit, not this
# machine's speed, keeps dm1 out of the acknowledgement.
[[ ",$at_ack," != *,dm1,* ]] || fail "dm1 (50 Mbit/s in) already held the image when the push was acknowledged ($at_ack)"
echo "ok: pushed $digest ($((size / 1048576)) MiB): acknowledged after $t_ack ms on $at_ack"

# The push's target now hangs (SIGSTOP) while dm1 is still fetching from it.
# Nobody is left to hand the image off for dm1 but the master, which told
# dm1 to expect it: it does, and delivers it from the other holder.
target=$(curl -fsS "$MASTER/api/v1/decisions?limit=10" | jq -r '[.[] | select(.kind == "push")][0].chosen')
[ "$target" != dm1 ] || fail "dm1, the slowest, was chosen as the push's target"
kill -STOP "${PIDS[$target]}"
wait_until 15 "the master handing topo/img:v1 off for dm1 after $target hung" handoff_pending_for dm1 "$digest"
echo "ok: $target hung with dm1 still receiving; the master handed the image off for dm1"
dm1_holds() { [[ ",$(replicas_of topo/img v1)," == *,dm1,* ]]; }
wait_until 180 "dm1 holding topo/img:v1" dm1_holds
wait_until 10 "the handoff cleared" no_handoffs
t_all=$(($(date +%s%3N) - t0))
kill -CONT "${PIDS[$target]}"
wait_until 30 "$target back" node_is "$target" up
wait_until 30 "topo/img:v1 on dm1, dm2 and dm3" replicas_are topo/img v1 dm1,dm2,dm3
echo "ok: dm1 got the image from $(replicas_of topo/img v1 | tr ',' '\n' | grep -vx "$target" | grep -vx dm1) after $t_all ms;" \
  "$target resumed and holds it too"

# ---- 20 pulls by tag, each with an empty runtime cache ----------------------
fresh_rt1() { # RUN: restart rt1 with its cache wiped (its identity stays)
  stop_pid rt1
  rm -rf "$WORK/cluster/rt1/cache"
  start_in_ns rt1 "rt1-$1"
  wait_until 30 "rt1 joining again" grep -q "rt1: joined" "$WORK/rt1-$1.log"
  wait_until 30 "rt1 up on the master" node_is rt1 up
  wait_until 30 "rt1's gateway answering" curl -fsS -o /dev/null "http://$GW/v2/"
}
# first_pull_since ID: the oldest pull decision for topo/img:v1 newer than ID
# (the one that moved the image; a second manifest request finds it cached).
first_pull_since() {
  curl -fsS "$MASTER/api/v1/decisions?limit=1000" | jq -c --argjson id "$1" \
    '[.[] | select(.kind == "pull" and .reference == "topo/img:v1" and .id > $id)] | sort_by(.id) | .[0] // empty'
}
now_ms() { date +%s%3N; }

fast=0
total_ms=0
declare -A CHOSEN=()
for run in $(seq 1 "$PULLS"); do
  fresh_rt1 "$run"
  since=$(last_decision_id)
  rm -rf "$WORK/back"
  t0=$(now_ms)
  pull_image_to topo/img:v1 "$WORK/back"
  t1=$(now_ms)
  same_blobs "$WORK/src" "$WORK/back" "$digest"
  d=$(first_pull_since "$since")
  [ -n "$d" ] || fail "pull $run: no pull decision was logged"
  chosen=$(jq -r .chosen <<<"$d")
  CHOSEN[$chosen]=$((${CHOSEN[$chosen]:-0} + 1))
  [ "$chosen" = "$FASTEST" ] && fast=$((fast + 1))
  total_ms=$((total_ms + t1 - t0))
  echo "pull $run: $((t1 - t0)) ms from $chosen;" \
    "measured $(jq -r '[.candidates[] | "\(.node) \(.arrival_us)us \((.throughput_bps * 8 / 1e6) | floor)Mbit/s"] | join(", ")' <<<"$d")"
done
summary=""
for n in dm1 dm2 dm3; do summary+="$n ${CHOSEN[$n]:-0}  "; done
echo "chosen: $summary"
((fast >= NEED)) || fail "only $fast of $PULLS pulls went to $FASTEST (need $NEED)"
echo "ok: $fast of $PULLS pulls went to $FASTEST, the fastest node, by measurement alone"

# ---- what a random choice would give ----------------------------------------
# Each data manager's own OCI endpoint (reads are open) sends the image's
# blobs to rt1's namespace: the data-plane time of a pull served by that node.
direct_ms() { # DM
  local t0 t1 b
  t0=$(now_ms)
  for b in $(jq -r '.config.digest, .layers[].digest' "$WORK/src/blobs/sha256/${digest#sha256:}"); do
    curl -fsS -o /dev/null "http://$(dm_ip "$1"):$((P + 10 + ${1#dm}))/v2/topo/img/blobs/$b" ||
      fail "direct read of a blob from $1"
  done
  t1=$(now_ms)
  echo $((t1 - t0))
}
declare -A DIRECT=()
sum_direct=0
for n in dm1 dm2 dm3; do
  DIRECT[$n]=$(direct_ms "$n")
  sum_direct=$((sum_direct + DIRECT[$n]))
done
mean_pull=$((total_ms / PULLS))
# A pull through Stowage = the transfer from the chosen node + the cluster's
# own overhead (probe round, cache writes, skopeo); a random choice keeps the
# overhead and pays the mean transfer time of the three nodes.
overhead=$((mean_pull - DIRECT[$FASTEST]))
((overhead < 0)) && overhead=0
random_ms=$((sum_direct / 3 + overhead))
echo "direct transfer of the $((size / 1048576)) MiB image to rt1: dm1 ${DIRECT[dm1]} ms, dm2 ${DIRECT[dm2]} ms, dm3 ${DIRECT[dm3]} ms"
echo "mean pull time through Stowage (measured, $PULLS pulls): $mean_pull ms"
echo "expected pull time with a random holder: $random_ms ms (mean direct $((sum_direct / 3)) ms + overhead $overhead ms)"
awk -v a="$mean_pull" -v b="$random_ms" 'BEGIN { printf "speed-up over a random choice: %.2fx\n", b / a }'
echo PASS
