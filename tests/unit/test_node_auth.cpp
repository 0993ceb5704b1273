// The node directory and node signatures of the data plane (pure, no sockets).
#include "config/directory.hpp"
#include "config/node_auth.hpp"

#include <catch2/catch.hpp>

using namespace stowage;
using namespace stowage::config;

namespace {

struct three_nodes {
  identity dm1 = identity::generate();
  identity dm2 = identity::generate();
  identity rt1 = identity::generate();
  directory dir;
  three_nodes() {
    dir.add({"dm1", role::data, "127.0.0.1:5011", dm1.public_key_hex()});
    dir.add({"dm2", role::data, "127.0.0.1:5012", dm2.public_key_hex()});
    dir.add({"rt1", role::runtime, "127.0.0.1:5000", rt1.public_key_hex()});
    dir.add({"nokey", role::data, "127.0.0.1:5013", ""});
  }
};

constexpr std::int64_t now = 1'700'000'000'000;

} // namespace

TEST_CASE("directory from a cluster file", "[unit][cluster]") {
  auto c = dev_cluster("/tmp/x", 3, 5000);
  auto k = identity::generate();
  auto d = directory::from_cluster(c, {{"dm2", k.public_key_hex()}});
  REQUIRE(d.find("rt1"));
  CHECK(d.find("rt1")->role == role::runtime);
  CHECK(d.http_of("rt1") == "127.0.0.1:5000");
  CHECK(d.http_of("master") == "127.0.0.1:5001");
  CHECK(d.http_of("dm3") == "127.0.0.1:5013");
  CHECK(d.with_role(role::data).size() == 3);
  CHECK(d.key_of("dm2") == k.public_key());
  CHECK_FALSE(d.key_of("dm1")); // no key given
  CHECK_FALSE(d.find("dm9"));
  CHECK_FALSE(d.http_of("dm9"));
  CHECK(http_endpoint("::1", 80) == "[::1]:80");
  CHECK(http_endpoint("10.0.0.2", 5011) == "10.0.0.2:5011");
}

TEST_CASE("a node signature verifies for exactly the request it signs", "[unit][cluster]") {
  three_nodes n;
  auto h = node_authorization(n.dm1, "dm1", "POST", "/stowage/v1/probe?round=3&from=dm1", now);
  CHECK(h.starts_with("Stowage-Node name=dm1,ts=1700000000000,sig="));
  auto r = verify_node_authorization(n.dir, h, "POST", "/stowage/v1/probe?round=3&from=dm1", now + 1000);
  REQUIRE(r.ok());
  CHECK(r.node->name == "dm1");
  CHECK(r.node->role == role::data);

  SECTION("another method, path or query does not verify") {
    CHECK(verify_node_authorization(n.dir, h, "PUT", "/stowage/v1/probe?round=3&from=dm1", now).status ==
          node_auth_status::bad_signature);
    CHECK(verify_node_authorization(n.dir, h, "POST", "/stowage/v1/probe?round=4&from=dm1", now).status ==
          node_auth_status::bad_signature);
  }
  SECTION("outside five minutes either way it is expired") {
    CHECK(verify_node_authorization(n.dir, h, "POST", "/stowage/v1/probe?round=3&from=dm1", now + 5 * 60 * 1000).ok());
    CHECK(verify_node_authorization(n.dir, h, "POST", "/stowage/v1/probe?round=3&from=dm1", now + 5 * 60 * 1000 + 1)
            .status == node_auth_status::expired);
    CHECK(verify_node_authorization(n.dir, h, "POST", "/stowage/v1/probe?round=3&from=dm1", now - 5 * 60 * 1000 - 1)
            .status == node_auth_status::expired);
  }
  SECTION("a signature by one node claiming another's name is refused") {
    auto claimed = node_authorization(n.dm1, "dm2", "PUT", "/v2/a/manifests/v1", now);
    CHECK(verify_node_authorization(n.dir, claimed, "PUT", "/v2/a/manifests/v1", now).status ==
          node_auth_status::bad_signature);
    auto stranger = identity::generate();
    auto forged = node_authorization(stranger, "rt1", "PUT", "/v2/a/manifests/v1", now);
    CHECK(verify_node_authorization(n.dir, forged, "PUT", "/v2/a/manifests/v1", now).status ==
          node_auth_status::bad_signature);
  }
  SECTION("a forged timestamp breaks the signature") {
    auto moved = h;
    moved.replace(moved.find("ts=") + 3, 13, std::to_string(now + 1));
    CHECK(verify_node_authorization(n.dir, moved, "POST", "/stowage/v1/probe?round=3&from=dm1", now).status ==
          node_auth_status::bad_signature);
  }
  SECTION("unknown nodes and nodes without a key are refused") {
    auto ghost = node_authorization(n.dm1, "dm9", "PUT", "/x", now);
    CHECK(verify_node_authorization(n.dir, ghost, "PUT", "/x", now).status == node_auth_status::unknown_node);
    auto nokey = node_authorization(n.dm1, "nokey", "PUT", "/x", now);
    CHECK(verify_node_authorization(n.dir, nokey, "PUT", "/x", now).status == node_auth_status::unknown_node);
  }
}

TEST_CASE("node signature headers parse strictly", "[unit][cluster]") {
  three_nodes n;
  CHECK(verify_node_authorization(n.dir, "", "GET", "/", now).status == node_auth_status::missing);
  CHECK(verify_node_authorization(n.dir, "Bearer abc", "GET", "/", now).status == node_auth_status::missing);
  CHECK(verify_node_authorization(n.dir, "Stowage-Proof abc", "GET", "/", now).status == node_auth_status::missing);
  for (const char* bad : {"Stowage-Node", "Stowage-Node name=dm1", "Stowage-Node name=dm1,ts=12x,sig=00",
                          "Stowage-Node name=dm1,ts=1,sig=00,extra=1", "Stowage-Node name=dm1,name=dm2,ts=1,sig=00",
                          "Stowage-Node name=,ts=1,sig=00"})
    CHECK(verify_node_authorization(n.dir, bad, "GET", "/", now).status == node_auth_status::malformed);
  auto p = parse_node_authorization("stowage-node  sig=ab, ts=12 ,name=rt1");
  REQUIRE(p);
  CHECK(p->name == "rt1");
  CHECK(p->ts_ms == 12);
  CHECK(p->sig_hex == "ab");
  CHECK(verify_node_authorization(n.dir, "Stowage-Node name=dm1,ts=1700000000000,sig=zz", "GET", "/", now).status ==
        node_auth_status::bad_signature);
  CHECK(is_node_authorization("Stowage-Node name=x"));
  CHECK_FALSE(is_node_authorization("Stowage-Nodes x"));
}
