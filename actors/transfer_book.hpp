// The image transfers an actor has started and what to do when each ends.
// The data plane reports completion on any thread; the actor receives it as a
// transfer_done message to itself, so the continuation runs in the actor.
#pragma once

#include "actors/data_plane.hpp"
#include "actors/protocol.hpp"

#include <caf/actor_cast.hpp>
#include <caf/send.hpp>

#include <cstdint>
#include <functional>
#include <map>

namespace stowage::actors {

class transfer_book {
public:
  using then_fn = std::function<void(const transfer_done&)>;

  template <class Self>
  void start(Self* self, image_transfer& transfer, transfer_order order, then_fn then) {
    auto id = next_++;
    pending_[id] = std::move(then);
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
    auto then = std::move(i->second);
    pending_.erase(i);
    then(d);
  }

private:
  std::map<std::uint64_t, then_fn> pending_;
  std::uint64_t next_ = 1;
};

} // namespace stowage::actors
