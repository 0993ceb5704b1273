// The wire protocol of the control plane, in one place. Every message the
// master, data managers and runtimes exchange is one of these structs, named
// after the step of DESIGN §3 it carries, each with its `inspect` so it
// crosses the middleman. `add_protocol_types` registers them all; call it on
// the actor_system_config before the actor_system exists (an unregistered
// type compiles, then fails only at run time).
#pragma once

#include "actors/proof.hpp"
#include "actors/records.hpp"

#include <caf/actor.hpp>
#include <caf/meta/type_name.hpp>
#include <caf/node_id.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace caf {
class actor_system_config;
}

namespace stowage::actors {

#define STOWAGE_INSPECT(T, ...)                                                                   \
  template <class Inspector>                                                                      \
  typename Inspector::result_type inspect(Inspector& f, T& x) {                                   \
    return f(caf::meta::type_name(#T), __VA_ARGS__);                                              \
  }

// ---- records and proofs (plain data reused inside messages) -----------------
STOWAGE_INSPECT(candidate_result, x.node, x.arrival_us, x.throughput_bps, x.ok)
STOWAGE_INSPECT(decision, x.id, x.kind, x.runtime, x.reference, x.candidates, x.chosen)
STOWAGE_INSPECT(node_record, x.name, x.role, x.up, x.http, x.public_key)
STOWAGE_INSPECT(image_record, x.repository, x.tag, x.digest, x.seq, x.size, x.replicas, x.pending)
STOWAGE_INSPECT(handoff_record, x.digest, x.repository, x.tag, x.seq, x.node, x.attempts)
STOWAGE_INSPECT(inventory_item, x.repository, x.tag, x.digest, x.seq, x.size)
STOWAGE_INSPECT(removal_record, x.repository, x.tag, x.digest, x.seq, x.node)
STOWAGE_INSPECT(proof_scope, x.session, x.repository, x.tag, x.seq, x.runtime, x.target, x.expires_ms)

// ---- membership -------------------------------------------------------------

/// Before joining, a node with an identity asks the master for a challenge,
/// sending its own random `nonce` (answer: join_challenge). The master
/// answers with a fresh nonce of its own and its signature over both
/// (join_challenge_bytes), so the node knows it talks to the master of its
/// cluster file before it acts on anything the master sends.
struct join_challenge_request {
  std::string name;
  std::string nonce; // hex, random, chosen by the joining node
  friend bool operator==(const join_challenge_request&, const join_challenge_request&) = default;
};
STOWAGE_INSPECT(join_challenge_request, x.name, x.nonce)

struct join_challenge {
  std::string nonce;     // hex, random, single use: the joining node signs it
  std::string signature; // hex Ed25519 of the master over join_challenge_bytes
  friend bool operator==(const join_challenge&, const join_challenge&) = default;
};
STOWAGE_INSPECT(join_challenge, x.nonce, x.signature)

/// A node joins the master with its identity (answer: join_answer). The
/// master monitors the sender; its death takes it out of every candidate set.
/// With a directory of keys (a real cluster) the master admits the join only
/// if `signature` is the named node's signature over join_bytes, with
/// `nonce` the challenge it issued to this name (single use).
struct join_request {
  std::string name;
  std::string role; // "data" | "runtime"
  std::string public_key; // hex Ed25519
  std::string http;       // host:port of its data-plane endpoint
  std::uint64_t free_bytes = 0;
  std::vector<inventory_item> inventory; // images a data manager holds
  std::string nonce;      // the master's challenge (empty when unsigned)
  std::string signature;  // hex Ed25519 of the node over join_bytes
  friend bool operator==(const join_request&, const join_request&) = default;
};
STOWAGE_INSPECT(join_request, x.name, x.role, x.public_key, x.http, x.free_bytes, x.inventory, x.nonce,
                x.signature)

/// The bytes the two join signatures cover (versioned, newline-separated).
std::string join_challenge_bytes(const std::string& name, const std::string& node_nonce,
                                 const std::string& master_nonce);
std::string join_bytes(const join_request& j);

/// Master -> every joined node, whenever membership changes: the CAF nodes
/// (processes) of the nodes that joined with a valid signature. Link guards
/// (link_guard.hpp) act only on messages from these, their own process and
/// the master's.
struct roster {
  std::vector<caf::node_id> members;
  friend bool operator==(const roster&, const roster&) = default;
};
STOWAGE_INSPECT(roster, x.members)

/// Master -> every joined node: the master lost its link to node `name` (a
/// dead or hung process). A node whose own link to it is not up (still
/// being set up after a start or a lost link) would otherwise not notice,
/// and wait out the data plane's timeouts on its transfers with it; the
/// others learn it from their own links as well.
struct node_down {
  std::string name;
  friend bool operator==(const node_down&, const node_down&) = default;
};
STOWAGE_INSPECT(node_down, x.name)

struct join_answer {
  std::string master;
  std::string master_public_key;
  friend bool operator==(const join_answer&, const join_answer&) = default;
};
STOWAGE_INSPECT(join_answer, x.master, x.master_public_key)

/// Tells a data manager or runtime (locally) which master to join; it joins
/// at once. Sent again whenever the link to the master is made again.
/// `retry` != 0: the actor's own retry of a join that failed, for the link
/// it counted as number `retry`; ignored once a newer link came. (Handles
/// do not tell links apart: CAF compares actors by node and id, so the
/// proxy of a link that died equals the one of the link made after it.)
struct connect_master {
  caf::actor master;
  std::uint64_t retry = 0;
  friend bool operator==(const connect_master&, const connect_master&) = default;
};
STOWAGE_INSPECT(connect_master, x.master, x.retry)

// ---- probe rounds -----------------------------------------------------------

/// Master -> data manager: send a test packet of `bytes` to `receiver` for
/// round `round`, over the data plane, within `within_us` (what was left of
/// the round when the master sent this: a packet that cannot arrive by then
/// measures nothing, and is not sent, or is cut, instead of taking the link
/// from the packets of the next round). Answer: test_request_answer (sent
/// as plain messages: the round's deadline, not a request timeout, decides
/// who failed).
#define STOWAGE_TEST_REQUEST(T)                                                                   \
  struct T {                                                                                      \
    std::uint64_t round = 0;                                                                      \
    std::string receiver;                                                                         \
    std::uint64_t bytes = 0;                                                                      \
    std::uint64_t within_us = 0;                                                                  \
    friend bool operator==(const T&, const T&) = default;                                         \
  };                                                                                              \
  STOWAGE_INSPECT(T, x.round, x.receiver, x.bytes, x.within_us)
STOWAGE_TEST_REQUEST(first_test_request)  // pull: packet to the runtime
STOWAGE_TEST_REQUEST(second_test_request) // push: packet to the runtime
STOWAGE_TEST_REQUEST(third_test_request)  // handoff retry: packet to the master
#undef STOWAGE_TEST_REQUEST

/// The data manager's answer: the packet is on its way; its load and room.
struct test_request_answer {
  std::uint64_t round = 0;
  std::string node;
  std::uint64_t free_bytes = 0;
  std::uint32_t in_flight = 0;
  friend bool operator==(const test_request_answer&, const test_request_answer&) = default;
};
STOWAGE_INSPECT(test_request_answer, x.round, x.node, x.free_bytes, x.in_flight)

/// Master -> runtime: a round starts now; expect packets from `candidates`
/// within `deadline_us`. Answer: test_round_ready (then the master sends
/// the test requests, so no packet can beat the round's start). Plain
/// messages too: a runtime that does not answer fails the round at its
/// deadline.
struct test_round_start {
  std::uint64_t round = 0;
  std::vector<std::string> candidates;
  std::uint64_t deadline_us = 0;
  friend bool operator==(const test_round_start&, const test_round_start&) = default;
};
STOWAGE_INSPECT(test_round_start, x.round, x.candidates, x.deadline_us)

struct test_round_ready {
  std::uint64_t round = 0;
  friend bool operator==(const test_round_ready&, const test_round_ready&) = default;
};
STOWAGE_INSPECT(test_round_ready, x.round)

/// Data plane -> receiving actor: a test packet from `node` arrived whole;
/// its bytes streamed in `transfer_us`. The receiver stamps the arrival.
struct test_packet {
  std::uint64_t round = 0;
  std::string node;
  std::uint64_t bytes = 0;
  std::uint64_t transfer_us = 0;
  friend bool operator==(const test_packet&, const test_packet&) = default;
};
STOWAGE_INSPECT(test_packet, x.round, x.node, x.bytes, x.transfer_us)

/// Runtime -> master: what it measured (first or second test results).
struct test_result {
  std::uint64_t round = 0;
  std::string runtime;
  std::vector<candidate_result> results;
  friend bool operator==(const test_result&, const test_result&) = default;
};
STOWAGE_INSPECT(test_result, x.round, x.runtime, x.results)

// ---- pull -------------------------------------------------------------------

/// Runtime -> master: schedule a pull of repository:reference (tag or
/// digest). On a retry, `retry_of` names the decision whose target
/// `failed_node` failed mid-transfer. Answer: pull_answer.
struct pull_request {
  std::string runtime;
  std::string repository;
  std::string reference;
  std::uint64_t retry_of = 0;
  std::string failed_node;
  /// `reference` is the digest of one blob of `repository`, not an image:
  /// the candidates are the data managers holding any image of it.
  bool blob = false;
  friend bool operator==(const pull_request&, const pull_request&) = default;
};
STOWAGE_INSPECT(pull_request, x.runtime, x.repository, x.reference, x.retry_of, x.failed_node, x.blob)

/// Master -> the first target: send `digest` of `repository` to `runtime`.
/// Answer: scheduling_answer once the image is in the runtime's store.
struct scheduling_request {
  std::uint64_t decision = 0;
  std::string runtime;
  std::string repository;
  std::string digest;
  bool blob = false; // `digest` is one blob (pull_request::blob)
  friend bool operator==(const scheduling_request&, const scheduling_request&) = default;
};
STOWAGE_INSPECT(scheduling_request, x.decision, x.runtime, x.repository, x.digest, x.blob)

struct scheduling_answer {
  std::string node;
  bool ok = false;
  std::string error;
  std::uint64_t bytes = 0;
  friend bool operator==(const scheduling_answer&, const scheduling_answer&) = default;
};
STOWAGE_INSPECT(scheduling_answer, x.node, x.ok, x.error, x.bytes)

/// Master -> the runtime that asked, as the scheduling request goes out:
/// which manifest the first target is about to send. Lets the runtime's
/// gateway answer its client's manifest request and stream each blob as it
/// arrives instead of after the whole image (no answer expected).
struct pull_scheduled {
  std::uint64_t decision = 0;
  std::string repository;
  std::string reference; // as the runtime asked (tag or digest)
  std::string digest;
  std::string target;
  friend bool operator==(const pull_scheduled&, const pull_scheduled&) = default;
};
STOWAGE_INSPECT(pull_scheduled, x.decision, x.repository, x.reference, x.digest, x.target)

struct pull_answer {
  bool ok = false;
  std::string error;
  std::uint64_t decision = 0;
  std::string target; // the data manager that served (or failed to)
  std::string digest;
  friend bool operator==(const pull_answer&, const pull_answer&) = default;
};
STOWAGE_INSPECT(pull_answer, x.ok, x.error, x.decision, x.target, x.digest)

// ---- push -------------------------------------------------------------------

/// Runtime -> master: store a new image (already in the runtime's store).
/// Answer: first_proof_message. With tag and digest empty, the push is
/// opened ahead of its manifest (a client is still uploading blobs): the
/// proofs carry no tag, blobs go to the target as they come, and name_push
/// completes the session once the manifest is known.
struct storage_request {
  std::string runtime;
  std::string repository;
  std::string tag;
  std::string digest;
  std::uint64_t size = 0;
  std::uint64_t retry_of = 0;
  std::string failed_node;
  friend bool operator==(const storage_request&, const storage_request&) = default;
};
STOWAGE_INSPECT(storage_request, x.runtime, x.repository, x.tag, x.digest, x.size, x.retry_of,
                x.failed_node)

/// Master -> runtime: the first proof and the target to push to.
struct first_proof_message {
  bool ok = false;
  std::string error;
  std::uint64_t decision = 0;
  first_proof proof;
  caf::actor target;
  friend bool operator==(const first_proof_message& a, const first_proof_message& b) {
    return a.ok == b.ok && a.error == b.error && a.decision == b.decision
           && a.proof.scope == b.proof.scope && a.proof.secret == b.proof.secret
           && a.proof.signature == b.proof.signature && a.target == b.target;
  }
};
STOWAGE_INSPECT(first_proof_message, x.ok, x.error, x.decision, x.proof.scope, x.proof.secret,
                x.proof.signature, x.target)

struct peer_ref {
  std::string name;
  caf::actor handle; // invalid if the peer is down: replication fails at once
  friend bool operator==(const peer_ref&, const peer_ref&) = default;
};
STOWAGE_INSPECT(peer_ref, x.name, x.handle)

/// Master -> second target: the second proof and the peers that were told
/// to expect the image, best ranked first. The first min_copies - 1 of them
/// that are up fetch the blobs as they arrive, ahead of the commit: those
/// are the copies the acknowledgement waits for, so on a target short of
/// bandwidth or CPU they do not share it with the others, which fetch at
/// the commit. Answer: proof_answer.
struct second_proof_message {
  second_proof proof;
  std::vector<peer_ref> peers;
  friend bool operator==(const second_proof_message& a, const second_proof_message& b) {
    return a.proof.scope == b.proof.scope && a.proof.secret_hash == b.proof.secret_hash
           && a.proof.signature == b.proof.signature && a.peers == b.peers;
  }
};
STOWAGE_INSPECT(second_proof_message, x.proof.scope, x.proof.secret_hash, x.proof.signature, x.peers)

struct proof_answer {
  std::string node;
  bool ok = false;
  std::string error;
  friend bool operator==(const proof_answer&, const proof_answer&) = default;
};
STOWAGE_INSPECT(proof_answer, x.node, x.ok, x.error)

/// Master -> every other data manager: expect a replication of this image
/// from `target`. Answer: pre_receive_answer.
struct pre_receive {
  std::string session;
  std::string repository;
  std::string tag;
  std::string digest;
  std::uint64_t seq = 0;
  std::string target;
  friend bool operator==(const pre_receive&, const pre_receive&) = default;
};
STOWAGE_INSPECT(pre_receive, x.session, x.repository, x.tag, x.digest, x.seq, x.target)

struct pre_receive_answer {
  std::string node;
  bool ok = true; // false: a target that cannot take the name of its session
  friend bool operator==(const pre_receive_answer&, const pre_receive_answer&) = default;
};
STOWAGE_INSPECT(pre_receive_answer, x.node, x.ok)

/// Runtime -> target, after the image data went through with the first
/// proof: make it durable on min_copies places. Answer: push_ack. The runtime
/// repeats it while no answer comes; a repeat joins the first commit and
/// gets its ack.
struct push_commit {
  std::string session;
  std::string repository;
  std::string digest;
  friend bool operator==(const push_commit&, const push_commit&) = default;
};
STOWAGE_INSPECT(push_commit, x.session, x.repository, x.digest)

struct push_ack {
  bool ok = false;
  std::string error;
  std::uint32_t copies = 0;             // durable places, the target included
  std::vector<std::string> replicas;    // data managers holding it
  std::vector<std::string> handed_off;  // peers the master will deliver it to
  std::vector<std::string> receiving;   // peers still fetching it when the ack was sent
  friend bool operator==(const push_ack&, const push_ack&) = default;
};
STOWAGE_INSPECT(push_ack, x.ok, x.error, x.copies, x.replicas, x.handed_off, x.receiving)

/// Runtime -> master: the manifest of a push opened ahead of it. The master
/// assigns the tag's sequence number and sends the now complete pre_receive
/// (tag, digest, seq) to the target, whose proof_guard then lets the
/// manifest set that tag, and to every peer. Answer: push_named, once they
/// answered (or the probe timeout passed for the silent ones).
struct name_push {
  std::string session;
  std::string runtime;
  std::string repository;
  std::string tag; // may be empty (push by digest)
  std::string digest;
  friend bool operator==(const name_push&, const name_push&) = default;
};
STOWAGE_INSPECT(name_push, x.session, x.runtime, x.repository, x.tag, x.digest)

struct push_named {
  bool ok = false;
  std::string error;
  std::uint64_t seq = 0;
  friend bool operator==(const push_named&, const push_named&) = default;
};
STOWAGE_INSPECT(push_named, x.ok, x.error, x.seq)

/// A blob of a push opened ahead of its manifest reached the target:
///  - runtime -> target, once the target stored it (size 0: see the store);
///  - the target's OCI endpoint -> its actor, as the blob starts arriving
///    (`size` bytes; net/push_relay.hpp relays it to the peers as it comes).
/// The target passes it on to its peers (replicate_blob), so they fetch it
/// while the client still uploads. No answer.
struct blob_landed {
  std::string session;
  std::string repository;
  std::string digest;
  std::uint64_t size = 0;
  friend bool operator==(const blob_landed&, const blob_landed&) = default;
};
STOWAGE_INSPECT(blob_landed, x.session, x.repository, x.digest, x.size)

/// Target -> peer: fetch this blob of an open push session from me now;
/// the session's replication_request later skips what the peer holds.
/// No answer.
struct replicate_blob {
  std::string session;
  std::string repository;
  std::string digest;
  std::uint64_t size = 0;
  std::string source;
  friend bool operator==(const replicate_blob&, const replicate_blob&) = default;
};
STOWAGE_INSPECT(replicate_blob, x.session, x.repository, x.digest, x.size, x.source)

/// Target -> peer: fetch this image from me (you were told to expect it).
/// Answer: replication_answer once stored.
struct replication_request {
  std::string session;
  std::string repository;
  std::string tag;
  std::string digest;
  std::uint64_t seq = 0;
  std::string source;
  friend bool operator==(const replication_request&, const replication_request&) = default;
};
STOWAGE_INSPECT(replication_request, x.session, x.repository, x.tag, x.digest, x.seq, x.source)

struct replication_answer {
  std::string node;
  bool ok = false;
  std::string error;
  friend bool operator==(const replication_answer&, const replication_answer&) = default;
};
STOWAGE_INSPECT(replication_answer, x.node, x.ok, x.error)

/// Target -> master: these peers did not answer; the image data was copied
/// to the master's spool (data plane) just before, or that copy failed (the
/// master then owes them the image from the data managers holding it).
/// Answer: handoff_accepted, ok if the spool holds the image (one durable
/// place more).
struct replication_failure {
  std::string session;
  std::string repository;
  std::string tag;
  std::string digest;
  std::uint64_t seq = 0;
  std::uint64_t size = 0;
  std::string source;
  std::vector<std::string> failed;
  friend bool operator==(const replication_failure&, const replication_failure&) = default;
};
STOWAGE_INSPECT(replication_failure, x.session, x.repository, x.tag, x.digest, x.seq, x.size, x.source,
                x.failed)

struct handoff_accepted {
  bool ok = false;
  std::string error;
  friend bool operator==(const handoff_accepted&, const handoff_accepted&) = default;
};
STOWAGE_INSPECT(handoff_accepted, x.ok, x.error)

/// Master -> a data manager that is back: fetch this image from `source`
/// (the master's spool, or a data manager holding it). The receiver watches
/// the source's actor and gives the fetch up as soon as its link breaks, so a
/// source that dies or hangs meanwhile costs the link's failure detection
/// and one retry interval, not the data plane's timeouts.
/// Answer: delivery_answer.
struct delivery {
  std::string repository;
  std::string tag;
  std::string digest;
  std::uint64_t seq = 0;
  peer_ref source;
  friend bool operator==(const delivery&, const delivery&) = default;
};
STOWAGE_INSPECT(delivery, x.repository, x.tag, x.digest, x.seq, x.source)

struct delivery_answer {
  std::string node;
  bool ok = false;
  std::string error;
  friend bool operator==(const delivery_answer&, const delivery_answer&) = default;
};
STOWAGE_INSPECT(delivery_answer, x.node, x.ok, x.error)

/// Master -> a data manager that holds these images: set these tags at
/// these sequence numbers (a tag it missed: pushed onto an image it already
/// had while it was down, or not brought by a delivery, which carries one
/// tag). Derived from the catalog at every join and after deliveries, so
/// not recorded. The data manager reports each tag it set (image_stored).
/// No answer.
struct set_tags {
  std::vector<inventory_item> tags;
  friend bool operator==(const set_tags&, const set_tags&) = default;
};
STOWAGE_INSPECT(set_tags, x.tags)

/// Data manager -> master: it now holds this image (catalog update).
struct image_stored {
  std::string node;
  inventory_item item;
  friend bool operator==(const image_stored&, const image_stored&) = default;
};
STOWAGE_INSPECT(image_stored, x.node, x.item)

// ---- deletes ----------------------------------------------------------------

/// Delete repository:reference from the cluster: a tag deletes that tag; a
/// digest, the manifest (an index with its children), the tags naming it and
/// the blobs no other manifest of the repository uses.
///  - local -> runtime (the gateway's DELETE), passed on to the master;
///  - runtime -> master. The master gives each removed tag a new sequence
///    number, updates its catalog, records the delete durably for every data
///    manager and runtime (removal_record), and answers; the nodes apply it
///    as they answer apply_removals (one that is down, when it joins again).
/// Answer: delete_done.
struct delete_image {
  std::string repository;
  std::string reference;
  friend bool operator==(const delete_image&, const delete_image&) = default;
};
STOWAGE_INSPECT(delete_image, x.repository, x.reference)

struct delete_done {
  bool ok = false;
  bool not_found = false; // the cluster does not know repository:reference
  std::string error;
  std::string digest;             // the manifest the reference named
  std::vector<std::string> tags;  // the tags removed
  friend bool operator==(const delete_done&, const delete_done&) = default;
};
STOWAGE_INSPECT(delete_done, x.ok, x.not_found, x.error, x.digest, x.tags)

/// Master -> a data manager or a runtime (its cache), recorded until it
/// answers: apply these deletes to your store, tags first.
/// Answer: removals_applied.
struct apply_removals {
  std::vector<removal_record> removals;
  friend bool operator==(const apply_removals&, const apply_removals&) = default;
};
STOWAGE_INSPECT(apply_removals, x.removals)

struct removals_applied {
  std::string node;
  bool ok = false;
  std::string error;
  /// Manifests the node no longer holds (an index's children among them):
  /// the catalog stops counting it as their holder.
  std::vector<inventory_item> removed;
  friend bool operator==(const removals_applied&, const removals_applied&) = default;
};
STOWAGE_INSPECT(removals_applied, x.node, x.ok, x.error, x.removed)

// ---- listings ---------------------------------------------------------------

/// The tags of a repository across the cluster, sorted (the catalog's: each
/// names an image some data manager holds or is owed).
///  - local -> runtime (the gateway's tags list), passed on to the master;
///  - runtime -> master.
/// Answer: tags_answer.
struct tags_query {
  std::string repository;
  friend bool operator==(const tags_query&, const tags_query&) = default;
};
STOWAGE_INSPECT(tags_query, x.repository)

struct tags_answer {
  bool ok = false;
  bool known = false; // the cluster holds something of the repository
  std::string error;
  std::vector<std::string> tags;
  friend bool operator==(const tags_answer&, const tags_answer&) = default;
};
STOWAGE_INSPECT(tags_answer, x.ok, x.known, x.error, x.tags)

/// The repositories the cluster holds an image of, sorted (`/v2/_catalog`);
/// passed on by a runtime like tags_query. Answer: repositories_answer.
struct repositories_query {
  friend bool operator==(const repositories_query&, const repositories_query&) = default;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, repositories_query&) {
  return f(caf::meta::type_name("repositories_query"));
}

struct repositories_answer {
  bool ok = false;
  std::string error;
  std::vector<std::string> repositories;
  friend bool operator==(const repositories_answer&, const repositories_answer&) = default;
};
STOWAGE_INSPECT(repositories_answer, x.ok, x.error, x.repositories)

// ---- master queries (admin API) ---------------------------------------------
struct nodes_query {
  friend bool operator==(const nodes_query&, const nodes_query&) = default;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, nodes_query&) {
  return f(caf::meta::type_name("nodes_query"));
}
struct nodes_answer {
  std::vector<node_record> nodes;
  friend bool operator==(const nodes_answer&, const nodes_answer&) = default;
};
STOWAGE_INSPECT(nodes_answer, x.nodes)

struct images_query {
  friend bool operator==(const images_query&, const images_query&) = default;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, images_query&) {
  return f(caf::meta::type_name("images_query"));
}
struct images_answer {
  std::vector<image_record> images;
  friend bool operator==(const images_answer&, const images_answer&) = default;
};
STOWAGE_INSPECT(images_answer, x.images)

struct decisions_query {
  std::uint32_t limit = 0; // 0 = all kept
  friend bool operator==(const decisions_query&, const decisions_query&) = default;
};
STOWAGE_INSPECT(decisions_query, x.limit)
struct decisions_answer {
  std::vector<decision> decisions; // newest first
  friend bool operator==(const decisions_answer&, const decisions_answer&) = default;
};
STOWAGE_INSPECT(decisions_answer, x.decisions)

struct handoffs_query {
  friend bool operator==(const handoffs_query&, const handoffs_query&) = default;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, handoffs_query&) {
  return f(caf::meta::type_name("handoffs_query"));
}
struct handoffs_answer {
  std::vector<handoff_record> handoffs;
  friend bool operator==(const handoffs_answer&, const handoffs_answer&) = default;
};
STOWAGE_INSPECT(handoffs_answer, x.handoffs)

struct removals_query {
  friend bool operator==(const removals_query&, const removals_query&) = default;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, removals_query&) {
  return f(caf::meta::type_name("removals_query"));
}
struct removals_answer {
  std::vector<removal_record> removals;
  friend bool operator==(const removals_answer&, const removals_answer&) = default;
};
STOWAGE_INSPECT(removals_answer, x.removals)

// ---- local requests to a runtime (gateway, CLI, tests) ----------------------

/// Pull through the cluster into the runtime's store. Answer: pull_done;
/// with `plans`, each pull_scheduled of the master goes to the sender first.
struct pull_image {
  std::string repository;
  std::string reference;
  bool plans = false;
  bool blob = false; // `reference` is the digest of one blob (pull_request::blob)
  friend bool operator==(const pull_image&, const pull_image&) = default;
};
STOWAGE_INSPECT(pull_image, x.repository, x.reference, x.plans, x.blob)

struct pull_done {
  bool ok = false;
  std::string error;
  std::string digest;
  std::string target;
  std::uint32_t attempts = 0;
  friend bool operator==(const pull_done&, const pull_done&) = default;
};
STOWAGE_INSPECT(pull_done, x.ok, x.error, x.digest, x.target, x.attempts)

/// A client started a blob upload into `repository`: open a push session
/// ahead of its manifest (storage_request without tag and digest), so blobs
/// go to the target while the client still uploads. No answer.
struct open_push {
  std::string repository;
  friend bool operator==(const open_push&, const open_push&) = default;
};
STOWAGE_INSPECT(open_push, x.repository)

/// A client's blob is now in the runtime's store: send it ahead to the open
/// session's target. No answer.
struct blob_pushed {
  std::string repository;
  std::string digest;
  friend bool operator==(const blob_pushed&, const blob_pushed&) = default;
};
STOWAGE_INSPECT(blob_pushed, x.repository, x.digest)

/// A client started uploading blob `digest` (`size` bytes) into the runtime's
/// store: send it ahead to the open session's target while it arrives (the
/// target verifies it; if it does not arrive whole, blob_pushed sends it
/// from the store). No answer.
struct blob_arriving {
  std::string repository;
  std::string digest;
  std::uint64_t size = 0;
  friend bool operator==(const blob_arriving&, const blob_arriving&) = default;
};
STOWAGE_INSPECT(blob_arriving, x.repository, x.digest, x.size)

/// Push an image from the runtime's store into the cluster (with the session
/// opened ahead for its repository, if any). Answer: push_done.
struct push_image {
  std::string repository;
  std::string tag;
  std::string digest;
  friend bool operator==(const push_image&, const push_image&) = default;
};
STOWAGE_INSPECT(push_image, x.repository, x.tag, x.digest)

struct push_done {
  bool ok = false;
  std::string error;
  std::string target;
  std::uint64_t seq = 0;
  std::string session; // the proof session the image went in with
  push_ack ack;
  friend bool operator==(const push_done&, const push_done&) = default;
};
STOWAGE_INSPECT(push_done, x.ok, x.error, x.target, x.seq, x.session, x.ack)

// ---- internal ticks and completions (local, registered anyway) --------------
struct transfer_done {
  std::uint64_t id = 0;
  bool ok = false;
  std::string error;
  std::int32_t status = 0;
  std::uint64_t bytes = 0;
  bool dropped_damaged = false; // transfer_result::dropped_damaged
  std::string mismatched_blob{}; // transfer_result::mismatched_blob
  friend bool operator==(const transfer_done&, const transfer_done&) = default;
};
STOWAGE_INSPECT(transfer_done, x.id, x.ok, x.error, x.status, x.bytes, x.dropped_damaged, x.mismatched_blob)

/// Data manager -> the data manager it fetched from: a blob you sent did not
/// match its digest; check your copy (registry_store::drop_if_damaged). A
/// copy damaged on disk is then dropped and fetched again from a sound one.
struct check_blob {
  std::string repository;
  std::string digest;
  friend bool operator==(const check_blob&, const check_blob&) = default;
};
STOWAGE_INSPECT(check_blob, x.repository, x.digest)

/// A data manager's own check found a copy damaged and dropped it.
struct copy_dropped {
  std::string digest;
  friend bool operator==(const copy_dropped&, const copy_dropped&) = default;
};
STOWAGE_INSPECT(copy_dropped, x.digest)

/// Wakes an actor at the earliest deadline of its open probe rounds: one
/// timer for all rounds in flight instead of one per round.
struct round_deadline {
  std::uint64_t round = 0; // unused; kept for logs
  friend bool operator==(const round_deadline&, const round_deadline&) = default;
};
STOWAGE_INSPECT(round_deadline, x.round)

struct retry_tick {
  std::uint64_t generation = 0;
  friend bool operator==(const retry_tick&, const retry_tick&) = default;
};
STOWAGE_INSPECT(retry_tick, x.generation)

/// Wakes the master to write the decisions its journal buffered
/// (master_config::journal_delay after the first of them).
struct flush_decisions {
  std::uint64_t unused = 0;
  friend bool operator==(const flush_decisions&, const flush_decisions&) = default;
};
STOWAGE_INSPECT(flush_decisions, x.unused)

#undef STOWAGE_INSPECT

/// Registers every message type above with `cfg`.
void add_protocol_types(caf::actor_system_config& cfg);

} // namespace stowage::actors
