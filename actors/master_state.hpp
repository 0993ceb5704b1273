// Internal: the master's state and the handlers split over master_*.cpp.
#pragma once

#include "actors/catalog.hpp"
#include "actors/decision_journal.hpp"
#include "actors/decision_log.hpp"
#include "actors/handoff_queue.hpp"
#include "actors/master.hpp"
#include "actors/protocol.hpp"
#include "actors/ranking.hpp"

#include <caf/actor_clock.hpp>
#include <caf/node_id.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_response_promise.hpp>

#include <functional>
#include <map>
#include <optional>
#include <set>
#include <vector>

namespace stowage::actors::detail {

struct master_state;
using master_actor = caf::stateful_actor<master_state>;

struct node_entry {
  node_record rec;
  caf::actor handle;
  std::uint32_t in_flight = 0;
  std::uint64_t free_bytes = UINT64_MAX;
};

using round_done = std::function<void(std::vector<candidate_result>, std::map<std::string, node_load>)>;

struct round_state {
  int phase = 1; // 1 first (pull), 2 second (push), 3 third (handoff retry)
  std::string receiver;
  std::vector<std::string> candidates;
  std::map<std::string, candidate_result> results;
  std::map<std::string, node_load> load;
  caf::actor_clock::time_point start;
  caf::actor_clock::time_point deadline;
  caf::actor_clock::time_point packets_due; // the receiver's deadline for the packets
  bool requested = false; // test requests sent
  round_done then;
};

struct pending_pull {
  std::string node;
  std::uint64_t decision = 0;
  std::string digest;
  caf::typed_response_promise<pull_answer> rp;
};

/// A push opened ahead of its manifest (a storage_request without tag and
/// digest), waiting for its name_push.
struct open_push_session {
  std::uint64_t decision = 0;
  std::string runtime, repository, target;
  std::vector<std::string> peers;
  caf::actor_clock::time_point opened;
};

/// A push whose target was told its peers, until each of them stored it or
/// the target handed the image off for them. Should the target go down
/// first (it may have acknowledged at min_copies, with peers still
/// fetching from it), the master owes the image to the peers left and
/// delivers it from another holder.
struct replication_watch {
  std::string repository, tag, digest, target;
  std::uint64_t seq = 0;
  std::set<std::string> owed; // peers that have not stored it yet
  bool committed = false;     // the target stored it (its commit: image_stored)
  std::uint64_t age = 0;      // order of creation: the oldest goes first when too many are kept
};

struct master_state {
  master_config cfg;
  std::unique_ptr<handoff_queue> handoffs;
  std::shared_ptr<store::registry_store> spool;
  catalog images;
  decision_log decisions;
  std::unique_ptr<decision_journal> journal; // the decisions on disk
  bool journal_flush_due = false;            // a flush_decisions is on its way
  std::map<std::string, node_entry> nodes;
  std::map<std::uint64_t, round_state> rounds;
  std::uint64_t next_round = 1;
  /// What a decision ranked, for its retries: the candidates, best first,
  /// and for a pull the manifest it scheduled (a retry delivers the same
  /// one though its tag may have moved since: the gateway answered the
  /// client with that manifest already).
  struct ranking {
    std::vector<ranked_candidate> candidates;
    std::string digest;
  };
  std::map<std::uint64_t, ranking> rankings; // by decision, the newest decision_capacity
  std::map<std::uint64_t, pending_pull> pulls;
  std::map<std::string, open_push_session> open_pushes; // by proof session
  std::map<std::string, replication_watch> replicating;  // by proof session
  std::uint64_t next_watch_age = 1;
  std::uint64_t next_pull = 1;
  std::set<std::string> delivering; // nodes with a third test or delivery under way
  std::set<std::string> removing;   // nodes with an apply_removals under way
  caf::actor_clock::time_point marks_checked{}; // the last drop_old_delete_marks that looked
  caf::actor_clock::time_point tags_checked{};  // the last resend_missing_tags
  /// Inventories of data managers that joined with manifests still to
  /// delete: counted once they applied them (count_inventory).
  std::map<std::string, std::vector<inventory_item>> awaiting_removals;
  /// (node name, the asking process) -> the nonce its join must sign (single
  /// use): keyed by process too, so one process cannot replace another's.
  std::map<std::pair<std::string, caf::node_id>, std::string> challenges;
  std::optional<caf::actor_clock::time_point> sweep_at; // pending round_deadline wake-up
  static inline const char* name = "stowage.master";
};

// master_rounds.cpp
/// Logs a decision (memory and disk) and returns its id.
std::uint64_t record_decision(master_actor* self, decision d);
/// Starts a probe round whose deadline is `probe_timeout` doubled `widen`
/// times (max_probe_widenings).
void start_round(master_actor* self, int phase, const std::string& receiver,
                 std::vector<std::string> candidates, round_done then, std::uint32_t widen = 0);

/// Whether the round of `decision` is to run again, wider: it measured
/// nobody (unlike a round whose measured candidates ranking ruled out: a
/// full disk), its runtime is up, and it was widened fewer than
/// max_probe_widenings times. Logs it if so.
bool measure_again(master_actor* self, std::uint64_t decision, const std::string& runtime,
                   const std::vector<candidate_result>& measured, std::uint32_t widen);
void round_ready(master_actor* self, const test_round_ready& ready);
void record_answer(master_actor* self, const test_request_answer& a);
void record_packet(master_actor* self, const test_packet& p);
void record_result(master_actor* self, const test_result& r);
void finish_round(master_actor* self, std::uint64_t round);
/// Finishes every round past its deadline and re-arms the wake-up.
void sweep_rounds(master_actor* self);
/// Up data managers among `names`, at most probe_fanout (at least two where two exist).
std::vector<std::string> pick_candidates(master_actor* self, std::vector<std::string> names,
                                         const std::string& exclude);
bool is_up(master_actor* self, const std::string& node);
bool is_up_data(master_actor* self, const std::string& node);

// master_flows.cpp
void handle_pull(master_actor* self, const pull_request& r, caf::typed_response_promise<pull_answer> rp);
void handle_storage(master_actor* self, const storage_request& r,
                    caf::typed_response_promise<first_proof_message> rp);
void fail_pulls_on(master_actor* self, const std::string& node, const std::string& why);
void handle_name_push(master_actor* self, const name_push& n, caf::typed_response_promise<push_named> rp);

// master_handoff.cpp
handoff_accepted handle_replication_failure(master_actor* self, const replication_failure& f);
void run_third_tests(master_actor* self);
/// Starts watching the replication of a push whose peers were told to expect it.
void watch_replication(master_actor* self, const pre_receive& notice, const std::vector<std::string>& peers);
/// A data manager stored an image (a push, a replica, a delivery).
void replica_stored(master_actor* self, const image_stored& s);
/// A data manager went down: the peers its pushes still owed are handed off.
void take_over_replication(master_actor* self, const std::string& node);
/// Anti-entropy, run when a data manager joins: every data manager up is owed
/// (as a handoff) each image another one up holds and it lacks, unless a
/// push in flight already brings it there: with its tag if the tag still
/// names it, else by digest alone. And each is sent the tags it misses on
/// images it holds (set_tags). Covers a data manager that
/// joins empty (new, or its disk replaced) and replications the master lost
/// track of (it restarted while peers still fetched, then the target died).
void owe_missing_replicas(master_actor* self);
/// Once a minute (from the retry tick): each data manager up is sent again
/// the tags it still misses, so that one that failed to set a tag (a disk
/// error) gets it without waiting for its next join.
void resend_missing_tags(master_actor* self);

// master_removal.cpp
/// A delete (a tag, or a manifest by digest): recorded for every data
/// manager and runtime, applied by those up at once and by the others when
/// they join.
delete_done handle_delete(master_actor* self, const delete_image& d);
/// Sends `node` the deletes it has still to apply, if it is up and none are
/// on their way to it.
void send_removals(master_actor* self, const std::string& node);
void send_all_removals(master_actor* self);
/// Drops the marks of images deleted more than delete_mark_lifetime ago
/// that every node has removed (looks once a minute, from the retry tick),
/// so that the marks of a long life of deletes do not pile up in memory and
/// on disk.
void drop_old_delete_marks(master_actor* self);
/// At start-up: the records of nodes the cluster file no longer names go
/// (they would never be applied).
void forget_removed_nodes(master_actor* self);
/// `node`'s inventory as it will be once it applied what it has still to
/// delete (images gone, tags gone: the manifest held by digest): run at its
/// join, before the inventory reaches the catalog.
std::vector<inventory_item> without_removed(master_actor* self, const std::string& node,
                                            std::vector<inventory_item> inventory);
/// A joining data manager's inventory (without_removed) into the catalog,
/// and what it and the others now lack owed. Held back while the node has
/// manifests to delete, until it applied them (send_removals): a deleted
/// index takes its platform manifests along where nothing else names them,
/// which the master cannot tell from the records, and those must neither
/// count nor be owed to the others.
void count_inventory(master_actor* self, const std::string& node, std::vector<inventory_item> inventory);
/// True if the image `s` reports was deleted (a copy under way at the
/// delete): the node is told to remove it again.
bool stored_after_delete(master_actor* self, const image_stored& s);
/// A push names repository@digest: a delete of it no longer applies.
void pushed_again(master_actor* self, const std::string& repository, const std::string& digest);

} // namespace stowage::actors::detail
