// A client's blob uploads into the runtime's gateway, followed on to the
// push's target while they arrive (DESIGN §3 push; net/gateway.hpp).
//
// A push through the gateway is paced by the client's upload. Sent to the
// target only once stored in the cache, the last blob would make the client
// wait for a second full transfer after its own. So when a client starts
// uploading a whole blob whose digest is known, the blob goes into the relay
// (net/blob_relay.hpp) and the runtime sends it ahead from there
// (runtime_port::blob_arriving): the target, and its peers behind the
// target's own relay, receive it at the client's pace.
//
// Which digest a PATCH carries is not said before its commit (PUT ?digest=).
// Clients ask for each blob before uploading it (HEAD -> 404), one blob at
// a time (skopeo, podman): so the blob asked for is the one that follows.
// That is taken as the digest only when it is the single one asked for and
// not yet uploaded in that repository within the last minute; with several
// (clients uploading in parallel), nothing is followed. The guess costs
// nothing when wrong: the relay completes a body only from the committed blob
// of that digest, so the target's upload is cut and it stores nothing, and
// the blob goes on once committed (runtime_port::blob_pushed).
//
// What is followed: a PATCH or PUT with Content-Length >= 1 MiB into an
// upload session that is still empty (the whole blob in one request). The
// blob's arrival ends with the session's commit (the PUT ?digest=, in the
// same request or the next one), or not committed with anything else.
#pragma once

#include "actors/ports.hpp"
#include "net/http_types.hpp"
#include "oci/digest.hpp"
#include "store/registry_store.hpp"

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>

namespace stowage::net {

class blob_relay;

class client_uploads {
public:
  using clock = std::chrono::steady_clock;
  /// A follow past its lifetime is given up every `tidy_every` on a thread
  /// of its own, and whenever a client asks for a blob or uploads one: a
  /// client that uploaded a whole blob and went away without its commit
  /// would otherwise keep the blob's readers (a gateway GET of it) waiting.
  client_uploads(std::shared_ptr<store::registry_store> cache, std::shared_ptr<blob_relay> relay,
                 std::shared_ptr<actors::runtime_port> runtime, std::function<clock::time_point()> now,
                 std::chrono::milliseconds tidy_every = std::chrono::minutes(1));
  ~client_uploads();

  /// Someone asked for blob `d` of `repo` and the cache lacks it.
  void missing(const std::string& repo, const oci::digest& d);
  /// Blob `d` of `repo` comes into the cache otherwise (a data manager
  /// delivering a pull asks first too): no client is about to upload it.
  void delivered(const std::string& repo, const oci::digest& d);

  /// A client's request into upload session `id` of `repo`, with its body
  /// `upload` (the store's handler): returned as is, or wrapped so that the
  /// blob is followed while it arrives.
  std::unique_ptr<body_handler> follow(const request& req, const std::string& repo, const std::string& id,
                                       std::unique_ptr<body_handler> upload);

  /// The answer to a client's request into upload session `id` (any
  /// method): ends a followed blob's arrival when the session commits or
  /// is abandoned.
  void answered(const request& req, const std::string& repo, const std::string& id, const response& r);

  /// Smallest blob followed: below it, sending after the commit costs as
  /// little and nothing is guessed.
  static constexpr std::uint64_t min_size = 1 << 20;

private:
  struct state;
  std::shared_ptr<state> st_;
  std::thread ticker_; // last: started once st_ exists; gives up stale follows
};

} // namespace stowage::net
