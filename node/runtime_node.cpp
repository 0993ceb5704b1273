// A runtime node: its image cache (cache/, trimmed to its bound if it has
// one), the gateway container engines talk to (OCI API; pulls and pushes run
// through the cluster; test packets arrive here), the HTTP image transfer and
// its actor.
#include "node/roles.hpp"

#include "node/cache_trimmer.hpp"

#include "actors/ports.hpp"
#include "actors/runtime.hpp"
#include "net/gateway.hpp"
#include "net/blob_relay.hpp"
#include "net/http_image_transfer.hpp"
#include "store/registry_store.hpp"

#include <caf/actor_system.hpp>

#include <spdlog/spdlog.h>

namespace stowage::node {

std::unique_ptr<running_node> start_runtime(node_env& env, const config::node& n, const config::identity& id,
                                            caf::actor master) {
  auto out = std::make_unique<running_node>();
  out->name = n.name;
  out->role = config::role::runtime;

  // An upload session idle for an hour is abandoned (a client's push and a
  // delivery write steadily); until it is swept its bytes count against
  // cache_max_bytes.
  std::shared_ptr<store::registry_store> cache =
      store::registry_store::open(n.data / "cache", std::chrono::hours(1), store::store_kind::cache);
  out->parts.push_back(cache);
  if (n.cache_max_bytes > 0)
    out->parts.push_back(std::make_shared<cache_trimmer>(cache, store::cache_bound{n.cache_max_bytes, n.cache_min_idle},
                                                         n.name));
  // Blobs arriving in the cache, read by the gateway's clients (pulls) and
  // by the transfer (a client's push, sent on while it arrives).
  auto relay = std::make_shared<net::blob_relay>(cache);
  net::http_transfer_options topts;
  topts.arriving = [relay](const std::string& repo, const oci::digest& d) { return relay->open(repo, d); };
  auto transfer = std::make_shared<net::http_image_transfer>(n.name, env.dir, id, cache, topts);
  out->parts.push_back(transfer);

  actors::runtime_config cfg;
  cfg.name = n.name;
  cfg.http = config::http_endpoint(n.host, n.http_port);
  cfg.public_key = id.public_key_hex();
  cfg.settings = env.cluster.settings;
  cfg.settings.master_public_key = env.master_public_key;
  cfg.store = cache;
  cfg.transfer = transfer;
  cfg.identity = id;
  cfg.links = env.links;
  out->actor = actors::spawn_runtime(env.sys, std::move(cfg), std::move(master));

  net::gateway_options gopts;
  gopts.relay = relay;
  gopts.track_use = n.cache_max_bytes > 0;
  auto gw = std::make_shared<net::gateway>(cache, actors::make_runtime_port(env.sys, out->actor), env.dir,
                                           actors::make_packet_sink(out->actor), gopts);
  out->parts.push_back(gw);
  net::http_server_options hopts;
  hopts.host = n.host;
  hopts.port = n.http_port;
  hopts.threads = env.http_threads;
  hopts.name = n.name;
  out->http = std::make_unique<net::http_server>(*gw, hopts);
  out->http->start();
  spdlog::info("{}: gateway (OCI API for container engines) on {}:{}, cache in {}", n.name, n.host,
               out->http->port(), n.data.string());
  publish(env.sys, out->actor, n);
  return out;
}

} // namespace stowage::node
