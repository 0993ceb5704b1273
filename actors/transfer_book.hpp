// The image transfers an actor has started and what to do when each ends.
// The data plane reports completion on any thread; the actor receives it as a
// transfer_done message to itself, so the continuation runs in the actor.
// An actor that learns the other end is gone (its link broke) gives up on
// its transfers at once instead of waiting for the data plane's timeouts.
#pragma once

#include "actors/data_plane.hpp"
#include "actors/protocol.hpp"

#include <caf/actor_cast.hpp>
#include <caf/send.hpp>

#include <array>
#include <cstdint>
#include <functional>
#include <map>
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
      caf::send_as(me, me, transfer_done{id, r.ok, std::move(r.error), r.status, r.bytes});
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

private:
  struct transfer {
    then_fn then;
    std::array<std::string, 2> ends; // from, to
  };
  std::map<std::uint64_t, transfer> pending_;
  std::uint64_t next_ = 1;
};

} // namespace stowage::actors
