#include "actors/data_manager.hpp"

#include "actors/image_copy.hpp"
#include "actors/join.hpp"
#include "actors/link_guard.hpp"
#include "actors/protocol.hpp"
#include "actors/removal.hpp"
#include "actors/transfer_book.hpp"

#include <caf/actor_system.hpp>
#include <caf/send.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_response_promise.hpp>

#include <spdlog/spdlog.h>

#include <deque>
#include <functional>
#include <optional>
#include <map>
#include <set>

namespace stowage::actors {

namespace {

struct replication_round;

struct dm_state {
  data_manager_config cfg;
  caf::actor master;
  std::uint64_t links_to_master = 1; // the master given at spawn is the first; connect_master counts the others
  std::uint32_t in_flight = 0;
  std::map<std::string, pre_receive> expected;          // session -> what to expect
  // Blobs of open sessions being fetched ahead of their replication_request,
  // and the replications waiting for them (they would fetch them again).
  struct early_fetches {
    std::uint32_t running = 0;
    std::set<std::string> digests; // being fetched (the target tells twice: as it arrives, once stored)
    std::vector<std::function<void()>> then;
  };
  std::map<std::string, early_fetches> early;           // by session
  std::map<std::string, std::vector<peer_ref>> peers;   // session -> peers told to expect it
  // Commits by session, running or answered: a runtime repeats a
  // push_commit whose answer did not come (a message lost on a new link),
  // and the repeat must join the first, not fail on the closed session.
  std::map<std::string, std::shared_ptr<replication_round>> commits;
  std::deque<std::string> commit_order; // oldest first, to bound `commits`
  // Also watches the targets this node replicates from, and the peers its
  // pushes replicate to: when the link to one breaks (a dead or hung
  // process), the fetches from it end at once and its replication requests
  // are answered as failed; the master hands off what a lost target still
  // owed (take_over_replication), and this node what a lost peer did not
  // get (hand_off).
  transfer_book transfers;
  std::uint64_t free_cached = 0;
  std::optional<caf::actor_clock::time_point> free_checked;
  static inline const char* name = "stowage.data_manager";
};
using dm_actor = caf::stateful_actor<dm_state>;

void start_transfer(dm_actor* self, transfer_order order, transfer_book::then_fn then) {
  self->state.transfers.start(self, *self->state.cfg.transfer, std::move(order), std::move(then));
}

// The sender of the current message is the target `name` this node is about
// to fetch from.
void watch_source(dm_actor* self, const std::string& name) {
  self->state.transfers.watch(self, name, caf::actor_cast<caf::actor>(self->current_sender()));
}

/// Every manifest the store holds: one item per tag, and one without a tag
/// for each manifest no tag names (a tag moved on from it, it was pushed by
/// digest, or an index lists it), so that a pull by its digest finds it
/// after the master restarted.
std::vector<inventory_item> inventory(const store::registry_store& s) {
  std::vector<inventory_item> out;
  for (const auto& repo : s.repositories()) {
    std::set<std::string> tagged;
    for (const auto& tag : s.tags(repo, std::nullopt, std::string_view(""))) {
      auto m = s.manifest(repo, oci::reference{tag});
      if (!m)
        continue;
      auto digest = m->dig.str();
      tagged.insert(digest);
      out.push_back({repo, tag, digest, s.tag_seq(repo, tag).value_or(0),
                     image_size(s, repo, digest).value_or(0)});
    }
    for (const auto& d : s.manifests(repo))
      if (!tagged.count(d.str()))
        out.push_back({repo, {}, d.str(), 0, image_size(s, repo, d.str()).value_or(0)});
  }
  return out;
}

inventory_item item_of(dm_actor* self, const std::string& repo, const std::string& tag,
                       const std::string& digest, std::uint64_t seq) {
  return {repo, tag, digest, seq, image_size(*self->state.cfg.store, repo, digest).value_or(0)};
}

void join(dm_actor* self) {
  auto& st = self->state;
  if (!st.master)
    return;
  join_request j{st.cfg.name, "data", st.cfg.public_key, st.cfg.http, st.cfg.store->free_bytes(),
                 inventory(*st.cfg.store), {}, {}};
  join_master(self, {st.master, std::move(j), st.cfg.identity, st.cfg.settings.master_public_key, st.cfg.links,
                     st.cfg.settings.probe_timeout * 5, st.links_to_master});
}

/// The master's set_tags: each tag is set on an image this node holds (at
/// its number: tags move forward only) and reported, so the master stops
/// counting it as missing.
void set_missing_tags(dm_actor* self, const std::vector<inventory_item>& tags) {
  auto& s = *self->state.cfg.store;
  for (const auto& item : tags)
    try {
      auto dig = oci::digest::parse(item.digest);
      auto info = dig ? s.manifest(item.repository, oci::reference{*dig}) : std::nullopt;
      if (!info)
        continue;
      auto body = s.read_manifest(*info);
      auto parsed = oci::parse_manifest(body, info->media_type);
      if (!parsed.value)
        continue;
      auto update = s.put_manifest(item.repository, *dig, *parsed.value, body, item.tag, item.seq);
      auto named = s.manifest(item.repository, oci::reference{item.tag});
      if (named && named->dig == *dig) // set now, or before at a newer number
        self->send(self->state.master,
                   image_stored{self->state.cfg.name, {item.repository, item.tag, item.digest, update.seq, item.size}});
    } catch (const std::exception& e) {
      spdlog::warn("{}: could not tag {}:{}: {}", self->state.cfg.name, item.repository, item.tag, e.what());
    }
}

// Free space changes slowly next to probe rounds: ask the file system at most
// once a second instead of once per test request.
std::uint64_t free_bytes(dm_actor* self) {
  auto& st = self->state;
  auto now = self->clock().now();
  if (!st.free_checked || now - *st.free_checked > std::chrono::seconds(1)) {
    st.free_cached = st.cfg.store->free_bytes();
    st.free_checked = now;
  }
  return st.free_cached;
}

template <class TestRequest>
test_request_answer send_packet(dm_actor* self, const TestRequest& r) {
  auto& st = self->state;
  st.cfg.probes->send_test_packet(st.cfg.name, r.receiver, r.round, r.bytes, std::chrono::microseconds(r.within_us));
  return {r.round, st.cfg.name, free_bytes(self), st.in_flight};
}

// ---- push: replication, handoff and the acknowledgement -----------------------

struct replication_round {
  proof_scope scope;
  std::string digest;
  std::size_t remaining = 0;
  std::vector<std::string> replicas;
  std::vector<std::string> failed;
  std::vector<std::string> receiving; // peers asked and not answered yet
  std::vector<caf::typed_response_promise<push_ack>> waiting; // the push_commit and its repeats
  std::optional<push_ack> result;     // the answer, once given
};

std::string names(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& n : v)
    out += (out.empty() ? "" : ", ") + n;
  return out;
}

push_ack refused(std::string why) {
  push_ack a;
  a.error = std::move(why);
  return a;
}

// The answer to the push_commit (and its repeats): given once, as soon as
// min_copies places hold the image or when every peer has answered, whichever
// comes first. Peers still fetching then go on; a late failure among them is
// handed off like any other.
void acknowledge(dm_actor* self, const std::shared_ptr<replication_round>& rr, bool master_holds) {
  auto& st = self->state;
  if (rr->result)
    return;
  push_ack ack;
  ack.copies = static_cast<std::uint32_t>(rr->replicas.size() + (master_holds ? 1 : 0));
  ack.replicas = rr->replicas;
  if (master_holds)
    ack.handed_off = rr->failed;
  ack.receiving = rr->receiving;
  ack.ok = ack.copies >= st.cfg.settings.min_copies;
  if (!ack.ok)
    ack.error = "only " + std::to_string(ack.copies) + " durable copies, " +
                std::to_string(st.cfg.settings.min_copies) + " required";
  spdlog::info("{}: push {}@{}: {} copies{}{}", st.cfg.name, rr->scope.repository, rr->digest, ack.copies,
               ack.ok ? "" : " (not acknowledged)",
               ack.receiving.empty() ? "" : ", still receiving: " + names(ack.receiving));
  rr->result = ack;
  for (auto& rp : std::exchange(rr->waiting, {}))
    rp.deliver(ack);
}

// Every peer has answered: the replication round is over.
void round_over(dm_actor* self, const std::shared_ptr<replication_round>& rr, bool master_holds) {
  if (!rr->result)
    acknowledge(self, rr, master_holds);
  else if (!rr->failed.empty() && master_holds)
    spdlog::info("{}: push {}@{}: handed off for {} after the acknowledgement", self->state.cfg.name,
                 rr->scope.repository, rr->digest, names(rr->failed));
  else if (!rr->failed.empty())
    spdlog::warn("{}: push {}@{}: {} did not get it, and the master's spool has no copy", self->state.cfg.name,
                 rr->scope.repository, rr->digest, names(rr->failed));
  --self->state.in_flight;
}

void hand_off(dm_actor* self, const std::shared_ptr<replication_round>& rr) {
  auto& st = self->state;
  if (!st.master) {
    round_over(self, rr, false);
    return;
  }
  // The image data goes to the master's spool over the data plane first;
  // then the failure, so the master records the handoff with the data. Sent
  // even if that copy failed: the master's watch of this push still counts
  // the failed peers as on their way, and only this message turns them into
  // handoffs (delivered from the data managers that hold the image).
  transfer_order order{st.cfg.name, st.cfg.master_name, rr->scope.repository, rr->digest,
                       rr->scope.tag, rr->scope.seq, {}};
  start_transfer(self, order, [self, rr](const transfer_done& d) {
    auto& st = self->state;
    if (!st.master) {
      round_over(self, rr, false);
      return;
    }
    if (!d.ok)
      spdlog::warn("{}: copy of {}@{} to the master's spool failed: {}", st.cfg.name, rr->scope.repository,
                   rr->digest, d.error);
    replication_failure f{rr->scope.session, rr->scope.repository, rr->scope.tag, rr->digest, rr->scope.seq,
                          d.bytes, st.cfg.name, rr->failed};
    self->request(st.master, st.cfg.request_timeout, std::move(f))
      .then([self, rr](handoff_accepted& h) { round_over(self, rr, h.ok); },
            [self, rr](caf::error&) { round_over(self, rr, false); });
  });
}

// Peers that did not answer, or too few copies, send the image to the
// master's spool (which counts as one durable place).
void replicas_done(dm_actor* self, const std::shared_ptr<replication_round>& rr) {
  if (rr->failed.empty() && rr->replicas.size() >= self->state.cfg.settings.min_copies)
    round_over(self, rr, false);
  else
    hand_off(self, rr);
}

bool receiving(const replication_round& rr, const std::string& peer) {
  return std::find(rr.receiving.begin(), rr.receiving.end(), peer) != rr.receiving.end();
}

void peer_done(dm_actor* self, const std::shared_ptr<replication_round>& rr, const std::string& peer,
               bool ok) {
  (ok ? rr->replicas : rr->failed).push_back(peer);
  std::erase(rr->receiving, peer);
  if (rr->replicas.size() >= self->state.cfg.settings.min_copies)
    acknowledge(self, rr, false);
  if (--rr->remaining == 0)
    replicas_done(self, rr);
}

/// Answers of this many recent commits are kept for repeats.
constexpr std::size_t remembered_commits = 1024;

void commit_push(dm_actor* self, const push_commit& c, caf::typed_response_promise<push_ack> rp) {
  auto& st = self->state;
  if (auto known = st.commits.find(c.session); known != st.commits.end()) {
    auto& rr = known->second;
    if (rr->scope.repository != c.repository || rr->digest != c.digest)
      rp.deliver(refused("no push was admitted for this session"));
    else if (rr->result)
      rp.deliver(*rr->result);
    else
      rr->waiting.push_back(rp);
    return;
  }
  auto scope = st.cfg.guard->admitted(c.session);
  auto granted = st.cfg.guard->named(c.session); // the signed tag, or the master's naming
  auto dig = oci::digest::parse(c.digest);
  if (!scope || !granted || scope->repository != c.repository || !dig) {
    rp.deliver(refused("no push was admitted for this session"));
    return;
  }
  if (!granted->digest.empty() && granted->digest != c.digest) {
    rp.deliver(refused("the session was named for another manifest"));
    return;
  }
  scope->tag = granted->tag;
  scope->seq = granted->seq;
  auto m = st.cfg.store->manifest(c.repository, oci::reference{*dig});
  if (!m) {
    rp.deliver(refused("the image is not stored here"));
    return;
  }
  st.cfg.guard->close(c.session); // single use: no more data and no second commit with it
  ++st.in_flight;
  auto rr = std::make_shared<replication_round>();
  rr->scope = *scope;
  rr->digest = c.digest;
  rr->replicas.push_back(st.cfg.name);
  rr->waiting.push_back(rp);
  st.commits[c.session] = rr;
  st.commit_order.push_back(c.session);
  while (st.commit_order.size() > remembered_commits) {
    st.commits.erase(st.commit_order.front());
    st.commit_order.pop_front();
  }
  if (st.master)
    self->send(st.master, image_stored{st.cfg.name, item_of(self, c.repository, scope->tag, c.digest, scope->seq)});
  auto peers = st.peers[c.session];
  st.peers.erase(c.session);
  rr->remaining = peers.size();
  for (const auto& p : peers)
    if (p.handle) {
      rr->receiving.push_back(p.name);
      // A peer's process that dies holds the request's answer with it: the
      // request would only time out (request_timeout), and the master, which
      // counts the peer as on its way, would deliver it nothing meanwhile.
      st.transfers.watch(self, p.name, p.handle);
    }
  if (peers.empty()) {
    replicas_done(self, rr);
    return;
  }
  for (const auto& p : peers) {
    if (!p.handle) {
      peer_done(self, rr, p.name, false);
      continue;
    }
    replication_request req{scope->session, scope->repository, scope->tag, c.digest, scope->seq, st.cfg.name};
    auto name = p.name;
    // Once per peer: its answer, or its link breaking first (node_lost).
    self->request(p.handle, st.cfg.request_timeout, std::move(req))
      .then([self, rr, name](replication_answer& a) { if (receiving(*rr, name)) peer_done(self, rr, name, a.ok); },
            [self, rr, name](caf::error&) { if (receiving(*rr, name)) peer_done(self, rr, name, false); });
  }
  if (rr->replicas.size() >= st.cfg.settings.min_copies) // min_copies = 1: the target's copy is enough
    acknowledge(self, rr, false);
}

/// A copy here was damaged on disk and dropped (with the images that need
/// it): the join reports the smaller inventory, and the master then owes
/// this node those images, delivered from a sound copy.
void rejoin_after_damage(dm_actor* self) {
  spdlog::warn("{}: dropped an image whose copy here was damaged on disk; joining again to get it back",
               self->state.cfg.name);
  join(self);
}

/// Another data manager got a blob from here that did not match its digest:
/// the copy here is hashed (off this actor: a big blob takes a while) and
/// dropped if damaged.
void check_own_copy(dm_actor* self, const check_blob& c) {
  auto d = oci::digest::parse(c.digest);
  if (!d)
    return;
  self->spawn<caf::detached>([store = self->state.cfg.store, d = *d, name = self->state.cfg.name,
                              me = caf::actor_cast<caf::actor>(self)] {
    try {
      if (store->drop_if_damaged(d))
        caf::anon_send(me, copy_dropped{d.str()});
    } catch (const std::exception& e) {
      spdlog::warn("{}: could not check the copy of {}: {}", name, d.str(), e.what());
    }
  });
}

/// What `source` sent did not match its digest: it is asked to check its
/// copy (the data plane between the two is verified on this end only).
void source_sent_mismatch(dm_actor* self, const std::string& source, const std::string& repo,
                          const std::string& digest) {
  auto& st = self->state;
  if (source == st.cfg.master_name)
    return; // the master's spool: its copy came from a data manager, verified
  if (auto h = st.transfers.handle_of(source)) {
    spdlog::warn("{}: {} sent blob {} of {} with other bytes than its digest: asking it to check its copy",
                 st.cfg.name, source, digest, repo);
    self->send(h, check_blob{repo, digest});
  }
}

// Fetches an image from `source` into this node's store, then tells the
// master and answers through `answer(ok, error)`.
void fetch(dm_actor* self, const std::string& source, const std::string& repo, const std::string& tag,
           const std::string& digest, std::uint64_t seq, std::function<void(bool, std::string)> answer) {
  auto& st = self->state;
  ++st.in_flight;
  transfer_order order{source, st.cfg.name, repo, digest, tag, seq, {}};
  start_transfer(self, order, [self, source, repo, tag, digest, seq, answer](const transfer_done& d) {
    auto& st = self->state;
    --st.in_flight;
    if (!d.mismatched_blob.empty())
      source_sent_mismatch(self, source, repo, d.mismatched_blob);
    if (d.ok && st.master)
      self->send(st.master, image_stored{st.cfg.name, item_of(self, repo, tag, digest, seq)});
    answer(d.ok, d.error);
  });
}

/// The pushes still waiting for `name` to replicate count it as failed (and
/// hand its copy off).
void replications_failed(dm_actor* self, const std::string& name) {
  std::vector<std::shared_ptr<replication_round>> waiting;
  for (const auto& [session, rr] : self->state.commits)
    if (receiving(*rr, name))
      waiting.push_back(rr);
  for (const auto& rr : waiting)
    peer_done(self, rr, name, false);
}

/// A watched node's link broke: the fetches from it end, and so do the
/// replications it owed.
void node_lost(dm_actor* self, const caf::down_msg& dm) {
  auto& st = self->state;
  auto name = st.transfers.lost(dm, *st.cfg.transfer);
  if (!name)
    return;
  spdlog::warn("{}: lost the link to {}: giving up the fetches from it and its replications", st.cfg.name, *name);
  replications_failed(self, *name);
}

caf::behavior data_manager_behavior(dm_actor* self, data_manager_config cfg, caf::actor master) {
  self->state.cfg = std::move(cfg);
  self->state.master = std::move(master);
  self->set_down_handler([self](caf::down_msg& dm) { node_lost(self, dm); });
  join(self);
  return {
    [self](connect_master& c) {
      auto& st = self->state;
      if (take_master(c, st.master, st.links_to_master, st.cfg.links.get()))
        join(self);
    },
    [self](node_down& d) { // the master lost its link to d.name; ours may not be up yet
      auto& st = self->state;
      st.transfers.give_up(d.name, *st.cfg.transfer, "the master lost the link to " + d.name);
      replications_failed(self, d.name);
    },
    [self](first_test_request& r) { return send_packet(self, r); },
    [self](second_test_request& r) { return send_packet(self, r); },
    [self](third_test_request& r) { return send_packet(self, r); },
    [self](scheduling_request& s) {
      auto rp = self->make_response_promise<scheduling_answer>();
      auto& st = self->state;
      ++st.in_flight;
      transfer_order order{st.cfg.name, s.runtime, s.repository, s.digest, {}, std::nullopt, {}, s.blob};
      start_transfer(self, order, [self, rp](const transfer_done& d) mutable {
        --self->state.in_flight;
        rp.deliver(scheduling_answer{self->state.cfg.name, d.ok, d.error, d.bytes});
      });
    },
    [self](second_proof_message& m) -> proof_answer {
      auto& st = self->state;
      auto v = st.cfg.guard->expect(m.proof);
      if (v != verdict::ok)
        return {st.cfg.name, false, std::string(verdict_text(v))};
      st.peers[m.proof.scope.session] = m.peers;
      return {st.cfg.name, true, {}};
    },
    [self](pre_receive& p) -> pre_receive_answer {
      auto& st = self->state;
      // Naming our own session (a push opened ahead of its manifest): the
      // guard lets its manifest PUT set this tag with this sequence number.
      if (p.target == st.cfg.name)
        return {st.cfg.name, st.cfg.guard->name(p.session, p.tag, p.seq, p.digest)};
      st.expected[p.session] = p;
      return {st.cfg.name, true};
    },
    [self](push_commit& c) { commit_push(self, c, self->make_response_promise<push_ack>()); },
    [self](blob_landed& b) {
      // A blob of our open session, arriving or stored: the first peers fetch it now.
      auto& st = self->state;
      auto scope = st.cfg.guard->admitted(b.session);
      auto dig = oci::digest::parse(b.digest);
      if (!scope || scope->repository != b.repository || !dig)
        return;
      auto info = st.cfg.store->blob(b.repository, *dig);
      const std::uint64_t size = info ? info->size : b.size;
      if (!info && size == 0)
        return;
      auto peers = st.peers.find(b.session);
      if (peers == st.peers.end())
        return;
      // Only the peers the acknowledgement waits for (second_proof_message).
      auto ahead = st.cfg.settings.min_copies - 1;
      for (const auto& p : peers->second)
        if (p.handle && ahead > 0) {
          --ahead;
          self->send(p.handle, replicate_blob{b.session, b.repository, b.digest, size, st.cfg.name});
        }
    },
    [self](replicate_blob& r) {
      auto& st = self->state;
      auto e = st.expected.find(r.session);
      if (e == st.expected.end() || e->second.repository != r.repository || e->second.target != r.source)
        return; // not told to expect this session from that target
      watch_source(self, r.source);
      auto& early = st.early[r.session];
      if (!early.digests.insert(r.digest).second)
        return; // on its way already
      ++early.running;
      transfer_order order{r.source, st.cfg.name, r.repository, r.digest, {}, std::nullopt, {}, true, r.size};
      start_transfer(self, order, [self, session = r.session, digest = r.digest](const transfer_done&) {
        // A failed early fetch costs nothing: the replication fetches what is missing.
        auto& st = self->state;
        auto i = st.early.find(session);
        if (i == st.early.end())
          return;
        i->second.digests.erase(digest);
        if (--i->second.running > 0)
          return;
        auto then = std::move(i->second.then);
        st.early.erase(i);
        for (auto& f : then)
          f();
      });
    },
    [self](replication_request& r) {
      auto rp = self->make_response_promise<replication_answer>();
      auto& st = self->state;
      auto e = st.expected.find(r.session);
      if (e == st.expected.end() || e->second.repository != r.repository || e->second.digest != r.digest) {
        rp.deliver(replication_answer{st.cfg.name, false, "not told to expect this image"});
        return;
      }
      st.expected.erase(e);
      watch_source(self, r.source);
      auto go = [self, r, rp, from = caf::actor_cast<caf::actor_addr>(self->current_sender())]() mutable {
        if (from && !self->state.transfers.watching(from)) { // lost while its early fetches ran
          rp.deliver(replication_answer{self->state.cfg.name, false, "lost the link to " + r.source});
          return;
        }
        fetch(self, r.source, r.repository, r.tag, r.digest, r.seq, [self, rp](bool ok, std::string error) mutable {
          rp.deliver(replication_answer{self->state.cfg.name, ok, std::move(error)});
        });
      };
      // Blobs still on their way from the early fetches: after them, the
      // image fetch finds them here instead of fetching them a second time.
      if (auto i = st.early.find(r.session); i != st.early.end())
        i->second.then.push_back(std::move(go));
      else
        go();
    },
    [self](delivery& d) {
      auto rp = self->make_response_promise<delivery_answer>();
      self->state.transfers.watch(self, d.source.name, d.source.handle);
      fetch(self, d.source.name, d.repository, d.tag, d.digest, d.seq, [self, rp](bool ok, std::string error) mutable {
        rp.deliver(delivery_answer{self->state.cfg.name, ok, std::move(error)});
      });
    },
    [self](set_tags& t) {
      if (self->current_sender() == self->state.master.address())
        set_missing_tags(self, t.tags);
    },
    [self](apply_removals& a) {
      auto& st = self->state;
      return answer_removals(st.cfg.name, self->current_sender() == st.master.address(), *st.cfg.store, a,
                             removal_mode::by_seq);
    },
    [self](transfer_done& d) {
      if (d.dropped_damaged)
        rejoin_after_damage(self);
      self->state.transfers.finish(d);
    },
    [self](check_blob& c) { check_own_copy(self, c); },
    [self](copy_dropped&) { rejoin_after_damage(self); },
  };
}

} // namespace

void tell_blob_arriving(const caf::actor& data_manager, std::string session, std::string repository,
                        std::string digest, std::uint64_t size) {
  // As itself: its link guard refuses anonymous messages.
  caf::send_as(data_manager, data_manager,
               blob_landed{std::move(session), std::move(repository), std::move(digest), size});
}

caf::actor spawn_data_manager(caf::actor_system& sys, data_manager_config cfg, caf::actor master) {
  return sys.spawn(
    [](dm_actor* self, data_manager_config cfg, caf::actor master) {
      auto links = cfg.links;
      auto name = cfg.name;
      return guard_links(self, std::move(name), std::move(links),
                         data_manager_behavior(self, std::move(cfg), std::move(master)));
    },
    std::move(cfg), std::move(master));
}

} // namespace stowage::actors
