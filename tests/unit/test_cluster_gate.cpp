// The push gates of a cluster over a real store, without sockets: a data
// manager admits only proof-carrying pushes, the master's spool only data
// managers' signed writes, the gateway local pushes and signed deliveries.
#include "registry_api_fixture.hpp"

#include "actors/proof.hpp"
#include "config/node_auth.hpp"
#include "net/cluster_gate.hpp"

using namespace stowage;
using stowage::test::api_fixture;

namespace {

const std::string manifest_type = "application/vnd.oci.image.manifest.v1+json";

struct cluster_keys {
  config::identity master = config::identity::generate();
  config::identity dm1 = config::identity::generate();
  config::identity rt1 = config::identity::generate();
  std::shared_ptr<config::directory> nodes = std::make_shared<config::directory>();
  cluster_keys() {
    nodes->add({"master", config::role::master, "127.0.0.1:1", master.public_key_hex()});
    nodes->add({"dm1", config::role::data, "127.0.0.1:2", dm1.public_key_hex()});
    nodes->add({"rt1", config::role::runtime, "127.0.0.1:3", rt1.public_key_hex()});
  }
};

struct data_manager_fixture : api_fixture, cluster_keys {
  std::int64_t now = 1'700'000'000'000;
  std::filesystem::path guard_dir = stowage::test::make_temp_dir();
  std::shared_ptr<actors::proof_guard> guard =
    std::make_shared<actors::proof_guard>("dm1", master.public_key(), guard_dir, [this] { return now; });

  data_manager_fixture() {
    net::cluster_gate_options o;
    o.guard = guard;
    o.master_key = master.public_key();
    o.now_ms = [this] { return now; };
    gate = std::make_shared<net::cluster_gate>(nodes, o);
    rebuild();
  }
  ~data_manager_fixture() {
    std::error_code ec;
    std::filesystem::remove_all(guard_dir, ec);
  }

