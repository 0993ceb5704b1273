#include "node/master_link.hpp"

#include "actors/protocol.hpp"

#include <caf/actor_system.hpp>
#include <caf/io/middleman.hpp>
#include <caf/openssl/remote_actor.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/system_messages.hpp>

#include <spdlog/spdlog.h>

#include <chrono>

namespace stowage::node {

master_link::master_link(caf::actor_system& sys, std::string host, std::uint16_t port,
                         std::vector<caf::actor> locals, std::string who)
  : sys_(sys), host_(std::move(host)), port_(port), locals_(std::move(locals)), who_(std::move(who)) {
  thread_ = std::thread([this] { loop(); });
}

master_link::~master_link() { stop(); }

void master_link::stop() {
  stop_ = true;
  if (thread_.joinable())
    thread_.join();
}

void master_link::loop() {
  using namespace std::chrono_literals;
  auto last_complaint = std::chrono::steady_clock::now() - 1h;
  while (!stop_) {
    auto master = caf::openssl::remote_actor(sys_, host_, port_);
    if (!master) {
      auto now = std::chrono::steady_clock::now();
      if (now - last_complaint > 10s) {
        spdlog::warn("{}: the master at {}:{} does not answer yet ({}); retrying", who_, host_, port_,
                     sys_.render(master.error()));
        last_complaint = now;
      }
      for (int i = 0; i < 5 && !stop_; ++i)
        std::this_thread::sleep_for(100ms);
      continue;
    }
    spdlog::info("{}: linked to the master at {}:{}", who_, host_, port_);
    const auto linked_at = std::chrono::steady_clock::now();
    last_complaint = linked_at - 1h;
    // A scoped actor of this process: the local actors' link guards accept it.
    caf::scoped_actor self{sys_};
    self->monitor(*master);
    for (const auto& a : locals_)
      self->send(a, actors::connect_master{*master});
    bool down = false;
    while (!down && !stop_)
      self->receive([&](caf::down_msg&) { down = true; }, caf::after(200ms) >> [] {});
    if (down)
      spdlog::warn("{}: lost the link to the master at {}:{}; reconnecting", who_, host_, port_);
    // Lost at once: remote_actor handed back the proxy of the link that just
    // died, still registered. Give CAF a moment to drop it (after a long
    // SIGSTOP that went on for dozens of rounds within a millisecond).
    if (down && std::chrono::steady_clock::now() - linked_at < 100ms)
      std::this_thread::sleep_for(100ms);
  }
}

} // namespace stowage::node
