// A node's actor that stops by itself has failed: in CAF 0.17 an exception
// thrown in a message handler (a full disk under SQLite, say) ends the actor
// whatever its exception handler returns. The process then has to go, so
// that whoever runs it restarts it (the node's state is on disk), instead of
// serving on without the actor.
#pragma once

#include <caf/fwd.hpp>

#include <functional>
#include <string>

namespace stowage::actors {

/// Calls `failed(reason)` once if `actor` terminates for any reason but a
/// shutdown asked for (exit_reason::user_shutdown or normal). `failed` runs
/// on a CAF thread: it should only log and signal.
void on_failure(const caf::actor& actor, std::function<void(const std::string& reason)> failed);

} // namespace stowage::actors
