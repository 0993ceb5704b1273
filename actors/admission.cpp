#include "actors/admission.hpp"

namespace stowage::actors {

push_admission admit_push(proof_guard& guard, const std::string& encoded_proof,
                          const std::string& repository, const std::string& from_node) {
  push_admission out;
  auto first = decode_first_proof(encoded_proof);
  if (!first) {
    out.status = 401;
    out.error = "malformed proof";
    return out;
  }
  // A push is several transfers when blobs went ahead of the manifest: the
  // first admits the session, the later ones continue it.
  auto v = guard.admitted(first->scope.session) ? guard.resume(*first, repository, from_node)
                                                : guard.admit(*first, repository, from_node).result;
  out.status = verdict_http_status(v);
  out.error = std::string(verdict_text(v));
  if (v == verdict::ok) {
    auto granted = guard.named(first->scope.session);
    out.ok = true;
    out.tag = granted ? granted->tag : std::string{};
    out.seq = granted ? granted->seq : 0;
  }
  return out;
}

admission_fn guard_admission(std::shared_ptr<proof_guard> guard) {
  return [guard](const std::string& proof, const std::string& repository, const std::string& from) {
    return admit_push(*guard, proof, repository, from);
  };
}

} // namespace stowage::actors
