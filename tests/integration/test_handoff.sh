#!/usr/bin/env bash
# Claim 3 for real, with five processes: dm3 is killed (-9); a push still
# succeeds; /api/v1/handoffs shows the delivery pending for dm3; dm3,
# restarted, has the image within a few retry intervals. Then the same with
# the master restarted while the handoff is pending: the handoff is durable
# and is delivered once dm3 is back. Last, dm3 returns with its store wiped:
# the master sees from its join what it lacks and delivers it.
STOWAGE=${1:?usage: $0 path/to/stowage}
source "$(dirname "$0")/cluster_lib.sh"

RETRY_MS=300
write_cluster_file "$WORK/cluster" "$WORK/cluster.toml" "$RETRY_MS"
start_up_cluster "$WORK/cluster.toml"

# ---- 1. dm3 down during a push -----------------------------------------------------
kill9 dm3
wait_until 10 "the master seeing dm3 down" node_is dm3 down
echo "ok: dm3 killed, the master sees it down"

d1=$(make_oci_layout "$WORK/src1" v1 2 2)
push_image "$WORK/src1" v1 test/img:v1
echo "ok: the push succeeded with dm3 down"
wait_until 10 "a pending handoff of $d1 for dm3" handoff_pending_for dm3 "$d1"
curl -fsS "$MASTER/api/v1/handoffs" | jq -c .
curl -fsS "$MASTER/api/v1/images" | jq -e --arg d "$d1" 'any(.[]; .digest == $d and (.pending | index("dm3")))' >/dev/null ||
  fail "/api/v1/images does not list dm3 as pending"
echo "ok: /api/v1/handoffs shows the delivery pending for dm3"

start_node "$WORK/cluster.toml" dm3
# A few retry intervals once dm3 has joined again (its start and join take a moment).
wait_until 20 "dm3 back" node_is dm3 up
limit=$(((10 * RETRY_MS) / 1000 + 5))
wait_until "$limit" "dm3 holding $d1" dm_has dm3 test/img v1 "$d1"
wait_until 5 "the handoff cleared" no_handoffs
wait_until 5 "test/img:v1 on dm1, dm2 and dm3" replicas_are test/img v1 dm1,dm2,dm3
echo "ok: dm3, restarted, received the image; no handoff left"

# ---- 2. the master restarts while the handoff is pending -----------------------------
kill9 dm3
wait_until 10 "the master seeing dm3 down" node_is dm3 down
d2=$(make_oci_layout "$WORK/src2" v2 2 2)
push_image "$WORK/src2" v2 test/img:v2
wait_until 10 "a pending handoff of $d2 for dm3" handoff_pending_for dm3 "$d2"
echo "ok: second push with dm3 down, handoff pending"

kill9 master
start_node "$WORK/cluster.toml" master
wait_until 30 "the restarted master answering" healthy
wait_until 10 "the handoff surviving the master's restart" handoff_pending_for dm3 "$d2"
wait_until 30 "dm1, dm2 and rt1 re-joining the new master" all_joined dm1 dm2 rt1
# dm3 never joined the new master: it is listed, down, and counted down.
node_is dm3 down || fail "the restarted master does not list dm3 as down: $(curl -fsS "$MASTER/api/v1/nodes")"
curl -fsS "$MASTER/metrics" | grep -qx 'stowage_nodes{role="data",state="down"} 1' ||
  fail "/metrics does not count dm3 down"
echo "ok: the restarted master still holds the handoff for dm3 and lists dm3 down"

start_node "$WORK/cluster.toml" dm3
wait_until 20 "dm3 back" node_is dm3 up
wait_until "$limit" "dm3 holding $d2" dm_has dm3 test/img v2 "$d2"
wait_until 5 "the handoff cleared" no_handoffs
dm_has dm3 test/img v1 "$d1" || fail "dm3 lost the first image"
echo "ok: dm3 received the image the restarted master kept for it"

# ---- 3. dm3 comes back with an empty store (its disk replaced, its key kept) ----------
# No push failed for it, so nothing was handed off: its join, listing nothing,
# shows the master what it lacks.
kill9 dm3
wait_until 10 "the master seeing dm3 down" node_is dm3 down
rm -rf "$WORK/cluster/dm3/store"
start_node "$WORK/cluster.toml" dm3
wait_until 20 "dm3 back" node_is dm3 up
wait_until "$limit" "dm3 holding $d1 again" dm_has dm3 test/img v1 "$d1"
wait_until "$limit" "dm3 holding $d2 again" dm_has dm3 test/img v2 "$d2"
wait_until 5 "the handoffs cleared" no_handoffs
wait_until 5 "test/img:v2 on dm1, dm2 and dm3" replicas_are test/img v2 dm1,dm2,dm3
grep -q "dm3 lacks 2 image(s)" "$WORK"/master*.log || fail "the master's log does not say what dm3 lacked"
echo "ok: dm3, back with an empty store, received both images again"

# The cluster still serves pulls after all this.
pull_image_to test/img:v2 "$WORK/back"
same_blobs "$WORK/src2" "$WORK/back" "$d2"
echo PASS
