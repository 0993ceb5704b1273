// Copying one image between two registry stores, in process: manifest,
// config and layers, child manifests of an index recursively. Blobs go
// through upload sessions so the receiving store verifies every digest.
// Blocking file and SQLite I/O: call it off the actor scheduler in production.
#pragma once

#include "store/registry_store.hpp"

#include <cstdint>
#include <optional>
#include <string>

namespace stowage::actors {

struct copy_outcome {
  bool ok = false;
  std::string error;
  std::uint64_t bytes = 0; // blob and manifest bytes actually written
};

/// Bytes of the manifest `digest` and everything it references (each blob
/// counted once); nullopt if `from` lacks any part of it or cannot read it.
std::optional<std::uint64_t> image_size(const store::registry_store& from, const std::string& repository,
                                        const std::string& digest);

/// Copies one blob of `repository` (a push sending blobs ahead of its manifest).
copy_outcome copy_one_blob(const store::registry_store& from, store::registry_store& to,
                           const std::string& repository, const std::string& digest);

copy_outcome copy_image(const store::registry_store& from, store::registry_store& to,
                        const std::string& repository, const std::string& digest,
                        const std::string& tag, std::optional<std::uint64_t> seq);

} // namespace stowage::actors
