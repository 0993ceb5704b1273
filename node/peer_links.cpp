#include "node/peer_links.hpp"

#include <caf/actor_system.hpp>
#include <caf/atom.hpp>
#include <caf/openssl/manager.hpp>
#include <caf/scoped_actor.hpp>

#include <spdlog/spdlog.h>

#include <chrono>

namespace stowage::node {

namespace {

/// A TLS link to the process at host:port (the middleman's cached one while
/// it stands), as CAF's openssl::remote_actor makes, without asking for an actor.
caf::expected<caf::node_id> connect_tls(caf::actor_system& sys, const std::string& host, std::uint16_t port) {
  caf::expected<caf::node_id> out{caf::sec::cannot_connect_to_node};
  caf::scoped_actor self{sys};
  self->request(sys.openssl_manager().actor_handle(), std::chrono::seconds(10), caf::connect_atom::value, host, port)
    .receive([&](const caf::node_id& node, caf::strong_actor_ptr&, std::set<std::string>&) { out = node; },
             [&](caf::error& e) { out = std::move(e); });
  return out;
}

} // namespace

peer_links::peer_links(caf::actor_system& sys, std::vector<peer_address> peers, std::string who)
  : sys_(sys), peers_(std::move(peers)), who_(std::move(who)) {
  for (const auto& p : peers_)
    threads_.emplace_back([this, &p] { keep_linked(p); });
}

peer_links::~peer_links() { stop(); }

void peer_links::stop() {
  stop_ = true;
  for (auto& t : threads_)
    if (t.joinable())
      t.join();
}

void peer_links::keep_linked(const peer_address& p) {
  using namespace std::chrono_literals;
  bool linked = false; // as last seen
  while (!stop_) {
    // Answered from the middleman's cache while the connection stands;
    // connects again once it was lost (a restarted data manager).
    auto node = connect_tls(sys_, p.host, p.port);
    bool up = static_cast<bool>(node);
    if (up != linked) {
      if (up)
        spdlog::info("{}: linked to {} at {}:{}", who_, p.name, p.host, p.port);
      else
        spdlog::debug("{}: no link to {} at {}:{} yet ({})", who_, p.name, p.host, p.port,
                      sys_.render(node.error()));
    }
    linked = up;
    for (int i = 0; i < 20 && !stop_; ++i)
      std::this_thread::sleep_for(100ms);
  }
}

} // namespace stowage::node
