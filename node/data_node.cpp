// A data manager node: its store (store/), the proof guard that admits
// pushes (proofs/), its OCI endpoint behind the cluster's push gate (proofs
// only; a push's blobs relayed to the peers as they arrive, net/push_relay),
// the HTTP data plane (test packets, image transfers) and its actor.
#include "node/roles.hpp"

#include "actors/data_manager.hpp"
#include "actors/proof.hpp"
#include "net/cluster_gate.hpp"
#include "net/http_image_transfer.hpp"
#include "net/http_probe_sender.hpp"
#include "net/push_relay.hpp"
#include "net/registry_api.hpp"
#include "store/registry_store.hpp"

#include <caf/actor_system.hpp>

#include <spdlog/spdlog.h>

#include <stdexcept>

namespace stowage::node {

std::unique_ptr<running_node> start_data(node_env& env, const config::node& n, const config::identity& id,
                                         caf::actor master) {
  auto out = std::make_unique<running_node>();
  out->name = n.name;
  out->role = config::role::data;

  auto master_key = config::public_key_from_hex(env.master_public_key);
  if (!master_key)
    throw std::runtime_error(n.name + ": the master's public key is unknown (master_public_key in the cluster "
                                      "file): pushes could not be admitted");

  std::shared_ptr<store::registry_store> st = store::registry_store::open(n.data / "store");
  out->parts.push_back(st);
  auto guard = std::make_shared<actors::proof_guard>(n.name, *master_key, n.data / "proofs", actors::unix_now_ms);
  out->parts.push_back(guard);
  auto probes = std::make_shared<net::http_probe_sender>(n.name, env.dir, id);
  out->parts.push_back(probes);
  auto transfer = std::make_shared<net::http_image_transfer>(n.name, env.dir, id, st);
  out->parts.push_back(transfer);

  net::registry_api_options api_opts;
  api_opts.uploads = store::upload_use::read_soon; // the peers fetch each pushed blob right away
  auto api = std::make_shared<net::registry_api>(*st, net::data_manager_gate(env.dir, guard, *master_key),
                                                 net::after_manifest_put_hook{}, api_opts);
  out->parts.push_back(api);
  auto endpoint = std::make_shared<net::push_relay>(st, api);
  out->parts.push_back(endpoint);
  net::http_server_options hopts;
  hopts.host = n.host;
  hopts.port = n.http_port;
  hopts.threads = env.http_threads;
  hopts.name = n.name;
  out->http = std::make_unique<net::http_server>(*endpoint, hopts);
  out->http->start();
  spdlog::info("{}: OCI endpoint on {}:{} (pushes need a proof), data in {}", n.name, n.host, out->http->port(),
               n.data.string());

  actors::data_manager_config cfg;
  cfg.name = n.name;
  cfg.http = config::http_endpoint(n.host, n.http_port);
  cfg.public_key = id.public_key_hex();
  cfg.master_name = env.cluster.master()->name;
  cfg.settings = env.cluster.settings;
  cfg.settings.master_public_key = env.master_public_key;
  cfg.store = st;
  cfg.guard = guard;
  cfg.probes = probes;
  cfg.transfer = transfer;
  cfg.identity = id;
  cfg.links = env.links;
  out->actor = actors::spawn_data_manager(env.sys, std::move(cfg), std::move(master));
  endpoint->on_arriving([dm = out->actor](const net::arriving_blob& b) {
    actors::tell_blob_arriving(dm, b.session, b.repository, b.digest, b.size);
  });
  publish(env.sys, out->actor, n);
  return out;
}

} // namespace stowage::node
