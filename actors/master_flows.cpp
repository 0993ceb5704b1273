// Pull (DESIGN §3 pull 1-6) and push (push 1-4) as seen by the master.
#include "actors/master_state.hpp"

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>

#include <algorithm>
#include <utility>

#include <spdlog/spdlog.h>

namespace stowage::actors::detail {

namespace {

/// Appends a decision, new or changed, to the journal that survives restarts.
void journal(master_actor* self, const decision& d) {
  auto& st = self->state;
  try {
    st.journal->append(d);
  } catch (const std::exception& e) {
    spdlog::warn("{}: decisions not written to disk: {}", st.cfg.name, e.what());
  }
  if (!std::exchange(st.journal_flush_due, true))
    self->delayed_send(self, st.cfg.journal_delay, flush_decisions{});
}

std::string reference_text(const std::string& repository, const std::string& reference) {
  return repository + (reference.find(':') != std::string::npos ? "@" : ":") + reference;
}

/// What a push decision is listed under: repo:tag, repo@digest, or the
/// repository alone for a push opened ahead of its manifest (until named).
std::string push_reference(const std::string& repository, const std::string& tag, const std::string& digest) {
  if (tag.empty() && digest.empty())
    return repository;
  return reference_text(repository, tag.empty() ? digest : tag);
}

} // namespace

std::uint64_t record_decision(master_actor* self, decision d) {
  auto id = self->state.decisions.record(std::move(d));
  journal(self, *self->state.decisions.find(id));
  return id;
}

namespace {

// ---- pull -------------------------------------------------------------------

void schedule_on(master_actor* self, std::uint64_t decision, const std::string& node,
                 const pull_request& r, const std::string& digest,
                 caf::typed_response_promise<pull_answer> rp) {
  auto& st = self->state;
  auto& n = st.nodes.at(node);
  ++n.in_flight;
  auto pid = st.next_pull++;
  st.pulls[pid] = {node, decision, digest, rp};
  spdlog::info("{}: decision {}: pull {} by {} from {}", st.cfg.name, decision,
               reference_text(r.repository, r.reference), r.runtime, node);
  auto finish = [self, pid](bool ok, std::string error) {
    auto& st = self->state;
    auto i = st.pulls.find(pid);
    if (i == st.pulls.end())
      return; // already failed by the node's death
    auto p = std::move(i->second);
    st.pulls.erase(i);
    if (auto n = st.nodes.find(p.node); n != st.nodes.end() && n->second.in_flight > 0)
      --n->second.in_flight;
    p.rp.deliver(pull_answer{ok, std::move(error), p.decision, p.node, p.digest});
  };
  if (auto rt = st.nodes.find(r.runtime); rt != st.nodes.end() && rt->second.handle)
    self->send(rt->second.handle, pull_scheduled{decision, r.repository, r.reference, digest, node});
  self->request(n.handle, st.cfg.transfer_timeout,
                scheduling_request{decision, r.runtime, r.repository, digest, r.blob})
    .then([finish](scheduling_answer& a) { finish(a.ok, a.error); },
          [self, finish](caf::error& e) { finish(false, self->system().render(e)); });
}

/// Keeps what decision `id` ranked (and, a pull, scheduled) for its retries.
void remember_ranking(master_actor* self, std::uint64_t id, std::vector<ranked_candidate> ranked,
                      std::string digest = {}) {
  auto& st = self->state;
  st.rankings[id] = {std::move(ranked), std::move(digest)};
  while (st.rankings.size() > st.cfg.decision_capacity)
    st.rankings.erase(st.rankings.begin());
}

/// The next best of an earlier decision whose target failed, if any is
/// left, with the manifest that decision scheduled.
bool retry_from_ranking(master_actor* self, const pull_request& r, caf::typed_response_promise<pull_answer>& rp) {
  auto& st = self->state;
  auto rk = st.rankings.find(r.retry_of);
  const auto* prev = st.decisions.find(r.retry_of);
  if (rk == st.rankings.end() || rk->second.digest.empty() || !prev || prev->runtime != r.runtime ||
      st.images.removed(r.repository, rk->second.digest))
    return false;
  auto& ranked = rk->second.candidates;
  std::erase_if(ranked, [&](const ranked_candidate& c) {
    return c.node == r.failed_node || !is_up_data(self, c.node);
  });
  if (ranked.empty())
    return false;
  decision d = *prev;
  d.chosen = ranked.front().node;
  for (auto& c : d.candidates)
    if (c.node == r.failed_node)
      c.ok = false;
  auto id = record_decision(self, d);
  auto pulled = rk->second.digest;
  remember_ranking(self, id, ranked, pulled);
  schedule_on(self, id, d.chosen, r, pulled, rp);
  return true;
}

// ---- push -------------------------------------------------------------------

/// Sessions opened ahead of their manifest wait at most this long for their
/// name_push (their proofs expire well before).
caf::timespan open_push_lifetime(master_actor* self) {
  return std::chrono::duration_cast<caf::timespan>(self->state.cfg.settings.proof_ttl * 2);
}

void remember_open_push(master_actor* self, const std::string& session, open_push_session s) {
  auto& st = self->state;
  auto now = self->clock().now();
  std::erase_if(st.open_pushes, [&](const auto& kv) { return now - kv.second.opened > open_push_lifetime(self); });
  s.opened = now;
  st.open_pushes[session] = std::move(s);
}

/// Sends `notice` to every one of `peers` and runs `done` once each answered
/// or timed out (a silent peer gets the image later, through a handoff).
void tell_peers(master_actor* self, const std::vector<caf::actor>& peers, const pre_receive& notice,
                std::function<void()> done) {
  auto remaining = std::make_shared<std::size_t>(peers.size() + 1);
  auto one = [remaining, done = std::move(done)]() {
    if (--*remaining == 0)
      done();
  };
  for (const auto& p : peers)
    self->request(p, self->state.cfg.settings.probe_timeout, notice)
      .then([one](pre_receive_answer&) { one(); }, [one](caf::error&) { one(); });
  one(); // with no peers, done at once
}

void grant(master_actor* self, std::uint64_t decision, std::vector<ranked_candidate> ranked,
           std::size_t idx, const storage_request& r, caf::typed_response_promise<first_proof_message> rp) {
  auto& st = self->state;
  while (idx < ranked.size() && !is_up_data(self, ranked[idx].node))
    ++idx;
  if (idx >= ranked.size()) {
    rp.deliver(first_proof_message{false, "no data manager can take the image", decision, {}, {}});
    return;
  }
  auto target = ranked[idx].node;
  proof_scope scope;
  scope.repository = r.repository;
  scope.tag = r.tag;
  scope.seq = r.tag.empty() ? 0 : st.handoffs->next_seq(r.repository, r.tag, st.images.tag_seq(r.repository, r.tag));
  scope.runtime = r.runtime;
  scope.target = target;
  scope.expires_ms = st.cfg.unix_ms() + st.cfg.settings.proof_ttl.count();
  auto pair = issue_proofs(*st.cfg.identity, scope);
  // Every other data manager is a peer: told to expect the image if it is up,
  // listed without a handle if not (replication to it fails at once and the
  // image is handed off to the master for later delivery). So is the node
  // the runtime's last attempt failed on: its link to the runtime broke,
  // often a moment before the master's own link to it does, and a target
  // told to replicate to a node whose links are gone would wait out
  // request_timeout for it. In the order of this decision's ranking, the
  // unmeasured ones last: the target lets the first of them fetch ahead of
  // the commit (second_proof_message).
  std::vector<peer_ref> peers;
  auto add_peer = [&](const std::string& name) {
    auto n = st.nodes.find(name);
    if (n == st.nodes.end() || n->second.rec.role != "data" || name == target
        || std::ranges::any_of(peers, [&](const peer_ref& p) { return p.name == name; }))
      return;
    peers.push_back({name, n->second.rec.up && name != r.failed_node ? n->second.handle : caf::actor{}});
  };
  for (const auto& c : ranked)
    add_peer(c.node);
  for (const auto& [name, n] : st.nodes)
    add_peer(name);
  // A data manager of the cluster file that has not joined since this
  // master started is owed the image too (a handoff, delivered when it
  // joins); without it, a push with no other data manager up would be
  // acknowledged on the spool's copy with nobody to deliver it to.
  for (const auto& [name, k] : st.cfg.directory)
    if (k.role == "data" && name != target && !st.nodes.count(name))
      peers.push_back({name, caf::actor{}});
  auto target_handle = st.nodes.at(target).handle;
  self->request(target_handle, st.cfg.settings.probe_timeout, second_proof_message{pair.second, peers})
    .then(
      [=](proof_answer& a) {
        if (!a.ok) {
          spdlog::warn("{}: {} refused the second proof: {}", self->state.cfg.name, target, a.error);
          grant(self, decision, ranked, idx + 1, r, rp);
          return;
        }
        auto& st = self->state;
        if (const auto* d = st.decisions.find(decision); d && d->chosen != target)
          if ((d = st.decisions.set_chosen(decision, target))) {
            journal(self, *d);
            spdlog::info("{}: decision {}: {} takes the push ({} could not)", st.cfg.name, decision, target,
                         ranked.front().node);
          }
        std::vector<std::string> names;
        std::vector<caf::actor> up;
        for (const auto& p : peers) {
          names.push_back(p.name);
          if (p.handle)
            up.push_back(p.handle);
        }
        pre_receive notice{pair.second.scope.session, r.repository, r.tag, r.digest, scope.seq, target};
        if (r.tag.empty() && r.digest.empty()) // opened ahead: watched once named (handle_name_push)
          remember_open_push(self, notice.session, {decision, r.runtime, r.repository, target, names, {}});
        else
          watch_replication(self, notice, names);
        tell_peers(self, up, notice,
                   [=]() mutable { rp.deliver(first_proof_message{true, {}, decision, pair.first, target_handle}); });
      },
      [=](caf::error&) { grant(self, decision, ranked, idx + 1, r, rp); });
}

} // namespace

void fail_pulls_on(master_actor* self, const std::string& node, const std::string& why) {
  auto& pulls = self->state.pulls;
  for (auto i = pulls.begin(); i != pulls.end();) {
    if (i->second.node == node) {
      i->second.rp.deliver(pull_answer{false, why, i->second.decision, node, i->second.digest});
      i = pulls.erase(i);
    } else {
      ++i;
    }
  }
}

namespace {

/// What the ranking of a pull of one blob assumes its size is.
constexpr std::uint64_t blob_size_guess = 32ull << 20;

/// Probes the holders of `image` for pull `r` and schedules the best; a
/// round that measured nobody is recorded and run again with a wider
/// deadline (max_probe_widenings).
void probe_pull(master_actor* self, const pull_request& r, const resolved_image& image,
                caf::typed_response_promise<pull_answer> rp, std::uint32_t widen) {
  auto& st = self->state;
  auto holders =
    r.blob ? st.images.repository_holders(r.repository) : st.images.holders(r.repository, image.digest);
  auto candidates = pick_candidates(self, holders, r.failed_node);
  if (candidates.empty()) {
    rp.deliver(pull_answer{false, "no reachable data manager holds " + reference_text(r.repository, r.reference),
                           0, {}, image.digest});
    return;
  }
  start_round(self, 1, r.runtime, candidates,
              [self, r, image, rp, widen](std::vector<candidate_result> measured,
                                          std::map<std::string, node_load> load) mutable {
                auto ranked = rank(measured, image.size, false, load);
                decision d{0, "pull", r.runtime, reference_text(r.repository, r.reference), measured,
                           ranked.empty() ? std::string{} : ranked.front().node};
                auto id = record_decision(self, d);
                if (ranked.empty()) {
                  if (measure_again(self, id, r.runtime, measured, widen)) {
                    probe_pull(self, r, image, rp, widen + 1);
                    return;
                  }
                  rp.deliver(pull_answer{false, "no holder answered the probe in time", id, {}, image.digest});
                  return;
                }
                remember_ranking(self, id, ranked, image.digest);
                schedule_on(self, id, ranked.front().node, r, image.digest, rp);
              },
              widen);
}

} // namespace

void handle_pull(master_actor* self, const pull_request& r, caf::typed_response_promise<pull_answer> rp) {
  auto& st = self->state;
  if (r.retry_of != 0 && retry_from_ranking(self, r, rp))
    return;
  if (r.blob) {
    // One blob: any data manager holding an image of the repository may
    // have it (a miss there is a failed attempt: the runtime asks again,
    // without it). Its size is unknown here; the ranking assumes this much.
    auto d = oci::digest::parse(r.reference);
    if (!d || st.images.repository_holders(r.repository).empty()) {
      rp.deliver(pull_answer{false, "unknown blob " + reference_text(r.repository, r.reference), 0, {}, {}});
      return;
    }
    probe_pull(self, r, resolved_image{r.repository, {}, d->str(), 0, blob_size_guess}, rp, 0);
    return;
  }
  auto img = st.images.resolve(r.repository, r.reference);
  if (!img) {
    rp.deliver(pull_answer{false, "unknown image " + reference_text(r.repository, r.reference), 0, {}, {}});
    return;
  }
  probe_pull(self, r, *img, rp, 0);
}

void handle_name_push(master_actor* self, const name_push& n, caf::typed_response_promise<push_named> rp) {
  auto& st = self->state;
  auto i = st.open_pushes.find(n.session);
  if (i == st.open_pushes.end() || i->second.runtime != n.runtime || i->second.repository != n.repository) {
    rp.deliver(push_named{false, "no push session of this runtime is open for " + n.repository, 0});
    return;
  }
  auto open = std::move(i->second);
  st.open_pushes.erase(i);
  pushed_again(self, n.repository, n.digest);
  auto target = st.nodes.find(open.target);
  if (target == st.nodes.end() || !target->second.rec.up) {
    rp.deliver(push_named{false, "the session's target " + open.target + " is down", 0});
    return;
  }
  std::uint64_t seq = n.tag.empty() ? 0 : st.handoffs->next_seq(n.repository, n.tag, st.images.tag_seq(n.repository, n.tag));
  auto reference = push_reference(n.repository, n.tag, n.digest);
  if (const auto* d = st.decisions.set_reference(open.decision, reference))
    journal(self, *d);
  spdlog::info("{}: decision {}: the push opened ahead is {} (seq {})", st.cfg.name, open.decision, reference, seq);
  // The target must take the name (its manifest PUT sets this tag); the
  // peers learn what to expect as for any push, and a silent one gets the
  // image through the target's handoff.
  pre_receive notice{n.session, n.repository, n.tag, n.digest, seq, open.target};
  watch_replication(self, notice, open.peers);
  std::vector<caf::actor> up;
  for (const auto& name : open.peers)
    if (auto p = st.nodes.find(name); p != st.nodes.end() && p->second.rec.up)
      up.push_back(p->second.handle);
  self->request(target->second.handle, st.cfg.settings.probe_timeout, notice)
    .then(
      [self, notice, up, rp](pre_receive_answer& a) mutable {
        if (!a.ok) {
          rp.deliver(push_named{false, a.node + " did not take the name of the session", 0});
          return;
        }
        tell_peers(self, up, notice, [rp, seq = notice.seq]() mutable { rp.deliver(push_named{true, {}, seq}); });
      },
      [self, rp](caf::error& e) mutable {
        rp.deliver(push_named{false, "the target did not answer: " + self->system().render(e), 0});
      });
}

namespace {

/// Probes every data manager that is up for push `r` and grants the best;
/// a round that measured nobody is recorded and run again with a wider
/// deadline (max_probe_widenings).
void probe_push(master_actor* self, const storage_request& r, caf::typed_response_promise<first_proof_message> rp,
                std::uint32_t widen) {
  auto& st = self->state;
  std::vector<std::string> all;
  for (const auto& [name, n] : st.nodes)
    all.push_back(name);
  auto candidates = pick_candidates(self, all, r.failed_node);
  if (candidates.empty()) {
    rp.deliver(first_proof_message{false, "no data manager is up", 0, {}, {}});
    return;
  }
  start_round(self, 2, r.runtime, candidates,
              [self, r, rp, widen](std::vector<candidate_result> measured, std::map<std::string, node_load> load) {
                auto& st = self->state;
                auto ranked = rank(measured, r.size, true, load);
                decision d{0, "push", r.runtime, push_reference(r.repository, r.tag, r.digest), measured,
                           ranked.empty() ? std::string{} : ranked.front().node};
                auto id = record_decision(self, d);
                if (measure_again(self, id, r.runtime, measured, widen)) {
                  probe_push(self, r, rp, widen + 1);
                  return;
                }
                remember_ranking(self, id, ranked);
                spdlog::info("{}: decision {}: push {} by {} to {}", st.cfg.name, id, d.reference, r.runtime,
                             d.chosen.empty() ? "nobody" : d.chosen);
                grant(self, id, ranked, 0, r, rp);
              },
              widen);
}

} // namespace

void handle_storage(master_actor* self, const storage_request& r,
                    caf::typed_response_promise<first_proof_message> rp) {
  auto& st = self->state;
  pushed_again(self, r.repository, r.digest);
  if (r.retry_of != 0) {
    auto rk = st.rankings.find(r.retry_of);
    const auto* prev = st.decisions.find(r.retry_of);
    if (rk != st.rankings.end() && prev && prev->runtime == r.runtime && prev->kind == "push") {
      auto ranked = rk->second.candidates;
      std::erase_if(ranked, [&](const ranked_candidate& c) { return c.node == r.failed_node; });
      if (!ranked.empty()) {
        decision d = *prev;
        d.chosen = ranked.front().node;
        auto id = record_decision(self, d);
        remember_ranking(self, id, ranked);
        grant(self, id, ranked, 0, r, rp);
        return;
      }
    }
  }
  probe_push(self, r, rp, 0);
}

} // namespace stowage::actors::detail
