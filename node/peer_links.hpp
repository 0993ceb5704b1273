// Internal: direct middleman connections from a process's nodes to the data
// managers in other processes, made at start-up and kept up.
//
// Handles of data managers reach runtimes and other data managers through the
// master (a push's target, a replication's peers); without a connection of
// its own, a process sends to such a handle over a route through the master
// while CAF's automatic connection sets up a direct one. Twice a push's
// commit to its target was never delivered over such a route, not even its
// repeats over ten minutes (test_up_processes, test_pull_failover; not
// reproducible at will). Connecting to every data manager of the cluster
// file up front gives those messages a direct route before the first one.
#pragma once

#include <caf/fwd.hpp>

#include <atomic>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

namespace stowage::node {

struct peer_address {
  std::string name;
  std::string host;
  std::uint16_t port = 0; // its middleman
};

class peer_links {
public:
  /// Connects to each of `peers`, retrying every 2 s until it answers, and
  /// again after a link is lost; one thread per peer, so a host that does
  /// not answer (a connect waiting for its timeout) holds up no other link.
  /// `who` names the local nodes in logs.
  peer_links(caf::actor_system& sys, std::vector<peer_address> peers, std::string who);
  ~peer_links(); // stop()
  void stop();

private:
  void keep_linked(const peer_address& p);
  caf::actor_system& sys_;
  std::vector<peer_address> peers_;
  std::string who_;
  std::atomic<bool> stop_{false};
  std::vector<std::thread> threads_;
};

} // namespace stowage::node
