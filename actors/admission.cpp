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
  auto a = guard.admit(*first, repository, from_node);
  out.status = verdict_http_status(a.result);
  out.error = std::string(verdict_text(a.result));
  if (a.result == verdict::ok) {
    out.ok = true;
    out.tag = a.scope.tag;
    out.seq = a.scope.seq;
  }
  return out;
}

admission_fn guard_admission(std::shared_ptr<proof_guard> guard) {
  return [guard](const std::string& proof, const std::string& repository, const std::string& from) {
    return admit_push(*guard, proof, repository, from);
  };
}

} // namespace stowage::actors
