// The runtime's actor (DESIGN §2): measures the test packets of each probe
// round (time from the round's start to arrival, throughput) and reports the
// test results to the master; drives pulls and pushes from its side, asking
// again when a chosen target fails mid-transfer.
//
// Requests it answers (protocol.hpp):
//   test_round_start -> test_round_ready   (master)
//   test_packet                             (data plane: a packet arrived)
//   pull_image       -> pull_done          (local: gateway, CLI, tests)
//   pull_scheduled                          (master: passed on to the pull's requesters)
//   push_image       -> push_done          (local; acknowledged only with >= min_copies)
//   delete_image     -> delete_done        (local; passed on to the master)
//   tags_query       -> tags_answer        (local; passed on to the master)
//   repositories_query -> repositories_answer (local; passed on to the master)
//   apply_removals   -> removals_applied   (master: its deletes, applied to the cache)
//   connect_master                          (local: join this master)
#pragma once

#include "actors/data_plane.hpp"
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

struct runtime_config {
  std::string name;
  std::string http;         // its gateway endpoint
  std::string public_key;   // hex Ed25519 node key
  config::cluster_settings settings;
  std::shared_ptr<store::registry_store> store; // the local image cache
  std::shared_ptr<image_transfer> transfer;
  /// A whole pull or push step, across nodes. Longer than the master's
  /// transfer_timeout (10 min) plus its probe round: a transfer the master
  /// gives up on comes back naming the next holder, which the runtime then
  /// tries; had the runtime given up first, the pull would fail.
  std::chrono::milliseconds request_timeout{11 * 60 * 1000};
  std::uint32_t max_attempts = 4; // targets tried per pull or push
  /// A push_commit unanswered this long is sent again (the data manager
  /// joins repeats to the first); the whole commit still ends at request_timeout.
  std::chrono::milliseconds commit_repeat{30 * 1000};
  /// Signs the join (protocol.hpp join handshake); empty: unsigned join (tests).
  std::optional<config::identity> identity;
  /// Set: the actor runs behind a link guard (link_guard.hpp); null: none.
  std::shared_ptr<link_membership> links;
};

caf::actor spawn_runtime(caf::actor_system& sys, runtime_config cfg, caf::actor master);

} // namespace stowage::actors
