// The master's behavior: membership, catalog updates, queries and the
// periodic retry loop. The flows live in master_flows.cpp, probe rounds in
// master_rounds.cpp, handoffs in master_handoff.cpp.
#include "actors/master_state.hpp"

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/system_messages.hpp>

#include <spdlog/spdlog.h>

namespace stowage::actors {

namespace {

using namespace detail;

caf::behavior master_behavior(master_actor* self, master_config cfg) {
  auto& st = self->state;
  st.cfg = std::move(cfg);
  if (!st.cfg.identity)
    st.cfg.identity = config::identity::generate();
  if (!st.cfg.unix_ms)
    st.cfg.unix_ms = unix_now_ms;
  st.handoffs = std::make_unique<handoff_queue>(st.cfg.dir);
  st.spool = st.cfg.spool ? st.cfg.spool : store::registry_store::open(st.cfg.dir / "spool");
  st.decisions = decision_log(st.cfg.decision_capacity);
  for (const auto& h : st.handoffs->all())
    st.images.add_pending({h.repository, h.tag, h.digest, h.seq, 0}, h.node);
  spdlog::info("{}: started, {} pending handoffs", st.cfg.name, st.handoffs->all().size());

  self->set_down_handler([self](caf::down_msg& dm) {
    auto& st = self->state;
    for (auto& [name, n] : st.nodes) {
      if (n.handle && n.handle.address() == dm.source) {
        spdlog::warn("{}: node {} is down", st.cfg.name, name);
        n.rec.up = false;
        n.handle = nullptr;
        n.in_flight = 0;
        fail_pulls_on(self, name, "target " + name + " went down");
      }
    }
  });
  self->delayed_send(self, st.cfg.settings.retry_interval, retry_tick{});

  return {
    [self](join_request& j) -> join_answer {
      auto& st = self->state;
      auto handle = caf::actor_cast<caf::actor>(self->current_sender());
      auto& n = st.nodes[j.name];
      n.rec = {j.name, j.role, true, j.http, j.public_key};
      n.handle = handle;
      n.in_flight = 0;
      n.free_bytes = j.free_bytes;
      if (handle)
        self->monitor(handle);
      if (j.role == "data") {
        st.images.forget_node(j.name);
        for (const auto& item : j.inventory) {
          st.images.add_replica(item, j.name);
          st.handoffs->remove(item.repository, item.digest, j.name);
        }
      }
      spdlog::info("{}: {} joined as {} ({} images)", st.cfg.name, j.name, j.role, j.inventory.size());
      return {st.cfg.name, st.cfg.identity->public_key_hex()};
    },
    [self](pull_request& r) {
      handle_pull(self, r, self->make_response_promise<pull_answer>());
    },
    [self](storage_request& r) {
      handle_storage(self, r, self->make_response_promise<first_proof_message>());
    },
    [self](test_round_ready& r) { round_ready(self, r); },
    [self](test_request_answer& a) { record_answer(self, a); },
    [self](test_result& r) { record_result(self, r); },
    [self](test_packet& p) { record_packet(self, p); },
    [self](round_deadline&) { sweep_rounds(self); },
    [self](replication_failure& f) -> handoff_accepted { return handle_replication_failure(self, f); },
    [self](image_stored& s) {
      auto& st = self->state;
      st.images.add_replica(s.item, s.node);
      st.handoffs->remove(s.item.repository, s.item.digest, s.node);
    },
    [self](retry_tick&) {
      run_third_tests(self);
      self->delayed_send(self, self->state.cfg.settings.retry_interval, retry_tick{});
    },
    [self](nodes_query&) -> nodes_answer {
      nodes_answer out;
      out.nodes.push_back({self->state.cfg.name, "master", true, self->state.cfg.http,
                           self->state.cfg.identity->public_key_hex()});
      for (const auto& [name, n] : self->state.nodes)
        out.nodes.push_back(n.rec);
      return out;
    },
    [self](images_query&) -> images_answer { return {self->state.images.images()}; },
    [self](decisions_query& q) -> decisions_answer { return {self->state.decisions.latest(q.limit)}; },
    [self](handoffs_query&) -> handoffs_answer { return {self->state.handoffs->all()}; },
  };
}

} // namespace

caf::actor spawn_master(caf::actor_system& sys, master_config cfg) {
  return sys.spawn(master_behavior, std::move(cfg));
}

} // namespace stowage::actors
