// `stowage up --config FILE [--node NAME]...`: the nodes of a cluster file,
// one per process with --node, all of them in this process without it. Nodes
// find each other through the middleman addresses in the file and join the
// master with the signed handshake (README, "Security").
#include "cli/commands.hpp"
#include "cli/logging.hpp"
#include "config/cluster_config.hpp"
#include "node/launch.hpp"

#include <spdlog/spdlog.h>

namespace stowage::cli {
namespace {

struct up_options {
  std::string config;
  std::vector<std::string> nodes;
  std::string log_level = "info";
  unsigned threads = 2;
};

int run_up(const up_options& o) {
  setup_logging(o.nodes.size() == 1 ? o.nodes.front() : std::string("up"), o.log_level);
  node::launch_options lo;
  try {
    lo.cluster = config::load(o.config);
  } catch (const std::exception& e) {
    spdlog::error("{}", e.what());
    return 2;
  }
  lo.names = o.nodes;
  lo.http_threads = o.threads;
  return node::run(lo);
}

} // namespace

void add_up(CLI::App& app) {
  auto o = std::make_shared<up_options>();
  auto* cmd = app.add_subcommand("up", "Run the nodes of a cluster file (one node per process with --node)");
  cmd->add_option("--config", o->config, "The cluster file (TOML)")->required();
  cmd->add_option("--node", o->nodes, "A node to run here (repeatable); default: all of them");
  add_log_level_option(*cmd, o->log_level);
  cmd->add_option("--http-threads", o->threads, "HTTP threads per node")->capture_default_str();
  cmd->callback([o] { std::exit(run_up(*o)); });
}

} // namespace stowage::cli
