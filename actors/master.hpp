// The master (DESIGN §2): membership, catalog, probe rounds and ranking, the
// decision log, proofs and pre-receives, the durable handoff queue with its
// periodic third tests and deliveries, per-tag sequence numbers.
//
// Talks only through the messages of protocol.hpp. Requests it answers:
//   join_request        -> join_answer          (data managers, runtimes)
//   pull_request        -> pull_answer          (runtime; probes holders, schedules the best)
//   storage_request     -> first_proof_message  (runtime; probes, proofs, pre-receives)
//   test_result         (runtime's measurements of a round; no answer)
//   test_packet         (third-test packets the data plane delivers to the master)
//   replication_failure -> handoff_accepted     (target; the image is already in the spool)
//   image_stored        (data manager; catalog update)
//   nodes_query -> nodes_answer, images_query -> images_answer,
//   decisions_query -> decisions_answer, handoffs_query -> handoffs_answer
#pragma once

#include "config/identity.hpp"
#include "config/cluster_config.hpp"
#include "store/registry_store.hpp"

#include <caf/fwd.hpp>

#include <map>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace stowage::actors {

class link_membership;

/// A node of the cluster file as the master checks joins against it.
struct known_node {
  std::string role;       // "data" | "runtime"
  std::string public_key; // hex Ed25519
  std::string http;       // its HTTP endpoint, listed before it ever joins
};

struct master_config {
  std::string name = "master";     // its node name (data-plane receiver of third tests)
  std::string http;                // its admin endpoint, for the nodes listing
  std::filesystem::path dir;       // handoffs.db lives here
  config::cluster_settings settings;
  std::optional<config::identity> identity; // signs the proofs; generated if empty
  /// The spool holding handed-off images (counts as one of min_copies). The
  /// data plane must serve it under `name`. Opened at `dir`/spool if null.
  std::shared_ptr<store::registry_store> spool;
  std::function<std::int64_t()> unix_ms; // proof expiry clock; wall clock if empty
  std::chrono::milliseconds transfer_timeout{10 * 60 * 1000}; // one image transfer, across nodes
  std::size_t decision_capacity = 1000;
  /// Decisions are written to the journal in batches, at most this long
  /// after the first of a batch was made: what a master killed with -9 can
  /// lose from /api/v1/decisions (never their ids).
  std::chrono::milliseconds journal_delay{100};
  /// A deleted image's mark (a copy that turns up later, from a transfer
  /// under way at the delete or a node restored from a backup, is removed
  /// rather than counted) is dropped this long after the delete, and only
  /// once every node of the cluster file removed the image and every data
  /// manager of the file is up; never less than twice transfer_timeout.
  /// Marks stay for good without a cluster file (a node nobody has heard of
  /// may still join with a copy), and where a node left the file owing the
  /// removal or a removal could not be recorded.
  std::chrono::milliseconds delete_mark_lifetime{24 * 60 * 60 * 1000};
  /// The cluster file's nodes and keys. Empty: joins are not signed (one
  /// process, deterministic tests). Otherwise a join is admitted only with
  /// the named node's signature over a challenge of this master.
  std::map<std::string, known_node> directory;
  /// Set: the master runs behind a link guard (link_guard.hpp) and keeps the
  /// joined processes in it; null: no guard (one process, tests).
  std::shared_ptr<link_membership> links;
};

/// A pull's or push's probe round that measured nobody, while its runtime
/// is up, is recorded and run again with twice the deadline, at most this
/// many times (2, 4 and 8 s with the default probe_timeout): a deadline set
/// for a fast network must not fail pulls and pushes over a slow one while
/// data managers are up.
constexpr std::uint32_t max_probe_widenings = 2;

/// Spawns the master; it reloads pending handoffs from `cfg.dir` and runs a
/// third-test round for them every `settings.retry_interval` until it exits.
caf::actor spawn_master(caf::actor_system& sys, master_config cfg);

} // namespace stowage::actors