  /// A proof pair for rt1 -> dm1 whose second half dm1 expects; returns the header.
  std::string proof(const std::string& repo, const std::string& tag, std::uint64_t seq,
                    const config::identity* signer = nullptr) {
    auto pair = actors::issue_proofs(signer ? *signer : master, {"", repo, tag, seq, "rt1", "dm1", now + 60'000});
    guard->expect(pair.second);
    return "Stowage-Proof " + actors::encode(pair.first);
  }

  net::response blob_post(const std::string& repo, const std::string& data, const std::string& auth) {
    auto d = oci::sha256_of(data);
    return call("POST", "/v2/" + repo + "/blobs/uploads/?digest=" + d.str(), data, {{"Authorization", auth}});
  }
};

} // namespace

TEST_CASE_METHOD(data_manager_fixture, "a data manager refuses pushes without a valid proof", "[unit][cluster]") {
  SECTION("no credentials: 401 with an OCI body and the Stowage-Proof challenge") {
    auto r = call("POST", "/v2/lib/app/blobs/uploads/");
    CHECK(r.status == 401);
    CHECK(error_code_of(r) == "UNAUTHORIZED");
    CHECK(r.headers.get_or("WWW-Authenticate") == "Stowage-Proof realm=\"stowage\"");
    auto m = call("PUT", "/v2/lib/app/manifests/v1", "{}", {{"Content-Type", manifest_type}});
    CHECK(m.status == 401);
    CHECK(call("DELETE", "/v2/lib/app/manifests/v1").status == 401);
  }
  SECTION("a node signature is not a proof") {
    auto target = "/v2/lib/app/blobs/uploads/";
    auto h = config::node_authorization(rt1, "rt1", "POST", target, config::unix_time_ms());
    CHECK(call("POST", target, {}, {{"Authorization", h}}).status == 401);
  }
  SECTION("forged, malformed and unknown proofs") {
    config::identity impostor = config::identity::generate();
    CHECK(blob_post("lib/app", "x", proof("lib/app", "v1", 1, &impostor)).status == 401);
    CHECK(blob_post("lib/app", "x", "Stowage-Proof not-base64!").status == 401);
    auto pair = actors::issue_proofs(master, {"", "lib/app", "v1", 1, "rt1", "dm1", now + 60'000});
    CHECK(blob_post("lib/app", "x", "Stowage-Proof " + actors::encode(pair.first)).status == 401); // never expected
    auto tampered = proof("lib/app", "v1", 1);
    tampered.back() = tampered.back() == 'A' ? 'B' : 'A';
    CHECK(blob_post("lib/app", "x", tampered).status == 401);
  }
  SECTION("expired and out-of-scope proofs") {
    auto h = proof("lib/app", "v1", 1);
    CHECK(blob_post("lib/other", "x", h).status == 403);
    auto late = proof("lib/app", "v1", 1);
    now += 61'000;
    CHECK(blob_post("lib/app", "x", late).status == 401);
  }
  CHECK(st->repositories().empty()); // nothing was stored
}

TEST_CASE_METHOD(data_manager_fixture, "a proof admits one whole push, then never again", "[unit][cluster]") {
  auto h = proof("lib/app", "v1", 7);
  std::string config = R"({"architecture":"amd64","os":"linux"})";
  std::string layer = "layer bytes";
  REQUIRE(blob_post("lib/app", config, h).status == 201); // admits the session
  REQUIRE(blob_post("lib/app", layer, h).status == 201);  // a later write of the same push
  auto m = image_manifest(oci::sha256_of(config), config.size(), {{oci::sha256_of(layer), layer.size()}});

  CHECK(call("DELETE", "/v2/lib/app/blobs/" + oci::sha256_of(layer).str(), {}, {{"Authorization", h}}).status == 403);
  CHECK(call("PUT", "/v2/lib/app/manifests/latest", m, {{"Content-Type", manifest_type}, {"Authorization", h}})
          .status == 403); // not the proof's tag
  auto r = call("PUT", "/v2/lib/app/manifests/v1", m, {{"Content-Type", manifest_type}, {"Authorization", h}});
  REQUIRE(r.status == 201);
  CHECK(st->tag_seq("lib/app", "v1") == 7u); // the master's sequence number, not the store's next
  REQUIRE(guard->admitted(actors::decode_first_proof(h.substr(14))->scope.session));

  // The push is over: the same proof again is a replay.
  CHECK(blob_post("lib/app", "more", h).status == 401);
  CHECK(call("PUT", "/v2/lib/app/manifests/v1", m, {{"Content-Type", manifest_type}, {"Authorization", h}}).status ==
        401);
  // Reads stay open.
  CHECK(call("GET", "/v2/lib/app/manifests/v1").status == 200);
}

TEST_CASE("the spool takes only data managers' signed writes, with their sequence numbers", "[unit][cluster]") {
  api_fixture f;
  cluster_keys k;
  f.gate = net::spool_gate(k.nodes);
  f.rebuild();
  std::string data = "handed off";
  auto d = oci::sha256_of(data);
  auto target = "/v2/lib/app/blobs/uploads/?digest=" + d.str();
  auto sign = [&](const config::identity& id, const std::string& name, const std::string& method, const std::string& t) {
    return config::node_authorization(id, name, method, t, config::unix_time_ms());
  };
  auto unsigned_post = f.call("POST", target, data);
  CHECK(unsigned_post.status == 401);
  CHECK(unsigned_post.headers.get_or("WWW-Authenticate") == "Stowage-Node realm=\"stowage\"");
  CHECK(f.call("POST", target, data, {{"Authorization", sign(k.rt1, "rt1", "POST", target)}}).status == 403);
  CHECK(f.call("POST", target, data, {{"Authorization", sign(k.rt1, "dm1", "POST", target)}}).status == 401);
  CHECK(f.call("POST", target, data, {{"Authorization", sign(k.dm1, "dm1", "PUT", target)}}).status == 401);
  REQUIRE(f.call("POST", target, data, {{"Authorization", sign(k.dm1, "dm1", "POST", target)}}).status == 201);

  std::string config = R"({"os":"linux"})";
  auto ct = f.call("POST", "/v2/lib/app/blobs/uploads/?digest=" + oci::sha256_of(config).str(), config,
                   {{"Authorization", sign(k.dm1, "dm1", "POST",
                                           "/v2/lib/app/blobs/uploads/?digest=" + oci::sha256_of(config).str())}});
  REQUIRE(ct.status == 201);
  auto m = api_fixture::image_manifest(oci::sha256_of(config), config.size(), {{d, data.size()}});
  const auto md = oci::sha256_of(m).str();
  // The signature does not cover the body: a signed tag write names its
  // manifest, and one whose body is another manifest is refused.
  auto bare = std::string("/v2/lib/app/manifests/v1?seq=12");
  CHECK(f.call("PUT", bare, m, {{"Content-Type", manifest_type}, {"Authorization", sign(k.dm1, "dm1", "PUT", bare)}})
            .status == 403);
  const auto other = m + "\n"; // the same JSON, another manifest digest
  auto mt = "/v2/lib/app/manifests/v1?digest=" + md + "&seq=12";
  auto replayed = f.call("PUT", mt, other, {{"Content-Type", manifest_type}, {"Authorization", sign(k.dm1, "dm1", "PUT", mt)}});
  CHECK(replayed.status == 403);
  CHECK_THAT(replayed.body, Catch::Contains("DENIED"));
  CHECK_FALSE(f.st->tag_seq("lib/app", "v1"));
  REQUIRE(f.call("PUT", mt, m, {{"Content-Type", manifest_type}, {"Authorization", sign(k.dm1, "dm1", "PUT", mt)}})
            .status == 201);
  CHECK(f.st->tag_seq("lib/app", "v1") == 12u);
  // A late delivery with an older sequence number never rolls the tag back.
  auto old = "/v2/lib/app/manifests/v1?digest=" + md + "&seq=3";
  REQUIRE(f.call("PUT", old, m, {{"Content-Type", manifest_type}, {"Authorization", sign(k.dm1, "dm1", "PUT", old)}})
            .status == 201);
  CHECK(f.st->tag_seq("lib/app", "v1") == 12u);
}

TEST_CASE("the gateway takes its host's pushes and signed deliveries, not bad signatures", "[unit][cluster]") {
  api_fixture f;
  cluster_keys k;
  f.gate = net::gateway_gate(k.nodes, true);
  f.rebuild();
  CHECK(f.call("POST", "/v2/lib/app/blobs/uploads/?digest=" + oci::sha256_of("a").str(), "a").status == 201);
  auto t = "/v2/lib/app/blobs/uploads/?digest=" + oci::sha256_of("b").str();
  auto forged = config::node_authorization(k.rt1, "dm1", "POST", t, config::unix_time_ms());
  CHECK(f.call("POST", t, "b", {{"Authorization", forged}}).status == 401);
  auto good = config::node_authorization(k.dm1, "dm1", "POST", t, config::unix_time_ms());
  CHECK(f.call("POST", t, "b", {{"Authorization", good}}).status == 201);

  // From another host: a delivery signed by a data manager, nothing unsigned.
  const bool remote = false;
  auto t2 = "/v2/lib/app/blobs/uploads/?digest=" + oci::sha256_of("c").str();
  auto r = f.call("POST", t2, "c", {}, remote);
  CHECK(r.status == 403);
  CHECK_THAT(r.body, Catch::Contains("DENIED") && Catch::Contains("on this host"));
  CHECK(f.call("POST", "/v2/lib/app/blobs/uploads/", {}, {}, remote).status == 403);
  CHECK(f.call("DELETE", "/v2/lib/app/blobs/" + oci::sha256_of("a").str(), {}, {}, remote).status == 403);
  CHECK(f.st->blob("lib/app", oci::sha256_of("a")));
  CHECK_FALSE(f.st->blob("lib/app", oci::sha256_of("c")));
  auto signed_remote = config::node_authorization(k.dm1, "dm1", "POST", t2, config::unix_time_ms());
  CHECK(f.call("POST", t2, "c", {{"Authorization", signed_remote}}, remote).status == 201);

  api_fixture closed;
  closed.gate = net::gateway_gate(k.nodes, false);
  closed.rebuild();
  CHECK(closed.call("POST", "/v2/lib/app/blobs/uploads/").status == 401);
}

TEST_CASE_METHOD(data_manager_fixture, "a refused manifest leaves the push open for the corrected one",
                 "[unit][cluster]") {
  auto h = proof("lib/app", "v1", 4);
  std::string config = R"({"architecture":"amd64","os":"linux"})";
  REQUIRE(blob_post("lib/app", config, h).status == 201);
  auto layer = std::string("the layer, uploaded late");
  auto m = image_manifest(oci::sha256_of(config), config.size(), {{oci::sha256_of(layer), layer.size()}});
  auto early = call("PUT", "/v2/lib/app/manifests/v1", m, {{"Content-Type", manifest_type}, {"Authorization", h}});
  CHECK(early.status == 400);
  CHECK(error_code_of(early) == "MANIFEST_BLOB_UNKNOWN");
  REQUIRE(blob_post("lib/app", layer, h).status == 201);
  CHECK(call("PUT", "/v2/lib/app/manifests/v1", m, {{"Content-Type", manifest_type}, {"Authorization", h}}).status ==
        201);
  CHECK(st->tag_seq("lib/app", "v1") == 4u);
}

TEST_CASE_METHOD(data_manager_fixture, "a push the master named for one manifest cannot tag another",
                 "[unit][cluster]") {
  auto h = proof("lib/app", "", 0); // opened ahead of its manifest, without a tag
  std::string config = R"({"architecture":"amd64","os":"linux"})", a = "layer a", b = "layer b";
  for (const auto& blob : {config, a, b}) REQUIRE(blob_post("lib/app", blob, h).status == 201);
  auto named = image_manifest(oci::sha256_of(config), config.size(), {{oci::sha256_of(a), a.size()}});
  auto other = image_manifest(oci::sha256_of(config), config.size(), {{oci::sha256_of(b), b.size()}});
  auto session = actors::decode_first_proof(h.substr(14))->scope.session;
  REQUIRE(guard->name(session, "v1", 9, oci::sha256_of(named).str()));

  auto r = call("PUT", "/v2/lib/app/manifests/v1", other, {{"Content-Type", manifest_type}, {"Authorization", h}});
  CHECK(r.status == 403);
  CHECK_FALSE(st->manifest("lib/app", oci::reference{std::string("v1")}));
  CHECK(call("PUT", "/v2/lib/app/manifests/v1", named, {{"Content-Type", manifest_type}, {"Authorization", h}})
          .status == 201);
  CHECK(st->manifest("lib/app", oci::reference{std::string("v1")})->dig == oci::sha256_of(named));
}

TEST_CASE_METHOD(data_manager_fixture, "one tagged manifest per push even from two PUTs at once", "[unit][cluster]") {
  auto h = proof("lib/app", "v1", 3);
  REQUIRE(blob_post("lib/app", "a blob", h).status == 201); // admits the session
  const net::write_attempt put{"PUT", "lib/app", h, "/v2/lib/app/manifests/v1"};
  auto m1 = oci::sha256_of("manifest one"), m2 = oci::sha256_of("manifest two");
  std::optional<std::uint64_t> seq;
  REQUIRE_FALSE(gate->check_tag(put, "v1", m1, seq)); // the first PUT is storing its manifest
  CHECK(seq == 3u);
  auto second = gate->check_tag(put, "v1", m2, seq);
  REQUIRE(second);
  CHECK(second->status == 403);
  gate->tag_done(put, false); // the first failed to store: the client may try again
  REQUIRE_FALSE(gate->check_tag(put, "v1", m2, seq));
  gate->tag_done(put, true);
  auto after = gate->check_tag(put, "v1", m1, seq);
  REQUIRE(after);
  CHECK(after->status == 401); // the push is over
}
