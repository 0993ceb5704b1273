// Removing one image from a store without touching the others: used by the
// master to empty its handoff spool once every owed delivery is made, and by
// a runtime to keep its cache within its bound (store/cache_trim.hpp).
#pragma once

#include "oci/digest.hpp"
#include "store/registry_store.hpp"

#include <functional>
#include <string_view>

namespace stowage::store {

/// Removes the manifest `digest` from `repo` with what only it needs: the
/// manifests an index names and the blobs (config, layers) that no other
/// manifest of `repo` references. Tags pointing at a removed manifest go
/// with it. Returns false if `repo` does not hold `digest`. Blobs for which
/// `keep_blob` returns true stay linked (a cache keeps those used lately).
bool remove_image(registry_store& s, std::string_view repo, const oci::digest& digest,
                  const std::function<bool(const oci::digest&)>& keep_blob = {});

} // namespace stowage::store
