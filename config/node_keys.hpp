// Whose key is whose: the public key of every node of a cluster file, as a
// process running some of its nodes learns them (node/launch.cpp).
#pragma once

#include "config/cluster_config.hpp"

#include <map>
#include <string>
#include <vector>

namespace stowage::config {

/// The public key (hex Ed25519) of every node of `c`, given the names of
/// the nodes run in this process (`here`, whose identities exist already):
///  - the node's `public_key` line;
///  - for the master without one, `master_public_key`;
///  - else the `identity.pub` in its data directory, for a node on the host
///    of one run here (nodes on one host share its file system; another
///    host's data path names nothing here, or another node's directory).
/// Throws std::runtime_error naming the first node left without a key: its
/// links could never be opened, which would show only as a node that does
/// not answer.
std::map<std::string, std::string> node_keys(const cluster& c, const std::vector<std::string>& here);

} // namespace stowage::config
