// The master's behavior: membership, catalog updates, queries and the
// periodic retry loop. The flows live in master_flows.cpp, probe rounds in
// master_rounds.cpp, handoffs in master_handoff.cpp.
#include "actors/master_state.hpp"

#include "actors/link_guard.hpp"

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/sec.hpp>
#include <caf/system_messages.hpp>
#include <caf/type_erased_tuple.hpp>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>
#include <set>
#include <tuple>

namespace stowage::actors {

namespace {

using namespace detail;

// Tells every joined node which processes are members, and keeps the
// master's own link guard in step.
void publish_roster(master_actor* self) {
  auto& st = self->state;
  if (!st.cfg.links)
    return;
  std::set<caf::node_id> procs;
  for (const auto& [name, n] : st.nodes)
    if (n.handle && n.rec.up)
      procs.insert(n.handle.node());
  roster r{{procs.begin(), procs.end()}};
  st.cfg.links->set_members(r.members);
  for (const auto& [name, n] : st.nodes)
    if (n.handle && n.rec.up && n.handle.node() != self->node())
      self->send(n.handle, r);
}

// The catalog's images as the admin API shows them: `replicas` are the data
// managers that serve repository:tag, `pending` every one still owed it:
// those it is handed off for, the peers of a push whose target stored it
// that have not yet (they are fetching it, or the target is about to hand
// it off for them), and holders of the image still to set this tag
// (set_tags). So an image never looks placed where it is not yet.
std::vector<image_record> admin_images(master_actor* self) {
  auto& st = self->state;
  using place = std::tuple<std::string, std::string, std::string>; // repository, tag, and digest or node
  std::map<place, std::set<std::string>> owed;                     // by repository, tag, digest
  for (const auto& [session, w] : st.replicating)
    if (w.committed && !w.owed.empty()) owed[{w.repository, w.tag, w.digest}].insert(w.owed.begin(), w.owed.end());
  std::set<place> lacking_tag; // repository, tag, node
  for (const auto& [name, n] : st.nodes)
    if (n.rec.role == "data")
      for (const auto& item : st.images.stale_tags(name)) lacking_tag.insert({item.repository, item.tag, name});
  auto out = st.images.images();
  for (auto& img : out) {
    std::set<std::string> pending(img.pending.begin(), img.pending.end());
    if (auto i = owed.find({img.repository, img.tag, img.digest}); i != owed.end())
      pending.insert(i->second.begin(), i->second.end());
    for (auto node = img.replicas.begin(); !img.tag.empty() && node != img.replicas.end();)
      if (lacking_tag.count({img.repository, img.tag, *node})) {
        pending.insert(*node);
        node = img.replicas.erase(node);
      } else {
        ++node;
      }
    img.pending.assign(pending.begin(), pending.end());
  }
  return out;
}

// Empty if the join may go ahead; else why not. Without a directory (one
// process, tests) joins are not signed.
std::string check_join(master_actor* self, const join_request& j) {
  auto& st = self->state;
  if (st.cfg.directory.empty())
    return {};
  auto known = st.cfg.directory.find(j.name);
  if (known == st.cfg.directory.end())
    return "no node named " + j.name + " in the cluster file";
  if (known->second.role != j.role)
    return j.name + " is a " + known->second.role + " node in the cluster file, not " + j.role;
  const auto& sender = self->current_sender();
  auto challenge = st.challenges.find({j.name, sender ? sender->node() : caf::node_id{}});
  if (challenge == st.challenges.end() || j.nonce.empty() || challenge->second != j.nonce)
    return "no challenge was issued for this join";
  st.challenges.erase(challenge); // single use, whatever the outcome
  auto sig = config::from_hex(j.signature);
  if (!sig || !config::identity::verify(known->second.public_key, join_bytes(j), *sig))
    return "the join of " + j.name + " is not signed with its key from the cluster file";
  return {};
}

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
  st.journal = std::make_unique<decision_journal>(st.cfg.dir, st.cfg.decision_capacity);
  st.decisions.restore(st.journal->load(), st.journal->next_id());
  for (const auto& h : st.handoffs->all())
    st.images.add_pending({h.repository, h.tag, h.digest, h.seq, 0}, h.node);
  // A copy that turns up is removed, not counted. The marks' age starts
  // again here (drop_old_delete_marks): later, never sooner.
  for (const auto& [repository, digest] : st.handoffs->deleted_images())
    st.images.remove_image(repository, digest, self->clock().now());
  for (const auto& [repository, digest] : st.handoffs->kept_marks())
    st.images.keep_mark(repository, digest);
  forget_removed_nodes(self);
  spdlog::info("{}: started, {} pending handoffs, {} deletes to apply", st.cfg.name, st.handoffs->all().size(),
               st.handoffs->removals().size());

  self->set_down_handler([self](caf::down_msg& dm) {
    auto& st = self->state;
    std::vector<std::string> down;
    for (auto& [name, n] : st.nodes) {
      if (n.handle && n.handle.address() == dm.source) {
        spdlog::warn("{}: node {} is down", st.cfg.name, name);
        n.rec.up = false;
        n.handle = nullptr;
        n.in_flight = 0;
        fail_pulls_on(self, name, "target " + name + " went down");
        take_over_replication(self, name);
        down.push_back(name);
      }
    }
    publish_roster(self);
    for (const auto& name : down)
      for (const auto& [other, n] : st.nodes)
        if (n.handle && n.rec.up)
          self->send(n.handle, node_down{name});
  });
  self->delayed_send(self, st.cfg.settings.retry_interval, retry_tick{});

