// The image transfers an actor has started and what to do when each ends.
// The data plane reports completion on any thread; the actor receives it as a
// transfer_done message to itself, so the continuation runs in the actor.
// The actor can watch the nodes it transfers with: when the link to one
// breaks (a dead or hung process, noticed by the middleman's heartbeat), it
// gives up on the transfers with it at once instead of waiting for the data
// plane's timeouts.
#pragma once

#include "actors/data_plane.hpp"
#include "actors/protocol.hpp"

#include <caf/actor_addr.hpp>
#include <caf/actor_cast.hpp>
#include <caf/send.hpp>
#include <caf/system_messages.hpp>

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace stowage::actors {

class transfer_book {
public:
  using then_fn = std::function<void(const transfer_done&)>;

  template <class Self>
  void start(Self* self, image_transfer& transfer, transfer_order order, then_fn then) {
    auto id = next_++;
    pending_[id] = {std::move(then), {order.from, order.to}};
    auto me = caf::actor_cast<caf::actor>(self);
    transfer.copy(std::move(order), [me, id](transfer_result r) {
      caf::send_as(me, me,
                   transfer_done{id, r.ok, std::move(r.error), r.status, r.bytes, r.dropped_damaged,
                                 std::move(r.mismatched_blob)});
    });
  }

  /// Runs the continuation of a finished transfer (once; unknown ids are ignored).
  void finish(const transfer_done& d) {
    auto i = pending_.find(d.id);
    if (i == pending_.end())
      return;
    auto then = std::move(i->second.then);
    pending_.erase(i);
    then(d);
  }

  /// Monitors `handle`, the actor of node `name` (once per actor).
  template <class Self>
  void watch(Self* self, const std::string& name, const caf::actor& handle) {
    if (handle && watched_.emplace(handle.address(), name).second)
      self->monitor(handle);
  }

  /// True while `who` is watched: from watch() until its link breaks.
  bool watching(const caf::actor_addr& who) const { return watched_.count(who) > 0; }

  /// The actor of node `name` while it is watched; invalid otherwise.
  caf::actor handle_of(const std::string& name) const {
    for (const auto& [addr, n] : watched_)
      if (n == name)
        return caf::actor_cast<caf::actor>(addr);
    return {};
  }

  /// For the actor's down handler: if `dm` is about a watched node, ends the
  /// transfers with it now (abandon), has the data plane cut them
  /// (give_up), and returns the node's name.
  std::optional<std::string> lost(const caf::down_msg& dm, image_transfer& transfer) {
    auto i = watched_.find(dm.source);
    if (i == watched_.end())
      return std::nullopt;
    auto name = i->second;
    give_up(name, transfer, "lost the link to " + name);
    return name;
  }

  /// Ends the transfers with node `name` now, as failed with `why`, has the
  /// data plane cut them, and stops watching it (the master said it is
  /// down: its next actor, once it joins again, is watched afresh).
  void give_up(const std::string& name, image_transfer& transfer, const std::string& why) {
    std::erase_if(watched_, [&](const auto& w) { return w.second == name; });
    abandon(name, why);
    transfer.give_up(name);
  }

private:
  /// Ends every transfer to or from `node` as failed with `why`, now; their
  /// real ends, whenever they come, are ignored.
  void abandon(const std::string& node, const std::string& why) {
    std::vector<std::uint64_t> ids;
    for (const auto& [id, t] : pending_)
      if (t.ends[0] == node || t.ends[1] == node)
        ids.push_back(id);
    for (auto id : ids)
      finish(transfer_done{id, false, why, 0, 0});
  }

  struct transfer {
    then_fn then;
    std::array<std::string, 2> ends; // from, to
  };
  std::map<std::uint64_t, transfer> pending_;
  std::map<caf::actor_addr, std::string> watched_; // monitored actor -> its node
  std::uint64_t next_ = 1;
};

} // namespace stowage::actors
