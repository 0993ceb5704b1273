#!/usr/bin/env bash
# A data manager lost in the middle of a pull: the pull still completes from
# another holder. Five processes; a big image (so its transfer to the runtime
# takes a while), pulled through the gateway; as soon as the master logs the
# pull decision its chosen data manager is lost while it streams the image
# into the runtime's cache, while the client is already reading it through
# the gateway's relay: first killed (-9), then, in a second pull, hung
# (SIGSTOP: its process lives and its sockets stay open, nothing answers).
# Each time the client's pull still succeeds, byte-identical, and the master
# logged a second pull decision with another target.
STOWAGE=${1:?usage: $0 path/to/stowage}
source "$(dirname "$0")/cluster_lib.sh"

MIB=${FAILOVER_MIB:-192}
write_cluster_file "$WORK/cluster" "$WORK/cluster.toml"
start_up_cluster "$WORK/cluster.toml"

digest=$(make_oci_layout "$WORK/src" v1 2 $((MIB / 2)))
push_image "$WORK/src" v1 big/img:v1
wait_until 60 "big/img:v1 on dm1, dm2 and dm3" replicas_are big/img v1 dm1,dm2,dm3
echo "ok: pushed a $MIB MiB image, replicated to three data managers"

# pull_losing_target HOW: HOW is "kill" (-9) or "hang" (SIGSTOP).
pull_losing_target() {
  local how=$1
  # The runtime's cache holds the image (since the push, or the last pull): a
  # pull by tag still runs the scheduling flow, but the cache would make the
  # transfer instant. Restart rt1 on an empty cache so the image really has
  # to come over.
  stop_pid rt1
  rm -rf "$WORK/cluster/rt1/cache" "$WORK/back"
  start_node "$WORK/cluster.toml" rt1
  wait_until 30 "rt1 back" all_joined rt1
  wait_until 10 "the gateway answering" healthy

  local seen victim deadline start_bytes moved puller
  seen=$(last_decision_id)
  "${SKOPEO[@]}" copy --quiet --src-tls-verify=false "docker://$GW/big/img:v1" "oci:$WORK/back:back" \
    >"$WORK/skopeo-pull.log" 2>&1 &
  puller=$!
  victim=$(chosen_after "$seen" pull)
  deadline=$((SECONDS + 60))
  # Lose it once image bytes are streaming into rt1's cache (>= 4 MiB
  # arrived), well before the whole image is there.
  cache_bytes() { du -sb "$WORK/cluster/rt1/cache" | cut -f1; }
  start_bytes=$(cache_bytes)
  until (($(cache_bytes) - start_bytes >= 4 * 1024 * 1024)); do
    kill -0 "$puller" 2>/dev/null || fail "the pull ended before $victim could be lost mid-transfer (image too small?)"
    ((SECONDS < deadline)) || fail "no image data arrived from $victim"
    sleep 0.01
  done
  if [ "$how" = kill ]; then kill9 "$victim"; else kill -STOP "${PIDS[$victim]}"; fi
  moved=$(($(cache_bytes) - start_bytes))
  echo "ok: $how $victim, the chosen data manager, $((moved / 1024 / 1024)) MiB into the $MIB MiB transfer"

  wait "$puller" || { cat "$WORK/skopeo-pull.log" >&2; fail "the pull did not complete after $victim was lost ($how)"; }
  same_blobs "$WORK/src" "$WORK/back" "$digest"
  echo "ok: the pull completed byte-identical"
  # The client was answered from the first plan and read the blobs while
  # they arrived: what it got from $victim before it was lost was continued
  # from the next target's delivery, every byte checked against the digest.
  # (Blobs the delivery brought before the plan was read, the small config
  # first, are served from the cache; the others are relayed.)
  grep -Eq "gateway: big/img:v1 answered from the plan of decision [0-9]+ \([0-9]+ blobs relayed" "$WORK/rt1.log" ||
    fail "rt1 did not answer the pull from the plan"
  echo "ok: the manifest was answered from the plan, the blobs relayed as they arrived"

  curl -fsS "$MASTER/api/v1/decisions?limit=10" |
    jq -e --argjson s "$seen" --arg v "$victim" \
      'any(.[]; .id > $s and .kind == "pull" and .chosen != "" and .chosen != $v)' >/dev/null ||
    fail "no second pull decision chose another holder than $victim"
  grep -q "rt1: pull from $victim failed" "$WORK/rt1.log" || fail "rt1 did not log the failed transfer from $victim"
  echo "ok: the master picked another holder after $victim was lost"
}

pull_losing_target kill
pull_losing_target hang
echo PASS
