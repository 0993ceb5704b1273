#!/usr/bin/env bash
# A data manager that hangs in the middle of a push: SIGSTOP, so its process
# lives and the kernel still accepts its connections, but nothing answers.
# Five processes; as soon as the master logs the push decision, its chosen
# data manager is stopped. The runtime's link to it breaks within the
# middleman's connection timeout (2 s); the runtime gives up its transfers
# to it and pushes again elsewhere. Waiting out the data plane's timeouts
# instead takes over a minute (60 s per step), so the push must be done
# within 45 s. Then the image is on the two others, pulls back
# byte-identical, and the hung node, resumed, gets it too.
STOWAGE=${1:?usage: $0 path/to/stowage}
source "$(dirname "$0")/cluster_lib.sh"

write_cluster_file "$WORK/cluster" "$WORK/cluster.toml" 300
start_up_cluster "$WORK/cluster.toml"

digest=$(make_oci_layout "$WORK/src" v1 4 16)
seen=$(last_decision_id)
"${SKOPEO[@]}" copy --quiet --dest-tls-verify=false "oci:$WORK/src:v1" "docker://$GW/hang/img:v1" \
  >"$WORK/skopeo-push.log" 2>&1 &
pusher=$!
victim=$(chosen_after "$seen" push)
kill -STOP "${PIDS[$victim]}"
echo "ok: stopped $victim, the push's target, while the client pushes"

deadline=$((SECONDS + 45))
while kill -0 "$pusher" 2>/dev/null; do
  ((SECONDS < deadline)) || fail "the push is still running 45 s after $victim hung"
  sleep 0.1
done
wait "$pusher" || { cat "$WORK/skopeo-push.log" >&2; fail "the push failed after $victim hung"; }
second=$(curl -fsS "$MASTER/api/v1/decisions?limit=10" |
  jq -r --argjson s "$seen" 'map(select(.id > $s and .kind == "push")) | first | .chosen')
[ -n "$second" ] && [ "$second" != "$victim" ] || fail "no second push decision away from $victim (got '$second')"
others=$(printf '%s\n' dm1 dm2 dm3 | grep -vx "$victim" | paste -sd,)
wait_until 20 "hang/img:v1 on $others" replicas_are hang/img v1 "$others"
echo "ok: the push went on to $second and is on $others"

pull_image_to hang/img:v1 "$WORK/back"
same_blobs "$WORK/src" "$WORK/back" "$digest"
echo "ok: pulled back byte-identical"

kill -CONT "${PIDS[$victim]}"
wait_until 30 "$victim back" node_is "$victim" up
wait_until 60 "$victim holding hang/img:v1" dm_has "$victim" hang/img v1 "$digest"
echo "ok: $victim, resumed, received the image"
echo PASS
