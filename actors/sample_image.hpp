// Builds a small, valid OCI image (config + one layer of pseudo-random
// bytes) directly in a registry store: for demos, benchmarks and tests.
// CAF-free.
#pragma once

#include "store/registry_store.hpp"

#include <cstdint>
#include <optional>
#include <string>

namespace stowage::actors {

/// Stores the image under repository[:tag] (tag may be empty) with sequence
/// number `seq`; the same (layer_bytes, seed) always gives the same digest.
/// Returns the manifest digest ("sha256:…"). Throws std::runtime_error.
std::string store_sample_image(store::registry_store& s, const std::string& repository, const std::string& tag,
                               std::size_t layer_bytes, unsigned seed, std::optional<std::uint64_t> seq = 1);

} // namespace stowage::actors
