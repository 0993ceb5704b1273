// The push gates of a cluster (DESIGN §3 push step 6, §4): which writes a
// node's OCI endpoint accepts. Plugged into registry_api as its push_gate.
//
//  - A data manager accepts only pushes that present a first proof:
//      Authorization: Stowage-Proof <base64 of actors::encode(first_proof)>
//    The first write of a session is admitted by the node's proof_guard
//    (signature, secret, scope, expiry, never used before: the session is
//    consumed durably). The later writes of the same push (more blobs, the
//    manifest) present the same proof and are let through while the session
//    is admitted, for the same repository, up to `session_grace` past the
//    proof's expiry. A manifest PUT by tag must name the proof's tag, and the
//    tag gets the proof's sequence number; that PUT closes the session (a
//    replay of the proof afterwards gets 401). Anything else: 401 UNAUTHORIZED
//    with `WWW-Authenticate: Stowage-Proof realm="stowage"` (403 DENIED for
//    out-of-scope proofs), and nothing is stored.
//  - The master's spool accepts writes signed (Stowage-Node) by data managers
//    (handoffs); reads stay open.
//  - The runtime gateway accepts writes signed by data managers (scheduled
//    pulls delivering an image into the cache) and, when `open` is set,
//    unsigned writes from container engines on its host (a client on a
//    loopback address or on the address it connected to; 403 DENIED from
//    any other). A Stowage-Node header that does not verify is refused even
//    then.
// Node-signed manifest PUTs by tag name their manifest, `?digest=D`, and may
// carry `seq=N` (both covered by the signature, which does not cover the
// body): the tag then gets that sequence number (tags move forward only).
#pragma once

#include "actors/proof.hpp"
#include "config/directory.hpp"
#include "net/registry_api.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>

namespace stowage::net {

inline constexpr std::string_view proof_auth_scheme = "Stowage-Proof";
/// The challenge a data manager sends with every 401.
inline constexpr std::string_view proof_challenge = "Stowage-Proof realm=\"stowage\"";

struct cluster_gate_options {
  /// Admit Stowage-Proof pushes through this guard (data managers); null: no proofs.
  std::shared_ptr<actors::proof_guard> guard;
  /// The master's key, to recognise the later writes of an admitted session.
  actors::public_key master_key{};
  /// Roles whose Stowage-Node signatures may write here.
  std::set<config::role> node_writers;
  /// Unsigned writes allowed from clients on this host (the runtime
  /// gateway, for its container engines).
  bool open = false;
  std::chrono::milliseconds session_grace = std::chrono::minutes(10);
  std::function<std::int64_t()> now_ms; // unix ms; wall clock if empty
};

class cluster_gate final : public push_gate {
public:
  cluster_gate(std::shared_ptr<const config::directory> dir, cluster_gate_options opts);

  std::optional<refusal> check(const write_attempt& w) override;
  std::optional<refusal> check_tag(const write_attempt& w, std::string_view tag, const oci::digest& manifest,
                                   std::optional<std::uint64_t>& seq) override;
  void tag_done(const write_attempt& w, bool stored) override;

private:
  std::optional<refusal> check_proof(const write_attempt& w, const actors::first_proof& p);
  std::int64_t now() const;

  refusal unauthorized(std::string message) const;

  std::shared_ptr<const config::directory> dir_;
  cluster_gate_options opts_;
  std::mutex mtx_;
  /// Sessions whose tagged manifest went in, until their proof expires
  /// (after that the expiry refuses them anyway).
  std::map<std::string, std::int64_t, std::less<>> closed_;
  std::set<std::string, std::less<>> storing_; // sessions whose tagged manifest is being stored
};

/// The session of a Stowage-Proof Authorization header (not checked: the gate
/// does that); nullopt for any other.
std::optional<std::string> proof_session(std::string_view authorization);

/// A data manager's gate: proofs only.
std::shared_ptr<cluster_gate> data_manager_gate(std::shared_ptr<const config::directory> dir,
                                                std::shared_ptr<actors::proof_guard> guard,
                                                const actors::public_key& master_key);
/// The master spool's gate: Stowage-Node writes from data managers.
std::shared_ptr<cluster_gate> spool_gate(std::shared_ptr<const config::directory> dir);
/// The runtime gateway's gate: Stowage-Node writes from data managers, plus
/// unsigned writes when `open_local_pushes`.
std::shared_ptr<cluster_gate> gateway_gate(std::shared_ptr<const config::directory> dir, bool open_local_pushes);

} // namespace stowage::net
