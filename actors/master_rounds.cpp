// Probe rounds: the master names a receiver (a runtime for first and second
// tests, itself for third tests), has each candidate send it a test packet,
// and ranks what the receiver measured. A candidate whose packet misses the
// deadline, or which does not answer the test request, failed the round.
#include "actors/master_state.hpp"

#include <caf/event_based_actor.hpp>

#include <spdlog/spdlog.h>

namespace stowage::actors::detail {

namespace {

void send_test_requests(master_actor* self, std::uint64_t id) {
  auto& st = self->state;
  auto& r = st.rounds.at(id);
  auto bytes = st.cfg.settings.probe_bytes;
  // What is left of the round: the data manager gives the packet no longer.
  auto left = std::max<caf::timespan>(r.packets_due - self->clock().now(), caf::timespan{0});
  auto within = static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(left).count());
  for (const auto& node : r.candidates) {
    auto i = st.nodes.find(node);
    if (i == st.nodes.end() || !i->second.handle) {
      r.results[node] = {node, 0, 0, false};
      continue;
    }
    auto& h = i->second.handle;
    switch (r.phase) {
      case 1: self->send(h, first_test_request{id, r.receiver, bytes, within}); break;
      case 2: self->send(h, second_test_request{id, r.receiver, bytes, within}); break;
      default: self->send(h, third_test_request{id, r.receiver, bytes, within});
    }
  }
  if (r.results.size() == r.candidates.size())
    finish_round(self, id); // nobody to wait for
}

void arm_sweep(master_actor* self) {
  auto& st = self->state;
  if (st.rounds.empty())
    return;
  auto earliest = st.rounds.begin()->second.deadline;
  for (const auto& [id, r] : st.rounds)
    earliest = std::min(earliest, r.deadline);
  if (st.sweep_at && *st.sweep_at <= earliest)
    return; // an earlier wake-up is pending; it re-arms for this one
  st.sweep_at = earliest;
  auto now = self->clock().now();
  self->delayed_send(self, earliest > now ? earliest - now : caf::actor_clock::duration_type{0}, round_deadline{});
}

} // namespace

void sweep_rounds(master_actor* self) {
  auto& st = self->state;
  st.sweep_at.reset();
  auto now = self->clock().now();
  std::vector<std::uint64_t> due;
  for (const auto& [id, r] : st.rounds)
    if (r.deadline <= now)
      due.push_back(id);
  for (auto id : due)
    finish_round(self, id);
  arm_sweep(self);
}

bool is_up(master_actor* self, const std::string& node) {
  auto i = self->state.nodes.find(node);
  return i != self->state.nodes.end() && i->second.rec.up && i->second.handle;
}

bool is_up_data(master_actor* self, const std::string& node) {
  return is_up(self, node) && self->state.nodes.at(node).rec.role == "data";
}

std::vector<std::string> pick_candidates(master_actor* self, std::vector<std::string> names,
                                         const std::string& exclude) {
  std::vector<std::string> out;
  for (auto& n : names)
    if (n != exclude && is_up_data(self, n))
      out.push_back(n);
  auto fanout = self->state.cfg.settings.probe_fanout;
  if (fanout != 0) {
    // Never fewer than two where two exist: a single candidate is no choice.
    std::size_t keep = std::max<std::size_t>(2, fanout);
    if (out.size() > keep) {
      // Least loaded first, so a busy node does not crowd out idle ones.
      std::stable_sort(out.begin(), out.end(), [self](const auto& a, const auto& b) {
        return self->state.nodes[a].in_flight < self->state.nodes[b].in_flight;
      });
      out.resize(keep);
    }
  }
  return out;
}