  return {
    [self](join_challenge_request& r) -> join_challenge {
      auto& st = self->state;
      auto nonce = config::to_hex(config::random_bytes(32));
      // Only for names of the cluster file (any name without one: tests), so
      // the table stays as small as the cluster.
      if (st.cfg.directory.empty() || st.cfg.directory.count(r.name)) {
        const auto& sender = self->current_sender();
        st.challenges[{r.name, sender ? sender->node() : caf::node_id{}}] = nonce;
      }
      auto sig = st.cfg.identity->sign(join_challenge_bytes(r.name, r.nonce, nonce));
      return {nonce, config::to_hex(sig)};
    },
    [self](join_request& j) -> caf::result<join_answer> {
      auto& st = self->state;
      if (auto why = check_join(self, j); !why.empty()) {
        spdlog::warn("{}: refused the join of {}: {}", st.cfg.name, j.name, why);
        return caf::make_error(caf::sec::invalid_argument, why);
      }
      auto handle = caf::actor_cast<caf::actor>(self->current_sender());
      auto& n = st.nodes[j.name];
      n.rec = {j.name, j.role, true, j.http, j.public_key};
      n.handle = handle;
      n.in_flight = 0;
      n.free_bytes = j.free_bytes;
      if (handle)
        self->monitor(handle);
      spdlog::info("{}: {} joined as {} ({} images{})", st.cfg.name, j.name, j.role, j.inventory.size(),
                   st.cfg.directory.empty() ? "" : ", signature checked");
      if (j.role == "data") {
        st.images.forget_node(j.name);
        st.awaiting_removals.erase(j.name); // an earlier join's, not counted yet
        auto inventory = without_removed(self, j.name, std::move(j.inventory));
        const auto pending = st.handoffs->removals_for(j.name);
        if (std::any_of(pending.begin(), pending.end(), [](const removal_record& r) { return r.tag.empty(); }))
          st.awaiting_removals[j.name] = std::move(inventory); // counted once applied (send_removals, below)
        else
          count_inventory(self, j.name, std::move(inventory));
      }
      // The answer first, then the roster: the joining node trusts the
      // master's process only once it has the answer (same link, in order).
      auto rp = self->make_response_promise<join_answer>();
      rp.deliver(join_answer{st.cfg.name, st.cfg.identity->public_key_hex()});
      publish_roster(self);
      send_removals(self, j.name); // before any delivery the join may owe it
      return rp;
    },
    [self](pull_request& r) {
      handle_pull(self, r, self->make_response_promise<pull_answer>());
    },
    [self](name_push& n) { handle_name_push(self, n, self->make_response_promise<push_named>()); },
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
      if (!stored_after_delete(self, s))
        replica_stored(self, s);
    },
    [self](delete_image& d) -> delete_done { return handle_delete(self, d); },
    [self](tags_query& q) -> tags_answer {
      auto tags = self->state.images.tags(q.repository);
      return {true, tags.has_value(), {}, tags.value_or(std::vector<std::string>{})};
    },
    [self](repositories_query&) -> repositories_answer { return {true, {}, self->state.images.repositories()}; },
    [self](retry_tick&) {
      send_all_removals(self);
      drop_old_delete_marks(self);
      resend_missing_tags(self);
      run_third_tests(self);
      self->delayed_send(self, self->state.cfg.settings.retry_interval, retry_tick{});
    },
    [self](flush_decisions&) {
      self->state.journal_flush_due = false;
      try {
        self->state.journal->flush();
      } catch (const std::exception& e) {
        spdlog::warn("{}: decisions not written to disk: {}", self->state.cfg.name, e.what());
      }
    },
    [self](nodes_query&) -> nodes_answer {
      nodes_answer out;
      out.nodes.push_back({self->state.cfg.name, "master", true, self->state.cfg.http,
                           self->state.cfg.identity->public_key_hex()});
      for (const auto& [name, n] : self->state.nodes)
        out.nodes.push_back(n.rec);
      // A node of the cluster file that has not joined since this master
      // started is down too: the listing and /metrics must show it.
      for (const auto& [name, k] : self->state.cfg.directory)
        if (!self->state.nodes.count(name))
          out.nodes.push_back({name, k.role, false, k.http, k.public_key});
      std::sort(out.nodes.begin() + 1, out.nodes.end(),
                [](const node_record& a, const node_record& b) { return a.name < b.name; });
      return out;
    },
    [self](images_query&) -> images_answer { return {admin_images(self)}; },
    [self](decisions_query& q) -> decisions_answer { return {self->state.decisions.latest(q.limit)}; },
    [self](handoffs_query&) -> handoffs_answer { return {self->state.handoffs->all()}; },
    [self](removals_query&) -> removals_answer { return {self->state.handoffs->removals()}; },
  };
}

} // namespace

caf::actor spawn_master(caf::actor_system& sys, master_config cfg) {
  return sys.spawn([](master_actor* self, master_config cfg) {
    auto links = cfg.links;
    auto name = cfg.name;
    // Anyone may ask to join; everything else needs a joined sender.
    auto open = [](const caf::type_erased_tuple& xs) {
      return xs.match_elements<join_challenge_request>() || xs.match_elements<join_request>();
    };
    return guard_links(self, std::move(name), std::move(links), master_behavior(self, std::move(cfg)), open);
  }, std::move(cfg));
}

} // namespace stowage::actors
