// Handoffs (DESIGN §3 push 8): the master keeps images a data manager could
// not receive — record in SQLite, data in its spool — sends third test
// requests to the missing data managers every retry_interval, and delivers
// once one answers. Everything is reloaded after a restart.
#include "actors/master_state.hpp"

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>

#include <spdlog/spdlog.h>

namespace stowage::actors::detail {

namespace {

void deliver_all(master_actor* self, const std::string& node) {
  auto& st = self->state;
  auto items = st.handoffs->for_node(node);
  auto n = st.nodes.find(node);
  if (items.empty() || n == st.nodes.end() || !n->second.handle) {
    st.delivering.erase(node);
    return;
  }
  auto remaining = std::make_shared<std::size_t>(items.size());
  for (const auto& h : items) {
    auto one = [self, node, remaining] {
      if (--*remaining == 0)
        self->state.delivering.erase(node);
    };
    self->request(n->second.handle, st.cfg.transfer_timeout, delivery{h.repository, h.tag, h.digest, h.seq, st.cfg.name})
      .then(
        [self, h, one](delivery_answer& a) {
          auto& st = self->state;
          if (a.ok) {
            spdlog::info("{}: delivered {}@{} to {}", st.cfg.name, h.repository, h.digest, h.node);
            st.handoffs->remove(h.repository, h.digest, h.node);
            st.images.add_replica({h.repository, h.tag, h.digest, h.seq, 0}, h.node);
          } else {
            spdlog::warn("{}: delivery of {}@{} to {} failed: {}", st.cfg.name, h.repository, h.digest,
                         h.node, a.error);
          }
          one();
        },
        [one](caf::error&) { one(); });
  }
}

} // namespace

handoff_accepted handle_replication_failure(master_actor* self, const replication_failure& f) {
  auto& st = self->state;
  auto dig = oci::digest::parse(f.digest);
  if (!dig || !st.spool->manifest(f.repository, oci::reference{*dig}))
    return {false, "the image data is not in the master's spool"};
  for (const auto& node : f.failed) {
    if (node == f.source)
      continue;
    st.handoffs->add({f.digest, f.repository, f.tag, f.seq, node, 0});
    st.images.add_pending({f.repository, f.tag, f.digest, f.seq, f.size}, node);
    spdlog::info("{}: handoff of {}@{} for {}", st.cfg.name, f.repository, f.digest, node);
  }
  return {true, {}};
}

void run_third_tests(master_actor* self) {
  auto& st = self->state;
  std::set<std::string> waiting;
  for (const auto& h : st.handoffs->all())
    waiting.insert(h.node);
  for (const auto& node : waiting) {
    if (st.delivering.count(node))
      continue;
    if (!is_up_data(self, node)) {
      st.handoffs->count_attempt(node);
      continue;
    }
    st.delivering.insert(node);
    start_round(self, 3, st.cfg.name, {node},
                [self, node](std::vector<candidate_result> measured, std::map<std::string, node_load>) {
                  if (!measured.empty() && measured.front().ok) {
                    deliver_all(self, node);
                  } else {
                    self->state.handoffs->count_attempt(node);
                    self->state.delivering.erase(node);
                  }
                });
  }
}

} // namespace stowage::actors::detail
