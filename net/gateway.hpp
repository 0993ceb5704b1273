// The runtime's gateway (DESIGN §2 runtime, §3): the OCI Distribution API that
// container engines on the host (skopeo, podman, ctr) talk to as to any
// registry, over the runtime's local store (its image cache).
//  - GET/HEAD of a manifest by a digest the cache holds: served from the cache.
//    By tag (tags move), unless the same tag was resolved within
//    `tag_reuse` (engines send HEAD then GET: one probe round, one decision
//    per pull), or by a digest the cache lacks: the runtime
//    pulls through the cluster (runtime_port::pull: probe round, the chosen
//    data manager sends the image into this very endpoint with a Stowage-Node
//    signature). As soon as the master's plan names the manifest, it is
//    fetched from the chosen data manager (digest checked) and answered;
//    the client's blob GETs then follow the delivery as it arrives
//    (net/blob_relay.hpp). An index, or a plan that cannot be used, is
//    answered from the cache once the pull ended. 404 MANIFEST_UNKNOWN if
//    the cluster does not know it, 503 UNAVAILABLE... as an OCI error if the
//    pull failed. A tags list and `/v2/_catalog`: the cluster's (the
//    master's catalog), paged as usual; 503 if the master cannot be reached. Referrers: the union of
//    the data managers' lists (503 if none answered). Blobs: from the cache.
//    A GET of a blob the cache lacks and no pull is bringing (a download
//    resumed after the cache was emptied, a tool that fetches by digest)
//    pulls that one blob through the cluster (runtime_port::pull_blob: the
//    same probe round, over the data managers holding any image of the
//    repository), served once it landed; 404 BLOB_UNKNOWN if none has it.
//    A HEAD says what the cache holds (clients about to push ask it), and a
//    blob a client deleted here stays deleted here.
//  - Pushes from the engines on its host (open when `open_local_pushes`): blobs and the
//    manifest are collected into the cache as they arrive (a manifest naming
//    blobs still on their way, brought by a pull or uploaded by another
//    client, is taken once they landed), each blob going on
//    to the push's target meanwhile (net/client_uploads.hpp); after the manifest
//    is stored, runtime_port::push runs the push flow, and the client's PUT is
//    answered 201 only once push_done is ok (>= min_copies durable), else an
//    OCI error (503 with the reason).
//  - DELETE of a manifest (by tag: the tag; by digest: the image) deletes it
//    from the cluster (runtime_port::remove), then from the cache; 202 once
//    the master recorded it for every data manager. A blob DELETE, like a
//    blob a client uploads, concerns the cache only (the cluster stores
//    images, and removes their blobs with them).
//  - Writes signed by data managers (scheduled pulls delivering an image) go
//    into the cache and are acknowledged at once (they start no push).
//  - POST /stowage/v1/probe: test packets (net/probe_receiver.hpp) -> `sink`.
#pragma once

#include "actors/ports.hpp"
#include "config/directory.hpp"
#include "net/http_types.hpp"
#include "store/registry_store.hpp"

#include <chrono>
#include <functional>
#include <memory>

namespace stowage::net {

class blob_relay;

struct gateway_options {
  /// Accept unsigned pushes and deletes from container engines on this host
  /// (request::from_this_host); other clients get 403 DENIED.
  bool open_local_pushes = true;
  /// How long a tag resolved by a pull is served again without asking the
  /// cluster; 0: every GET/HEAD by tag asks.
  std::chrono::milliseconds tag_reuse{2000};
  /// The clock for tag_reuse and for client uploads (tests replace it).
  std::function<std::chrono::steady_clock::time_point()> now = [] { return std::chrono::steady_clock::now(); };
  /// How often client uploads look for abandoned ones (client_uploads::tidy).
  std::chrono::milliseconds tidy_every{std::chrono::minutes(1)};
  /// Mark each image pulled, and each manifest and blob served from the
  /// cache, as used now (store::touch_blob), for a cache kept within a bound
  /// (store/cache_trim.hpp).
  bool track_use = false;
  /// Blobs arriving in the cache; shared with the runtime's image transfer,
  /// which sends a client's blobs on while they arrive. Made here if null.
  std::shared_ptr<blob_relay> relay;
};

class gateway final : public http_handler {
public:
  gateway(std::shared_ptr<store::registry_store> cache, std::shared_ptr<actors::runtime_port> runtime,
          std::shared_ptr<const config::directory> dir, actors::packet_sink sink, gateway_options opts = {});
  ~gateway() override;
  route_result route(const request& req) override;
  /// An OCI error body (UNSUPPORTED), as for any other request it refuses.
  response malformed(std::string_view why) const override;

private:
  route_result route_request(const request& req);
  struct impl;
  std::shared_ptr<impl> impl_; // shared with pulls still in flight
};

} // namespace stowage::net
