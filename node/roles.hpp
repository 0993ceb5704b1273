// Internal: one function per role. Each opens the node's store and identity,
// spawns its actor, starts its HTTP server with the right handler and
// publishes the actor on its middleman port. What a node owns is kept in
// `running_node` and torn down in reverse order of creation.
#pragma once

#include "actors/link_guard.hpp"
#include "actors/ports.hpp"
#include "config/cluster_config.hpp"
#include "config/directory.hpp"
#include "config/identity.hpp"
#include "net/http_server.hpp"

#include <caf/actor.hpp>
#include <caf/fwd.hpp>

#include <memory>
#include <string>
#include <vector>

namespace stowage::node {

/// What every node of this process shares.
struct node_env {
  caf::actor_system& sys;
  const config::cluster& cluster;
  std::shared_ptr<const config::directory> dir;     // names, endpoints, keys (the trust root)
  std::shared_ptr<actors::link_membership> links;   // this process's link guard
  std::string master_public_key;                    // hex
  unsigned http_threads = 2;
};

struct running_node {
  std::string name;
  config::role role = config::role::data;
  caf::actor actor;
  std::unique_ptr<net::http_server> http;
  std::vector<std::shared_ptr<void>> parts; // handler, stores, data plane: released last to first

  running_node() = default;
  running_node(const running_node&) = delete;
  running_node& operator=(const running_node&) = delete;
  /// Stops accepting HTTP and lets requests in flight finish (bounded).
  void stop_http();
  /// Stops the actor and releases everything it owns, newest first.
  void release();
  ~running_node();
};

std::unique_ptr<running_node> start_master(node_env& env, const config::node& n, const config::identity& id);
/// `master`: the master's actor when it runs in this process, else invalid
/// (the master link connects it later).
std::unique_ptr<running_node> start_data(node_env& env, const config::node& n, const config::identity& id,
                                         caf::actor master);
std::unique_ptr<running_node> start_runtime(node_env& env, const config::node& n, const config::identity& id,
                                            caf::actor master);

/// Publishes `actor` on the node's middleman port (its host, port reused).
void publish(caf::actor_system& sys, const caf::actor& actor, const config::node& n);

} // namespace stowage::node
