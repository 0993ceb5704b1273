// The node directory: who is in the cluster, where each node's HTTP endpoint
// is and which Ed25519 key it signs with. Built once from the cluster file
// (plus the public keys, which the cluster file carries or `stowage dev`
// knows directly) and then only read, so one instance can be shared between
// HTTP threads and actors without locking. It is the trust root of the data
// plane: a node signature is accepted only with the key listed here.
#pragma once

#include "config/cluster_config.hpp"
#include "config/identity.hpp"

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace stowage::config {

struct directory_entry {
  std::string name;
  config::role role = role::data;
  std::string http;       // "host:port" ("[v6]:port" for IPv6) of its HTTP endpoint
  std::string public_key; // hex Ed25519; empty if unknown (its signatures are then refused)
};

class directory {
public:
  directory() = default;

  /// One entry per node of `c`: http = host:http_port. `public_keys` maps
  /// node names to hex keys; nodes missing from it get an empty key.
  static directory from_cluster(const cluster& c, const std::map<std::string, std::string>& public_keys = {});

  /// Adds or replaces the entry named `e.name`.
  void add(directory_entry e);

  const directory_entry* find(std::string_view name) const;
  /// The node's public key, if it has a valid one.
  std::optional<ed25519_public_key> key_of(std::string_view name) const;
  /// "host:port" of the node's HTTP endpoint, if the node is known.
  std::optional<std::string> http_of(std::string_view name) const;
  std::vector<const directory_entry*> with_role(config::role r) const;
  const std::map<std::string, directory_entry, std::less<>>& entries() const { return entries_; }

private:
  std::map<std::string, directory_entry, std::less<>> entries_;
};

/// "host:port", bracketing IPv6 literals.
std::string http_endpoint(std::string_view host, std::uint16_t port);

} // namespace stowage::config
