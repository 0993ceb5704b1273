// actors::image_transfer over HTTP (DESIGN §3, "Transfer paths"): image data
// between two nodes goes straight from one node's OCI endpoint to the other,
// never through the master or the middleman. The node executing an order is
// one of its ends:
//  - order.to == self: pull from `from`'s OCI endpoint (GET manifests, then
//    blobs streamed into the local store's upload sessions, every digest
//    verified; blobs already present are skipped), then store the manifest
//    with order.tag / order.seq. Reads are open, so no signature is sent.
//    (Replication, deliveries from the master's spool.)
//  - order.from == self: push from the local store to `to`'s OCI endpoint:
//    children of an index first, then per manifest HEAD each blob, POST+PUT
//    the missing ones streamed from disk, the manifest PUT last (by
//    order.tag if set, else by digest). Writes carry
//    `Authorization: Stowage-Proof <order.proof>` when order.proof is set
//    (runtime -> target data manager), else a Stowage-Node signature
//    (config/node_auth.hpp) of this node; with order.seq and a tag, the
//    manifest PUT carries `?seq=N` (signed) so the receiver keeps the master's
//    tag sequence number. (Scheduled pulls into a runtime, handoffs into the
//    master's spool, pushes.) A blob order with a blob_size sends a blob
//    that is still arriving in the local store (a client's upload into a
//    runtime's cache) as it arrives, through options.arriving.
// Memory stays flat whatever the blob size. Each copy runs on a worker thread
// of this object (blocking HTTP client), never on the caller's thread; `done`
// runs once on that worker. Refusals keep their HTTP status (401/403) in
// transfer_result::status.
#pragma once

#include "actors/data_plane.hpp"
#include "config/directory.hpp"
#include "config/identity.hpp"
#include "net/http_types.hpp"
#include "oci/digest.hpp"
#include "store/registry_store.hpp"

#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace stowage::net {

class cancel_token; // registry_client.hpp

/// A blob still arriving in the local store (a client's upload into a
/// runtime's cache), readable while it arrives: net/blob_relay.hpp's open().
using arriving_blobs = std::function<std::optional<streamed_body>(const std::string& repo, const oci::digest& d)>;

struct http_transfer_options {
  unsigned threads = 4; // copies in flight at once; more wait in a queue
  /// Where a blob order with a blob_size (sent while it arrives) reads the
  /// blob when it is not in the store yet; unset: such a blob goes only if
  /// it is in the store already.
  arriving_blobs arriving;
};

class http_image_transfer final : public actors::image_transfer {
public:
  /// `self`: this node's name in `dir`; `id`: its key pair (signs writes);
  /// `local`: its store (the source of pushes, the destination of pulls).
  http_image_transfer(std::string self, std::shared_ptr<const config::directory> dir, config::identity id,
                      std::shared_ptr<store::registry_store> local, http_transfer_options opts = {});
  /// Stops taking orders and waits for the copies in flight.
  ~http_image_transfer() override;

  void copy(actors::transfer_order order, done_fn done) override;
  void give_up(const std::string& node) override;

  /// The same copy, run on the calling thread (tests, tools); `cancel`, if
  /// given, can cut it short from another thread.
  actors::transfer_result copy_now(const actors::transfer_order& order, std::shared_ptr<cancel_token> cancel = {});

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace stowage::net
