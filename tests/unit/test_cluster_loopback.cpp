// The cluster over real sockets in one process (cluster_loopback_fixture.hpp):
// pushes and pulls through the runtime's gateway with the real registry
// client, the push gate of the data managers, the master's HTTP, handoffs.
#include "cluster_loopback_fixture.hpp"

#include "config/node_auth.hpp"
#include "net/registry_client.hpp"

#include <caf/scoped_actor.hpp>

#include <fstream>

using namespace stowage;
using namespace stowage::test;

namespace {

const std::string manifest_type = "application/vnd.oci.image.manifest.v1+json";

/// The newest decision of `kind` about `reference`, if any.
std::optional<sa::decision> decision_for(loopback_cluster& c, const std::string& kind, const std::string& reference) {
  for (const auto& d : c.decisions())
    if (d.kind == kind && d.reference == reference) return d;
  return std::nullopt;
}

int measured(const sa::decision& d) {
  int n = 0;
  for (const auto& c : d.candidates) n += c.ok ? 1 : 0;
  return n;
}

std::string http_get(net::http_handler& h, const std::string& target, int status = 200) {
  net::request req;
  req.method = "GET";
  REQUIRE(req.set_target(target));
  auto r = net::serve_in_memory(h, std::move(req));
  REQUIRE(r.status == status);
  return r.body;
}

} // namespace

TEST_CASE("a push through the gateway lands on every data manager before the client's PUT is answered",
          "[cluster]") {
  loopback_cluster c;
  auto img = make_image(c.root / "client", "push", 3 * 1024 * 1024 + 17);
  net::registry_client client(c.gateway.endpoint());
  client.push_blob("lib/app", img.config);
  client.push_blob("lib/app", img.layer);
  auto d = client.push_manifest("lib/app", "v1", img.manifest, manifest_type);
  CHECK(d == img.digest);
  // Answered only once the image is durable on min_copies data managers.
  CHECK(c.holders("lib/app", img.digest) >= 2);
  REQUIRE(eventually([&] { return c.holders("lib/app", img.digest) == 3; }));
  for (auto& [name, dm] : c.dms) {
    auto b = dm.store->blob("lib/app", oci::sha256_of(img.layer_bytes));
    REQUIRE(b);
    CHECK(read_file(b->path) == img.layer_bytes);
    CHECK(dm.store->tag_seq("lib/app", "v1") == 1u);
  }

  // The master saw it: catalog, a push decision over measured candidates.
  REQUIRE(eventually([&] {
    for (const auto& i : c.images())
      if (i.repository == "lib/app" && i.tag == "v1" && i.replicas.size() == 3) return true;
    return false;
  }));
  auto push = decision_for(c, "push", "lib/app:v1");
  REQUIRE(push);
  CHECK(measured(*push) >= 2);
  CHECK_FALSE(push->chosen.empty());

  // The master's HTTP answers in the shapes of DESIGN §6.
  auto images = nlohmann::json::parse(http_get(*c.master_http.handler, "/api/v1/images"));
  REQUIRE(images.size() == 1);
  CHECK(images[0]["digest"] == img.digest.str());
  CHECK(images[0]["replicas"].size() == 3);
  auto decisions = nlohmann::json::parse(http_get(*c.master_http.handler, "/api/v1/decisions?limit=1"));
  REQUIRE(decisions.size() == 1);
  CHECK(decisions[0]["kind"] == "push");
  for (auto bad : {"0", "-1", "abc", "", "99999999999"})
    CHECK(nlohmann::json::parse(http_get(*c.master_http.handler, std::string("/api/v1/decisions?limit=") + bad, 400))
            .contains("error"));
  auto nodes = nlohmann::json::parse(http_get(*c.master_http.handler, "/api/v1/nodes"));
  CHECK(nodes.size() == 5);
  auto metrics = http_get(*c.master_http.handler, "/metrics");
  CHECK(metrics.find("stowage_nodes{role=\"data\",state=\"up\"} 3") != std::string::npos);
  CHECK(metrics.find("stowage_images 1") != std::string::npos);
  CHECK(http_get(*c.master_http.handler, "/healthz") == "ok\n");
}

