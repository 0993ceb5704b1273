// Unpacks one OCI image layer (a tar, plain or gzip- or zstd-compressed) into
// a directory of its own, in the form overlayfs reads as a lower layer:
//   - ".wh.<name>"      becomes a character device 0:0 named <name> (a whiteout),
//   - ".wh..wh..opq"    becomes the xattr trusted.overlay.opaque="y" on its directory.
// Every layer lands in its own directory so the cache can share it between
// containers; rootfs.hpp stacks them (overlay mount, or a merged copy).
//
// Hostile tars are refused as a whole: an entry with a ".." component, an
// absolute path, a write or hard link through a symlink, or an overlay xattr
// smuggled in the tar fails the layer with a one-line error. Nothing is
// written outside the target directory.
#pragma once

#include "oci/digest.hpp"

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string_view>
#include <string>

namespace stowage::run {

struct unpack_result {
  std::string error;           // one line; empty on success
  oci::digest diff_id;         // SHA-256 of the uncompressed tar stream
  std::uint64_t tar_bytes = 0; // size of the uncompressed tar stream
  std::uint64_t entries = 0;
  bool ok() const { return error.empty(); }
};

/// Whether a manifest's layer `media_type` is a container filesystem layer
/// (OCI or Docker tar, plain, gzip or zstd, distributable or not): only
/// those are unpacked, whatever format libarchive would recognise.
bool is_filesystem_layer(std::string_view media_type);

/// Free space an unpack leaves on `dir`'s file system at least: 5% of it,
/// and 1 GiB at least. A layer is not capped by size (images legitimately
/// ship many GiB), but one that would fill the disk (a compression bomb) is
/// refused.
std::uint64_t default_keep_free(const std::filesystem::path& dir);
/// Bytes free for this process on `dir`'s file system (the maximum when that
/// cannot be told: no guard then).
std::uint64_t free_bytes(const std::filesystem::path& dir);

/// Unpacks `blob` into `dir` (created if missing; should be empty). On
/// failure `dir` may hold a partial tree: the caller removes it. Owners,
/// modes, times and xattrs are restored (owners need root). Thread-safe: no
/// chdir, every path is absolute under `dir`'s canonical form. Refused once
/// less than `keep_free` bytes stay free (checked every 64 MiB written;
/// empty: default_keep_free).
unpack_result unpack_layer(const std::filesystem::path& blob, const std::filesystem::path& dir,
                           std::optional<std::uint64_t> keep_free = {});

/// The overlay whiteout conventions, shared with rootfs.cpp.
inline constexpr const char* opaque_xattr = "trusted.overlay.opaque";
bool is_whiteout_device(const std::filesystem::path& p);

} // namespace stowage::run
