// Unpacked layers, keyed by diff ID (the digest of the uncompressed tar, from
// the image config's rootfs.diff_ids), shared read-only by every container on
// this node. A layer enters the cache only after its tar hashed to the diff ID
// the config promised; it is unpacked in a private temporary directory and
// renamed into place, so a half-unpacked layer is never visible and two
// processes adding the same layer both end with the same complete copy.
#pragma once

#include "oci/digest.hpp"

#include <filesystem>
#include <string>

namespace stowage::run {

class layer_cache {
public:
  /// `root` holds layers/<algo>/<hex>/ and tmp/.
  explicit layer_cache(std::filesystem::path root);

  bool has(const oci::digest& diff_id) const;
  /// The unpacked tree (overlay lower-layer form, see layer_unpack.hpp).
  std::filesystem::path path_of(const oci::digest& diff_id) const;

  /// Unpacks `blob` and keeps it under `diff_id`. Returns an empty string on
  /// success, else a one-line error (hostile entry, corrupt stream, or a tar
  /// whose digest is not `diff_id`); nothing is kept on error.
  std::string add(const std::filesystem::path& blob, const oci::digest& diff_id);

  /// Removes temporary trees left by processes that died mid-unpack (their
  /// pid is in the name); trees of live processes are left alone. Returns
  /// how many were removed. add() calls it, and so does every run.
  std::size_t sweep_stale();

private:
  std::filesystem::path root_;
};

} // namespace stowage::run
