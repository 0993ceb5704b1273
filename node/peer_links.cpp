#include "node/peer_links.hpp"

#include <caf/actor_system.hpp>
#include <caf/io/middleman.hpp>

#include <spdlog/spdlog.h>

#include <chrono>
#include <map>

namespace stowage::node {

peer_links::peer_links(caf::actor_system& sys, std::vector<peer_address> peers, std::string who)
  : sys_(sys), peers_(std::move(peers)), who_(std::move(who)) {
  if (!peers_.empty())
    thread_ = std::thread([this] { loop(); });
}

peer_links::~peer_links() { stop(); }

void peer_links::stop() {
  stop_ = true;
  if (thread_.joinable())
    thread_.join();
}

void peer_links::loop() {
  using namespace std::chrono_literals;
  std::map<std::string, bool> linked; // by peer name, as last seen
  while (!stop_) {
    for (const auto& p : peers_) {
      if (stop_)
        return;
      // Answered from the middleman's cache while the connection stands;
      // connects again once it was lost (a restarted data manager).
      auto node = sys_.middleman().connect(p.host, p.port);
      bool up = static_cast<bool>(node);
      if (up != linked[p.name]) {
        if (up)
          spdlog::info("{}: linked to {} at {}:{}", who_, p.name, p.host, p.port);
        else
          spdlog::debug("{}: no link to {} at {}:{} yet ({})", who_, p.name, p.host, p.port,
                        sys_.render(node.error()));
      }
      linked[p.name] = up;
    }
    for (int i = 0; i < 20 && !stop_; ++i)
      std::this_thread::sleep_for(100ms);
  }
}

} // namespace stowage::node
