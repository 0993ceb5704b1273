// Push proofs (DESIGN §3 push, §4): the master issues a pair for one push
// session. The second proof (everything, including the BLAKE2b hash of a random
// secret, signed with the master's Ed25519 key) goes to the target data
// manager; the first proof (the same signed fields plus the secret itself) goes
// to the runtime, which presents it with the image data. The target admits the
// push only if both halves agree, the signature is the master's, the scope
// (repository, runtime, target) matches, the pair has not expired and the
// session was never used before (recorded durably).
//
// Pure libsodium + SQLite, no CAF: the HTTP layer calls the same verifier.
#pragma once

#include "config/identity.hpp"

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

namespace stowage::actors {

using public_key = config::ed25519_public_key;

/// The fields the master's signature binds.
struct proof_scope {
  std::string session;     // random, hex
  std::string repository;
  std::string tag;         // may be empty (push by digest)
  std::uint64_t seq = 0;   // master-assigned sequence number of repository:tag
  std::string runtime;     // the only runtime allowed to present it
  std::string target;      // the only data manager that accepts it
  std::int64_t expires_ms = 0; // unix milliseconds
  friend bool operator==(const proof_scope&, const proof_scope&) = default;
};

struct second_proof {
  proof_scope scope;
  std::string secret_hash; // hex BLAKE2b-256 of the secret
  std::string signature;   // hex Ed25519 over scope + secret_hash
};

struct first_proof {
  proof_scope scope;
  std::string secret;      // hex, 32 random bytes
  std::string signature;   // same signature as the second proof
};

struct proof_pair {
  first_proof first;
  second_proof second;
};

/// Issues a pair; `scope.session` is filled with a fresh random id if empty.
proof_pair issue_proofs(const config::identity& master, proof_scope scope);

/// The bytes the signature covers (versioned, newline-separated).
std::string signed_bytes(const proof_scope& scope, std::string_view secret_hash);
bool signature_valid(const public_key& master_pk, const second_proof& p);
std::string secret_hash_of(std::string_view secret_hex);

/// Text forms for the data plane (`Authorization: Stowage-Proof <base64>`).
std::string encode(const first_proof& p);
std::optional<first_proof> decode_first_proof(std::string_view base64);

enum class verdict {
  ok,
  unknown_session, // 401: no second proof for this session
  forged,          // 401: bad signature, or the halves disagree / wrong secret
  expired,         // 401
  replayed,        // 401: session already used
  wrong_scope,     // 403: repository, runtime or target not the proof's
};
std::string_view verdict_text(verdict v);
int verdict_http_status(verdict v);

/// Checks one pair against a request, without the replay check (pure).
verdict check_pair(const public_key& master_pk, const first_proof& first, const second_proof& second,
                   std::string_view repository, std::string_view runtime, std::string_view target,
                   std::int64_t now_ms);

/// Durable record of used sessions (SQLite table in the node's directory).
class used_sessions {
public:
  explicit used_sessions(const std::filesystem::path& dir);
  ~used_sessions();
  used_sessions(const used_sessions&) = delete;
  used_sessions& operator=(const used_sessions&) = delete;
  /// Records `session`; false if it was recorded before. Throws on I/O errors.
  bool consume(std::string_view session, std::int64_t now_ms);
  bool contains(std::string_view session) const;

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

/// The data manager's gate: holds the second proofs the master sent and
/// admits first proofs. Thread-safe (HTTP threads and the actor call it).
class proof_guard {
public:
  using clock_fn = std::function<std::int64_t()>; // unix milliseconds

  proof_guard(std::string self_name, public_key master_pk, const std::filesystem::path& dir,
              clock_fn now);

  /// Stores a second proof for this node; refuses one not signed by the
  /// master or naming another target.
  verdict expect(const second_proof& p);

  struct admission {
    verdict result = verdict::unknown_session;
    proof_scope scope; // valid when result == ok
  };
  /// Verifies `first` for a push of `repository` by `runtime`; on success the
  /// session is consumed durably and can never be admitted again.
  admission admit(const first_proof& first, std::string_view repository, std::string_view runtime);

  /// A push over HTTP is many requests (blob uploads, then the manifest):
  /// the first one is admitted with `admit`, the following ones carry the
  /// same first proof and are let through by `resume` while the session is
  /// open — same secret, same scope, not expired. Never admits a session
  /// that `admit` did not.
  verdict resume(const first_proof& first, std::string_view repository, std::string_view runtime);
  /// Ends an admitted session (after push_commit): nothing more gets in with it.
  void close(std::string_view session);
  /// The scope of an admitted, still open session (push_commit checks it).
  std::optional<proof_scope> admitted(std::string_view session) const;

  /// A push opened ahead of its manifest carries a proof without a tag
  /// (blobs go to the target while the client still uploads); the master
  /// names it once the manifest is known: this tag, this sequence number,
  /// this manifest. Refused (false) for a session the guard does not hold
  /// (expected or admitted) or whose signed scope has a tag already.
  bool name(std::string_view session, std::string tag, std::uint64_t seq, std::string digest);
  struct naming {
    std::string tag;
    std::uint64_t seq = 0;
    std::string digest; // empty: any (a proof issued with its tag)
  };
  /// What an open session's manifest may set: the signed tag, or the naming.
  std::optional<naming> named(std::string_view session) const;

  const std::string& self_name() const { return self_; }

private:
  std::string self_;
  public_key master_pk_;
  clock_fn now_;
  mutable std::mutex mtx_;
  std::map<std::string, second_proof> expected_;
  std::map<std::string, second_proof, std::less<>> admitted_; // open sessions
  std::map<std::string, naming, std::less<>> names_;            // sessions opened ahead, once named
  used_sessions used_;
};

/// Wall clock in unix milliseconds.
std::int64_t unix_now_ms();

} // namespace stowage::actors
