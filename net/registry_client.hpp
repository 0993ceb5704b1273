// A small blocking client for the OCI Distribution API over plain HTTP/1.1:
// what `stowage run` needs to pull an image from the runtime's endpoint, plus
// monolithic pushes for tests and tools. Blobs stream to disk in 1 MiB reads
// and are verified against their digest on the way (memory stays flat
// whatever the blob size). This header stays free of Beast: only
// registry_client.cpp sees it.
#pragma once

#include "oci/digest.hpp"
#include "oci/manifest.hpp"

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace stowage::net {

/// Transport failures, unexpected statuses and digest mismatches. `status` is
/// the HTTP status when there was one (0 otherwise).
struct registry_error : std::runtime_error {
  int status = 0;
  registry_error(const std::string& what, int st = 0) : std::runtime_error(what), status(st) {}
};

struct fetched_manifest {
  std::string body;        // the bytes exactly as served
  std::string media_type;  // Content-Type essence
  oci::digest dig;         // sha256 of body
};

struct image_manifest {
  fetched_manifest raw;  // the image manifest itself (never an index)
  oci::manifest parsed;
};

/// Cuts a client's requests short from another thread, when the other end
/// was found dead or hung: the step under way fails at once (its socket is
/// shut down) and so does every later one.
class cancel_token {
public:
  void cancel();
  bool cancelled() const;
  /// For the client's connections: watch `fd` until remove(id).
  std::uint64_t add(int fd);
  void remove(std::uint64_t id);

private:
  mutable std::mutex mtx_;
  bool cancelled_ = false;
  std::map<std::uint64_t, int> fds_;
  std::uint64_t next_ = 1;
};

class registry_client {
public:
  /// `endpoint` is "host:port" (or "host", port 80); "[v6]:port" works too.
  explicit registry_client(std::string endpoint);

  /// Gives the Authorization header value for a write (POST, PUT, PATCH,
  /// DELETE) about to be sent as `method target` (path and query exactly as
  /// sent); an empty string sends none. Reads carry no Authorization.
  using authorizer = std::function<std::string(std::string_view method, std::string_view target)>;
  void set_authorizer(authorizer a) { authorizer_ = std::move(a); }

  /// How long any one network step (connect, send, each read) may take
  /// before the request is abandoned: a hung peer must not hang the caller.
  void set_timeout(std::chrono::milliseconds step_timeout) { timeout_ = step_timeout; }
  /// Requests made from now on must end by `t` as a whole: each step's
  /// timeout is cut short to it (a test packet is worth nothing after its
  /// round's deadline).
  void set_deadline(std::chrono::steady_clock::time_point t) { deadline_ = t; }
  /// Requests made from now on can be cut short through `t`.
  void set_cancel(std::shared_ptr<cancel_token> t) { cancel_ = std::move(t); }

  /// POST `target` (path and query) with `body` on a fresh connection; returns
  /// the HTTP status (the answer's body is read and dropped). Used for test
  /// packets, which must measure the path rather than a warm socket.
  int post(std::string_view target, std::string body, std::string_view content_type = "application/octet-stream");

  /// Receives a blob's bytes as they stream in.
  using blob_sink = std::function<void(const char* data, std::size_t len)>;

  /// GET /v2/<repo>/manifests/<reference>, accepting OCI and Docker manifests
  /// and indexes. A digest reference is checked against the body.
  fetched_manifest get_manifest(std::string_view repo, std::string_view reference);

  /// The image manifest for `os`/`arch`: an OCI index or Docker manifest
  /// list is resolved to its matching entry. Throws registry_error when the
  /// document is invalid or no entry matches.
  image_manifest get_image_manifest(std::string_view repo, std::string_view reference, std::string_view os,
                                    std::string_view arch);

  /// GET /v2/<repo>/blobs/<digest> into `dest` (via `dest`.part, renamed once
  /// the digest matched). Follows redirects. Returns the byte count. A blob
  /// longer than `max_bytes` (the size its descriptor promised) is cut off
  /// and refused as soon as it overflows.
  std::uint64_t get_blob(std::string_view repo, const oci::digest& dig, const std::filesystem::path& dest,
                         std::uint64_t max_bytes = UINT64_MAX);

  /// GET /v2/<repo>/blobs/<digest> streamed into `sink` in 1 MiB pieces,
  /// hashed on the way; throws registry_error if the bytes do not match the
  /// digest (the sink has seen them: it must not trust them before this
  /// returns). Returns the byte count.
  /// With `sink_verifies` the hashing is left to the sink (a store upload,
  /// whose commit checks the digest): SHA-256 is the largest CPU cost of a
  /// replication, and once is enough.
  std::uint64_t get_blob(std::string_view repo, const oci::digest& dig, const blob_sink& sink,
                         std::uint64_t max_bytes = UINT64_MAX, bool sink_verifies = false);

  /// GET /v2/<repo>/referrers/<subject>[?artifactType=…]: the image index
  /// body the registry answered; an empty index for a repository it does
  /// not know. Throws registry_error on any other failure.
  std::string get_referrers(std::string_view repo, const oci::digest& subject, std::string_view artifact_type);

  /// HEAD /v2/<repo>/blobs/<digest>.
  bool has_blob(std::string_view repo, const oci::digest& dig);

  /// POST then PUT ?digest=`dig` with the file's bytes streamed, for a file
  /// whose digest is already known (a store's blob). Returns the bytes sent.
  std::uint64_t push_blob(std::string_view repo, const oci::digest& dig, const std::filesystem::path& file);

  /// Yields a body's next piece, valid until the next call; throws
  /// registry_error if the body cannot be completed.
  using piece_source = std::function<std::string_view()>;

  /// POST then PUT ?digest=`dig` with Content-Length `size` and the bytes
  /// `next` yields (a blob sent while it still arrives). Returns `size`.
  std::uint64_t push_blob(std::string_view repo, const oci::digest& dig, std::uint64_t size, const piece_source& next);

  /// POST then PUT ?digest= with the file's bytes streamed; returns its digest.
  oci::digest push_blob(std::string_view repo, const std::filesystem::path& file);

  /// PUT /v2/<repo>/manifests/<reference>; returns the digest the registry
  /// reported (Docker-Content-Digest) or, failing that, our own.
  /// `query` (without '?'), if non-empty, is appended to the target.
  oci::digest push_manifest(std::string_view repo, std::string_view reference, std::string_view body,
                            std::string_view media_type, std::string_view query = {});

  const std::string& host() const { return host_; }
  const std::string& port() const { return port_; }

private:
  std::string authorization_for(std::string_view method, std::string_view target) const;

  std::string host_, port_;
  authorizer authorizer_;
  std::chrono::milliseconds timeout_{60000};
  std::optional<std::chrono::steady_clock::time_point> deadline_;
  std::shared_ptr<cancel_token> cancel_;
};

} // namespace stowage::net
