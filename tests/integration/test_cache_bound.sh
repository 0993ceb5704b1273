#!/usr/bin/env bash
# A runtime's image cache kept within its bound (cache_max_bytes in rt1's
# [[node]] table, from `stowage dev --print-config --cache-max-bytes`),
# least recently used first: two 4 MiB images pushed
# through the gateway fit a 10 MiB cache; the first is pulled (from the
# cache, which marks it used); a third push leaves the second, now the least
# recently used, to go. Pulled again, it comes back from the cluster
# byte-identical, and then the first is the one that goes.
STOWAGE=${1:?usage: $0 path/to/stowage}
source "$(dirname "$0")/cluster_lib.sh"

write_cluster_file "$WORK/cluster" "$WORK/cluster.toml" 300 --cache-max-bytes $((10 << 20))
grep -q "^cache_max_bytes = $((10 << 20))" "$WORK/cluster.toml" || fail "--cache-max-bytes did not reach rt1's table"
sed -i "s/^cache_min_idle_s = [0-9]*/cache_min_idle_s = 1/" "$WORK/cluster.toml"
start_up_cluster "$WORK/cluster.toml"

declare -A digest
for i in 1 2 3; do digest[$i]=$(make_oci_layout "$WORK/src$i" v1 2 2); done
removed() { grep -q "rt1: removed test/img$1@${digest[$1]} from the cache" "$WORK/rt1.log"; }

push_image "$WORK/src1" v1 test/img1:v1
push_image "$WORK/src2" v1 test/img2:v1
pull_image_to test/img1:v1 "$WORK/back1"
same_blobs "$WORK/src1" "$WORK/back1" "${digest[1]}"
echo "ok: two 4 MiB images pushed through the gateway; the first pulled back"

push_image "$WORK/src3" v1 test/img3:v1
wait_until 20 "img2 removed from rt1's cache" removed 2
removed 1 && fail "img1, pulled after img2 was pushed, was removed"
removed 3 && fail "img3, the newest, was removed"
echo "ok: a third push left the image used least recently, img2, to go"

pull_image_to test/img2:v1 "$WORK/back2"
same_blobs "$WORK/src2" "$WORK/back2" "${digest[2]}"
echo "ok: img2 pulled again from the cluster, byte-identical"
wait_until 20 "img1 removed once img2 and img3 were used after it" removed 1
removed 3 && fail "img3 was removed before img1"
echo PASS
