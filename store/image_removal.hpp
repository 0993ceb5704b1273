// Removing one image from a store without touching the others: used by the
// master to empty its handoff spool once every owed delivery is made, by a
// runtime to keep its cache within its bound (store/cache_trim.hpp), and by
// every node to apply a cluster's delete (actors/master_removal.cpp).
#pragma once

#include "oci/digest.hpp"
#include "store/registry_store.hpp"

#include <cstdint>
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
/// manifests an index names that no tag and no other manifest of `repo`
/// names, and the blobs (config, layers) nothing kept references. Tags
/// pointing at a removed manifest go with it. Returns false if `repo` does
/// not hold `digest`. Blobs for which `keep_blob` returns true stay linked
/// (a cache keeps those used lately).
bool remove_image(registry_store& s, std::string_view repo, const oci::digest& digest,
                  const std::function<bool(const oci::digest&)>& keep_blob = {});

/// A cluster's delete of `digest`, decided when the tags it removed got
/// sequence numbers up to `seq`: remove_image, unless a tag newer than `seq`
/// names the manifest (the image was pushed again since). False if nothing
/// was removed.
bool remove_image_at(registry_store& s, std::string_view repo, const oci::digest& digest, std::uint64_t seq);

} // namespace stowage::store
