// A node's side of a cluster delete (protocol.hpp delete_image): the data
// managers and the runtimes' caches apply the master's removals with this.
#pragma once

#include "actors/protocol.hpp"
#include "store/registry_store.hpp"

#include <cstddef>
#include <string>
#include <vector>

namespace stowage::actors {

/// How a store takes a removal.
enum class removal_mode {
  /// A data manager's store, where sequence numbers order the cluster's
  /// writes: a tag goes only if its removal is newer, and a manifest only if
  /// no tag newer than its removal names it (store::remove_image_at).
  by_seq,
  /// A runtime's cache, whose own tags carry local sequence numbers: what
  /// the removal names goes, but not the blobs (a registry keeps them after
  /// a manifest DELETE; the cache trim drops them once idle).
  cache,
};

/// Applies `removals` to `s`, tags first; applying them again changes
/// nothing. Returns the manifests removed (an index with its children), as
/// items without tag. Throws what the store throws.
std::vector<inventory_item> apply_removals_to(store::registry_store& s, const std::vector<removal_record>& removals,
                                              removal_mode mode = removal_mode::by_seq);

/// Node `name`'s answer to apply_removals: only its master may send it.
removals_applied answer_removals(const std::string& name, bool from_master, store::registry_store& s,
                                 const apply_removals& a, removal_mode mode);

} // namespace stowage::actors
