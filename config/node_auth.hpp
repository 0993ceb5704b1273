// Node-to-node authentication on the data plane (HTTP). A node that writes
// into another node (a data manager delivering an image into a runtime's
// cache, a data manager handing an image to the master's spool, a test
// packet) signs the request:
//
//   Authorization: Stowage-Node name=<node>,ts=<unix ms>,sig=<hex Ed25519>
//
// where the signature covers "METHOD\n<path?query exactly as sent>\n<ts>".
// The receiver looks the key up in its directory (the cluster file is the
// trust root) and accepts the request only if the signature verifies and
// |now - ts| <= the allowed skew (5 minutes). Binding the method and the full
// target means a captured header cannot be replayed against another URL; a
// replay of the very same request inside the window is harmless for the
// idempotent, content-addressed writes that use it.
//
// Pure libsodium (through config/identity.hpp): no CAF, no Beast.
#pragma once

#include "config/directory.hpp"
#include "config/identity.hpp"

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace stowage::config {

inline constexpr std::string_view node_auth_scheme = "Stowage-Node";
inline constexpr std::chrono::milliseconds node_auth_max_skew = std::chrono::minutes(5);

/// The exact bytes a node signs: "METHOD\ntarget\nts".
std::string node_signed_text(std::string_view method, std::string_view target, std::int64_t ts_ms);

/// The full Authorization header value for a request `method target` sent by
/// `node` (whose key pair is `id`) at `now_ms` (unix milliseconds).
std::string node_authorization(const identity& id, std::string_view node, std::string_view method,
                               std::string_view target, std::int64_t now_ms);

/// The parsed fields of a Stowage-Node header (no verification).
struct node_credentials {
  std::string name;
  std::int64_t ts_ms = 0;
  std::string sig_hex;
};
/// Parses "Stowage-Node name=..,ts=..,sig=.." (scheme case-insensitive, the
/// three fields in any order, optional spaces after commas); nullopt if
/// malformed or another scheme.
std::optional<node_credentials> parse_node_authorization(std::string_view header);

/// True if `authorization` uses the Stowage-Node scheme (well-formed or not).
bool is_node_authorization(std::string_view authorization);

enum class node_auth_status {
  ok,
  missing,       // no Authorization header, or another scheme
  malformed,     // Stowage-Node but unparsable
  unknown_node,  // not in the directory, or no valid key for it
  expired,       // ts outside now +- skew
  bad_signature, // forged, signed by another node's key, or for another request
};
std::string_view node_auth_text(node_auth_status s);

struct node_auth_result {
  node_auth_status status = node_auth_status::missing;
  const directory_entry* node = nullptr; // the authenticated node when status == ok
  bool ok() const { return status == node_auth_status::ok; }
};

/// Verifies a request's Authorization header against `dir`.
node_auth_result verify_node_authorization(const directory& dir, std::string_view authorization,
                                           std::string_view method, std::string_view target, std::int64_t now_ms,
                                           std::chrono::milliseconds max_skew = node_auth_max_skew);

/// Wall clock in unix milliseconds.
std::int64_t unix_time_ms();

} // namespace stowage::config
