// Push proofs, pure (no CAF): issue, encode, verify, single use.
#include "actors/proof.hpp"

#include <catch2/catch.hpp>

#include <filesystem>

using namespace stowage;
using namespace stowage::actors;

namespace {

struct tmpdir {
  std::filesystem::path path;
  tmpdir() {
    char t[] = "/tmp/stowage-proof-XXXXXX";
    path = ::mkdtemp(t);
  }
  ~tmpdir() { std::filesystem::remove_all(path); }
};

proof_scope scope_for(std::int64_t expires) {
  return {"", "lib/app", "v1", 4, "rt1", "dm1", expires};
}

} // namespace

TEST_CASE("a proof pair verifies and encodes", "[unit][proof]") {
  auto master = config::identity::generate();
  auto pair = issue_proofs(master, scope_for(2000));
  CHECK(pair.first.scope.session.size() == 32);
  CHECK(pair.first.scope == pair.second.scope);
  CHECK(pair.second.secret_hash == secret_hash_of(pair.first.secret));
  CHECK(signature_valid(master.public_key(), pair.second));
  CHECK(check_pair(master.public_key(), pair.first, pair.second, "lib/app", "rt1", "dm1", 1000) == verdict::ok);
  auto text = encode(pair.first);
  auto back = decode_first_proof(text);
  REQUIRE(back);
  CHECK(back->scope == pair.first.scope);
  CHECK(back->secret == pair.first.secret);
  CHECK(back->signature == pair.first.signature);
  CHECK_FALSE(decode_first_proof("not base64!"));
  CHECK_FALSE(decode_first_proof(""));
}

TEST_CASE("check_pair refuses every deviation", "[unit][proof]") {
  auto master = config::identity::generate();
  auto pk = master.public_key();
  auto pair = issue_proofs(master, scope_for(2000));
  CHECK(check_pair(pk, pair.first, pair.second, "lib/app", "rt1", "dm1", 2000) == verdict::expired);
  CHECK(check_pair(pk, pair.first, pair.second, "lib/other", "rt1", "dm1", 1000) == verdict::wrong_scope);
  CHECK(check_pair(pk, pair.first, pair.second, "lib/app", "rt2", "dm1", 1000) == verdict::wrong_scope);
  CHECK(check_pair(pk, pair.first, pair.second, "lib/app", "rt1", "dm2", 1000) == verdict::wrong_scope);
  auto bad_secret = pair.first;
  bad_secret.secret[5] = bad_secret.secret[5] == 'a' ? 'b' : 'a';
  CHECK(check_pair(pk, bad_secret, pair.second, "lib/app", "rt1", "dm1", 1000) == verdict::forged);
  auto widened = pair.second;
  widened.scope.expires_ms = 99999; // not what was signed
  CHECK(check_pair(pk, pair.first, widened, "lib/app", "rt1", "dm1", 1000) == verdict::forged);
  auto other = config::identity::generate();
  CHECK(check_pair(other.public_key(), pair.first, pair.second, "lib/app", "rt1", "dm1", 1000) == verdict::forged);
}

TEST_CASE("the guard admits a session once, durably", "[unit][proof]") {
  tmpdir dir;
  auto master = config::identity::generate();
  std::int64_t now = 1000;
  auto pair = issue_proofs(master, scope_for(5000));
  {
    proof_guard guard("dm1", master.public_key(), dir.path, [&] { return now; });
    CHECK(guard.admit(pair.first, "lib/app", "rt1").result == verdict::unknown_session);
    CHECK(guard.expect(pair.second) == verdict::ok);
    auto a = guard.admit(pair.first, "lib/app", "rt1");
    REQUIRE(a.result == verdict::ok);
    CHECK(a.scope.seq == 4);
    CHECK(guard.admitted(pair.first.scope.session));
    CHECK(guard.admit(pair.first, "lib/app", "rt1").result == verdict::replayed);
  }
  // After a restart the session is still used.
  proof_guard guard("dm1", master.public_key(), dir.path, [&] { return now; });
  CHECK(guard.expect(pair.second) == verdict::ok);
  CHECK(guard.admit(pair.first, "lib/app", "rt1").result == verdict::replayed);
}

TEST_CASE("the guard refuses second proofs not meant for it", "[unit][proof]") {
  tmpdir dir;
  auto master = config::identity::generate();
  auto other = config::identity::generate();
  proof_guard guard("dm2", master.public_key(), dir.path, [] { return 0; });
  CHECK(guard.expect(issue_proofs(master, scope_for(10)).second) == verdict::wrong_scope);
  auto s = scope_for(10);
  s.target = "dm2";
  CHECK(guard.expect(issue_proofs(other, s).second) == verdict::forged);
}

TEST_CASE("an expired or out-of-scope proof is not consumed", "[unit][proof]") {
  tmpdir dir;
  auto master = config::identity::generate();
  std::int64_t now = 6000;
  proof_guard guard("dm1", master.public_key(), dir.path, [&] { return now; });
  auto pair = issue_proofs(master, scope_for(7000));
  REQUIRE(guard.expect(pair.second) == verdict::ok);
  CHECK(guard.admit(pair.first, "lib/app", "rt9").result == verdict::wrong_scope);
  CHECK(verdict_http_status(verdict::wrong_scope) == 403);
  now = 7000;
  CHECK(guard.admit(pair.first, "lib/app", "rt1").result == verdict::expired);
  CHECK(verdict_http_status(verdict::expired) == 401);
}

TEST_CASE("an admitted session stays open for the rest of its push until closed", "[unit][proof]") {
  tmpdir dir;
  auto master = config::identity::generate();
  std::int64_t now = 1000;
  proof_guard guard("dm1", master.public_key(), dir.path, [&] { return now; });
  auto pair = issue_proofs(master, scope_for(5000));
  CHECK(guard.resume(pair.first, "lib/app", "rt1") == verdict::unknown_session);
  REQUIRE(guard.expect(pair.second) == verdict::ok);
  REQUIRE(guard.admit(pair.first, "lib/app", "rt1").result == verdict::ok);
  CHECK(guard.resume(pair.first, "lib/app", "rt1") == verdict::ok);
  CHECK(guard.resume(pair.first, "lib/other", "rt1") == verdict::wrong_scope);
  auto wrong = pair.first;
  wrong.secret[0] = wrong.secret[0] == 'f' ? 'e' : 'f';
  CHECK(guard.resume(wrong, "lib/app", "rt1") == verdict::forged);
  guard.close(pair.first.scope.session);
  CHECK_FALSE(guard.admitted(pair.first.scope.session));
  CHECK(guard.resume(pair.first, "lib/app", "rt1") == verdict::replayed);
}
