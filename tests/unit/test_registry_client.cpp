// The registry client against a real `stowage serve` stack (http_server +
// registry_api + store) on a loopback port: push, pull, index resolution,
// streaming a blob larger than one read, and the errors a puller must see.
#include "net/http_server.hpp"
#include "net/registry_api.hpp"
#include "net/registry_client.hpp"
#include "oci/media_types.hpp"
#include "store/registry_store.hpp"
#include "silent_listener.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <fstream>
#include <future>
#include <random>
#include <sstream>

namespace fs = std::filesystem;
using namespace stowage;
using nlohmann::json;

namespace {

fs::path temp_dir() {
  std::random_device rd;
  auto p = fs::temp_directory_path() / ("stowage-client-" + std::to_string(rd()) + std::to_string(rd()));
  fs::create_directories(p);
  return p;
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct live_registry {
  fs::path dir = temp_dir();
  std::unique_ptr<store::registry_store> st = store::registry_store::open(dir / "store");
  net::registry_api api{*st};
  net::http_server server{api, net::http_server_options{}};
  std::unique_ptr<net::registry_client> client;

  live_registry() {
    server.start();
    client = std::make_unique<net::registry_client>("127.0.0.1:" + std::to_string(server.port()));
  }
  ~live_registry() {
    server.stop();
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
  fs::path file(const std::string& name, const std::string& data) {
    std::ofstream(dir / name, std::ios::binary) << data;
    return dir / name;
  }
  // An image (config + one layer) pushed through the client; returns the manifest body.
  std::string push_image(const std::string& repo, const std::string& tag, const std::string& arch) {
    std::string config = R"({"architecture":")" + arch + R"(","os":"linux","rootfs":{"type":"layers","diff_ids":[]}})";
    std::string layer = "layer for " + arch;
    auto c = client->push_blob(repo, file("c-" + arch, config));
    auto l = client->push_blob(repo, file("l-" + arch, layer));
    json m{{"schemaVersion", 2},
           {"mediaType", oci::media::oci_manifest},
           {"config", {{"mediaType", oci::media::oci_config}, {"digest", c.str()}, {"size", config.size()}}},
           {"layers", json::array({{{"mediaType", "application/vnd.oci.image.layer.v1.tar"},
                                    {"digest", l.str()},
                                    {"size", layer.size()}}})}};
    std::string body = m.dump();
    CHECK(client->push_manifest(repo, tag, body, oci::media::oci_manifest) == oci::sha256_of(body));
    return body;
  }
};

} // namespace

TEST_CASE("registry client: push, then pull manifest and blobs", "[net][client]") {
  live_registry r;
  std::string body = r.push_image("demo/app", "v1", "amd64");
  auto m = r.client->get_manifest("demo/app", "v1");
  CHECK(m.body == body);
  CHECK(m.media_type == oci::media::oci_manifest);
  CHECK(m.dig == oci::sha256_of(body));
  CHECK(r.client->get_manifest("demo/app", m.dig.str()).body == body);

  auto img = r.client->get_image_manifest("demo/app", "v1", "linux", "amd64");
  REQUIRE(img.parsed.config);
  REQUIRE(img.parsed.layers.size() == 1);
  auto n = r.client->get_blob("demo/app", img.parsed.layers[0].dig, r.dir / "got");
  CHECK(n == std::string("layer for amd64").size());
  CHECK(slurp(r.dir / "got") == "layer for amd64");
  CHECK(r.client->has_blob("demo/app", img.parsed.layers[0].dig));
  CHECK(!r.client->has_blob("demo/app", oci::sha256_of("absent")));
}

TEST_CASE("registry client: a blob of many reads streams and verifies", "[net][client]") {
  live_registry r;
  std::string big(5 * 1024 * 1024 + 17, '\0');
  std::mt19937 gen(42);
  for (auto& c : big) c = static_cast<char>(gen());
  auto d = r.client->push_blob("big/one", r.file("big", big));
  CHECK(d == oci::sha256_of(big));
  CHECK(r.client->push_blob("big/one", r.file("big", big)) == d); // already there: HEAD short-cut
  CHECK(r.client->get_blob("big/one", d, r.dir / "big.out") == big.size());
  CHECK(slurp(r.dir / "big.out") == big);
  CHECK(!fs::exists(r.dir / "big.out.part"));
}

TEST_CASE("registry client: an index resolves to this platform's manifest", "[net][client]") {
  live_registry r;
  std::string amd = r.push_image("multi", "amd", "amd64");
  std::string arm = r.push_image("multi", "arm", "arm64");
  json index{{"schemaVersion", 2},
             {"mediaType", oci::media::oci_index},
             {"manifests",
              json::array({{{"mediaType", oci::media::oci_manifest},
                            {"digest", oci::sha256_of(arm).str()},
                            {"size", arm.size()},
                            {"platform", {{"os", "linux"}, {"architecture", "arm64"}}}},
                           {{"mediaType", oci::media::oci_manifest},
                            {"digest", oci::sha256_of(amd).str()},
                            {"size", amd.size()},
                            {"platform", {{"os", "linux"}, {"architecture", "amd64"}}}}})}};
  r.client->push_manifest("multi", "latest", index.dump(), oci::media::oci_index);
  CHECK(r.client->get_image_manifest("multi", "latest", "linux", "amd64").raw.body == amd);
  CHECK(r.client->get_image_manifest("multi", "latest", "linux", "arm64").raw.body == arm);
  CHECK_THROWS_WITH(r.client->get_image_manifest("multi", "latest", "linux", "s390x"),
                    Catch::Contains("no linux/s390x manifest"));
}

TEST_CASE("registry client: errors carry the status", "[net][client]") {
  live_registry r;
  try {
    r.client->get_manifest("nothing/here", "latest");
    FAIL("no error");
  } catch (const net::registry_error& e) {
    CHECK(e.status == 404);
    CHECK(std::string(e.what()).find("404 {\"errors\"") != std::string::npos); // the OCI error body
  }
  try {
    r.client->get_blob("nothing/here", oci::sha256_of("x"), r.dir / "x");
    FAIL("no error");
  } catch (const net::registry_error& e) {
    CHECK(e.status == 404);
  }
  CHECK(!fs::exists(r.dir / "x"));
  CHECK(!fs::exists(r.dir / "x.part"));
  net::registry_client closed("127.0.0.1:1");
  CHECK_THROWS_AS(closed.get_manifest("a", "b"), net::registry_error);
}

TEST_CASE("registry client: a cancel token cuts a request to a peer that never answers", "[net][client]") {
  silent_listener peer; // a hung process: the request is taken, no answer comes
  net::registry_client client(peer.endpoint);
  client.set_timeout(std::chrono::minutes(2)); // only the cancel ends it within the 30 s waited below
  auto token = std::make_shared<net::cancel_token>();
  client.set_cancel(token);
  auto result = std::async(std::launch::async, [&] {
    try {
      client.get_manifest("lib/x", "v1");
      return std::string("answered");
    } catch (const net::registry_error& e) {
      return std::string(e.what());
    }
  });
  CHECK(result.wait_for(std::chrono::milliseconds(200)) == std::future_status::timeout); // waiting for the answer
  token->cancel();
  REQUIRE(result.wait_for(std::chrono::seconds(30)) == std::future_status::ready);
  CHECK(result.get().find("lib/x") == std::string::npos); // a transport error, not an answer
  CHECK(token->cancelled());
  // Later requests through the token fail at once.
  CHECK_THROWS_AS(client.has_blob("lib/x", oci::sha256_of("x")), net::registry_error);
}

TEST_CASE("registry client: a body the peer never reads fails within the step timeout", "[net][client]") {
  // A test packet to a runtime that is stopped: the kernel takes the
  // connection, the socket buffers fill, and the write would wait.
  silent_listener peer;
  net::registry_client client(peer.endpoint);
  client.set_timeout(std::chrono::milliseconds(300));
  auto token = std::make_shared<net::cancel_token>();
  client.set_cancel(token);
  auto result = std::async(std::launch::async, [&] {
    try {
      return std::to_string(client.post("/probe", std::string(64 << 20, 'x'), "application/octet-stream"));
    } catch (const net::registry_error& e) {
      return std::string(e.what());
    }
  });
  const bool ended = result.wait_for(std::chrono::seconds(30)) == std::future_status::ready;
  if (!ended) token->cancel(); // so that the test ends either way
  CHECK(ended);
  CHECK(result.get().find("cannot send") != std::string::npos);
}

TEST_CASE("registry client: a deadline bounds the whole request, not each step", "[net][client]") {
  silent_listener peer; // takes the request and never answers
  net::registry_client client(peer.endpoint);
  client.set_timeout(std::chrono::minutes(2)); // only the deadline ends it within the 30 s waited below
  client.set_deadline(std::chrono::steady_clock::now() + std::chrono::milliseconds(300));
  auto token = std::make_shared<net::cancel_token>();
  client.set_cancel(token);
  auto result = std::async(std::launch::async, [&] {
    try {
      return std::to_string(client.post("/probe", std::string(4096, 'x'), "application/octet-stream"));
    } catch (const net::registry_error& e) {
      return std::string(e.what());
    }
  });
  const bool ended = result.wait_for(std::chrono::seconds(30)) == std::future_status::ready;
  if (!ended) token->cancel(); // so that the test ends either way
  CHECK(ended);
  CHECK(result.get().find("bad answer") != std::string::npos); // the read of the answer timed out
}
