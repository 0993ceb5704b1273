// The data manager's actor (DESIGN §2): answers test requests by having the
// data plane send a test packet straight to the named receiver; serves
// scheduled pulls; holds the second proofs (its proof_guard admits the first
// proof on the data plane before anything is stored); on push_commit
// replicates to every peer told to expect the image, acknowledges once
// min_copies places hold it (the slower peers go on), and hands the master
// the failure and the image for peers that do not answer; accepts
// replications it was told to expect and the master's deliveries.
//
// Requests it answers (protocol.hpp):
//   first/second/third_test_request -> test_request_answer
//   scheduling_request   -> scheduling_answer  (after the image reached the runtime)
//   second_proof_message -> proof_answer
//   pre_receive          -> pre_receive_answer
//   push_commit          -> push_ack           (once >= min_copies places hold the image)
//   replication_request  -> replication_answer
//   delivery             -> delivery_answer
//   apply_removals       -> removals_applied   (the master's deletes, by sequence number)
//   set_tags                                    (the master: tags it misses on images it holds)
//   connect_master       (local: join this master)
#pragma once

#include "actors/data_plane.hpp"
#include "actors/proof.hpp"
#include "config/cluster_config.hpp"
#include "config/identity.hpp"
#include "store/registry_store.hpp"

#include <caf/fwd.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <string>

namespace stowage::actors {

class link_membership;

struct data_manager_config {
  std::string name;             // its node name (unique)
  std::string http;             // host:port of its OCI endpoint
  std::string public_key;       // hex Ed25519 node key, presented when joining
  std::string master_name = "master"; // the master's node name on the data plane (its spool)
  config::cluster_settings settings;
  std::shared_ptr<store::registry_store> store;
  /// Admits pushes on the data plane; share it with the HTTP layer.
  std::shared_ptr<proof_guard> guard;
  std::shared_ptr<probe_sender> probes;
  std::shared_ptr<image_transfer> transfer;
  std::chrono::milliseconds request_timeout{10 * 60 * 1000}; // replication and handoff, across nodes
  /// Signs the join (protocol.hpp join handshake); empty: unsigned join (tests).
  std::optional<config::identity> identity;
  /// Set: the actor runs behind a link guard (link_guard.hpp); null: none.
  std::shared_ptr<link_membership> links;
};

/// Tells a data manager that a blob of a push session it admitted starts
/// arriving on its OCI endpoint (net/push_relay.hpp): its peers fetch it now.
void tell_blob_arriving(const caf::actor& data_manager, std::string session, std::string repository,
                        std::string digest, std::uint64_t size);

/// Spawns a data manager; with a valid `master` it joins at once.
caf::actor spawn_data_manager(caf::actor_system& sys, data_manager_config cfg, caf::actor master);

} // namespace stowage::actors
