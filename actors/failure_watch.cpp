#include "actors/failure_watch.hpp"

#include <caf/abstract_actor.hpp>
#include <caf/actor.hpp>
#include <caf/exit_reason.hpp>

namespace stowage::actors {

void on_failure(const caf::actor& actor, std::function<void(const std::string& reason)> failed) {
  actor->attach_functor([failed = std::move(failed)](const caf::error& reason) {
    if (!reason || reason == caf::exit_reason::user_shutdown || reason == caf::exit_reason::normal)
      return;
    failed(caf::to_string(reason));
  });
}

} // namespace stowage::actors
