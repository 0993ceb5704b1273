// The master node: its actor (handoff queue in the data directory, the spool
// under spool/), its admin HTTP with the spool served read-only under /v2/,
// and its middleman port, where nodes join with the signed handshake.
#include "node/roles.hpp"

#include "actors/master.hpp"
#include "actors/ports.hpp"
#include "net/master_http.hpp"
#include "store/registry_store.hpp"

#include <caf/actor_system.hpp>

#include <spdlog/spdlog.h>

namespace stowage::node {

std::unique_ptr<running_node> start_master(node_env& env, const config::node& n, const config::identity& id) {
  auto out = std::make_unique<running_node>();
  out->name = n.name;
  out->role = config::role::master;

  std::shared_ptr<store::registry_store> spool = store::registry_store::open(n.data / "spool");
  out->parts.push_back(spool);

  actors::master_config cfg;
  cfg.name = n.name;
  cfg.http = config::http_endpoint(n.host, n.http_port);
  cfg.dir = n.data;
  cfg.settings = env.cluster.settings;
  cfg.settings.master_public_key = env.master_public_key;
  cfg.identity = id;
  cfg.spool = spool;
  cfg.links = env.links;
  for (const auto& [name, e] : env.dir->entries()) {
    if (e.role == config::role::master)
      continue;
    if (e.public_key.empty())
      spdlog::warn("{}: {} has no public key (cluster file or its identity.pub): its joins will be refused",
                   n.name, name);
    cfg.directory[name] = {std::string(config::role_name(e.role)), e.public_key, e.http};
  }
  out->actor = actors::spawn_master(env.sys, std::move(cfg));

  auto handler = std::make_shared<net::master_http>(actors::make_master_port(env.sys, out->actor), spool, env.dir,
                                                    actors::make_packet_sink(out->actor));
  out->parts.push_back(handler);
  net::http_server_options hopts;
  hopts.host = n.host;
  hopts.port = n.http_port;
  hopts.threads = env.http_threads;
  hopts.name = n.name;
  out->http = std::make_unique<net::http_server>(*handler, hopts);
  out->http->start();
  spdlog::info("{}: admin API, dashboard and spool on http://{}:{}/", n.name, n.host, out->http->port());
  publish(env.sys, out->actor, n);
  return out;
}

} // namespace stowage::node
