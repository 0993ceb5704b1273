// `stowage dev [--data DIR] [--data-managers N] [--port-base P] [--cache-max-bytes B] [--print-config]`:
// a whole cluster in one process (DESIGN §6): rt1's gateway on P, the
// master's HTTP on P+1, data managers on P+11.., middleman ports P+100,
// P+110+i, P+150. Identities and data live under DIR, so a restart on the
// same DIR keeps the images. --print-config prints the same cluster as a
// cluster file (with every node's public key, created first) and exits.
#include "cli/commands.hpp"
#include "cli/logging.hpp"
#include "config/cluster_config.hpp"
#include "node/launch.hpp"

#include <spdlog/spdlog.h>

#include <iostream>

namespace stowage::cli {
namespace {

struct dev_options {
  std::string data = "./stowage-data";
  std::uint32_t data_managers = 3;
  std::uint32_t port_base = 5000;
  bool print_config = false;
  std::int64_t cache_max_bytes = 0; // rt1's cache bound (config::node::cache_max_bytes); signed, as in TOML
  std::string log_level = "info";
  // One io thread per node: the nodes of `stowage dev` share one process and
  // its cores, and a second thread per node added wake-ups across threads
  // (a cold pull through the gateway: ~2,800 context switches with two,
  // ~1,180 with one; see docs/ARCHITECTURE.md for the push it gained).
  // `stowage up` runs one node per process and keeps two.
  unsigned threads = 1;
};

int run_dev(const dev_options& o) {
  setup_logging("dev", o.log_level);
  config::cluster c;
  try {
    if (o.port_base > 65385)
      throw std::runtime_error("--port-base must be at most 65385, not " + std::to_string(o.port_base));
    c = config::dev_cluster(o.data, o.data_managers, static_cast<std::uint16_t>(o.port_base));
    for (auto& n : c.nodes)
      if (n.role == config::role::runtime)
        n.cache_max_bytes = static_cast<std::uint64_t>(o.cache_max_bytes);
    node::fill_identities(c);
  } catch (const std::exception& e) {
    spdlog::error("{}", e.what());
    return 2;
  }
  if (o.print_config) {
    std::cout << config::to_toml(c) << std::flush;
    return 0;
  }
  node::launch_options lo;
  lo.cluster = std::move(c);
  lo.http_threads = o.threads;
  return node::run(lo);
}

} // namespace

void add_dev(CLI::App& app) {
  auto o = std::make_shared<dev_options>();
  auto* cmd = app.add_subcommand("dev", "Run a whole cluster (master, data managers, runtime rt1) in one process");
  cmd->add_option("--data", o->data, "Directory of every node's data (DIR/master, DIR/dm1, ...)")
    ->capture_default_str();
  cmd->add_option("--data-managers", o->data_managers, "Number of data managers")->capture_default_str();
  cmd->add_option("--port-base", o->port_base, "Gateway port P; master P+1, data managers P+11..")
    ->capture_default_str();
  cmd->add_option("--cache-max-bytes", o->cache_max_bytes,
                  "Bound of rt1's image cache in bytes, least recently used images removed first; 0: none")
    ->check(CLI::NonNegativeNumber)
    ->capture_default_str();
  cmd->add_flag("--print-config", o->print_config,
                "Print the same cluster as a cluster file (for stowage up) and exit");
  add_log_level_option(*cmd, o->log_level);
  cmd->add_option("--http-threads", o->threads, "HTTP threads per node")->capture_default_str();
  cmd->callback([o] { std::exit(run_dev(*o)); });
}

} // namespace stowage::cli