TEST_CASE("a pull by tag through the gateway is scheduled over measured candidates", "[cluster]") {
  image_files img;
  loopback_cluster c([&](loopback_cluster& c) {
    img = make_image(c.root / "seed", "seed", 2 * 1024 * 1024 + 5);
    for (auto& [name, dm] : c.dms) seed(*dm.store, "lib/seed", "v1", img, 1);
  });
  CHECK_FALSE(c.rt_store->manifest("lib/seed", oci::reference{img.digest}));
  net::registry_client client(c.gateway.endpoint());
  auto m = client.get_manifest("lib/seed", "v1");
  CHECK(m.body == img.manifest);
  CHECK(m.dig == img.digest);
  auto out = c.root / "client" / "layer";
  std::filesystem::create_directories(out.parent_path());
  client.get_blob("lib/seed", oci::sha256_of(img.layer_bytes), out);
  CHECK(read_file(out) == img.layer_bytes);
  // The answers came while the image streamed in (net/blob_relay.hpp); the
  // delivery ends with the manifest in the runtime's cache.
  CHECK(eventually([&] { return c.rt_store->manifest("lib/seed", oci::reference{img.digest}).has_value(); }));

  auto pull = decision_for(c, "pull", "lib/seed:v1");
  REQUIRE(pull);
  CHECK(pull->candidates.size() == 3);
  CHECK(measured(*pull) >= 2);
  CHECK_FALSE(pull->chosen.empty());

  // By digest, now cached: served without asking the cluster again.
  auto before = c.decisions().size();
  CHECK(client.get_manifest("lib/seed", img.digest.str()).body == img.manifest);
  CHECK(c.decisions().size() == before);

  // Unknown to the cluster: 404.
  try {
    client.get_manifest("lib/seed", "nope");
    FAIL("an unknown tag was served");
  } catch (const net::registry_error& e) {
    CHECK(e.status == 404);
  }
}

