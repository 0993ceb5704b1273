// Handoffs (DESIGN §3 push 8): the master keeps images a data manager could
// not receive — record in SQLite, data in its spool — sends third test
// requests to the missing data managers every retry_interval, and delivers
// once one answers. Everything is reloaded after a restart.
#include "actors/master_state.hpp"
#include "store/image_removal.hpp"

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>
#include <memory>
#include <set>
#include <tuple>

namespace stowage::actors::detail {

namespace {

// Once no data manager is owed the image any more, its spooled copy has done
// its job: the data managers it was kept for hold it now. It stays while
// fewer than min_copies data managers hold it (then the spool is one of the
// durable places the push was acknowledged with).
void release_spooled(master_actor* self, const std::string& repository, const std::string& digest) {
  auto& st = self->state;
  for (const auto& h : st.handoffs->all())
    if (h.repository == repository && h.digest == digest)
      return;
  if (st.images.holders(repository, digest).size() < st.cfg.settings.min_copies)
    return;
  auto dig = oci::digest::parse(digest);
  try {
    if (dig && store::remove_image(*st.spool, repository, *dig))
      spdlog::info("{}: {}@{} delivered everywhere, removed from the spool", st.cfg.name, repository, digest);
  } catch (const std::exception& e) {
    spdlog::warn("{}: could not remove {}@{} from the spool: {}", st.cfg.name, repository, digest, e.what());
  }
}

/// Where `node` gets a handed-off image from: the master's spool if the
/// target handed it there, else a data manager holding it that is up (the
/// target went down before it could hand it off). Each failed attempt moves
/// on to the next one in that order, round the list: a source that cannot
/// deliver (its copy lost or damaged since it reported it) holds nothing
/// up. No name: nobody, for now.
peer_ref delivery_source(master_actor* self, const handoff_record& h) {
  auto& st = self->state;
  std::vector<peer_ref> sources;
  auto dig = oci::digest::parse(h.digest);
  if (dig && st.spool->manifest(h.repository, oci::reference{*dig}))
    sources.push_back({st.cfg.name, caf::actor_cast<caf::actor>(self)});
  for (const auto& holder : st.images.holders(h.repository, h.digest))
    if (holder != h.node && is_up_data(self, holder))
      sources.push_back({holder, st.nodes.at(holder).handle});
  if (sources.empty())
    return {};
  return sources[h.attempts % sources.size()];
}

/// Tells `node` the tags it misses on images it holds (catalog::stale_tags):
/// a delivery brings one tag, and a node down while an image it had got
/// another tag holds the image but not the tag.
void sync_tags(master_actor* self, const std::string& node) {
  auto& st = self->state;
  if (!is_up_data(self, node))
    return;
  auto stale = st.images.stale_tags(node);
  if (stale.empty())
    return;
  spdlog::info("{}: {} misses {} tag(s) on images it holds: sent", st.cfg.name, node, stale.size());
  self->send(st.nodes.at(node).handle, set_tags{std::move(stale)});
}

/// Deliveries to one data manager under way at once. A node that joins
/// empty may be owed the whole catalog: sent at once, the later ones would
/// wait in its transfer queue past transfer_timeout.
constexpr std::size_t deliveries_at_once = 4;

struct delivery_batch {
  std::string node;
  std::vector<handoff_record> items;
  std::size_t next = 0, running = 0;
};

void deliver_next(master_actor* self, const std::shared_ptr<delivery_batch>& b) {
  auto& st = self->state;
  auto n = st.nodes.find(b->node);
  if (n == st.nodes.end() || !n->second.handle)
    b->next = b->items.size(); // gone: the next third test starts over
  while (b->running < deliveries_at_once && b->next < b->items.size()) {
    const auto h = b->items[b->next++];
    auto source = delivery_source(self, h);
    if (source.name.empty()) {
      spdlog::info("{}: {}@{} for {}: no holder is up to deliver it from", st.cfg.name, h.repository, h.digest,
                   b->node);
      continue;
    }
    ++b->running;
    auto one = [self, b] {
      --b->running;
      deliver_next(self, b);
    };
    self->request(n->second.handle, st.cfg.transfer_timeout, delivery{h.repository, h.tag, h.digest, h.seq, source})
      .then(
        [self, h, one](delivery_answer& a) {
          auto& st = self->state;
          if (a.ok) {
            spdlog::info("{}: delivered {}@{} to {}", st.cfg.name, h.repository, h.digest, h.node);
            st.handoffs->remove(h.repository, h.digest, h.node);
            st.images.add_replica({h.repository, h.tag, h.digest, h.seq, 0}, h.node);
            release_spooled(self, h.repository, h.digest);
          } else {
            try {
              st.handoffs->count_attempt(h.repository, h.digest, h.node);
            } catch (const std::exception& e) {
              spdlog::warn("{}: could not count a failed delivery: {}", st.cfg.name, e.what());
            }
            spdlog::warn("{}: delivery of {}@{} to {} failed: {}", st.cfg.name, h.repository, h.digest,
                         h.node, a.error);
          }
          one();
        },
        [one](caf::error&) { one(); });
  }
  if (b->running == 0 && b->next == b->items.size()) {
    st.delivering.erase(b->node);
    sync_tags(self, b->node); // an image delivered under one of its tags
  }
}

void deliver_all(master_actor* self, const std::string& node) {
  auto b = std::make_shared<delivery_batch>();
  b->node = node;
  b->items = self->state.handoffs->for_node(node);
  deliver_next(self, b);
}

} // namespace

void resend_missing_tags(master_actor* self) {
  auto& st = self->state;
  auto now = self->clock().now();
  if (now - st.tags_checked < std::chrono::minutes(1))
    return;
  st.tags_checked = now;
  for (const auto& [name, n] : st.nodes)
    sync_tags(self, name);
}

handoff_accepted handle_replication_failure(master_actor* self, const replication_failure& f) {
  auto& st = self->state;
  st.replicating.erase(f.session); // the target answers for its peers from here on
  auto dig = oci::digest::parse(f.digest);
  if (!dig)
    return {false, "malformed digest"};
  const bool spooled = st.spool->manifest(f.repository, oci::reference{*dig}).has_value();
  if (st.images.removed(f.repository, f.digest)) { // deleted while it travelled to the spool
    spdlog::info("{}: {}@{} was deleted meanwhile: not handed off", st.cfg.name, f.repository, f.digest);
    if (spooled)
      store::remove_image(*st.spool, f.repository, *dig);
    return {spooled, {}};
  }
  // Recorded with or without the spool's copy (its transfer failed, or a
  // delivery that completed meanwhile released it): the watch that stood
  // for these peers is gone, so the rows are all that owe them the image;
  // delivery_source then takes a data manager holding it.
  const auto holders = st.images.holders(f.repository, f.digest);
  for (const auto& node : f.failed) {
    if (node == f.source || std::find(holders.begin(), holders.end(), node) != holders.end())
      continue;
    st.handoffs->add({f.digest, f.repository, f.tag, f.seq, node, 0});
    st.images.add_pending({f.repository, f.tag, f.digest, f.seq, f.size}, node);
    spdlog::info("{}: handoff of {}@{} for {}{}", st.cfg.name, f.repository, f.digest, node,
                 spooled ? "" : " (not in the spool: from a data manager holding it)");
  }
  if (!spooled)
    return {false, "the image data is not in the master's spool"};
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

/// Watches kept at most; beyond, the oldest is dropped (its peers then rely
/// on the target's own handoff only).
constexpr std::size_t watched_replications = 4096;

void watch_replication(master_actor* self, const pre_receive& notice, const std::vector<std::string>& peers) {
  auto& st = self->state;
  if (peers.empty())
    return;
  replication_watch w{notice.repository, notice.tag, notice.digest, notice.target, notice.seq,
                      {peers.begin(), peers.end()}, false, st.next_watch_age++};
  st.replicating.emplace(notice.session, std::move(w));
  if (st.replicating.size() > watched_replications)
    st.replicating.erase(std::min_element(st.replicating.begin(), st.replicating.end(), [](const auto& a, const auto& b) {
      return a.second.age < b.second.age;
    }));
}

void replica_stored(master_actor* self, const image_stored& s) {
  auto& st = self->state;
  st.images.add_replica(s.item, s.node);
  st.handoffs->remove(s.item.repository, s.item.digest, s.node);
  for (auto i = st.replicating.begin(); i != st.replicating.end();) {
    auto& w = i->second;
    if (w.repository == s.item.repository && w.digest == s.item.digest && w.tag == s.item.tag) {
      w.owed.erase(s.node);
      w.committed = w.committed || s.node == w.target;
    }
    i = w.owed.empty() ? st.replicating.erase(i) : std::next(i);
  }
}

void take_over_replication(master_actor* self, const std::string& node) {
  auto& st = self->state;
  for (auto i = st.replicating.begin(); i != st.replicating.end();) {
    const auto& w = i->second;
    if (w.target != node) {
      ++i;
      continue;
    }
    // Not committed at the target, the push was not acknowledged: the
    // runtime pushes it again elsewhere, and nothing is owed.
    if (w.committed)
      for (const auto& peer : w.owed) {
        st.handoffs->add({w.digest, w.repository, w.tag, w.seq, peer, 0});
        st.images.add_pending({w.repository, w.tag, w.digest, w.seq, 0}, peer);
        spdlog::info("{}: {} went down while {}@{} was on its way to {}: handed off", st.cfg.name, node,
                     w.repository, w.digest, peer);
      }
    i = st.replicating.erase(i);
  }
}

void count_inventory(master_actor* self, const std::string& node, std::vector<inventory_item> inventory) {
  auto& st = self->state;
  std::vector<removal_record> late; // copies of deleted images no record covered: removed again (the caller sends them)
  for (const auto& item : inventory) {
    if (st.images.removed(item.repository, item.digest)) {
      late.push_back({item.repository, {}, item.digest, item.seq, node});
      continue;
    }
    st.images.add_replica(item, node);
    st.handoffs->remove(item.repository, item.digest, node);
  }
  try {
    st.handoffs->add_removals(late);
  } catch (const std::exception& e) { // its next join reports them again, and the marks must be there then
    spdlog::warn("{}: could not record the deleted images {} still holds: {}", st.cfg.name, node, e.what());
    for (const auto& r : late)
      st.images.keep_mark(r.repository, r.digest);
  }
  try {
    owe_missing_replicas(self);
  } catch (const std::exception& e) { // the handoff queue's disk: the next join tries again
    spdlog::warn("{}: could not record the images {} lacks: {}", st.cfg.name, node, e.what());
  }
}

void owe_missing_replicas(master_actor* self) {
  auto& st = self->state;
  std::vector<std::string> up;
  for (const auto& [name, n] : st.nodes)
    if (is_up_data(self, name))
      up.push_back(name);
  std::set<std::tuple<std::string, std::string, std::string>> watched; // repository, digest, peer
  for (const auto& [session, w] : st.replicating)
    for (const auto& peer : w.owed)
      watched.emplace(w.repository, w.digest, peer);

  for (const auto& node : up)
    sync_tags(self, node);
  // An image goes with a tag that names it now (its other tags follow with
  // sync_tags); one no tag names (a tag moved on from it, pushed by digest,
  // an index's child) goes by digest alone, so that a pull by its digest
  // keeps working whichever nodes are lost.
  std::vector<handoff_record> owed;
  std::set<std::tuple<std::string, std::string, std::string>> once; // repository, digest, node
  for (const auto& img : st.images.images()) {
    // With no holder up there is nobody to deliver from; the holder's own
    // join runs this again.
    if (std::none_of(img.replicas.begin(), img.replicas.end(), [&](const auto& n) { return is_up_data(self, n); }))
      continue;
    for (const auto& node : up) {
      if (std::find(img.replicas.begin(), img.replicas.end(), node) != img.replicas.end() ||
          std::find(img.pending.begin(), img.pending.end(), node) != img.pending.end() ||
          watched.count({img.repository, img.digest, node}) || !once.insert({img.repository, img.digest, node}).second)
        continue;
      owed.push_back({img.digest, img.repository, img.tag, img.seq, node, 0});
    }
  }
  if (owed.empty())
    return;
  st.handoffs->add_all(owed);
  std::map<std::string, std::size_t> per_node;
  for (const auto& h : owed) {
    st.images.add_pending({h.repository, h.tag, h.digest, h.seq, 0}, h.node);
    ++per_node[h.node];
    spdlog::debug("{}: {} lacks {}:{} ({}): handed off", st.cfg.name, h.node, h.repository, h.tag, h.digest);
  }
  for (const auto& [node, n] : per_node)
    spdlog::info("{}: {} lacks {} image(s) other data managers hold: handed off for delivery", st.cfg.name, node, n);
}

} // namespace stowage::actors::detail
