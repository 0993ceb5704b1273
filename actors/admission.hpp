// Glue between the data plane's push gate and a data manager's proof_guard.
#pragma once

#include "actors/data_plane.hpp"
#include "actors/proof.hpp"

#include <memory>

namespace stowage::actors {

/// Decodes the first proof and asks `guard` to admit it.
push_admission admit_push(proof_guard& guard, const std::string& encoded_proof,
                          const std::string& repository, const std::string& from_node);
admission_fn guard_admission(std::shared_ptr<proof_guard> guard);

} // namespace stowage::actors
