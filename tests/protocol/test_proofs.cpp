// The target refuses every proof that is not exactly right, and stores
// nothing (DESIGN §4).
#include "fixture.hpp"

using namespace stowage;
using namespace stowage::test;

namespace {

const std::string repo = "team/service";

struct proof_cluster : cluster_fixture {
  std::string digest;
  sa::first_proof_message grant;
  proof_cluster() {
    start_master();
    add_data_manager("dm1", link(50));
    add_data_manager("dm2", link(10));
    add_runtime();
    digest = make_image(*rt_store, repo, "latest", 64 * 1024, 11);
    // Ask as the runtime would; the real runtime measures the round.
    grant = ask<sa::first_proof_message>(master, sa::storage_request{"rt1", repo, "latest", digest, 70000, 0, {}});
    REQUIRE(grant.ok);
    REQUIRE(grant.proof.scope.target == "dm1");
  }

  /// Pushes over the data plane with `proof`; returns the transfer's result.
  sa::transfer_result push(const sa::first_proof& proof, const std::string& from = "rt1",
                           const std::string& repository = repo, std::string image = {}) {
    std::optional<sa::transfer_result> result;
    sa::transfer_order order{from, "dm1", repository, image.empty() ? digest : image, "latest", std::nullopt,
                             sa::encode(proof)};
    net->transfers()->copy(order, [&](sa::transfer_result r) { result = r; });
    for (int i = 0; i < 1000 && !result; ++i)
      settle(10ms);
    REQUIRE(result);
    return *result;
  }
  bool dm1_holds(const std::string& repository, const std::string& d) { return holds(*dms["dm1"].store, repository, d); }
};

} // namespace

TEST_CASE_METHOD(proof_cluster, "a valid proof admits the push once", "[protocol][proof]") {
  auto r = push(grant.proof);
  CHECK(r.ok);
  CHECK(dm1_holds(repo, digest));
  CHECK(tag_digest(*dms["dm1"].store, repo, "latest") == digest);
}

TEST_CASE_METHOD(proof_cluster, "a forged proof is refused and stores nothing", "[protocol][proof]") {
  SECTION("wrong secret") {
    auto p = grant.proof;
    p.secret[0] = p.secret[0] == '0' ? '1' : '0';
    auto r = push(p);
    CHECK_FALSE(r.ok);
    CHECK(r.status == 401);
  }
  SECTION("altered scope") {
    auto p = grant.proof;
    p.scope.tag = "other";
    auto r = push(p);
    CHECK_FALSE(r.ok);
    CHECK(r.status == 401);
  }
  SECTION("signed by another key") {
    auto other = config::identity::generate();
    auto forged = sa::issue_proofs(other, grant.proof.scope);
    auto r = push(forged.first);
    CHECK_FALSE(r.ok);
    CHECK(r.status == 401);
  }
  CHECK_FALSE(dm1_holds(repo, digest));
  CHECK(dms["dm1"].store->repositories().empty());
}

TEST_CASE_METHOD(proof_cluster, "an expired proof is refused and stores nothing", "[protocol][proof]") {
  skew_ms = settings.proof_ttl.count() + 1000;
  auto r = push(grant.proof);
  CHECK_FALSE(r.ok);
  CHECK(r.status == 401);
  CHECK(r.error.find("expired") != std::string::npos);
  CHECK_FALSE(dm1_holds(repo, digest));
}

TEST_CASE_METHOD(proof_cluster, "a replayed proof is refused and stores nothing", "[protocol][proof]") {
  REQUIRE(push(grant.proof).ok);
  auto second = make_image(*rt_store, repo, "latest", 1024, 12);
  auto r = push(grant.proof, "rt1", repo, second);
  CHECK_FALSE(r.ok);
  CHECK(r.status == 401);
  CHECK(r.error.find("already used") != std::string::npos);
  CHECK_FALSE(dm1_holds(repo, second));
  CHECK(tag_digest(*dms["dm1"].store, repo, "latest") == digest);
}

TEST_CASE_METHOD(proof_cluster, "a proof for another repository is refused and stores nothing", "[protocol][proof]") {
  auto other = make_image(*rt_store, "team/other", "latest", 1024, 13);
  auto r = push(grant.proof, "rt1", "team/other", other);
  CHECK_FALSE(r.ok);
  CHECK(r.status == 403);
  CHECK_FALSE(dm1_holds("team/other", other));
}

TEST_CASE_METHOD(proof_cluster, "a proof presented by another runtime is refused and stores nothing", "[protocol][proof]") {
  std::shared_ptr<store::registry_store> rt2 = store::registry_store::open(root / "rt2" / "store");
  make_image(*rt2, repo, "latest", 64 * 1024, 11);
  net->add_node("rt2", rt2, link(100));
  auto r = push(grant.proof, "rt2");
  CHECK_FALSE(r.ok);
  CHECK(r.status == 403);
  CHECK_FALSE(dm1_holds(repo, digest));
}

TEST_CASE_METHOD(proof_cluster, "a push without a proof is refused", "[protocol][proof]") {
  sa::first_proof none;
  none.scope.session = "00";
  auto r = push(none);
  CHECK_FALSE(r.ok);
  CHECK(r.status == 401);
  CHECK_FALSE(dm1_holds(repo, digest));
}
