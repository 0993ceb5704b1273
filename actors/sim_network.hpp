// An in-process data plane: probe_sender and image_transfer over real
// registry_store instances, with every delivery scheduled through the actor
// system's clock. Each node has a link (latency, bandwidth, up/down); a
// packet or image between two nodes takes the sum of their latencies plus
// its size over the slower bandwidth. A node that is down (or goes down and
// comes back) before a transfer completes makes it fail; a packet to or from
// a down node is lost. Used by the deterministic tests (simulated time) and
// by `stowage dev`-style single-process clusters (real time).
#pragma once

#include "actors/data_plane.hpp"
#include "store/registry_store.hpp"

#include <caf/actor.hpp>
#include <caf/fwd.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

namespace stowage::actors {

struct link_profile {
  std::chrono::microseconds latency{500};
  std::uint64_t bytes_per_second = 100'000'000;
  bool up = true;
};

class sim_network {
public:
  /// `blocking_wire`: run copies on a detached actor so store I/O never
  /// stalls the scheduler (real time); keep false under the test coordinator.
  static std::shared_ptr<sim_network> make(caf::actor_system& sys, bool blocking_wire = false);
  virtual ~sim_network() = default;

  virtual void add_node(const std::string& name, std::shared_ptr<store::registry_store> store,
                        link_profile link = {}) = 0;
  /// The actor that receives `test_packet` for `name` (runtime or master).
  virtual void set_receiver(const std::string& name, caf::actor receiver) = 0;
  /// The push gate of a data manager (see proof_guard / guard_admission).
  virtual void set_admission(const std::string& name, admission_fn gate) = 0;
  virtual void set_link(const std::string& name, link_profile link) = 0;
  virtual void set_up(const std::string& name, bool up) = 0;
  virtual std::shared_ptr<store::registry_store> store_of(const std::string& name) const = 0;

  virtual std::shared_ptr<probe_sender> probes() = 0;
  virtual std::shared_ptr<image_transfer> transfers() = 0;
  /// Stops the wire actor (pending deliveries are dropped).
  virtual void shutdown() = 0;
};

} // namespace stowage::actors
