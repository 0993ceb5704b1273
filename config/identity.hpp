// A node's identity: an Ed25519 key pair kept in its data directory, plus
// the signing, verifying and hex helpers the proof code builds on.
// Backed by libsodium; this header does not include it.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace stowage::config {

using ed25519_public_key = std::array<std::uint8_t, 32>;
using ed25519_signature = std::array<std::uint8_t, 64>;

/// Lower-case hex of `bytes`.
std::string to_hex(std::span<const std::uint8_t> bytes);
/// Bytes of an even-length hex string (either case); nullopt on anything else.
std::optional<std::vector<std::uint8_t>> from_hex(std::string_view hex);
/// A public key from its 64 hex digits; nullopt on any other input.
std::optional<ed25519_public_key> public_key_from_hex(std::string_view hex);
/// `n` bytes from the operating system's CSPRNG (proof secrets, session ids).
std::vector<std::uint8_t> random_bytes(std::size_t n);
/// `n` bytes that look random and compress to nothing: a ChaCha20 stream
/// from a fresh random seed. For test packets, never for secrets. libsodium
/// asks the kernel for 256 bytes per call, so `random_bytes` of a 256 KiB
/// packet took ~1.7 ms here; this takes ~0.13 ms.
std::vector<std::uint8_t> noise_bytes(std::size_t n);

/// Bytes of a string, for signing text without copying it.
inline std::span<const std::uint8_t> as_bytes(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

class identity {
public:
  /// The secret key file inside a node's data directory (mode 0600) and the
  /// public key next to it (hex, one line) for operators to copy into the
  /// cluster file's master_public_key.
  static constexpr const char* secret_file = "identity.key";
  static constexpr const char* public_file = "identity.pub";

  /// Loads the key pair of `dir`, creating the directory and a fresh key pair
  /// on first use. Safe when several processes race on the same directory:
  /// exactly one key pair wins and all of them load it. Throws
  /// std::runtime_error ("path: what is wrong") if the key file is corrupt or
  /// readable by group or others.
  static identity load_or_create(const std::filesystem::path& dir);
  /// A fresh key pair that lives only in memory.
  static identity generate();

  identity(const identity&) = default;
  identity& operator=(const identity&) = default;
  ~identity(); // wipes the secret key

  const ed25519_public_key& public_key() const { return public_key_; }
  /// The 32-byte Ed25519 seed, for writing this node's TLS key file
  /// (config/cluster_tls.hpp). Never log or send it.
  std::span<const std::uint8_t, 32> secret_seed() const { return std::span<const std::uint8_t, 32>(secret_key_.data(), 32); }
  std::string public_key_hex() const { return to_hex(public_key_); }

  /// Detached Ed25519 signature of `message`.
  ed25519_signature sign(std::span<const std::uint8_t> message) const;
  ed25519_signature sign(std::string_view message) const { return sign(as_bytes(message)); }

  /// True iff `sig` is a valid signature of `message` by `key`. A signature of
  /// the wrong length, or a malformed hex key, is simply invalid.
  static bool verify(const ed25519_public_key& key, std::span<const std::uint8_t> message,
                     std::span<const std::uint8_t> sig);
  static bool verify(const ed25519_public_key& key, std::string_view message, std::span<const std::uint8_t> sig) {
    return verify(key, as_bytes(message), sig);
  }
  static bool verify(std::string_view public_key_hex, std::span<const std::uint8_t> message,
                     std::span<const std::uint8_t> sig);
  static bool verify(std::string_view public_key_hex, std::string_view message, std::span<const std::uint8_t> sig) {
    return verify(public_key_hex, as_bytes(message), sig);
  }

private:
  identity() = default;
  ed25519_public_key public_key_{};
  std::array<std::uint8_t, 64> secret_key_{}; // libsodium layout: seed then public key
};

/// The public key stored in `dir` (identity.pub), if there is a valid one:
/// how nodes sharing a host find the master's key in dev clusters.
std::optional<ed25519_public_key> stored_public_key(const std::filesystem::path& dir);

} // namespace stowage::config
