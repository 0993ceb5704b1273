// A data manager's OCI endpoint in a cluster: the registry API, and the
// blobs of a push relayed to the target's peers while they arrive.
//
// A runtime sends each blob of a push to the target in one PUT with its
// digest (monolithic upload, a first proof as Authorization). As such an
// upload starts, the target says so (`on_arriving`: the data manager's
// actor then tells the session's peers to fetch the blob, replicate_blob),
// and the peers' GETs of that blob are served from the upload's file as the
// store writes it (blob_relay). Replication then runs alongside the
// runtime's upload instead of after it; at the manifest PUT only the last
// pieces are left.
//
// Everything else goes to the registry API unchanged. A GET with a Range,
// or of a blob not arriving, is the API's answer.
#pragma once

#include "net/http_types.hpp"
#include "store/registry_store.hpp"

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

namespace stowage::net {

class blob_relay;
class registry_api;

/// A blob of an admitted push session whose upload to this node just started.
struct arriving_blob {
  std::string session;
  std::string repository;
  std::string digest;
  std::uint64_t size = 0;
};

class push_relay final : public http_handler {
public:
  push_relay(std::shared_ptr<store::registry_store> store, std::shared_ptr<registry_api> api);
  ~push_relay() override;

  /// Called (on an HTTP thread) as each such upload starts, once the gate let
  /// it in and before its first byte is stored. Settable at any time.
  void on_arriving(std::function<void(const arriving_blob&)> fn);

  route_result route(const request& req) override;
  response malformed(std::string_view why) const override;

private:
  std::shared_ptr<store::registry_store> store_;
  std::shared_ptr<registry_api> api_;
  std::shared_ptr<blob_relay> relay_;
  std::mutex mu_;
  std::function<void(const arriving_blob&)> arriving_;
};

} // namespace stowage::net
