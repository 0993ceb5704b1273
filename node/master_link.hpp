// Internal: links the nodes of a process to a master that runs in another
// process, over the middleman. Connects (retrying every half second until it
// answers), tells the local actors to join it (connect_master), watches the
// link (down_msg: the middleman's heartbeat notices a dead or hung master
// within the connection timeout) and starts over when it breaks, so nodes
// re-join a restarted master on their own.
#pragma once

#include <caf/actor.hpp>
#include <caf/fwd.hpp>

#include <atomic>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

namespace stowage::node {

class master_link {
public:
  master_link(caf::actor_system& sys, std::string host, std::uint16_t port, std::vector<caf::actor> locals,
              std::string who);
  ~master_link(); // stop()
  void stop();

private:
  void loop();
  caf::actor_system& sys_;
  std::string host_;
  std::uint16_t port_;
  std::vector<caf::actor> locals_;
  std::string who_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

} // namespace stowage::node
