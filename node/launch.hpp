// Running nodes of a cluster in this process: what `stowage dev` and
// `stowage up` call. CAF-free header (the CLI includes it).
#pragma once

#include "config/cluster_config.hpp"

#include <string>
#include <vector>

namespace stowage::node {

/// Gives every node an identity (created in its data directory on first
/// use, kept afterwards) and writes the public keys into `c`: each node's
/// public_key and the cluster's master_public_key, where they are empty.
/// What `stowage dev --print-config` does before printing.
void fill_identities(config::cluster& c);

struct launch_options {
  config::cluster cluster;
  std::vector<std::string> names; // the nodes to run here; empty: all of them
  unsigned http_threads = 2;      // per HTTP server
};

/// Starts the nodes, runs until SIGINT or SIGTERM, stops them in order
/// (HTTP first, then actors). Returns the process exit code; errors that
/// keep a node from starting are logged and give 1.
int run(const launch_options& opts);

} // namespace stowage::node
