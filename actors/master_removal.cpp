// Deletes (delete_image): the master decides them, records each node's
// share durably (handoffs.db, table removals) before it answers, and sends
// every node its share until it is applied; a node that is down applies it
// when it joins, a data manager before its inventory counts. So an
// acknowledged delete is never undone by a node that missed it: not by its
// inventory, not by the anti-entropy sweep that would spread its copy again,
// and no runtime's cache serves it on after its host comes back.
#include "actors/master_state.hpp"

#include "oci/name.hpp"
#include "store/image_removal.hpp"

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>

#include <spdlog/spdlog.h>

#include <algorithm>

namespace stowage::actors::detail {

namespace {

/// How long a node has to apply its removals before the master sends them
/// again (at the next retry tick): local disk work only.
constexpr auto removal_timeout = std::chrono::seconds(60);

/// Every data manager and runtime the master knows of, up or down: those
/// that joined since it started, and those its cluster file names (a node
/// down since before the master's restart must apply the delete too).
std::vector<std::string> holders_of_copies(master_actor* self) {
  auto& st = self->state;
  std::set<std::string> names;
  for (const auto& [name, n] : st.nodes)
    if (n.rec.role == "data" || n.rec.role == "runtime")
      names.insert(name);
  for (const auto& [name, k] : st.cfg.directory)
    if (k.role == "data" || k.role == "runtime")
      names.insert(name);
  return {names.begin(), names.end()};
}

/// The removals of one delete, as every node applies them.
std::vector<removal_record> decide(master_actor* self, const std::string& repository, const std::string& digest,
                                   const std::vector<std::string>& tags, bool by_digest) {
  auto& st = self->state;
  std::vector<removal_record> out;
  std::uint64_t newest = 0;
  for (const auto& tag : tags) {
    auto seq = st.handoffs->next_seq(repository, tag, st.images.tag_seq(repository, tag));
    newest = std::max(newest, seq);
    out.push_back({repository, tag, {}, seq, {}});
  }
  if (by_digest) {
    // A node keeps the manifest only if a tag names it there at a number
    // issued after this delete (store::remove_image_at). Numbers count per
    // tag, so the fence is the highest any tag of the repository has
    // reached: a tag a node kept from before, since moved on elsewhere,
    // never spares it.
    auto fence = std::max(newest, st.handoffs->highest_seq(repository));
    for (const auto& tag : st.images.tags(repository).value_or(std::vector<std::string>{}))
      fence = std::max(fence, st.images.tag_seq(repository, tag));
    out.push_back({repository, {}, digest, fence, {}});
  }
  return out;
}

/// The catalog, pending handoffs, replication watches and the spool forget
/// what the delete removes.
void forget(master_actor* self, const std::vector<removal_record>& removals) {
  auto& st = self->state;
  for (const auto& r : removals) {
    if (!r.tag.empty()) {
      // Its pending deliveries go on by digest alone (handoff_queue::add_removals).
      st.images.remove_tag(r.repository, r.tag, r.seq);
      continue;
    }
    st.images.remove_image(r.repository, r.digest, self->clock().now()); // and its pending deliveries are dropped
    std::erase_if(st.replicating,
                  [&](const auto& w) { return w.second.repository == r.repository && w.second.digest == r.digest; });
    if (auto dig = oci::digest::parse(r.digest))
      store::remove_image(*st.spool, r.repository, *dig);
  }
}

bool covers(const removal_record& r, const inventory_item& item) {
  if (r.repository != item.repository || item.seq > r.seq)
    return false;
  return r.tag.empty() ? r.digest == item.digest : r.tag == item.tag;
}

bool any_covers(const std::vector<removal_record>& removals, const inventory_item& item, bool manifests) {
  return std::any_of(removals.begin(), removals.end(),
                     [&](const auto& r) { return r.tag.empty() == manifests && covers(r, item); });
}

} // namespace

delete_done handle_delete(master_actor* self, const delete_image& d) {
  auto& st = self->state;
  auto ref = oci::reference::parse(d.reference);
  if (!oci::valid_repository(d.repository) || !ref)
    return {false, false, "invalid reference " + d.repository + ":" + d.reference, {}, {}};
  auto img = st.images.resolve(d.repository, ref->str());
  if (!img)
    return {false, true, "unknown image " + d.repository + (ref->is_digest() ? "@" : ":") + ref->str(), {}, {}};
  auto tags = ref->is_digest() ? st.images.tags_of(d.repository, img->digest) : std::vector{ref->tag()};
  try {
    auto removals = decide(self, d.repository, img->digest, tags, ref->is_digest());
    const auto nodes = holders_of_copies(self);
    std::vector<removal_record> owed;
    for (const auto& node : nodes)
      for (auto r : removals) {
        r.node = node;
        owed.push_back(std::move(r));
      }
    st.handoffs->add_removals(owed); // durable before anyone learns of it
    forget(self, removals);
    spdlog::info("{}: deleted {}{}{} (tags: {}), recorded for {} node(s)", st.cfg.name, d.repository,
                 ref->is_digest() ? "@" : ":", ref->str(), tags.empty() ? "none" : fmt::format("{}", fmt::join(tags, ", ")),
                 nodes.size());
    for (const auto& node : nodes)
      send_removals(self, node);
  } catch (const std::exception& e) {
    spdlog::warn("{}: could not record the delete of {}:{}: {}", st.cfg.name, d.repository, d.reference, e.what());
    return {false, false, std::string("the delete could not be recorded: ") + e.what(), {}, {}};
  }
  return {true, false, {}, img->digest, tags};
}

void send_removals(master_actor* self, const std::string& node) {
  auto& st = self->state;
  if (!is_up(self, node) || st.removing.count(node))
    return;
  auto removals = st.handoffs->removals_for(node);
  if (removals.empty())
    return;
  st.removing.insert(node);
  self->request(st.nodes.at(node).handle, removal_timeout, apply_removals{removals})
    .then(
      [self, node, removals](removals_applied& a) {
        auto& st = self->state;
        st.removing.erase(node);
        if (!a.ok) {
          spdlog::warn("{}: {} could not apply {} delete(s): {}", st.cfg.name, node, removals.size(), a.error);
          return;
        }
        for (const auto& r : removals)
          st.handoffs->remove_removal(r, node);
        for (const auto& m : a.removed)
          st.images.remove_replica(m.repository, m.digest, node);
        spdlog::info("{}: {} applied {} delete(s)", st.cfg.name, node, removals.size());
        if (auto held = st.awaiting_removals.extract(node)) {
          std::erase_if(held.mapped(), [&](const inventory_item& item) {
            return std::any_of(a.removed.begin(), a.removed.end(), [&](const inventory_item& m) {
              return m.repository == item.repository && m.digest == item.digest;
            });
          });
          count_inventory(self, node, std::move(held.mapped()));
          send_removals(self, node); // copies of deleted images it counted: removed again
        }
      },
      [self, node](caf::error&) { self->state.removing.erase(node); });
}

void forget_removed_nodes(master_actor* self) {
  auto& st = self->state;
  if (st.cfg.directory.empty())
    return;
  std::set<std::string> gone;
  for (const auto& r : st.handoffs->removals())
    if (!st.cfg.directory.count(r.node))
      gone.insert(r.node);
  for (const auto& node : gone) {
    for (const auto& [repository, digest] : st.handoffs->drop_removals_of(node))
      st.images.keep_mark(repository, digest);
    spdlog::info("{}: {} is no longer in the cluster file: its deletes still to apply are dropped", st.cfg.name, node);
  }
}

void send_all_removals(master_actor* self) {
  std::set<std::string> nodes;
  for (const auto& r : self->state.handoffs->removals())
    nodes.insert(r.node);
  for (const auto& node : nodes)
    send_removals(self, node);
}

std::vector<inventory_item> without_removed(master_actor* self, const std::string& node,
                                            std::vector<inventory_item> inventory) {
  auto removals = self->state.handoffs->removals_for(node);
  std::erase_if(inventory, [&](const inventory_item& item) { return any_covers(removals, item, true); });
  for (auto& item : inventory)
    if (any_covers(removals, item, false)) { // still held, by digest
      item.tag.clear();
      item.seq = 0;
    }
  return inventory;
}

bool stored_after_delete(master_actor* self, const image_stored& s) {
  auto& st = self->state;
  if (!st.images.removed(s.item.repository, s.item.digest))
    return false;
  // A replication or delivery that was under way when the image was
  // deleted: the node removes it again.
  spdlog::info("{}: {} stored {}@{} after it was deleted: removing it there", st.cfg.name, s.node,
               s.item.repository, s.item.digest);
  try {
    st.handoffs->add_removals({{s.item.repository, {}, s.item.digest, s.item.seq, s.node}});
  } catch (const std::exception& e) { // its next join reports it again, and the mark must be there then
    spdlog::warn("{}: could not record it: {}", st.cfg.name, e.what());
    st.images.keep_mark(s.item.repository, s.item.digest);
  }
  send_removals(self, s.node);
  return true;
}

void drop_old_delete_marks(master_actor* self) {
  auto& st = self->state;
  // Without a cluster file a node nobody has heard of yet may still join
  // with a copy, and no removal record covers it: the marks stay.
  auto now = self->clock().now();
  if (st.cfg.directory.empty() || now - st.marks_checked < std::chrono::minutes(1))
    return;
  // A data manager that is down may hold a copy it stored after it removed
  // the image, unreported: its join must still find the mark.
  for (const auto& [name, k] : st.cfg.directory)
    if (k.role == "data" && !is_up_data(self, name))
      return;
  st.marks_checked = now;
  auto lifetime = std::max<caf::timespan>(st.cfg.delete_mark_lifetime, 2 * st.cfg.transfer_timeout);
  auto old = st.images.marks_before(now - lifetime);
  if (old.empty())
    return;
  std::set<std::pair<std::string, std::string>> owed; // manifests some node has yet to remove
  for (const auto& r : st.handoffs->removals())
    if (r.tag.empty())
      owed.emplace(r.repository, r.digest);
  std::size_t dropped = 0;
  for (const auto& [repository, digest] : old) {
    if (owed.count({repository, digest}))
      continue;
    try {
      st.handoffs->forget_manifest_removals(repository, digest);
    } catch (const std::exception& e) { // the next tick tries again
      spdlog::warn("{}: could not drop the mark of the deleted {}@{}: {}", st.cfg.name, repository, digest, e.what());
      continue;
    }
    st.images.revive(repository, digest);
    ++dropped;
  }
  if (dropped > 0)
    spdlog::info("{}: dropped the marks of {} image(s) deleted long ago and removed everywhere", st.cfg.name,
                 dropped);
}

void pushed_again(master_actor* self, const std::string& repository, const std::string& digest) {
  auto& st = self->state;
  if (digest.empty())
    return;
  st.images.revive(repository, digest);
  try {
    st.handoffs->forget_manifest_removals(repository, digest);
  } catch (const std::exception& e) { // a node still missing the delete removes its old copy; the push delivers it
    spdlog::warn("{}: could not clear the deletes of {}@{}: {}", st.cfg.name, repository, digest, e.what());
  }
}

} // namespace stowage::actors::detail
