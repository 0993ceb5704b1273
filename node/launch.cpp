// Starting and stopping the nodes of one process (`stowage dev`, `stowage up`).
#include "node/launch.hpp"

#include "actors/failure_watch.hpp"
#include "actors/link_guard.hpp"
#include "actors/protocol.hpp"
#include "config/cluster_tls.hpp"
#include "config/node_keys.hpp"
#include "node/master_link.hpp"
#include "node/peer_links.hpp"
#include "node/roles.hpp"
#include "node/tls_error_queue.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/io/middleman.hpp>
#include <caf/openssl/manager.hpp>
#include <caf/timespan.hpp>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <map>
#include <pthread.h>
#include <set>
#include <stdexcept>
#include <unistd.h>

namespace stowage::node {

namespace {

// Every process of a cluster runs the middleman, even with all nodes in one
// process, so `dev` and `up` are the same code. The heartbeat and the
// connection timeout make a dead or hung peer visible (down_msg) within
// ~2 s; without them a SIGSTOPped node is never noticed.
//
// Every middleman link is mutual TLS (config/cluster_tls.hpp): only a
// process holding the key of a node in the cluster file completes the
// handshake. Automatic connections stay off: CAF opens them without TLS,
// and every pair of processes that talks links directly anyway (the master
// link, peer_links).
struct cluster_actor_config : caf::actor_system_config {
  explicit cluster_actor_config(const config::tls_files& tls) {
    load<caf::io::middleman>();
    load<caf::openssl::manager>();
    openssl_certificate = tls.certificate;
    openssl_key = tls.key;
    openssl_cafile = tls.trusted;
    actors::add_protocol_types(*this);
    set("middleman.heartbeat-interval", caf::timespan{std::chrono::milliseconds(500)});
    set("middleman.connection-timeout", caf::timespan{std::chrono::seconds(2)});
    set("middleman.enable-automatic-connections", false);
    // An idle work-stealing worker spins briefly, then sleeps on its condition
    // variable; CAF's middle phase (500 polls 50 us apart) cost a quarter of
    // a gateway push's CPU on this VM, each sleep two context switches.
    // Measured: push CPU close to the sharing policy's (181-195 against
    // 163-178 ticks), the same push time, while sharing cut bench_scheduling
    // from ~22,000 to ~13,000 decisions/s (this: ~18,000).
    set("work-stealing.moderate-poll-attempts", 0);
    // Our own logs (spdlog) say what happens; CAF's logger stays silent.
    set("logger.file-verbosity", caf::atom("quiet"));
    set("logger.console-verbosity", caf::atom("quiet"));
  }
};

} // namespace

void fill_identities(config::cluster& c) {
  for (auto& n : c.nodes)
    if (n.public_key.empty())
      n.public_key = config::identity::load_or_create(n.data).public_key_hex();
  if (c.settings.master_public_key.empty() && c.master())
    c.settings.master_public_key = c.master()->public_key;
}

namespace {
std::atomic<bool> node_failed{false}; // a node's actor stopped by itself
} // namespace

int run(const launch_options& opts) {
  const auto& c = opts.cluster;
  // The stop signals are blocked in every thread; this one waits for them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  std::vector<const config::node*> here;
  if (opts.names.empty()) {
    for (const auto& n : c.nodes)
      here.push_back(&n);
  } else {
    for (const auto& name : opts.names) {
      const auto* n = c.find(name);
      if (!n) {
        spdlog::error("no node named '{}' in the cluster file", name);
        return 2;
      }
      if (std::find(here.begin(), here.end(), n) != here.end()) {
        spdlog::error("--node {} is given twice", name);
        return 2;
      }
      here.push_back(n);
    }
  }

  // Identities first: every local node's key pair (checked against the
  // file's keys below).
  std::map<std::string, config::identity> ids;
  try {
    for (const auto* n : here)
      ids.emplace(n->name, config::identity::load_or_create(n->data));
  } catch (const std::exception& e) {
    spdlog::error("{}", e.what());
    return 1;
  }
  std::map<std::string, std::string> keys;
  try {
    std::vector<std::string> names;
    for (const auto* n : here) names.push_back(n->name);
    keys = config::node_keys(c, names);
  } catch (const std::exception& e) {
    spdlog::error("{}", e.what());
    return 1;
  }
  // The key the others will check a local node against (its line, or the
  // master's master_public_key) must be its own.
  for (const auto* n : here)
    if (keys.at(n->name) != ids.at(n->name).public_key_hex()) {
      spdlog::error("{}: the identity in {} ({}) is not its key in the cluster file ({})", n->name, n->data.string(),
                    ids.at(n->name).public_key_hex(), keys.at(n->name));
      return 1;
    }
  const auto* master_node = c.master();
  const std::string master_key = c.settings.master_public_key.empty() ? keys.at(master_node->name)
                                                                       : c.settings.master_public_key;
  if (keys.at(master_node->name) != master_key) {
    spdlog::error("master_public_key of the cluster file is not the master's key ({})", keys.at(master_node->name));
    return 1;
  }

  // This process's TLS identity: its first node's (any key of the cluster
  // file opens a link; which node a message comes from is the join's job).
  // Declared before the actor system, which reads it until it stops.
  config::tls_files tls;
  try {
    const auto* first = here.front();
    tls = config::make_cluster_tls(first->name, ids.at(first->name), keys);
  } catch (const std::exception& e) {
    spdlog::error("{}", e.what());
    return 1;
  }
  if (!tls_error_queue_guarded()) {
    spdlog::error("this build does not guard OpenSSL's error queue (node/tls_error_queue.cpp); links would drop");
    return 1;
  }
  cluster_actor_config cfg{tls};
  caf::actor_system sys{cfg};
  node_env env{sys, c, std::make_shared<const config::directory>(config::directory::from_cluster(c, keys)),
               std::make_shared<actors::link_membership>(), master_key, opts.http_threads};

  std::vector<std::unique_ptr<running_node>> nodes;
  std::unique_ptr<master_link> link;
  std::unique_ptr<peer_links> peers;
  int code = 0;
  try {
    caf::actor master;
    for (const auto* n : here)
      if (n->role == config::role::master) {
        nodes.push_back(start_master(env, *n, ids.at(n->name)));
        master = nodes.back()->actor;
      }
    std::vector<caf::actor> to_link;
    for (const auto* n : here) {
      if (n->role == config::role::data)
        nodes.push_back(start_data(env, *n, ids.at(n->name), master));
      else if (n->role == config::role::runtime)
        nodes.push_back(start_runtime(env, *n, ids.at(n->name), master));
      else
        continue;
      to_link.push_back(nodes.back()->actor);
    }
    if (!master && !to_link.empty()) {
      std::string who;
      for (const auto* n : here)
        who += (who.empty() ? "" : ",") + n->name;
      link = std::make_unique<master_link>(sys, master_node->host, master_node->actor_port, to_link, who);
      // Direct routes to the data managers of other processes (targets and
      // replication peers), before any of their handles arrive.
      std::vector<peer_address> others;
      for (const auto& n : c.nodes)
        if (n.role == config::role::data && std::find(here.begin(), here.end(), &n) == here.end())
          others.push_back({n.name, n.host, n.actor_port});
      peers = std::make_unique<peer_links>(sys, std::move(others), who);
    }
    std::string names;
    for (const auto& n : nodes) {
      names += (names.empty() ? "" : " ") + n->name;
      actors::on_failure(n->actor, [name = n->name](const std::string& reason) {
        spdlog::critical("{}: its actor stopped ({}); the process exits so that it can be restarted", name, reason);
        node_failed = true;
        ::kill(::getpid(), SIGTERM); // ends the wait below
      });
    }
    spdlog::info("running {} (Ctrl-C or SIGTERM stops)", names);
    int sig = 0;
    sigwait(&stop_signals, &sig);
    if (node_failed)
      code = 1;
    else
      spdlog::info("signal {}: stopping", sig);
  } catch (const std::exception& e) {
    spdlog::error("{}", e.what());
    code = 1;
  }
  // HTTP first (no new work), then the link, then the actors and what they own.
  for (auto& n : nodes)
    n->stop_http();
  if (peers)
    peers->stop();
  if (link)
    link->stop();
  for (auto it = nodes.rbegin(); it != nodes.rend(); ++it)
    (*it)->release();
  nodes.clear();
  spdlog::info("stopped");
  return code;
}

} // namespace stowage::node
