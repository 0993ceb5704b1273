#!/usr/bin/env bash
# `stowage dev` (the whole cluster in one process), driven by real clients
# through the runtime gateway: skopeo pushes a generated image; within
# seconds the master lists it on all three data managers and shows a push
# decision over >= 2 measured candidates; skopeo pulls it back byte-identical
# and a pull decision is logged; podman pulls it too; three clients push
# one new image under three tags at once. Then the cluster is
# stopped and started again on the same directory: the images are still
# there and pull again. A 512 MiB layer is pushed, then pulled into an
# empty cache: the process's memory stays flat (DESIGN: large blobs
# stream). Last, it starts with a fourth data manager, which is brought the
# image.
STOWAGE=${1:?usage: $0 path/to/stowage}
source "$(dirname "$0")/cluster_lib.sh"

start_dev "$WORK/data"
echo "ok: stowage dev up on port base $P"

digest=$(make_oci_layout "$WORK/src" v1 3 4)
push_image "$WORK/src" v1 test/img:v1
echo "ok: skopeo pushed $digest through the gateway"

wait_until 20 "test/img:v1 on dm1, dm2 and dm3" replicas_are test/img v1 dm1,dm2,dm3
echo "ok: /api/v1/images shows replicas dm1,dm2,dm3"
wait_until 5 "a push decision over >= 2 measured candidates" has_push_decision test/img:v1
curl -fsS "$MASTER/api/v1/decisions?limit=1" | jq -c '.[0]'
status_of() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
[ "$(status_of -X POST "$MASTER/no/such/page")" = 404 ] || fail "POST to an unknown page of the master is not 404"
[ "$(status_of -X POST "$MASTER/api/v1/nodes")" = 405 ] || fail "POST to /api/v1/nodes is not 405"

before=$(pull_decisions test/img:v1)
pull_image_to test/img:v1 "$WORK/back"
same_blobs "$WORK/src" "$WORK/back" "$digest"
echo "ok: skopeo pulled it back byte-identical"
after=$(pull_decisions test/img:v1)
((after > before)) || fail "no pull decision was logged for test/img:v1 ($before before, $after after)"
echo "ok: a pull decision was logged"

podman_pull test/img:v1 "$digest"
echo "ok: podman pulled $digest through the gateway"

# One new image pushed under three tags at once (parallel CI jobs): every
# client succeeds. A client that asks for a blob another one is uploading
# is told it is not there yet, and uploads it too.
same=$(make_oci_layout "$WORK/same" v1 2 8)
for t in a b c; do
  "${SKOPEO[@]}" copy --quiet --dest-tls-verify=false "oci:$WORK/same:v1" "docker://$GW/test/same:$t" \
    >"$WORK/same-$t.log" 2>&1 &
done
for t in a b c; do wait -n || fail "a concurrent push of test/same failed: $(cat "$WORK"/same-*.log)"; done
for t in a b c; do wait_until 20 "test/same:$t on dm1, dm2 and dm3" replicas_are test/same "$t" dm1,dm2,dm3; done
echo "ok: three concurrent pushes of $same under three tags all landed"

# The same directory after a restart: identities, stores and the catalog survive.
stop_pid dev
start_dev "$WORK/data"
wait_until 20 "test/img:v1 on dm1, dm2 and dm3 after the restart" replicas_are test/img v1 dm1,dm2,dm3
rm -rf "$WORK/back"
pull_image_to test/img:v1 "$WORK/back"
same_blobs "$WORK/src" "$WORK/back" "$digest"
echo "ok: after a restart on the same --data the image is still there and pulls"

