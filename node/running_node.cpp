#include "node/roles.hpp"

#include "actors/protocol.hpp"

#include <caf/actor_system.hpp>
#include <caf/exit_reason.hpp>
#include <caf/io/middleman.hpp>
#include <caf/openssl/publish.hpp>
#include <caf/send.hpp>

#include <spdlog/spdlog.h>

#include <stdexcept>

namespace stowage::node {

void running_node::stop_http() {
  if (http)
    http->stop(std::chrono::seconds(3));
}

void running_node::release() {
  if (actor) {
    caf::anon_send_exit(actor, caf::exit_reason::user_shutdown);
    actor = nullptr;
  }
  http.reset();
  while (!parts.empty())
    parts.pop_back();
}

running_node::~running_node() {
  stop_http();
  release();
}

void publish(caf::actor_system& sys, const caf::actor& actor, const config::node& n) {
  auto port = caf::openssl::publish(actor, n.actor_port, n.host.c_str(), true);
  if (!port)
    throw std::runtime_error(n.name + ": cannot publish on the middleman port " + n.host + ":" +
                             std::to_string(n.actor_port) + ": " + sys.render(port.error()));
  spdlog::info("{}: middleman on {}:{}", n.name, n.host, *port);
}

} // namespace stowage::node
