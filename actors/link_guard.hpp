// Link authentication on the middleman (DESIGN §4): a process that is not in
// the cluster cannot get a message acted on. The master admits a node only
// after a signed join (join_challenge / join_request, keys from the cluster
// file) and then tells every member which CAF nodes (processes) have joined
// (`roster`). Each actor of a real cluster runs behind a link guard that
// acts only on messages whose sender lives in its own process, in the
// master's process (once the master proved its key during the join) or in a
// process on the master's roster; anything else is answered with an error
// and logged. Anonymous messages are refused too: the actors send their
// internal completions with themselves as the sender.
//
// Beneath it, every middleman link is mutual TLS with the cluster file's keys
// (config/cluster_tls.hpp), so only processes holding a node's key can send
// at all: CAF's BASP lets a sender name any node as a message's source, and
// this guard trusts that name.
#pragma once

#include <caf/behavior.hpp>
#include <caf/fwd.hpp>
#include <caf/node_id.hpp>

#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

namespace stowage::actors {

/// The CAF nodes one process accepts messages from. Thread-safe.
class link_membership {
public:
  /// The master's process, once its signature over our challenge checked out.
  void set_master(const caf::node_id& master);
  void clear_master();
  /// The master's roster (replaces the previous one).
  void set_members(const std::vector<caf::node_id>& members);
  bool is_master(const caf::node_id& n) const;
  /// True for the master's process and the roster's members.
  bool allows(const caf::node_id& n) const;

private:
  mutable std::mutex mtx_;
  caf::node_id master_;
  std::set<caf::node_id> members_;
};

/// Wraps `inner` so it only sees messages `links` allows (or from this
/// process). `open` names messages anyone may send (the master's join
/// handshake). `roster` messages from the master's process update `links`.
/// With or without `links`, an error message that answers no request (a
/// guard refusing a message sent before its sender was on the roster, a
/// node dropping what it does not expect) is logged and the actor goes on:
/// CAF 0.17's default ends the actor, and with it the process.
caf::behavior guard_links(caf::scheduled_actor* self, std::string name, std::shared_ptr<link_membership> links,
                          caf::behavior inner, std::function<bool(const caf::type_erased_tuple&)> open = {});

} // namespace stowage::actors
