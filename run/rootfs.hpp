// A container's root filesystem, stacked from cached layers.
//
// First choice: an overlayfs mount (cached layers as read-only lowers, the
// container's writes in its own upper directory) — instant, and the cache is
// shared. If the mount fails (no overlay support, not root, the option string
// too long for many layers, a path with ',' or ':'), the layers are merged
// into a plain COPY, bottom to top, applying whiteouts and opaque directories
// as they go. A copy, not a hard-link tree: a container writing into a
// hard-linked file would change the shared cache.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace stowage::run {

enum class rootfs_kind { overlay, copy };

struct rootfs_result {
  std::string error; // empty on success
  rootfs_kind kind = rootfs_kind::copy;
};

/// Builds `container_dir`/rootfs from `layers` (bottom first). With overlay,
/// also uses `container_dir`/upper and /work.
rootfs_result assemble_rootfs(const std::vector<std::filesystem::path>& layers,
                              const std::filesystem::path& container_dir, bool try_overlay = true);

/// Merges one lower-form layer onto `target` (the copy path): char 0:0
/// devices delete, opaque directories drop what lower layers put there.
std::string merge_layer(const std::filesystem::path& layer, const std::filesystem::path& target);

/// Unmounts `container_dir`/rootfs if it is an overlay mount; true if it was.
bool release_rootfs(const std::filesystem::path& container_dir);

} // namespace stowage::run
