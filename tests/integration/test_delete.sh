#!/usr/bin/env bash
# Deletes across the cluster, five processes: skopeo deletes an image through
# the gateway while dm3 is killed (-9); dm1 and dm2 drop it with its blobs at
# once, /api/v1/removals shows dm3's share; a tag is deleted with curl; the
# master is restarted while dm3 is still down; dm3, restarted, applies both
# deletes before its copies could count again, and nothing brings them back.
# The image can then be pushed again. Bad deletes get OCI errors.
STOWAGE=${1:?usage: $0 path/to/stowage}
source "$(dirname "$0")/cluster_lib.sh"

RETRY_MS=300
write_cluster_file "$WORK/cluster" "$WORK/cluster.toml" "$RETRY_MS"
start_up_cluster "$WORK/cluster.toml"

d1=$(make_oci_layout "$WORK/src1" v1 2 1)
d2=$(make_oci_layout "$WORK/src2" v2 1 1)
push_image "$WORK/src1" v1 test/img:v1
push_image "$WORK/src2" v2 test/img:v2
wait_until 20 "test/img:v1 on dm1, dm2 and dm3" replicas_are test/img v1 dm1,dm2,dm3
wait_until 20 "test/img:v2 on dm1, dm2 and dm3" replicas_are test/img v2 dm1,dm2,dm3
layer1=$(jq -r '.layers[0].digest' "$WORK/src1/blobs/sha256/${d1#sha256:}")

status_of() { # METHOD URL: the HTTP status
  curl -s -o "$WORK/body" -w '%{http_code}' -X "$1" "$2"
}
code_of() { jq -r '.errors[0].code' "$WORK/body"; }
dm_status() { # DM PATH
  curl -s -o /dev/null -w '%{http_code}' -H 'Accept: application/vnd.oci.image.manifest.v1+json' "http://$(dm_http "$1")$2"
}
removals_for() { # NODE: how many deletes it has still to apply
  curl -fsS "$MASTER/api/v1/removals" | jq --arg n "$1" '[.[] | select(.node == $n)] | length'
}
no_removals() { [ "$(curl -fsS "$MASTER/api/v1/removals" | jq length)" = 0 ]; }
lists_digest() { curl -fsS "$MASTER/api/v1/images" | jq -e --arg d "$1" 'any(.[]; .digest == $d)' >/dev/null; }

# ---- 1. skopeo deletes v1 (by its digest) while dm3 is down --------------------------
kill9 dm3
wait_until 10 "the master seeing dm3 down" node_is dm3 down
"${SKOPEO[@]}" delete --tls-verify=false "docker://$GW/test/img:v1" >"$WORK/skopeo-delete.log" 2>&1 ||
  { cat "$WORK/skopeo-delete.log" >&2; fail "skopeo delete through the gateway"; }
for dm in dm1 dm2; do
  [ "$(dm_status "$dm" "/v2/test/img/manifests/$d1")" = 404 ] || fail "$dm still serves $d1"
  [ "$(dm_status "$dm" "/v2/test/img/manifests/v1")" = 404 ] || fail "$dm still serves test/img:v1"
  [ "$(dm_status "$dm" "/v2/test/img/blobs/$layer1")" = 404 ] || fail "$dm still serves a layer of $d1"
  dm_has "$dm" test/img v2 "$d2" || fail "$dm lost test/img:v2"
