#!/usr/bin/env bash
# The cluster of `stowage dev --print-config` as five processes (`stowage up
# --config FILE --node NAME`), linked over the CAF middleman with signed
# joins: the same push and pulls as test_dev_push_pull.sh. Then clients
# without a key of the cluster file try the middleman ports, and a process
# with its own identity tries to join: both are refused.
STOWAGE=${1:?usage: $0 path/to/stowage}
source "$(dirname "$0")/cluster_lib.sh"

write_cluster_file "$WORK/cluster" "$WORK/cluster.toml"
start_up_cluster "$WORK/cluster.toml"
grep -q "signature checked" "$WORK/master.log" || fail "the master did not check join signatures"
echo "ok: five processes joined the master with signed handshakes"

digest=$(make_oci_layout "$WORK/src" v1 3 4)
push_image "$WORK/src" v1 test/img:v1
echo "ok: skopeo pushed $digest through the gateway"
wait_until 20 "test/img:v1 on dm1, dm2 and dm3" replicas_are test/img v1 dm1,dm2,dm3
wait_until 5 "a push decision over >= 2 measured candidates" has_push_decision test/img:v1
echo "ok: replicated to dm1,dm2,dm3 after a measured push decision"

before=$(pull_decisions test/img:v1)
pull_image_to test/img:v1 "$WORK/back"
same_blobs "$WORK/src" "$WORK/back" "$digest"
after=$(pull_decisions test/img:v1)
((after > before)) || fail "no pull decision was logged for test/img:v1"
echo "ok: skopeo pulled it back byte-identical; a pull decision was logged"
podman_pull test/img:v1 "$digest"
echo "ok: podman pulled $digest through the gateway"

# A data manager of the cluster refuses writes without a proof, and stores nothing.
expect 401 UNAUTHORIZED POST "http://$(dm_http dm1)/v2/evil/img/blobs/uploads/"
header WWW-Authenticate | grep -q '^Stowage-Proof realm="stowage"' || fail "no WWW-Authenticate: Stowage-Proof on the 401"
echo '{}' >"$WORK/evil.json"
expect 401 UNAUTHORIZED PUT "http://$(dm_http dm1)/v2/evil/img/manifests/v1" \
  -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' --data-binary @"$WORK/evil.json"
expect 404 NAME_UNKNOWN GET "http://$(dm_http dm1)/v2/evil/img/tags/list"
echo "ok: dm1 refuses pushes without a proof (401, OCI error, WWW-Authenticate) and stores nothing"

# The middleman ports speak mutual TLS only. A plain client gets no BASP
# handshake (whose node ids would let it pose as the master: BASP messages
# carry no proof of origin); a TLS client with a key the cluster file does
# not name is refused; one with dm1's certificate gets the handshake.
probe() { python3 "$(dirname "$0")/middleman_probe.py" 127.0.0.1 "$@"; }
openssl req -x509 -newkey ed25519 -nodes -subj "/O=stowage-node/CN=dm1" -days 1 \
  -keyout "$WORK/foreign.key" -out "$WORK/foreign.crt" 2>/dev/null || fail "openssl could not make a certificate"
for port in $((P + 100)) $((P + 112)) $((P + 150)); do
  got=$(probe "$port"); [ "$got" = silent ] || fail "plain TCP to middleman port $port: $got (want silent)"
  got=$(probe "$port" "$WORK/foreign.crt" "$WORK/foreign.key")
  [ "$got" = refused ] || fail "TLS with a foreign key to port $port: $got (want refused)"
done
# dm1's key (its identity: the libsodium seed, here wrapped as PKCS#8) in a
# certificate shaped as the cluster's: issued by dm1's anchor name.
python3 -c 'import sys; sys.stdout.buffer.write(bytes.fromhex("302e020100300506032b657004220420" + sys.argv[1]))' \
  "$(head -c 64 "$WORK/cluster/dm1/identity.key")" | openssl pkey -inform DER -out "$WORK/dm1.key"
openssl req -x509 -new -key "$WORK/dm1.key" -subj "/O=stowage-anchor/CN=dm1" -days 1 -out "$WORK/dm1-anchor.crt" 2>/dev/null
openssl req -new -key "$WORK/dm1.key" -subj "/O=stowage-node/CN=dm1" -out "$WORK/dm1.csr"
openssl x509 -req -in "$WORK/dm1.csr" -CA "$WORK/dm1-anchor.crt" -CAkey "$WORK/dm1.key" -days 1 -set_serial 7 \
  -out "$WORK/dm1.crt" 2>/dev/null || fail "openssl could not make dm1's certificate"
got=$(probe $((P + 100)) "$WORK/dm1.crt" "$WORK/dm1.key")
[ "$got" = basp ] || fail "TLS with dm1's key to the master: $got (want basp)"
echo "ok: the middleman ports take only TLS clients with a key of the cluster file"

# An impostor: dm2's name and addresses, but a fresh identity (its own data
# directory) and other ports. Its key is not dm2's line of the cluster file:
# the master refuses it at the TLS handshake, before any message.
sed -e "s|$WORK/cluster/dm2|$WORK/impostor|" \
    -e "s/^http_port = $((P + 12))$/http_port = $((P + 19))/" \
    -e "s/^actor_port = $((P + 112))$/actor_port = $((P + 119))/" \
    -e '/^name = "dm2"/,/^public_key/{/^public_key/d}' "$WORK/cluster.toml" >"$WORK/impostor.toml"
start_node "$WORK/impostor.toml" dm2 impostor
wait_until 20 "the impostor failing to link to the master" grep -q "does not answer yet" "$WORK/impostor.log"
! grep -q "joined master" "$WORK/impostor.log" || fail "the impostor joined"
node_is dm2 up || fail "the real dm2 lost its place to the impostor"
echo "ok: a process with the wrong key cannot link"

# A hung master (SIGSTOP) is noticed through the middleman heartbeat; once it
# runs again the nodes link and join again on their own.
kill -STOP "${PIDS[master]}"
wait_until 15 "dm1 noticing the hung master" grep -q "dm1: lost the link to the master" "$WORK/dm1.log"
kill -CONT "${PIDS[master]}"
joins_of_dm1() { (($(grep -c "dm1: joined master" "$WORK/dm1.log") >= 2)); }
wait_until 30 "dm1 joining again" joins_of_dm1
wait_until 30 "every node joined again" all_joined dm1 dm2 dm3 rt1
pull_image_to test/img:v1 "$WORK/again"
same_blobs "$WORK/src" "$WORK/again" "$digest"
echo "ok: a hung master is noticed; after it resumes the nodes re-join and pulls work"

# A hung data manager (SIGSTOP for 10 s), resumed: the master is heard from
# it again. Its middleman first hands back the dead link's proxy, which CAF
# takes as equal to the next one; the join retried on that dead link (10 s
# request timeout + 3 s) must not make it the node's master again, or the
# node's reports (image_stored) go nowhere while the master lists it up.
# The dead proxy came in most runs of 8-16 s stops, so twice.
for round in 1 2; do
  kill -STOP "${PIDS[dm2]}"
  sleep 10
  kill -CONT "${PIDS[dm2]}"
  wait_until 30 "dm2 up again (round $round)" node_is dm2 up
  sleep 14 # past the dead link's join retry
  push_image "$WORK/src" v1 "test/img:resumed$round"
  wait_until 20 "test/img:resumed$round on dm1, dm2 and dm3" replicas_are test/img "resumed$round" dm1,dm2,dm3
done
echo "ok: a data manager hung for 10 s and resumed is heard by the master again (twice)"
echo PASS
