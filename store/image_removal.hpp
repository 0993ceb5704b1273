// Removing one image from a store without touching the others: used by the
// master to empty its handoff spool once every owed delivery is made.
#pragma once

#include "oci/digest.hpp"
#include "store/registry_store.hpp"

#include <string_view>

namespace stowage::store {

/// Removes the manifest `digest` from `repo` with what only it needs: the
/// manifests an index names and the blobs (config, layers) that no other
/// manifest of `repo` references. Tags pointing at a removed manifest go
/// with it. Returns false if `repo` does not hold `digest`.
bool remove_image(registry_store& s, std::string_view repo, const oci::digest& digest);

} // namespace stowage::store
