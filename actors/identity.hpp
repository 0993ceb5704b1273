// Node identity: one Ed25519 key pair per node, generated into the node's data
// directory on first start and reused afterwards. Pure libsodium, no CAF.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace stowage::actors {

using public_key = std::array<std::uint8_t, 32>;
using secret_key = std::array<std::uint8_t, 64>;

struct node_identity {
  public_key pk{};
  secret_key sk{};
  std::string public_hex() const;
};

/// Reads `dir`/identity.key, or creates it (mode 0600) with a fresh key pair.
/// Throws std::runtime_error if the file is unreadable or malformed.
node_identity load_or_create_identity(const std::filesystem::path& dir);
/// A fresh key pair that lives only in memory.
node_identity generate_identity();

std::string to_hex(const std::uint8_t* data, std::size_t len);
/// Lower- or upper-case hex to bytes; nullopt on odd length or a non-hex digit.
std::optional<std::string> from_hex(std::string_view hex);
std::optional<public_key> public_key_from_hex(std::string_view hex);

/// Initialises libsodium once; throws if it cannot.
void ensure_sodium();

} // namespace stowage::actors
