#include "actors/sim_network.hpp"

#include "actors/image_copy.hpp"
#include "actors/protocol.hpp"

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/send.hpp>

#include <map>
#include <set>
#include <mutex>

namespace stowage::actors {

namespace {

using wire_fire_atom = caf::atom_constant<caf::atom("wirefire")>;

class sim_impl final : public sim_network,
                       public probe_sender,
                       public image_transfer,
                       public std::enable_shared_from_this<sim_impl> {
public:
  explicit sim_impl(caf::actor_system& sys) : sys_(sys) {}

  void start(bool blocking_wire) {
    std::weak_ptr<sim_impl> weak = shared_from_this();
    auto body = [weak](caf::event_based_actor*) -> caf::behavior {
      return {[weak](wire_fire_atom, std::uint64_t id) {
        if (auto self = weak.lock())
          self->fire(id);
      }};
    };
    wire_ = blocking_wire ? sys_.spawn<caf::detached>(body) : sys_.spawn(body);
  }

  void add_node(const std::string& name, std::shared_ptr<store::registry_store> s,
                link_profile link) override {
    std::lock_guard lock(mtx_);
    auto& n = nodes_[name];
    n.store = std::move(s);
    n.link = link;
    ++n.generation;
  }
  void set_receiver(const std::string& name, caf::actor receiver) override {
    std::lock_guard lock(mtx_);
    nodes_[name].receiver = std::move(receiver);
  }
  void set_admission(const std::string& name, admission_fn gate) override {
    std::lock_guard lock(mtx_);
    nodes_[name].gate = std::move(gate);
  }
  void set_link(const std::string& name, link_profile link) override {
    std::lock_guard lock(mtx_);
    auto& n = nodes_[name];
    if (n.link.up != link.up)
      ++n.generation;
    n.link = link;
  }
  void set_up(const std::string& name, bool up) override {
    std::lock_guard lock(mtx_);
    auto& n = nodes_[name];
    if (n.link.up != up)
      ++n.generation;
    n.link.up = up;
  }
  std::shared_ptr<store::registry_store> store_of(const std::string& name) const override {
    std::lock_guard lock(mtx_);
    auto i = nodes_.find(name);
    return i == nodes_.end() ? nullptr : i->second.store;
  }
  std::shared_ptr<probe_sender> probes() override { return shared_from_this(); }
  std::shared_ptr<image_transfer> transfers() override { return shared_from_this(); }
  void shutdown() override {
    std::lock_guard lock(mtx_);
    pending_.clear();
    caf::anon_send_exit(wire_, caf::exit_reason::user_shutdown);
  }

  // ---- probe_sender -------------------------------------------------------
  void send_test_packet(const std::string& from, const std::string& to, std::uint64_t round, std::uint64_t bytes,
                        std::chrono::microseconds within) override {
    std::lock_guard lock(mtx_);
    auto p = path(from, to);
    if (!p.reachable)
      return; // lost
    auto transfer_us = bytes * 1'000'000 / p.rate;
    if (p.latency + std::chrono::microseconds(transfer_us) > within)
      return; // its round is over before it could arrive: the sender cuts it
    schedule(p.latency + std::chrono::microseconds(transfer_us),
             [this, p, from, to, round, bytes, transfer_us] {
               caf::actor receiver;
               {
                 std::lock_guard lock(mtx_);
                 if (!still(p))
                   return;
                 receiver = nodes_[to].receiver;
               }
               if (receiver)
                 caf::anon_send(receiver, test_packet{round, from, bytes, transfer_us});
             });
  }

  // ---- image_transfer -----------------------------------------------------
  void copy(transfer_order order, done_fn done) override {
    std::lock_guard lock(mtx_);
    auto p = path(order.from, order.to);
    if (!p.known) {
      schedule({}, [done] { done({false, "unknown node", 0, 0}); });
      return;
    }
    if (!p.reachable) {
      schedule(p.latency, [done, order] { done({false, "unreachable: " + order.to + " or " + order.from, 0, 0}); });
      return;
    }
    std::optional<std::uint64_t> size;
    if (!order.blob) {
      size = image_size(*nodes_[order.from].store, order.repository, order.digest);
    } else if (auto d = oci::digest::parse(order.digest)) {
      if (auto b = nodes_[order.from].store->blob(order.repository, *d)) size = b->size;
    }
    if (!size) {
      schedule(p.latency, [done, order] {
        done({false, order.repository + "@" + order.digest + " on " + order.from + ": " + std::string(sender_lacks_it), 404,
              0});
      });
      return;
    }
    auto transfer_us = *size * 1'000'000 / p.rate;
    schedule(p.latency + std::chrono::microseconds(transfer_us), [this, p, order, done] {
      std::shared_ptr<store::registry_store> src, dst;
      admission_fn gate;
      {
        std::lock_guard lock(mtx_);
        if (!still(p)) {
          done({false, "connection lost during the transfer", 0, 0});
          return;
        }
        src = nodes_[order.from].store;
        dst = nodes_[order.to].store;
        gate = nodes_[order.to].gate;
      }
      auto tag = order.tag;
      auto seq = order.seq;
      if (!order.proof.empty()) {
        if (!gate) {
          done({false, order.to + " accepts no pushes", 401, 0});
          return;
        }
        // As over HTTP: the manifest ends what a session lets in (blobs sent
        // ahead of it do not).
        auto first = decode_first_proof(order.proof);
        auto session = first ? first->scope.session : std::string{};
        {
          std::lock_guard lock(mtx_);
          if (nodes_[order.to].closed_sessions.contains(session)) {
            done({false, std::string(verdict_text(verdict::replayed)), 401, 0});
            return;
          }
        }
        auto admitted = gate(order.proof, order.repository, order.from);
        if (admitted.ok && !order.blob) {
          std::lock_guard lock(mtx_);
          nodes_[order.to].closed_sessions.insert(session);
        }
        if (!admitted.ok) {
          done({false, admitted.error, admitted.status, 0});
          return;
        }
        tag = admitted.tag;
        seq = admitted.seq;
      }
      auto out = order.blob ? copy_one_blob(*src, *dst, order.repository, order.digest)
                            : copy_image(*src, *dst, order.repository, order.digest, tag, seq);
      done({out.ok, out.error, out.ok ? 0 : 500, out.bytes});
    });
  }

  void fire(std::uint64_t id) {
    std::function<void()> fn;
    {
      std::lock_guard lock(mtx_);
      auto i = pending_.find(id);
      if (i == pending_.end())
        return;
      fn = std::move(i->second);
      pending_.erase(i);
    }
    fn();
  }

private:
  struct node {
    std::shared_ptr<store::registry_store> store;
    link_profile link;
    std::uint64_t generation = 0;
    caf::actor receiver;
    admission_fn gate;
    std::set<std::string> closed_sessions; // proof sessions whose manifest came (cluster_gate's closed set)
  };
  struct path_info {
    bool known = false;
    bool reachable = false;
    std::chrono::microseconds latency{0};
    std::uint64_t rate = 1;
    std::string a, b;
    std::uint64_t gen_a = 0, gen_b = 0;
  };

  // Callers hold mtx_.
  path_info path(const std::string& a, const std::string& b) {
    path_info p;
    auto ia = nodes_.find(a), ib = nodes_.find(b);
    if (ia == nodes_.end() || ib == nodes_.end() || !ia->second.store || !ib->second.store)
      return p;
    p.known = true;
    p.a = a;
    p.b = b;
    p.gen_a = ia->second.generation;
    p.gen_b = ib->second.generation;
    p.latency = ia->second.link.latency + ib->second.link.latency;
    p.rate = std::max<std::uint64_t>(1, std::min(ia->second.link.bytes_per_second, ib->second.link.bytes_per_second));
    p.reachable = ia->second.link.up && ib->second.link.up;
    return p;
  }
  bool still(const path_info& p) {
    auto& a = nodes_[p.a];
    auto& b = nodes_[p.b];
    return a.link.up && b.link.up && a.generation == p.gen_a && b.generation == p.gen_b;
  }
  void schedule(std::chrono::microseconds delay, std::function<void()> fn) {
    auto id = next_id_++;
    pending_.emplace(id, std::move(fn));
    if (delay.count() <= 0)
      caf::anon_send(wire_, wire_fire_atom::value, id);
    else
      caf::delayed_anon_send(wire_, delay, wire_fire_atom::value, id);
  }

  caf::actor_system& sys_;
  caf::actor wire_;
  mutable std::mutex mtx_;
  std::map<std::string, node> nodes_;
  std::map<std::uint64_t, std::function<void()>> pending_;
  std::uint64_t next_id_ = 1;
};

} // namespace

std::shared_ptr<sim_network> sim_network::make(caf::actor_system& sys, bool blocking_wire) {
  auto impl = std::make_shared<sim_impl>(sys);
  impl->start(blocking_wire);
  return impl;
}

} // namespace stowage::actors
