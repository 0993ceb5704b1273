// The cluster file (DESIGN §6): cluster-wide settings and one entry per node.
// `stowage dev` builds the same structure in memory and `--print-config`
// prints it, so one process and five processes run the very same cluster.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace stowage::config {

enum class role { master, data, runtime };

struct cluster_settings {
  std::uint64_t probe_bytes = 256 * 1024;           // size of a test packet
  std::chrono::milliseconds probe_timeout{2000};    // deadline of a probe round
  std::chrono::milliseconds retry_interval{2000};   // handoff retry (third test) period
  std::chrono::milliseconds proof_ttl{60000};       // lifetime of a push proof pair
  std::uint32_t min_copies = 2;                     // durable places before a push is acked
  std::uint32_t probe_fanout = 0;                   // candidates per round; 0 = all healthy
  std::string master_public_key;                    // hex Ed25519; empty in dev (generated)

  bool operator==(const cluster_settings&) const = default;
};

struct node {
  std::string name;        // unique
  config::role role = role::data;
  std::string host = "127.0.0.1";
  std::uint16_t http_port = 0;   // OCI API (data, runtime gateway) or admin API (master)
  std::uint16_t actor_port = 0;  // CAF middleman
  std::filesystem::path data;    // its directory
  std::string public_key;        // hex Ed25519 of its identity (the trust root); empty in dev
  // A runtime's image cache: at most this many bytes (0: no bound), least
  // recently used images removed first, none used within cache_min_idle.
  std::uint64_t cache_max_bytes = 0;
  std::chrono::seconds cache_min_idle{600};

  bool operator==(const node&) const = default;
};

struct cluster {
  cluster_settings settings;
  std::vector<node> nodes;

  const node* find(std::string_view name) const;
  const node* master() const;
  std::vector<const node*> with_role(config::role r) const;

  bool operator==(const cluster&) const = default;
};

/// Parses a cluster TOML file; throws std::runtime_error with a one-line,
/// user-facing message (file:line: what is wrong) on any error.
cluster load(const std::filesystem::path& file);
cluster parse(std::string_view toml_text, std::string_view source_name = "<string>");
/// The TOML text of `c`; load(to_toml(c)) == c.
std::string to_toml(const cluster& c);
/// The `stowage dev` cluster: rt1 on P, master on P+1, dm i on P+10+i
/// (actor ports P+100, P+110+i, P+150), data under `dir`/<name>.
cluster dev_cluster(const std::filesystem::path& dir, std::uint32_t data_managers, std::uint16_t port_base);

std::string_view role_name(role r);

} // namespace stowage::config