# Memory stays flat whatever the blob size: the peak resident set grows by
# far less than the layer while 512 MiB go in (cache, target, two peers) and
# out again through a restarted cluster whose cache was emptied.
peak_kib() { awk '/^VmHWM:/ {print $2}' "/proc/${PIDS[dev]}/status"; }
big=$(make_oci_layout "$WORK/big" v1 1 512)
before=$(peak_kib)
push_image "$WORK/big" v1 test/big:v1
wait_until 60 "test/big:v1 on dm1, dm2 and dm3" replicas_are test/big v1 dm1,dm2,dm3
pushed=$(($(peak_kib) - before))
stop_pid dev
rm -rf "$WORK/data/rt1/cache"
start_dev "$WORK/data"
before=$(peak_kib)
pull_image_to test/big:v1 "$WORK/big-back"
same_blobs "$WORK/big" "$WORK/big-back" "$big"
pulled=$(($(peak_kib) - before))
echo "peak RSS growth: push of 512 MiB $pushed KiB, cold pull $pulled KiB"
((pushed < 65536 && pulled < 65536)) || fail "memory grew with the blob: push $pushed KiB, pull $pulled KiB (limit 65536)"
rm -rf "$WORK/big" "$WORK/big-back"
echo "ok: a 512 MiB layer went in and out with the peak RSS up by less than 64 MiB"

# A new tag on an image the emptied cache lacks, as `crane tag` does it: the
# manifest read (a pull through the cluster begins), then written back under
# the new tag at once. The PUT waits for the blobs the pull brings.
type=application/vnd.oci.image.manifest.v1+json
curl -fsS -H "Accept: $type" -o "$WORK/img.manifest" "http://$GW/v2/test/img/manifests/v1" ||
  fail "GET of test/img:v1's manifest"
code=$(curl -s -o "$WORK/retag.out" -w '%{http_code}' -X PUT -H "Content-Type: $type" \
  --data-binary "@$WORK/img.manifest" "http://$GW/v2/test/img/manifests/retagged")
[ "$code" = 201 ] || fail "PUT of the manifest under a new tag right after its GET: $code $(cat "$WORK/retag.out")"
wait_until 20 "test/img:retagged on dm1, dm2 and dm3" replicas_are test/img retagged dm1,dm2,dm3
echo "ok: a manifest read cold and written back under a new tag at once was taken and replicated"
stop_pid dev

# One data manager more on the same --data: dm4 joins empty and is brought
# the image (the master sees from its join what it lacks).
start_dev "$WORK/data" --data-managers 4
wait_until 30 "dm4 joined" node_is dm4 up
wait_until 20 "test/img:v1 on dm1..dm4" replicas_are test/img v1 dm1,dm2,dm3,dm4
# A delivery brings one of the image's tags (v1 or retagged); the other
# follows right after (set_tags), and /api/v1/images counts the image.
wait_until 20 "dm4 serves test/img:v1" dm_has dm4 test/img v1 "$digest"
wait_until 20 "dm4 serves test/img:retagged" dm_has dm4 test/img retagged \
  "$(sha256sum "$WORK/img.manifest" | awk '{print "sha256:" $1}')"
echo "ok: a fourth data manager added on restart received the image"
# A request the HTTP server cannot parse gets a JSON error everywhere: OCI on
# the gateway and the data managers, the admin API's shape on the master.
for base in "http://$GW" "http://$(dm_http dm1)"; do
  code=$(curl -s -o "$WORK/body" -w '%{http_code}' "$base/v2/test/img/tags/list?n=%zz")
  [ "$code" = 400 ] && [ "$(jq -r '.errors[0].code' "$WORK/body")" = UNSUPPORTED ] ||
    fail "$base: an unparsable query got $code $(cat "$WORK/body")"
done
code=$(curl -s -o "$WORK/body" -w '%{http_code}' "$MASTER/api/v1/decisions?limit=%zz")
[ "$code" = 400 ] && jq -e .error "$WORK/body" >/dev/null || fail "the master: an unparsable query got $code"
echo "ok: unparsable requests get JSON errors on the gateway, a data manager and the master"
stop_pid dev
grep -q "rt1: " "$WORK/dev.log" && grep -q "master: " "$WORK/dev.log" || fail "log lines do not name their node"
echo PASS