done
[ "$(removals_for dm3)" = 2 ] || { curl -fsS "$MASTER/api/v1/removals" | jq -c . >&2; fail "dm3's share of the delete is not recorded"; }
lists_digest "$d1" && fail "/api/v1/images still lists $d1"
[ "$(status_of GET "http://$GW/v2/test/img/manifests/v1")" = 404 ] && [ "$(code_of)" = MANIFEST_UNKNOWN ] ||
  fail "the gateway still resolves test/img:v1"
[ "$(status_of GET "http://$GW/v2/test/img/manifests/$d1")" = 404 ] || fail "the gateway still serves $d1"
echo "ok: skopeo's delete took $d1 off dm1, dm2 and the cache; dm3's share is recorded"

# ---- 2. a tag delete (curl) leaves its manifest reachable by digest -------------------
[ "$(status_of DELETE "http://$GW/v2/test/img/manifests/v2")" = 202 ] || fail "DELETE of test/img:v2: $(cat "$WORK/body")"
[ "$(status_of GET "http://$GW/v2/test/img/manifests/v2")" = 404 ] || fail "test/img:v2 still resolves"
[ "$(dm_status dm1 "/v2/test/img/manifests/v2")" = 404 ] || fail "dm1 still has the tag v2"
[ "$(status_of GET "http://$GW/v2/test/img/manifests/$d2")" = 200 ] || fail "$d2 is gone with its tag"
[ "$(removals_for dm3)" = 3 ] || fail "dm3's share of the tag delete is not recorded"
echo "ok: the tag v2 is gone, its manifest stays"

# ---- 3. bad deletes: OCI errors, nothing changes ------------------------------------
[ "$(status_of DELETE "http://$GW/v2/test/img/manifests/nope")" = 404 ] && [ "$(code_of)" = MANIFEST_UNKNOWN ] ||
  fail "an unknown tag: $(cat "$WORK/body")"
[ "$(status_of DELETE "http://$GW/v2/test/IMG/manifests/v1")" = 400 ] && [ "$(code_of)" = NAME_INVALID ] ||
  fail "an invalid name: $(cat "$WORK/body")"
[ "$(status_of DELETE "http://$GW/v2/test/img/manifests/sha256:zz")" = 400 ] && [ "$(code_of)" = DIGEST_INVALID ] ||
  fail "an invalid digest: $(cat "$WORK/body")"
[ "$(status_of DELETE "http://$(dm_http dm1)/v2/test/img/manifests/$d2")" = 401 ] ||
  fail "a data manager took a delete without the master"
dm_has dm1 test/img "$d2" "$d2" || fail "a refused delete changed dm1"
[ "$(removals_for dm3)" = 3 ] || fail "a refused delete was recorded"
echo "ok: bad deletes are refused with OCI errors"

# ---- 4. the master restarts; dm3 comes back and applies what it missed -------------
kill9 master
start_node "$WORK/cluster.toml" master
wait_until 30 "the restarted master answering" healthy
wait_until 30 "dm1, dm2 and rt1 re-joining the new master" all_joined dm1 dm2 rt1
[ "$(removals_for dm3)" = 3 ] || fail "the deletes for dm3 did not survive the master's restart"
echo "ok: the restarted master still holds dm3's deletes"

start_node "$WORK/cluster.toml" dm3
wait_until 20 "dm3 back" node_is dm3 up
wait_until 10 "dm3 applying its deletes" no_removals
[ "$(dm_status dm3 "/v2/test/img/manifests/$d1")" = 404 ] || fail "dm3 still serves $d1"
[ "$(dm_status dm3 "/v2/test/img/manifests/v2")" = 404 ] || fail "dm3 still has the tag v2"
dm_has dm3 test/img "$d2" "$d2" || fail "dm3 lost the manifest of v2"
# A few retry intervals: nothing is owed or delivered back.
sleep $(((5 * RETRY_MS) / 1000 + 1))
no_handoffs || fail "the master owes a deleted image again"
for dm in dm1 dm2 dm3; do
  [ "$(dm_status "$dm" "/v2/test/img/manifests/$d1")" = 404 ] || fail "$d1 came back on $dm"
done
lists_digest "$d1" && fail "$d1 came back into /api/v1/images"
grep -q "dm3 applied 3 delete(s)" "$WORK"/master.log || fail "the master's log does not say dm3 applied its deletes"
echo "ok: dm3 applied the deletes it missed; nothing came back"

# ---- 5. pushed again, the image is everywhere again ----------------------------------
push_image "$WORK/src1" v1 test/img:v1
wait_until 20 "test/img:v1 on dm1, dm2 and dm3 again" replicas_are test/img v1 dm1,dm2,dm3
pull_image_to test/img:v1 "$WORK/back"
same_blobs "$WORK/src1" "$WORK/back" "$d1"
echo PASS
