// A small blocking client for the OCI Distribution API over plain HTTP/1.1:
// what `stowage run` needs to pull an image from the runtime's endpoint, plus
// monolithic pushes for tests and tools. Blobs stream to disk in 1 MiB reads
// and are verified against their digest on the way (memory stays flat
// whatever the blob size). This header stays free of Beast: only
// registry_client.cpp sees it.
#pragma once

#include "oci/digest.hpp"
#include "oci/manifest.hpp"

#include <cstdint>
#include <filesystem>
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

class registry_client {
public:
  /// `endpoint` is "host:port" (or "host", port 80); "[v6]:port" works too.
  explicit registry_client(std::string endpoint);

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

  /// HEAD /v2/<repo>/blobs/<digest>.
  bool has_blob(std::string_view repo, const oci::digest& dig);

  /// POST then PUT ?digest= with the file's bytes streamed; returns its digest.
  oci::digest push_blob(std::string_view repo, const std::filesystem::path& file);

  /// PUT /v2/<repo>/manifests/<reference>; returns the digest the registry
  /// reported (Docker-Content-Digest) or, failing that, our own.
  oci::digest push_manifest(std::string_view repo, std::string_view reference, std::string_view body,
                            std::string_view media_type);

  const std::string& host() const { return host_; }
  const std::string& port() const { return port_; }

private:
  std::string host_, port_;
};

} // namespace stowage::net
