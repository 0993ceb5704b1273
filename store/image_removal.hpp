// Removing one image from a store without touching the others: used by the
// master to empty its handoff spool once every owed delivery is made, and by
// a runtime to keep its cache within its bound (store/cache_trim.hpp).
#pragma once

#include "oci/digest.hpp"
#include "store/registry_store.hpp"

#include <functional>
#include <set>
#include <string>
#include <string_view>

namespace stowage::store {

/// The manifests and blobs (config, layers) an image consists of, as digest
/// strings; an index with its children.
struct image_parts {
  std::set<std::string> manifests;
  std::set<std::string> blobs;
};
image_parts parts_of(const registry_store& s, std::string_view repo, const oci::digest& digest);

/// Removes the manifest `digest` from `repo` with what only it needs: the
/// manifests an index names and the blobs (config, layers) that no other
/// manifest of `repo` references. Tags pointing at a removed manifest go
/// with it. Returns false if `repo` does not hold `digest`. Blobs for which
/// `keep_blob` returns true stay linked (a cache keeps those used lately).
bool remove_image(registry_store& s, std::string_view repo, const oci::digest& digest,
                  const std::function<bool(const oci::digest&)>& keep_blob = {});

} // namespace stowage::store
