// Manifest and index documents: just enough structure to validate a PUT,
// find the blobs and child manifests it references, and answer the referrers
// API. The stored bytes are always the client's bytes, never re-serialized.
#pragma once

#include "oci/digest.hpp"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace stowage::oci {

struct descriptor {
  std::string media_type;
  digest dig;
  std::uint64_t size = 0;
  std::string artifact_type;                       // optional
  std::map<std::string, std::string> annotations;  // optional
  std::string platform_os, platform_arch;          // from index entries, optional
};

struct manifest {
  std::string media_type;    // from the body's mediaType, else the Content-Type
  bool is_index = false;     // OCI index or Docker manifest list
  std::optional<descriptor> config;   // image manifests
  std::vector<descriptor> layers;     // image manifests ("blobs" of artifacts too)
  std::vector<descriptor> manifests;  // indexes
  std::optional<descriptor> subject;  // referrers
  std::string artifact_type;          // top-level artifactType, if any
  std::map<std::string, std::string> annotations;

  /// The artifactType the referrers API reports: artifactType, else the
  /// config's media type (image manifests), else empty.
  std::string effective_artifact_type() const;
  /// The blobs an image manifest names: its config, then its layers.
  std::vector<descriptor> blobs() const;
};

/// Layers clients never push (foreign / non-distributable) may be absent
/// from a registry that holds the image.
bool optional_layer(const descriptor& d);

struct manifest_error {
  std::string message; // for the OCI error body's "message"
};

/// Parses and validates a manifest body. `content_type` is the request's
/// Content-Type (may be empty). Fails (MANIFEST_INVALID) on non-JSON, missing
/// or malformed fields, a mediaType that disagrees with content_type, unknown
/// schema versions, or invalid descriptor digests.
struct manifest_parse_result {
  std::optional<manifest> value;
  manifest_error error;
};
manifest_parse_result parse_manifest(std::string_view body, std::string_view content_type);

/// The media type of a Content-Type or Accept entry without parameters,
/// trimmed and lower-cased: "Application/JSON; charset=utf-8" -> "application/json".
std::string media_type_essence(std::string_view content_type);

/// True for the manifest media types the registry accepts on PUT (exact
/// match; pass a header value through media_type_essence first).
bool is_manifest_media_type(std::string_view mt);

} // namespace stowage::oci