namespace {

/// lib/seed:v1 (a 1 MiB layer) on every data manager of a cluster, for a
/// copy of it to go bad.
struct seeded_cluster {
  image_files img;
  std::unique_ptr<loopback_cluster> c;
  oci::digest layer;
  seeded_cluster() {
    c = std::make_unique<loopback_cluster>([&](loopback_cluster& c) {
      img = make_image(c.root / "seed", "seed", 1024 * 1024);
      for (auto& [name, dm] : c.dms) seed(*dm.store, "lib/seed", "v1", img, 1);
    });
    layer = oci::sha256_of(img.layer_bytes);
  }
  /// `name` holds the image whole, tag and all.
  bool sound(const std::string& name) {
    auto& s = *c->dms.at(name).store;
    auto b = s.blob("lib/seed", layer);
    return b && read_file(b->path) == img.layer_bytes && s.manifest("lib/seed", oci::reference{img.digest}) &&
           s.manifest("lib/seed", oci::reference{std::string("v1")});
  }
  /// Eight bytes of `name`'s layer go bad in place, its size unchanged:
  /// only a hash can tell.
  void damage(const std::string& name) {
    std::fstream f(c->dms.at(name).store->blob("lib/seed", layer)->path,
                   std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(4096);
    f.write("XXXXXXXX", 8);
  }
};

} // namespace

TEST_CASE_METHOD(seeded_cluster,
                 "a data manager whose copy went bad on disk drops it once a receiver refuses it, and gets it back",
                 "[cluster][damage]") {
  REQUIRE(sound("dm1"));
  damage("dm1");
  REQUIRE_FALSE(sound("dm1"));
  // The master schedules dm1 to deliver the image to rt1; rt1's gateway
  // hashes the layer and refuses it. dm1 checks its copy, drops it (with
  // the manifest that needs it), and joins again; the master then owes it
  // the image and delivers it from a sound holder, tag and all.
  caf::scoped_actor self{c->sys};
  self->request(c->dms.at("dm1").actor, 30s, sa::scheduling_request{1, "rt1", "lib/seed", img.digest.str()})
    .receive([&](sa::scheduling_answer& a) { CHECK_FALSE(a.ok); },
             [&](caf::error& e) { FAIL("no answer: " << c->sys.render(e)); });
  CHECK_FALSE(c->rt_store->blob("lib/seed", layer));
  CHECK(eventually([&] { return sound("dm1"); }));
}

TEST_CASE_METHOD(seeded_cluster,
                 "a data manager that got a blob with other bytes than its digest has its source check its copy",
                 "[cluster][damage]") {
  damage("dm1");
  // dm2 lost its copy (say, a disk replaced) and is to get it from dm1.
  auto& dm2 = c->dms.at("dm2");
  dm2.store->delete_together("lib/seed", {img.digest}, {layer});
  // The data plane says which blob came with other bytes than its digest...
  auto r = dm2.transfer->copy_now({"dm1", "dm2", "lib/seed", img.digest.str(), "v1", 1, {}});
  CHECK_FALSE(r.ok);
  CHECK(r.mismatched_blob == layer.str());
  // ...and dm2, told to fetch the image from dm1, asks dm1 to check its
  // copy: dm1 finds it damaged, drops it and joins again; the master then
  // delivers it to dm1 from another holder. (The master still counts dm2
  // as one: the first delivery from it fails, the next comes from dm3.)
  caf::scoped_actor self{c->sys};
  self->request(dm2.actor, 30s,
                sa::delivery{"lib/seed", "v1", img.digest.str(), 1, {"dm1", c->dms.at("dm1").actor}})
    .receive([&](sa::delivery_answer& a) { CHECK_FALSE(a.ok); },
             [&](caf::error& e) { FAIL("no answer: " << c->sys.render(e)); });
  CHECK(eventually([&] { return sound("dm1"); }));
  // dm2 joins again, as it would once restarted, and gets the image too.
  caf::anon_send(dm2.actor, sa::connect_master{c->master});
  CHECK(eventually([&] { return sound("dm2"); }));
}

TEST_CASE("data managers refuse pushes without a valid proof over HTTP", "[cluster]") {
  loopback_cluster c;
  auto img = make_image(c.root / "client", "direct", 1000);
  auto& dm1 = c.dms.at("dm1");
  net::registry_client direct(dm1.http.endpoint());

  SECTION("no proof: 401, OCI body, WWW-Authenticate") {
    try {
      direct.push_blob("lib/app", img.layer);
      FAIL("an unauthenticated push was accepted");
    } catch (const net::registry_error& e) {
      CHECK(e.status == 401);
      CHECK(std::string(e.what()).find("\"code\":\"UNAUTHORIZED\"") != std::string::npos);
    }
    net::request req;
    req.method = "POST";
    REQUIRE(req.set_target("/v2/lib/app/blobs/uploads/"));
    auto r = net::serve_in_memory(*dm1.http.handler, std::move(req));
    CHECK(r.status == 401);
    CHECK(r.headers.get_or("WWW-Authenticate") == "Stowage-Proof realm=\"stowage\"");
  }
  SECTION("a forged proof: 401") {
    auto impostor = config::identity::generate();
    auto pair = sa::issue_proofs(impostor, {"", "lib/app", "v1", 1, "rt1", "dm1", sa::unix_now_ms() + 60'000});
    direct.set_authorizer([p = "Stowage-Proof " + sa::encode(pair.first)](auto, auto) { return p; });
    try {
      direct.push_blob("lib/app", img.layer);
      FAIL("a forged proof was accepted");
    } catch (const net::registry_error& e) {
      CHECK(e.status == 401);
    }
  }
  SECTION("a node signature of the runtime: 401") {
    direct.set_authorizer([&](std::string_view method, std::string_view target) {
      return config::node_authorization(c.rt_id, "rt1", method, target, config::unix_time_ms());
    });
    try {
      direct.push_blob("lib/app", img.layer);
      FAIL("a node-signed push was accepted");
    } catch (const net::registry_error& e) {
      CHECK(e.status == 401);
    }
  }
  CHECK(dm1.store->repositories().empty());
}

TEST_CASE("with a data manager down, a push is handed off through the master's spool and delivered later",
          "[cluster]") {
  loopback_cluster c;
  c.kill_data_manager("dm3");
  REQUIRE(eventually([&] { return c.up_nodes() == 4; }));
  auto img = make_image(c.root / "client", "handoff", 100 * 1024);
  net::registry_client client(c.gateway.endpoint());
  client.push_blob("lib/app", img.config);
  client.push_blob("lib/app", img.layer);
  client.push_manifest("lib/app", "v2", img.manifest, manifest_type);
  CHECK(c.holders("lib/app", img.digest) == 2);
  // Acknowledged with dm1 and dm2; the target then hands dm3's copy to the
  // master's spool, over HTTP, signed by the target.
  REQUIRE(eventually([&] { return c.handoffs().size() == 1; }));
  CHECK(c.spool->manifest("lib/app", oci::reference{img.digest}));
  auto h = c.handoffs();
  REQUIRE(h.size() == 1);
  CHECK(h[0].node == "dm3");
  CHECK(h[0].digest == img.digest.str());

  c.restart_data_manager("dm3");
  REQUIRE(eventually([&] { return c.holders("lib/app", img.digest) == 3; }));
  CHECK(c.dms.at("dm3").store->tag_seq("lib/app", "v2") == 1u);
  REQUIRE(eventually([&] { return c.handoffs().empty(); }));
}

namespace {

/// Writes `img` as an OCI image layout (what `skopeo copy oci:DIR:TAG` reads).
void write_oci_layout(const std::filesystem::path& dir, const image_files& img, const std::string& tag) {
  auto blobs = dir / "blobs" / "sha256";
  std::filesystem::create_directories(blobs);
  auto put = [&](const std::string& bytes) {
    std::ofstream(blobs / oci::sha256_of(bytes).str().substr(7), std::ios::binary) << bytes;
  };
  put(img.config_bytes);
  put(img.layer_bytes);
  put(img.manifest);
  std::ofstream(dir / "oci-layout") << R"({"imageLayoutVersion":"1.0.0"})";
  nlohmann::json index{{"schemaVersion", 2},
                       {"manifests",
                        {{{"mediaType", manifest_type},
                          {"digest", img.digest.str()},
                          {"size", img.manifest.size()},
                          {"annotations", {{"org.opencontainers.image.ref.name", tag}}}}}}};
  std::ofstream(dir / "index.json") << index.dump();
}

int run(const std::string& cmd) { return std::system((cmd + " >/dev/null 2>&1").c_str()); }

} // namespace

TEST_CASE("skopeo pushes and pulls through the gateway", "[cluster][skopeo]") {
  if (run("command -v skopeo") != 0) {
    WARN("skopeo is not installed: skipped");
    return;
  }
  loopback_cluster c;
  auto img = make_image(c.root / "client", "skopeo", 1024 * 1024);
  write_oci_layout(c.root / "layout", img, "v1");
  const std::string ref = "docker://" + c.gateway.endpoint() + "/lib/skopeo:v1";
  REQUIRE(run("skopeo copy --dest-tls-verify=false oci:" + (c.root / "layout").string() + ":v1 " + ref) == 0);
  // skopeo re-serialises the manifest: find the digest it pushed.
  auto pushed = c.rt_store->manifest("lib/skopeo", oci::reference::parse("v1").value());
  REQUIRE(pushed);
  CHECK(c.holders("lib/skopeo", pushed->dig) >= 2); // acknowledged at min_copies
  REQUIRE(eventually([&] { return c.holders("lib/skopeo", pushed->dig) == 3; }));
  REQUIRE(run("skopeo copy --src-tls-verify=false " + ref + " oci:" + (c.root / "back").string() + ":v1") == 0);
  auto back = c.root / "back" / "blobs" / "sha256";
  // skopeo compresses a layer that is not gzip on the way in; what comes back
  // must be exactly what went into the cluster.
  auto parsed = oci::parse_manifest(read_file(pushed->path), manifest_type);
  REQUIRE(parsed.value);
  REQUIRE(parsed.value->layers.size() == 1);
  auto layer = parsed.value->layers[0].dig;
  auto stored = c.dms.begin()->second.store->blob("lib/skopeo", layer);
  REQUIRE(stored);
  CHECK(read_file(back / layer.str().substr(7)) == read_file(stored->path));
  CHECK(read_file(back / pushed->dig.str().substr(7)) == read_file(pushed->path));
  auto pull = decision_for(c, "pull", "lib/skopeo:v1");
  REQUIRE(pull);
  CHECK(measured(*pull) >= 2);
}
