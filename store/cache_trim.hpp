// Keeping a runtime's image cache within a size bound: the images used least
// recently go first. "Used" is a file's modification time, which the gateway
// refreshes (touch_blob) when a pull ends and whenever it serves a manifest
// or a blob, so the order survives restarts without a table of its own.
#pragma once

#include "oci/digest.hpp"
#include "store/registry_store.hpp"

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace stowage::store {

struct cache_bound {
  std::uint64_t max_bytes = 0;        // 0: no bound
  std::chrono::seconds min_idle{600}; // an image used more recently is never removed
};

struct trim_result {
  std::uint64_t used_before = 0, used_after = 0;
  std::vector<std::string> removed; // "repo@digest", least recently used first
};

/// Marks a blob (a manifest is one too) as used now. Errors are ignored.
void touch_blob(const registry_store& s, const oci::digest& d) noexcept;
/// The same, given the blob's file.
void mark_used(const std::filesystem::path& blob_file) noexcept;

/// When the store is over `b.max_bytes`: unlinks the blobs no manifest names,
/// then removes whole images (a manifest with what only it needs,
/// store::remove_image), least recently used first, until the store uses at
/// most 90% of `b.max_bytes`. Images and blobs used within `b.min_idle` stay: a pull
/// reads its blobs after its manifest, a push may reference a blob the
/// cache already had. So the store can stay above its bound while all it
/// holds is in use.
trim_result trim_cache(registry_store& s, const cache_bound& b);

} // namespace stowage::store
