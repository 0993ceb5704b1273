#include "net/cluster_gate.hpp"

#include "config/node_auth.hpp"

#include <charconv>

namespace stowage::net {

namespace {

constexpr std::string_view node_challenge = "Stowage-Node realm=\"stowage\"";

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

/// The credentials after "Stowage-Proof ", if that is the scheme.
std::optional<std::string_view> proof_credentials(std::string_view authorization) {
  authorization = trim(authorization);
  if (authorization.size() <= proof_auth_scheme.size() + 1) return std::nullopt;
  if (!iequals(authorization.substr(0, proof_auth_scheme.size()), proof_auth_scheme)) return std::nullopt;
  if (authorization[proof_auth_scheme.size()] != ' ') return std::nullopt;
  return trim(authorization.substr(proof_auth_scheme.size() + 1));
}

refusal denied(std::string message) {
  return refusal{403, oci::error_code::denied, std::move(message), {}};
}

/// The `seq` query parameter of a parsed target, if present and numeric.
std::optional<std::uint64_t> seq_param(const request& r) {
  auto v = r.param("seq");
  if (!v) return std::nullopt;
  std::uint64_t seq = 0;
  auto [p, ec] = std::from_chars(v->data(), v->data() + v->size(), seq);
  if (ec != std::errc{} || p != v->data() + v->size()) return std::nullopt;
  return seq;
}

} // namespace

std::optional<std::string> proof_session(std::string_view authorization) {
  auto cred = proof_credentials(authorization);
  if (!cred) return std::nullopt;
  auto p = actors::decode_first_proof(*cred);
  if (!p) return std::nullopt;
  return p->scope.session;
}

cluster_gate::cluster_gate(std::shared_ptr<const config::directory> dir, cluster_gate_options opts)
    : dir_(std::move(dir)), opts_(std::move(opts)) {}

std::int64_t cluster_gate::now() const { return opts_.now_ms ? opts_.now_ms() : config::unix_time_ms(); }

refusal cluster_gate::unauthorized(std::string message) const {
  return refusal{401, oci::error_code::unauthorized, std::move(message),
                 std::string(opts_.guard ? proof_challenge : node_challenge)};
}

std::optional<refusal> cluster_gate::check(const write_attempt& w) {
  if (auto cred = proof_credentials(w.authorization)) {
    if (!opts_.guard) return unauthorized("this node accepts no push proofs");
    auto p = actors::decode_first_proof(*cred);
    if (!p) return unauthorized("malformed proof");
    return check_proof(w, *p);
  }
  // Nodes that may not write here at all (a data manager takes proofs only)
  // get the same 401 as anyone without credentials.
  if (!opts_.node_writers.empty() && config::is_node_authorization(w.authorization)) {
    auto r = config::verify_node_authorization(*dir_, w.authorization, w.method, w.target, now());
    if (!r.ok()) return unauthorized(std::string(config::node_auth_text(r.status)));
    if (!opts_.node_writers.contains(r.node->role)) return denied("node " + r.node->name + " may not write here");
    return std::nullopt;
  }
  if (opts_.open) {
    // The gateway's listener is reached by the data managers too (deliveries,
    // test packets), so it is on the network: the address it binds cannot
    // keep other hosts from pushing or deleting through it, this check does.
    if (w.from_this_host) return std::nullopt;
    return denied("unsigned writes are taken only from container engines on this host");
  }
  return unauthorized(opts_.guard ? "a push to this node needs a proof issued by the master"
                                  : "a write to this node needs a node signature");
}

std::optional<refusal> cluster_gate::check_proof(const write_attempt& w, const actors::first_proof& p) {
  if (w.method == "DELETE") return denied("a push proof does not allow deletes");
  const auto& session = p.scope.session;
  {
    std::lock_guard lock(mtx_);
    if (closed_.contains(session)) return unauthorized(std::string(actors::verdict_text(actors::verdict::replayed)));
  }
  // A later write of an admitted session: the same signed scope and the
  // secret that hashes to the signed hash (only the runtime has it).
  auto continuing = [&]() -> std::optional<std::optional<refusal>> {
    auto admitted = opts_.guard->admitted(session);
    if (!admitted) return std::nullopt;
    if (!(*admitted == p.scope)) return unauthorized(std::string(actors::verdict_text(actors::verdict::forged)));
    actors::second_proof check{p.scope, actors::secret_hash_of(p.secret), p.signature};
    if (!actors::signature_valid(opts_.master_key, check))
      return unauthorized(std::string(actors::verdict_text(actors::verdict::forged)));
    if (w.repository != p.scope.repository)
      return denied(std::string(actors::verdict_text(actors::verdict::wrong_scope)));
    if (now() > p.scope.expires_ms + opts_.session_grace.count())
      return unauthorized(std::string(actors::verdict_text(actors::verdict::expired)));
    return std::optional<refusal>{};
  };
  if (auto r = continuing()) return *r;
  auto a = opts_.guard->admit(p, w.repository, p.scope.runtime);
  if (a.result == actors::verdict::ok) return std::nullopt;
  if (a.result == actors::verdict::replayed) // admitted by a concurrent write just now
    if (auto r = continuing()) return *r;
  const int status = actors::verdict_http_status(a.result);
  std::string why(actors::verdict_text(a.result));
  if (status == 403) return denied(why);
  return unauthorized(why);
}

std::optional<refusal> cluster_gate::check_tag(const write_attempt& w, std::string_view tag,
                                               const oci::digest& manifest, std::optional<std::uint64_t>& seq) {
  if (auto cred = proof_credentials(w.authorization)) {
    auto p = actors::decode_first_proof(*cred);
    if (!p || !opts_.guard) return unauthorized("malformed proof");
    const auto& session = p->scope.session;
    auto granted = opts_.guard->named(session); // the signed tag, or the master's naming
    if (!granted) return unauthorized(std::string(actors::verdict_text(actors::verdict::unknown_session)));
    if (granted->tag != tag) return denied("the proof admits tag '" + granted->tag + "', not '" + std::string(tag) + "'");
    if (!granted->digest.empty() && granted->digest != manifest.str())
      return denied("the master named manifest " + granted->digest + " for this push, not " + manifest.str());
    // One tagged manifest per push: checked and reserved in one step, so two
    // PUTs of one session cannot both store theirs at its number.
    std::lock_guard lock(mtx_);
    if (closed_.contains(session)) return unauthorized(std::string(actors::verdict_text(actors::verdict::replayed)));
    if (!storing_.insert(session).second) return denied("another manifest PUT of this push is under way");
    seq = granted->seq;
    return std::nullopt;
  }
  if (config::is_node_authorization(w.authorization)) {
    // The signature covers the target and not the body, so the target names
    // the manifest: a header seen on the wire cannot set the tag (at the
    // master's number) to another manifest within its five minutes.
    request r;
    if (!r.set_target(w.target) || r.param("digest") != std::optional<std::string_view>(manifest.str()))
      return denied("a signed tag write must name its manifest (?digest=" + manifest.str() + ")");
    seq = seq_param(r);
  }
  return std::nullopt;
}

void cluster_gate::tag_done(const write_attempt& w, bool stored) {
  auto cred = proof_credentials(w.authorization);
  if (!cred) return;
  auto p = actors::decode_first_proof(*cred);
  if (!p) return;
  std::lock_guard lock(mtx_);
  storing_.erase(p->scope.session);
  if (!stored) return;
  const auto t = now();
  std::erase_if(closed_, [&](const auto& c) { return c.second + opts_.session_grace.count() < t; });
  closed_.emplace(p->scope.session, p->scope.expires_ms);
}

std::shared_ptr<cluster_gate> data_manager_gate(std::shared_ptr<const config::directory> dir,
                                                std::shared_ptr<actors::proof_guard> guard,
                                                const actors::public_key& master_key) {
  cluster_gate_options o;
  o.guard = std::move(guard);
  o.master_key = master_key;
  return std::make_shared<cluster_gate>(std::move(dir), std::move(o));
}

std::shared_ptr<cluster_gate> spool_gate(std::shared_ptr<const config::directory> dir) {
  cluster_gate_options o;
  o.node_writers = {config::role::data};
  return std::make_shared<cluster_gate>(std::move(dir), std::move(o));
}

std::shared_ptr<cluster_gate> gateway_gate(std::shared_ptr<const config::directory> dir, bool open_local_pushes) {
  cluster_gate_options o;
  o.node_writers = {config::role::data};
  o.open = open_local_pushes;
  return std::make_shared<cluster_gate>(std::move(dir), std::move(o));
}

} // namespace stowage::net
