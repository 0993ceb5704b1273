// Bringing files and rows back into agreement when a store opens, whatever
// moment a crash (or kill -9, or power loss) interrupted. Runs before any
// other use of the store, single-threaded.
#pragma once

#include <set>
#include <string>

namespace stowage::store {

class blob_files;
class metadata_db;

/// Upload sessions: a row without a file or a file without a row is the
/// remains of an interrupted begin or commit and is removed; bytes past the
/// recorded size (a body that broke off) are cut; a file shorter than
/// recorded (lost in a power cut) lowers the record.
void reconcile_uploads(const blob_files& files, metadata_db& db);

/// Blobs: a file without a row is a commit that stopped between rename and
/// insert (verified but never acknowledged) and is removed, as is anything
/// stray under blobs/. A row whose file is missing or has the wrong size
/// cannot be served: it is purged with the links, manifests and tags that
/// need it, a manifest needing it as its config, a layer or a platform
/// manifest too (and an index needing that manifest, and so on). A node
/// then no longer reports an image it cannot serve, and the cluster
/// delivers it again. A blob deleted by a client (DELETE) does not count:
/// only what this open found damaged.
void reconcile_blobs(const blob_files& files, metadata_db& db);

/// Purges the blobs `damaged` (digests; a file lost, cut, or whose bytes no
/// longer hash to their digest) as reconcile_blobs does: with the links,
/// manifests and tags that need them, in one transaction, then their files.
void drop_damaged_blobs(const blob_files& files, metadata_db& db, const std::set<std::string>& damaged);

} // namespace stowage::store
