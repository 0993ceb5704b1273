#!/usr/bin/env bash
# Multi-platform images and pulls by digest through `stowage dev`: skopeo
# pushes an image index (linux/amd64 + linux/arm64) with --all; a pull by tag
# for arm64 gets the arm64 image. After a restart with the runtime's cache
# gone, a platform's manifest pulls by its own digest (no tag names it), and
# so does the index a tag moved on from; the tags list and the catalog are
# the cluster's, and a blob asked for alone comes through the cluster too.
# Deleting that index by digest takes its platform manifests with it.
STOWAGE=${1:?usage: $0 path/to/stowage}
source "$(dirname "$0")/cluster_lib.sh"

start_dev "$WORK/data"
mapfile -t v1 < <(make_oci_index_layout "$WORK/src1" v1) # index, amd64, arm64
"${SKOPEO[@]}" copy --quiet --all --dest-tls-verify=false "oci:$WORK/src1:v1" "docker://$GW/test/multi:v1" \
  >"$WORK/skopeo-push.log" 2>&1 || { cat "$WORK/skopeo-push.log" >&2; fail "skopeo push --all of the index"; }
wait_until 20 "test/multi:v1 on dm1, dm2 and dm3" replicas_are test/multi v1 dm1,dm2,dm3
echo "ok: skopeo pushed the index ${v1[0]} and its two platforms"

pull_platform() { # REFERENCE ARCH LAYOUT: skopeo pull of one platform through the gateway
  "${SKOPEO[@]}" copy --quiet --src-tls-verify=false --override-arch "$2" --override-os linux \
    "docker://$GW/$1" "oci:$3:back" >"$WORK/skopeo-pull.log" 2>&1 ||
    { cat "$WORK/skopeo-pull.log" >&2; fail "skopeo pull of $1 ($2) through the gateway"; }
  jq -r '.manifests[0].digest' "$3/index.json"
}
got=$(pull_platform test/multi:v1 arm64 "$WORK/arm")
[ "$got" = "${v1[2]}" ] || fail "an arm64 pull of test/multi:v1 got $got, not ${v1[2]}"
echo "ok: a pull by tag for arm64 got the arm64 image"

# The tag moves on; the cluster restarts with an empty runtime cache, so the
# master knows the images only from the data managers' inventories.
mapfile -t v2 < <(make_oci_index_layout "$WORK/src2" v1)
"${SKOPEO[@]}" copy --quiet --all --dest-tls-verify=false "oci:$WORK/src2:v1" "docker://$GW/test/multi:v1" \
  >"$WORK/skopeo-push.log" 2>&1 || { cat "$WORK/skopeo-push.log" >&2; fail "skopeo push --all of the second index"; }
stop_pid dev
rm -rf "$WORK/data/rt1/cache"
start_dev "$WORK/data"
got=$(pull_platform "test/multi@${v1[1]}" amd64 "$WORK/amd")
[ "$got" = "${v1[1]}" ] || fail "a pull of ${v1[1]} got $got"
for f in "$WORK"/amd/blobs/sha256/*; do
  cmp -s "$f" "$WORK/src1/blobs/sha256/$(basename "$f")" || fail "blob $(basename "$f") differs after the round trip"
done
echo "ok: after a restart, a platform's manifest pulls by its own digest, byte-identical"
got=$(pull_platform "test/multi@${v1[0]}" arm64 "$WORK/old")
[ "$got" = "${v1[2]}" ] || fail "a pull of the index v1 moved on from got $got"
got=$(pull_platform test/multi:v1 arm64 "$WORK/new")
[ "$got" = "${v2[2]}" ] || fail "test/multi:v1 resolves to $got, not the newer ${v2[2]}"
echo "ok: the index the tag moved on from still pulls by digest; the tag names the newer one"

# Tags are the cluster's, not the cache's: v2 was never pulled on this host since.
"${SKOPEO[@]}" copy --quiet --all --dest-tls-verify=false "oci:$WORK/src2:v1" "docker://$GW/test/multi:v2" \
  >"$WORK/skopeo-push.log" 2>&1 || { cat "$WORK/skopeo-push.log" >&2; fail "skopeo push of test/multi:v2"; }
stop_pid dev
rm -rf "$WORK/data/rt1/cache"
start_dev "$WORK/data"
# A blob asked for by digest alone, its manifest never asked for here (a
# download resumed after the cache was emptied): pulled through the cluster.
layer=$(jq -r '.layers[0].digest' "$WORK/src2/blobs/sha256/${v2[1]#sha256:}")
code=$(curl -s -o "$WORK/layer" -w '%{http_code}' "http://$GW/v2/test/multi/blobs/$layer")
[ "$code" = 200 ] || fail "a GET of blob $layer with an empty cache: $code"
cmp -s "$WORK/layer" "$WORK/src2/blobs/sha256/${layer#sha256:}" || fail "blob $layer differs"
[ "$(pull_decisions "test/multi@$layer")" = 1 ] || fail "no pull decision for the blob $layer"
code=$(curl -s -o "$WORK/body" -w '%{http_code}' "http://$GW/v2/test/multi/blobs/sha256:$(printf nobody | sha256sum | cut -d' ' -f1)")
[ "$code" = 404 ] && [ "$(jq -r '.errors[0].code' "$WORK/body")" = BLOB_UNKNOWN ] || fail "a blob nobody holds: $code"
echo "ok: a blob asked for alone with an empty cache comes through the cluster (one pull decision); one nobody holds is 404"
listed=$("${SKOPEO[@]}" list-tags --tls-verify=false "docker://$GW/test/multi" | jq -c '.Tags')
[ "$listed" = '["v1","v2"]' ] || fail "skopeo list-tags through the gateway: $listed"
page=$(curl -fsS "http://$GW/v2/test/multi/tags/list?n=1")
[ "$(jq -c .tags <<<"$page")" = '["v1"]' ] || fail "a page of one tag: $page"
code=$(curl -s -o "$WORK/body" -w '%{http_code}' "http://$GW/v2/test/none/tags/list")
[ "$code" = 404 ] && [ "$(jq -r '.errors[0].code' "$WORK/body")" = NAME_UNKNOWN ] || fail "an unknown repository's tags: $code"
catalog=$(curl -fsS "http://$GW/v2/_catalog")
[ "$(jq -c .repositories <<<"$catalog")" = '["test/multi"]' ] || fail "the catalog with an empty cache: $catalog"
echo "ok: skopeo list-tags and /v2/_catalog show the cluster's tags and repositories with an empty cache"

"${SKOPEO[@]}" delete --tls-verify=false "docker://$GW/test/multi@${v1[0]}" >"$WORK/skopeo-delete.log" 2>&1 ||
  { cat "$WORK/skopeo-delete.log" >&2; fail "skopeo delete of the old index"; }
for d in "${v1[@]}"; do
  code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Accept: application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json' \
    "http://$GW/v2/test/multi/manifests/$d")
  [ "$code" = 404 ] || fail "$d answers $code after its index was deleted"
done
got=$(pull_platform test/multi:v1 amd64 "$WORK/still")
[ "$got" = "${v2[1]}" ] || fail "the newer index was touched by the delete"
echo "ok: deleting the old index by digest took its platforms with it; the newer one stays"
echo PASS