void start_round(master_actor* self, int phase, const std::string& receiver,
                 std::vector<std::string> candidates, round_done then, std::uint32_t widen) {
  auto& st = self->state;
  auto id = st.next_round++;
  auto& r = st.rounds[id];
  r.phase = phase;
  r.receiver = receiver;
  r.candidates = std::move(candidates);
  r.start = self->clock().now();
  r.then = std::move(then);
  auto timeout = st.cfg.settings.probe_timeout * (1u << std::min(widen, max_probe_widenings));
  if (phase == 3) {
    // The master receives third-test packets itself.
    r.deadline = r.start + timeout;
    r.packets_due = r.deadline;
    arm_sweep(self);
    r.requested = true;
    send_test_requests(self, id);
    return;
  }
  auto rt = st.nodes.find(receiver);
  if (rt == st.nodes.end() || !rt->second.handle) {
    finish_round(self, id);
    return;
  }
  auto deadline_us = static_cast<std::uint64_t>(
    std::chrono::duration_cast<std::chrono::microseconds>(timeout).count());
  // The runtime reports at its deadline; the master waits twice as long for
  // that report before it counts every candidate as failed.
  r.deadline = r.start + timeout * 2;
  r.packets_due = r.start + timeout; // the runtime's clock starts a little later
  arm_sweep(self);
  self->send(rt->second.handle, test_round_start{id, r.candidates, deadline_us});
}

bool measure_again(master_actor* self, std::uint64_t decision, const std::string& runtime,
                   const std::vector<candidate_result>& measured, std::uint32_t widen) {
  if (widen >= max_probe_widenings || !is_up(self, runtime) ||
      std::any_of(measured.begin(), measured.end(), [](const candidate_result& c) { return c.ok; }))
    return false;
  spdlog::warn("{}: decision {}: no test packet arrived in time; measuring again with twice the deadline",
               self->state.cfg.name, decision);
  return true;
}

void round_ready(master_actor* self, const test_round_ready& ready) {
  auto it = self->state.rounds.find(ready.round);
  if (it != self->state.rounds.end() && !it->second.requested) {
    it->second.requested = true;
    send_test_requests(self, ready.round);
  }
}

void record_answer(master_actor* self, const test_request_answer& a) {
  auto it = self->state.rounds.find(a.round);
  if (it == self->state.rounds.end())
    return;
  auto& load = it->second.load[a.node];
  load = {a.in_flight, a.free_bytes};
  if (auto n = self->state.nodes.find(a.node); n != self->state.nodes.end()) {
    n->second.free_bytes = a.free_bytes;
    load.in_flight = std::max(a.in_flight, n->second.in_flight);
  }
}

void record_packet(master_actor* self, const test_packet& p) {
  auto it = self->state.rounds.find(p.round);
  if (it == self->state.rounds.end() || it->second.phase != 3)
    return;
  auto& r = it->second;
  if (std::find(r.candidates.begin(), r.candidates.end(), p.node) == r.candidates.end())
    return;
  auto arrival = std::chrono::duration_cast<std::chrono::microseconds>(self->clock().now() - r.start);
  auto tp = p.bytes * 1'000'000 / std::max<std::uint64_t>(1, p.transfer_us);
  r.results[p.node] = {p.node, static_cast<std::uint64_t>(arrival.count()), tp, true};
  if (r.results.size() == r.candidates.size())
    finish_round(self, p.round);
}

void record_result(master_actor* self, const test_result& tr) {
  auto it = self->state.rounds.find(tr.round);
  if (it == self->state.rounds.end() || it->second.receiver != tr.runtime)
    return;
  auto& r = it->second;
  for (const auto& c : tr.results) {
    if (std::find(r.candidates.begin(), r.candidates.end(), c.node) == r.candidates.end())
      continue;
    auto prev = r.results.find(c.node);
    if (prev == r.results.end())
      r.results[c.node] = c; // a failed test request stays failed
  }
  finish_round(self, tr.round);
}

void finish_round(master_actor* self, std::uint64_t id) {
  auto it = self->state.rounds.find(id);
  if (it == self->state.rounds.end())
    return;
  auto r = std::move(it->second);
  self->state.rounds.erase(it);
  std::vector<candidate_result> out;
  for (const auto& node : r.candidates) {
    auto m = r.results.find(node);
    out.push_back(m != r.results.end() ? m->second : candidate_result{node, 0, 0, false});
  }
  for (const auto& node : r.candidates)
    if (!r.load.count(node))
      if (auto n = self->state.nodes.find(node); n != self->state.nodes.end())
        r.load[node] = {n->second.in_flight, n->second.free_bytes};
  r.then(std::move(out), std::move(r.load));
}

} // namespace stowage::actors::detail
