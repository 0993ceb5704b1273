// Internal: how a data manager or runtime joins its master. With an identity
// the join is the signed handshake of protocol.hpp (challenge, then a signed
// join_request), and the node trusts the master's process only after the
// master's signature over its nonce checked out against the cluster file's
// master_public_key.
#pragma once

#include "actors/protocol.hpp"
#include "config/identity.hpp"

#include <caf/fwd.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <string>

namespace stowage::actors {

class link_membership;

struct join_params {
  caf::actor master;
  join_request request;
  std::optional<config::identity> identity;    // empty: unsigned join (tests)
  std::string master_public_key;               // hex; checked when signing
  std::shared_ptr<link_membership> links;      // the node's link guard, if any
  std::chrono::milliseconds timeout{10000};
  std::uint64_t link = 0; // the actor's count of links to the master: a failed join retries for it
};

void join_master(caf::event_based_actor* self, join_params p);

/// A data manager's or runtime's connect_master, applied to its `master`
/// and its count of `links` to it; true if it should join now. A retry
/// joins again only for the current link and never changes `master`; a new
/// link becomes the master, counted (`guard`, if any, trusts a master of
/// another process only once it proves its key).
bool take_master(const connect_master& c, caf::actor& master, std::uint64_t& links, link_membership* guard);

} // namespace stowage::actors
