#!/usr/bin/env bash
# Referrers through the gateway (`stowage dev`): an artifact that names an
# image as its subject (a signature, an SBOM) is pushed on its own; after a
# restart with the runtime's cache gone, the gateway still lists it, from the
# data managers, with the artifactType filter; the artifact pulls by digest.
STOWAGE=${1:?usage: $0 path/to/stowage}
source "$(dirname "$0")/cluster_lib.sh"

start_dev "$WORK/data"
image=$(make_oci_layout "$WORK/src" v1 1 1)
push_image "$WORK/src" v1 test/signed:v1
image_size=$(stat -c %s "$WORK/src/blobs/sha256/${image#sha256:}")

put_blob() { # CONTENT: pushed through the gateway; prints its digest
  local d="sha256:$(printf '%s' "$1" | sha256sum | cut -d' ' -f1)"
  curl -fsS -o /dev/null -X POST --data-binary "$1" -H 'Content-Type: application/octet-stream' \
    "http://$GW/v2/test/signed/blobs/uploads/?digest=$d" || fail "blob upload of $d"
  echo "$d"
}
empty=$(put_blob '{}')
payload=$(put_blob 'a signature, say')
artifact=$(jq -cn --arg e "$empty" --arg p "$payload" --arg s "$image" --argjson n "$image_size" '{
  schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json",
  artifactType: "application/vnd.example.signature",
  config: {mediaType: "application/vnd.oci.empty.v1+json", digest: $e, size: 2},
  layers: [{mediaType: "application/octet-stream", digest: $p, size: 16}],
  subject: {mediaType: "application/vnd.oci.image.manifest.v1+json", digest: $s, size: $n}}')
adigest="sha256:$(printf '%s' "$artifact" | sha256sum | cut -d' ' -f1)"
headers=$(curl -fsS -D - -o /dev/null -X PUT --data-binary "$artifact" \
  -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' "http://$GW/v2/test/signed/manifests/$adigest") ||
  fail "the artifact's manifest PUT"
grep -qi "^OCI-Subject: $image" <<<"$headers" || fail "no OCI-Subject header on the artifact's PUT"
echo "ok: an artifact naming $image pushed through the gateway"

stop_pid dev
rm -rf "$WORK/data/rt1/cache"
start_dev "$WORK/data"
listed=$(curl -fsS "http://$GW/v2/test/signed/referrers/$image")
[ "$(jq -r '.manifests | length' <<<"$listed")" = 1 ] || fail "referrers after the restart: $listed"
[ "$(jq -r '.manifests[0].digest' <<<"$listed")" = "$adigest" ] || fail "referrers list another digest: $listed"
[ "$(jq -r '.manifests[0].artifactType' <<<"$listed")" = application/vnd.example.signature ] || fail "no artifactType: $listed"
filtered=$(curl -fsS -D "$WORK/h" "http://$GW/v2/test/signed/referrers/$image?artifactType=application/vnd.example.sbom")
[ "$(jq -r '.manifests | length' <<<"$filtered")" = 0 ] || fail "the artifactType filter: $filtered"
grep -qi '^OCI-Filters-Applied: artifactType' "$WORK/h" || fail "no OCI-Filters-Applied header"
echo "ok: with an empty cache the gateway lists the artifact from the data managers, filter applied"

code=$(curl -s -o "$WORK/a.json" -w '%{http_code}' -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
  "http://$GW/v2/test/signed/manifests/$adigest")
[ "$code" = 200 ] && cmp -s <(printf '%s' "$artifact") "$WORK/a.json" || fail "the artifact by digest: $code"
echo "ok: the artifact pulls by digest"
echo PASS
