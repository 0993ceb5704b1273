// The gateway and the probe receiver without sockets or actors: a scripted
// runtime_port stands in for the runtime actor.
#include "registry_api_fixture.hpp"

#include "body_source_support.hpp"

#include "config/node_auth.hpp"
#include "net/blob_relay.hpp"
#include "net/gateway.hpp"
#include "net/http_server.hpp"
#include "net/probe_receiver.hpp"
#include "net/registry_api.hpp"
#include "oci/media_types.hpp"

#include <future>
#include <mutex>
#include <set>

using namespace stowage;
using stowage::test::api_fixture;

namespace {

const std::string manifest_type = "application/vnd.oci.image.manifest.v1+json";

/// `n` bytes that differ with `seed`.
std::string blob_bytes(std::size_t n, unsigned seed) {
  std::string b(n, '\0');
  for (std::size_t i = 0; i < n; ++i) b[i] = char((i * 7919 + seed * 104729) % 251);
  return b;
}

struct scripted_runtime final : actors::runtime_port {
  std::function<void(const std::string&, const std::string&, pull_fn)> on_pull;
  plan_fn plan; // of the last pull
  actors::runtime_push_result push_answer;
  std::vector<std::string> pushes;
  void pull(std::string repository, std::string reference, pull_fn done, plan_fn on_plan) override {
    plan = std::move(on_plan);
    on_pull(repository, reference, std::move(done));
  }
  std::function<void(const std::string&, const std::string&, pull_fn)> on_pull_blob = [](auto&, auto&, pull_fn done) {
    done(actors::runtime_pull_result{false, true, "unknown blob", {}, {}});
  };
  void pull_blob(std::string repository, std::string digest, pull_fn done) override {
    on_pull_blob(repository, digest, std::move(done));
  }
  void push(std::string repository, std::string tag, std::string digest, push_fn done) override {
    pushes.push_back(repository + ":" + tag + "@" + digest);
    done(push_answer);
  }
  std::vector<std::string> opened, blobs; // open_push and blob_pushed, in order
  void open_push(std::string repository) override { opened.push_back(repository); }
  void blob_pushed(std::string repository, std::string digest) override { blobs.push_back(repository + "@" + digest); }
  std::function<void(const std::string&, const std::string&, delete_fn)> on_remove;
  void remove(std::string repository, std::string reference, delete_fn done) override {
    on_remove(repository, reference, std::move(done));
  }
  actors::runtime_tags_result tags_answer{true, true, {}, {}};
  void tags(std::string, tags_fn done) override { done(tags_answer); }
  std::optional<std::vector<std::string>> repositories_answer = std::vector<std::string>{};
  void repositories(repositories_fn done) override { done(repositories_answer, "the master did not answer"); }
  std::vector<std::string> arriving; // blob_arriving: repository@digest:size
  void blob_arriving(std::string repository, std::string digest, std::uint64_t size) override {
    arriving.push_back(repository + "@" + digest + ":" + std::to_string(size));
  }
};

struct gateway_fixture : api_fixture {
  config::identity dm1 = config::identity::generate();
  std::shared_ptr<config::directory> nodes = std::make_shared<config::directory>();
  std::shared_ptr<scripted_runtime> rt = std::make_shared<scripted_runtime>();
  std::vector<actors::probe_arrival> packets;
  std::shared_ptr<store::registry_store> cache{st.get(), [](store::registry_store*) {}};
  /// The gateway's clock, moved by the tests; read by its tidy thread too.
  struct test_clock {
    mutable std::mutex mu;
    std::chrono::steady_clock::time_point t{};
    test_clock& operator+=(std::chrono::steady_clock::duration d) {
      std::lock_guard lock(mu);
      t += d;
      return *this;
    }
    std::chrono::steady_clock::time_point now() const {
      std::lock_guard lock(mu);
      return t;
    }
  } clock;
  std::shared_ptr<net::blob_relay> relay = std::make_shared<net::blob_relay>(cache);
  std::unique_ptr<net::gateway> gw;

  gateway_fixture() {
    nodes->add({"dm1", config::role::data, "127.0.0.1:2", dm1.public_key_hex()});
    net::gateway_options opts;
    opts.now = [this] { return clock.now(); };
    opts.tidy_every = std::chrono::milliseconds(10);
    opts.relay = relay;
    gw = std::make_unique<net::gateway>(cache, rt, nodes, [this](const actors::probe_arrival& a) { packets.push_back(a); },
                                        opts);
  }
  /// The gateway's state outlives `gw` while the scripted runtime holds a
  /// pull's callbacks (they hold the state, which holds the runtime), and
  /// its tidy thread would go on reading `clock` and the store after the
  /// test: drop the callbacks so that thread ends with the gateway.
  ~gateway_fixture() {
    gw.reset();
    rt->plan = nullptr;
    rt->on_pull = nullptr;
    rt->on_remove = nullptr;
  }
  net::response gcall(std::string method, std::string target, std::string_view body = {},
                      std::vector<std::pair<std::string, std::string>> headers = {}) {
    return call_on(*gw, std::move(method), std::move(target), body, std::move(headers));
  }
  std::string push_manifest_body() {
    std::string config = R"({"os":"linux"})";
    std::string layer = "layer";
    REQUIRE(gcall("POST", "/v2/lib/app/blobs/uploads/?digest=" + oci::sha256_of(config).str(), config).status == 201);
    REQUIRE(gcall("POST", "/v2/lib/app/blobs/uploads/?digest=" + oci::sha256_of(layer).str(), layer).status == 201);
    return image_manifest(oci::sha256_of(config), config.size(), {{oci::sha256_of(layer), layer.size()}});
  }
  /// An image pushed into the cache by digest only (the cluster
  /// acknowledging it): its manifest body and digest.
  std::pair<std::string, oci::digest> cached_by_digest() {
    auto m = push_manifest_body();
    rt->push_answer = {true, {}, "dm1", 3};
    auto d = oci::sha256_of(m);
    REQUIRE(gcall("PUT", "/v2/lib/app/manifests/" + d.str(), m, {{"Content-Type", manifest_type}}).status == 201);
    return {m, d};
  }
};

} // namespace

TEST_CASE_METHOD(gateway_fixture, "a local push is answered 201 only when the cluster holds it", "[unit][cluster]") {
  auto m = push_manifest_body();
  rt->push_answer = {false, "only 1 durable copies, 2 required", "dm1", 1};
  auto refused = gcall("PUT", "/v2/lib/app/manifests/v1", m, {{"Content-Type", manifest_type}});
  CHECK(refused.status == 503);
  CHECK(refused.body.find("only 1 durable copies") != std::string::npos);
  rt->push_answer = {true, {}, "dm1", 3};
  auto ok = gcall("PUT", "/v2/lib/app/manifests/v1", m, {{"Content-Type", manifest_type}});
  CHECK(ok.status == 201);
  REQUIRE(rt->pushes.size() == 2);
  CHECK(rt->pushes[1] == "lib/app:v1@" + oci::sha256_of(m).str());

  // A delivery signed by a data manager goes into the cache without a push.
  auto target = "/v2/lib/app/manifests/" + oci::sha256_of(m).str();
  auto sig = config::node_authorization(dm1, "dm1", "PUT", target, config::unix_time_ms());
  CHECK(gcall("PUT", target, m, {{"Content-Type", manifest_type}, {"Authorization", sig}}).status == 201);
  CHECK(rt->pushes.size() == 2);
}

TEST_CASE_METHOD(gateway_fixture, "a client's uploads open a push ahead and report each blob once stored",
                 "[unit][cluster]") {
  // POST, then PUT with the body (skopeo's way).
  auto start = gcall("POST", "/v2/lib/app/blobs/uploads/");
  REQUIRE(start.status == 202);
  CHECK(rt->opened == std::vector<std::string>{"lib/app"});
  CHECK(rt->blobs.empty());
  std::string layer = "layer bytes";
  auto d = oci::sha256_of(layer).str();
  auto location = std::string(start.headers.get_or("Location"));
  REQUIRE(gcall("PUT", location + "?digest=" + d, layer).status == 201);
  CHECK(rt->blobs == std::vector<std::string>{"lib/app@" + d});
  // A PATCH, then an empty PUT.
  auto second = gcall("POST", "/v2/lib/app/blobs/uploads/");
  std::string config = R"({"os":"linux"})";
  auto c = oci::sha256_of(config).str();
  auto loc2 = std::string(second.headers.get_or("Location"));
  REQUIRE(gcall("PATCH", loc2, config, {{"Content-Type", "application/octet-stream"}}).status == 202);
  REQUIRE(gcall("PUT", loc2 + "?digest=" + c).status == 201);
  CHECK(rt->blobs.back() == "lib/app@" + c);
  // A blob that does not match its digest is not reported.
  auto third = gcall("POST", "/v2/lib/app/blobs/uploads/");
  auto loc3 = std::string(third.headers.get_or("Location"));
  CHECK(gcall("PUT", loc3 + "?digest=" + d, "other bytes").status == 400);
  CHECK(rt->blobs.size() == 2);
  CHECK(rt->opened.size() == 3); // the runtime keeps one session per repository
}

namespace {

/// A client's PATCH whose body the test feeds by hand.
struct open_patch {
  std::unique_ptr<net::body_handler> body;
  std::string location;
  void feed(std::string_view bytes) {
    for (std::size_t off = 0; off < bytes.size(); off += 256 * 1024)
      REQUIRE(body->on_data(bytes.data() + off, std::min<std::size_t>(256 * 1024, bytes.size() - off)));
  }
  int end(bool complete = true) {
    std::promise<int> status;
    body->on_end(complete, [&](net::response r) { status.set_value(r.status); });
    return status.get_future().get();
  }
};

/// A client's new upload session in lib/app and its PATCH of `length`
/// bytes, started: the test feeds the body.
open_patch start_patch(gateway_fixture& f, std::uint64_t length) {
  auto start = f.gcall("POST", "/v2/lib/app/blobs/uploads/");
  REQUIRE(start.status == 202);
  net::request req;
  req.method = "PATCH";
  req.from_this_host = true;
  req.set_target(std::string(start.headers.get_or("Location")));
  req.content_length = length;
  auto rr = f.gw->route(req);
  REQUIRE(rr.body);
  return open_patch{std::move(rr.body), req.path};
}

} // namespace

TEST_CASE_METHOD(gateway_fixture, "a client's blob is readable for the push target while it arrives",
                 "[unit][cluster][relay]") {
  const auto layer = blob_bytes(4 << 20, 1);
  const auto d = oci::sha256_of(layer);
  // Clients ask for a blob before they upload it: that one is announced.
  CHECK(gcall("HEAD", "/v2/lib/app/blobs/" + d.str()).status == 404);
  auto up = start_patch(*this, layer.size());
  CHECK(rt->arriving == std::vector<std::string>{"lib/app@" + d.str() + ":" + std::to_string(layer.size())});
  auto body = relay->open("lib/app", d);
  REQUIRE(body);
  CHECK(body->length == layer.size());
  // Another client pushing the same image meanwhile is told the blob is not
  // here yet: told 200, it would skip its upload and name the blob in a
  // manifest the cache must refuse until this upload lands.
  CHECK(gcall("HEAD", "/v2/lib/app/blobs/" + d.str()).status == 404);
  // 3 MiB in: what is surely in the upload's file can be read, no more.
  up.feed(std::string_view(layer).substr(0, 3 << 20));
  std::string got;
  while (got.size() < (3u << 20) - store::upload_writer::max_unwritten) {
    auto piece = test::next_piece(*body->source);
    REQUIRE(piece);
    got += *piece;
  }
  CHECK(got == layer.substr(0, got.size()));
  auto more = test::ask_piece(*body->source);
  CHECK(test::waiting(more));
  // The rest: all but the last bytes can be read; those wait for the
  // commit (PUT ?digest=), which completes the body.
  up.feed(std::string_view(layer).substr(3 << 20));
  REQUIRE(up.end() == 202);
  for (auto piece = more.get(); piece; piece = more.get()) {
    got += *piece;
    more = test::ask_piece(*body->source);
    if (test::waiting(more)) break;
  }
  REQUIRE(got.size() < layer.size());
  CHECK(rt->blobs.empty());
  net::request commit; // as clients send it: with Content-Length: 0
  commit.from_this_host = true;
  commit.method = "PUT";
  commit.set_target(up.location + "?digest=" + d.str());
  commit.content_length = 0;
  REQUIRE(net::serve_in_memory(*gw, commit).status == 201);
  CHECK(rt->blobs == std::vector<std::string>{"lib/app@" + d.str()});
  for (auto piece = more.get(); piece; piece = test::next_piece(*body->source)) {
    got += *piece;
    if (got.size() >= layer.size()) break;
  }
  CHECK(got == layer);
}

TEST_CASE_METHOD(gateway_fixture, "a client's blob is announced only when one blob was asked for and it is whole",
                 "[unit][cluster][relay]") {
  const auto a = blob_bytes(2 << 20, 2), b = blob_bytes(2 << 20, 3);
  const auto da = oci::sha256_of(a), db = oci::sha256_of(b);
  auto upload = [&](const std::string& bytes, const oci::digest& d) {
    auto start = gcall("POST", "/v2/lib/app/blobs/uploads/");
    auto loc = std::string(start.headers.get_or("Location"));
    REQUIRE(gcall("PATCH", loc, bytes).status == 202);
    return gcall("PUT", loc + "?digest=" + d.str()).status;
  };
  SECTION("asked for one blob, uploaded another: the reader of the one asked for is cut") {
    CHECK(gcall("HEAD", "/v2/lib/app/blobs/" + da.str()).status == 404);
    auto up = start_patch(*this, b.size());
    CHECK(rt->arriving == std::vector<std::string>{"lib/app@" + da.str() + ":" + std::to_string(b.size())});
    auto body = relay->open("lib/app", da);
    REQUIRE(body);
    auto all = std::async(std::launch::async, [&] { return net::read_stream(*body); });
    up.feed(b);
    REQUIRE(up.end() == 202);
    REQUIRE(gcall("PUT", up.location + "?digest=" + db.str()).status == 201);
    CHECK(all.get() == std::nullopt); // never the other blob's bytes
    CHECK(rt->blobs == std::vector<std::string>{"lib/app@" + db.str()});
    CHECK_FALSE(relay->open("lib/app", da)); // settled
  }
  SECTION("two blobs asked for (a client uploading in parallel): none is guessed") {
    CHECK(gcall("HEAD", "/v2/lib/app/blobs/" + da.str()).status == 404);
    CHECK(gcall("HEAD", "/v2/lib/app/blobs/" + db.str()).status == 404);
    CHECK(upload(a, da) == 201);
    CHECK(rt->arriving.empty());
    // The upload answered one of them: the next is the only one left.
    CHECK(upload(b, db) == 201);
    CHECK(rt->arriving == std::vector<std::string>{"lib/app@" + db.str() + ":" + std::to_string(b.size())});
  }
  SECTION("small blobs, and blobs sent in several pieces, are sent once committed") {
    std::string config = R"({"os":"linux"})";
    CHECK(gcall("HEAD", "/v2/lib/app/blobs/" + oci::sha256_of(config).str()).status == 404);
    CHECK(upload(config, oci::sha256_of(config)) == 201);
    CHECK(rt->arriving.empty());
    CHECK(gcall("HEAD", "/v2/lib/app/blobs/" + da.str()).status == 404);
    auto start = gcall("POST", "/v2/lib/app/blobs/uploads/");
    auto loc = std::string(start.headers.get_or("Location"));
    const std::size_t half = a.size() / 2;
    REQUIRE(gcall("PATCH", loc, std::string_view(a).substr(0, half)).status == 202); // 1 MiB: announced...
    REQUIRE(rt->arriving.size() == 1);
    auto body = relay->open("lib/app", da);
    REQUIRE(body);
    CHECK(body->length == half);
    const auto range = std::to_string(half) + "-" + std::to_string(a.size() - 1);
    REQUIRE(gcall("PATCH", loc, std::string_view(a).substr(half), {{"Content-Range", range}}).status == 202);
    CHECK(net::read_stream(*body) == std::nullopt); // ...and given up once more bytes came
    REQUIRE(gcall("PUT", loc + "?digest=" + da.str()).status == 201);
    CHECK(rt->blobs.back() == "lib/app@" + da.str());
  }
  SECTION("a whole blob uploaded and never committed is given up after its lifetime") {
    CHECK(gcall("HEAD", "/v2/lib/app/blobs/" + da.str()).status == 404);
    auto up = start_patch(*this, a.size());
    auto body = relay->open("lib/app", da);
    REQUIRE(body);
    auto first = test::ask_piece(*body->source);
    up.feed(a);
    REQUIRE(up.end() == 202); // and the client goes away without its PUT
    CHECK(test::waiting(first)); // for the commit
    clock += std::chrono::minutes(11);
    // No other request comes: the gateway's own tick ends the arrival.
    const bool ended = first.wait_for(std::chrono::seconds(20)) == std::future_status::ready;
    if (!ended) gcall("DELETE", up.location); // frees the reader, so that the test ends either way
    REQUIRE(ended);
    CHECK(first.get() == std::nullopt); // cut: never a body that was not committed
  }
  SECTION("an ask is forgotten after a minute") {
    CHECK(gcall("HEAD", "/v2/lib/app/blobs/" + db.str()).status == 404);
    clock += std::chrono::seconds(61);
    CHECK(gcall("HEAD", "/v2/lib/app/blobs/" + da.str()).status == 404);
    CHECK(upload(a, da) == 201);
    CHECK(rt->arriving.size() == 1);
  }
}

TEST_CASE_METHOD(gateway_fixture, "an upload the gateway refuses opens no push session", "[unit][cluster]") {
  net::gateway_options closed;
  closed.open_local_pushes = false;
  net::gateway gw_closed(cache, rt, nodes, [](const actors::probe_arrival&) {}, closed);
  CHECK(call_on(gw_closed, "POST", "/v2/lib/app/blobs/uploads/").status == 401);
  std::string layer = "layer";
  CHECK(call_on(gw_closed, "POST", "/v2/lib/app/blobs/uploads/?digest=" + oci::sha256_of(layer).str(), layer).status ==
        401);
  CHECK(rt->opened.empty());
  CHECK(rt->blobs.empty());
}

TEST_CASE_METHOD(gateway_fixture, "a pull by tag asks the cluster, then serves from the cache", "[unit][cluster]") {
  auto [m, d] = cached_by_digest(); // the tag must come from the cluster
  std::vector<std::string> asked;
  rt->on_pull = [&](const std::string& repo, const std::string& ref, auto done) {
    asked.push_back(repo + ":" + ref);
    if (ref == "v1") done({true, false, {}, d.str(), "dm1"});
    else if (ref == "gone") done({false, true, "unknown image lib/app:gone", {}, {}});
    else done({false, false, "no holder answered the probe in time", {}, {}});
  };
  auto r = gcall("GET", "/v2/lib/app/manifests/v1");
  CHECK(r.status == 200);
  CHECK(body_of(r) == m);
  CHECK(r.headers.get_or("Docker-Content-Digest") == d.str());
  clock += std::chrono::seconds(5); // past tag_reuse: the tag is asked again
  CHECK(gcall("HEAD", "/v2/lib/app/manifests/v1").status == 200);
  CHECK(gcall("GET", "/v2/lib/app/manifests/gone").status == 404);
  CHECK(gcall("GET", "/v2/lib/app/manifests/busy").status == 503);
  CHECK(gcall("GET", "/v2/lib/app/manifests/" + d.str()).status == 200); // cached digest: no pull
  CHECK(asked == std::vector<std::string>{"lib/app:v1", "lib/app:v1", "lib/app:gone", "lib/app:busy"});
}

TEST_CASE_METHOD(gateway_fixture, "a manifest DELETE deletes from the cluster, then from the cache",
                 "[unit][cluster][delete]") {
  auto m = push_manifest_body();
  rt->push_answer = {true, {}, "dm1", 3};
  auto d = oci::sha256_of(m);
  REQUIRE(gcall("PUT", "/v2/lib/app/manifests/v1", m, {{"Content-Type", manifest_type}}).status == 201);
  std::vector<std::string> asked;
  actors::runtime_delete_result answer{true, false, {}, d.str(), {"v1"}};
  rt->on_remove = [&](const std::string& repo, const std::string& ref, auto done) {
    asked.push_back(repo + ":" + ref);
    done(answer);
  };
  rt->on_pull = [&](const std::string&, const std::string&, auto done) {
    done({false, true, "unknown image", {}, {}});
  };

  // The cluster cannot be reached: 503, and the cache keeps the image.
  answer = {false, false, "the master did not answer", {}, {}};
  CHECK(gcall("DELETE", "/v2/lib/app/manifests/" + d.str()).status == 503);
  CHECK(cache->manifest("lib/app", oci::reference{d}));

  answer = {true, false, {}, d.str(), {"v1"}};
  CHECK(gcall("DELETE", "/v2/lib/app/manifests/" + d.str()).status == 202);
  CHECK_FALSE(cache->manifest("lib/app", oci::reference{d}));
  CHECK_FALSE(cache->manifest("lib/app", oci::reference{std::string("v1")}));
  CHECK(gcall("GET", "/v2/lib/app/manifests/" + d.str()).status == 404); // asks the cluster, which says unknown

  // Unknown to the cluster and to the cache: 404. A malformed reference
  // never reaches the cluster.
  answer = {false, true, "unknown image", {}, {}};
  auto gone = gcall("DELETE", "/v2/lib/app/manifests/v1");
  CHECK(gone.status == 404);
  CHECK(gone.body.find("MANIFEST_UNKNOWN") != std::string::npos);
  CHECK(gcall("DELETE", "/v2/lib/app/manifests/sha256:nothex").status == 400);
  CHECK(asked == std::vector<std::string>{"lib/app:" + d.str(), "lib/app:" + d.str(), "lib/app:v1"});

  // A client on another host, and a gateway closed to local writes, are
  // refused before the cluster is asked.
  const bool remote = false;
  CHECK(call_on(*gw, "DELETE", "/v2/lib/app/manifests/v1", {}, {}, remote).status == 403);
  net::gateway_options closed;
  closed.open_local_pushes = false;
  net::gateway gw_closed(cache, rt, nodes, [](const actors::probe_arrival&) {}, closed);
  CHECK(call_on(gw_closed, "DELETE", "/v2/lib/app/manifests/v1").status == 401);
  CHECK(asked.size() == 3);
}

TEST_CASE_METHOD(gateway_fixture, "a tags list and the catalog are the cluster's, paged", "[unit][cluster]") {
  rt->tags_answer = {true, true, {}, {"a", "b", "c"}};
  auto all = gcall("GET", "/v2/lib/app/tags/list");
  REQUIRE(all.status == 200);
  CHECK(nlohmann::json::parse(body_of(all)) == nlohmann::json{{"name", "lib/app"}, {"tags", {"a", "b", "c"}}});
  auto page = gcall("GET", "/v2/lib/app/tags/list?n=1&last=a");
  REQUIRE(page.status == 200);
  CHECK(nlohmann::json::parse(body_of(page))["tags"] == nlohmann::json{"b"});
  CHECK(page.headers.get_or("Link") == "</v2/lib/app/tags/list?n=1&last=b>; rel=\"next\"");
  CHECK(gcall("GET", "/v2/lib/app/tags/list?n=x").status == 400);
  rt->tags_answer = {true, false, {}, {}};
  auto unknown = gcall("GET", "/v2/lib/none/tags/list");
  CHECK(unknown.status == 404);
  CHECK(unknown.body.find("NAME_UNKNOWN") != std::string::npos);
  rt->tags_answer = {false, false, "the master did not answer", {}};
  CHECK(gcall("GET", "/v2/lib/app/tags/list").status == 503);

  rt->repositories_answer = std::vector<std::string>{"a/one", "b/two", "c/three"};
  auto repos = gcall("GET", "/v2/_catalog?n=2");
  REQUIRE(repos.status == 200);
  CHECK(nlohmann::json::parse(body_of(repos))["repositories"] == nlohmann::json{"a/one", "b/two"});
  CHECK(repos.headers.get_or("Link") == "</v2/_catalog?n=2&last=b%2Ftwo>; rel=\"next\"");
  CHECK(nlohmann::json::parse(body_of(gcall("GET", "/v2/_catalog?last=b%2Ftwo")))["repositories"] ==
        nlohmann::json{"c/three"});
  rt->repositories_answer = std::nullopt;
  CHECK(gcall("GET", "/v2/_catalog").status == 503);
}

TEST_CASE_METHOD(gateway_fixture, "referrers come from the data managers, not the cache", "[unit][cluster]") {
  // dm1's endpoint in the directory answers nothing: no list from the cache instead.
  auto [m, d] = cached_by_digest();
  auto r = gcall("GET", "/v2/lib/app/referrers/" + d.str());
  CHECK(r.status == 503);
  CHECK(r.body.find("no data manager answered") != std::string::npos);
  CHECK(gcall("GET", "/v2/lib/app/referrers/sha256:nothex").status == 400);
}

namespace {

/// A data manager's OCI endpoint on a real socket; `before` runs ahead of
/// each request (to hold one up).
struct dm_endpoint {
  std::filesystem::path dir = test::make_temp_dir();
  std::unique_ptr<store::registry_store> st = store::registry_store::open(dir);
  net::registry_api api{*st};
  struct held final : net::http_handler {
    net::http_handler* inner = nullptr;
    std::function<void()> before;
    net::route_result route(const net::request& r) override {
      if (before) before();
      return inner->route(r);
    }
  } handler;
  std::unique_ptr<net::http_server> http;

  explicit dm_endpoint(std::function<void()> before = {}) {
    handler.inner = &api;
    handler.before = std::move(before);
    net::http_server_options o;
    o.threads = 1;
    http = std::make_unique<net::http_server>(handler, o);
    http->start();
  }
  ~dm_endpoint() {
    http->stop();
    st.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
  std::string address() const { return "127.0.0.1:" + std::to_string(http->port()); }
  /// Stores an artifact of `type` whose subject is `subject`; its digest.
  std::string refer(const oci::digest& subject, const std::string& type) {
    std::string empty = "{}";
    auto e = oci::sha256_of(empty);
    REQUIRE(api_fixture::call_on(api, "POST", "/v2/lib/app/blobs/uploads/?digest=" + e.str(), empty).status == 201);
    auto m = api_fixture::image_manifest(e, empty.size(), {}, subject, type);
    auto d = oci::sha256_of(m).str();
    REQUIRE(api_fixture::call_on(api, "PUT", "/v2/lib/app/manifests/" + d, m, {{"Content-Type", manifest_type}})
                .status == 201);
    return d;
  }
};

/// An endpoint that answers every request with 200 and `body`.
struct fixed_answer final : net::http_handler {
  std::string body;
  net::route_result route(const net::request&) override {
    net::response r;
    r.status = 200;
    r.headers.set("Content-Type", "application/json");
    r.body = body;
    return net::route_result::answer(std::move(r));
  }
};

} // namespace

TEST_CASE_METHOD(gateway_fixture, "referrers are the union of every data manager's list, asked all at once",
                 "[unit][cluster]") {
  // dm1 (the fixture's) refuses connections. dm2 answers only once dm3 has
  // been asked: asked one after the other, dm2 would time out first and its
  // list would be missing.
  std::promise<void> dm3_asked;
  auto asked = dm3_asked.get_future().share();
  dm_endpoint dm2([asked] { asked.wait_for(std::chrono::seconds(10)); });
  std::once_flag once;
  dm_endpoint dm3([&] { std::call_once(once, [&] { dm3_asked.set_value(); }); });
  nodes->add({"dm2", config::role::data, dm2.address(), config::identity::generate().public_key_hex()});
  nodes->add({"dm3", config::role::data, dm3.address(), config::identity::generate().public_key_hex()});
  auto subject = oci::sha256_of("the signed image");
  auto sig = dm2.refer(subject, "application/vnd.example.signature");
  auto sbom = dm3.refer(subject, "application/vnd.example.sbom");
  auto both = dm3.refer(subject, "application/vnd.example.attestation");
  REQUIRE(dm2.refer(subject, "application/vnd.example.attestation") == both); // on two nodes, listed once

  // Two more answer what is not a list of referrers: ignored, not fatal.
  fixed_answer not_an_index, bad_entries;
  not_an_index.body = "[]";
  bad_entries.body = R"({"manifests":[{"digest":5},"x",null]})";
  net::http_server_options o;
  o.threads = 1;
  net::http_server dm4(not_an_index, o), dm5(bad_entries, o);
  dm4.start();
  dm5.start();
  nodes->add({"dm4", config::role::data, "127.0.0.1:" + std::to_string(dm4.port()), config::identity::generate().public_key_hex()});
  nodes->add({"dm5", config::role::data, "127.0.0.1:" + std::to_string(dm5.port()), config::identity::generate().public_key_hex()});

  auto r = gcall("GET", "/v2/lib/app/referrers/" + subject.str());
  REQUIRE(r.status == 200);
  CHECK(r.headers.get_or("Content-Type") == oci::media::oci_index);
  auto index = nlohmann::json::parse(body_of(r));
  std::set<std::string> listed;
  for (auto& m : index["manifests"]) listed.insert(m["digest"].get<std::string>());
  CHECK(listed == std::set<std::string>{sig, sbom, both});
  CHECK(index["manifests"].size() == 3);

  auto only = gcall("GET", "/v2/lib/app/referrers/" + subject.str() + "?artifactType=application%2Fvnd.example.sbom");
  REQUIRE(only.status == 200);
  CHECK(only.headers.get_or("OCI-Filters-Applied") == "artifactType");
  auto k = nlohmann::json::parse(body_of(only))["manifests"];
  REQUIRE(k.size() == 1);
  CHECK(k[0]["digest"] == sbom);
}

TEST_CASE_METHOD(gateway_fixture, "an engine's HEAD then GET of a tag makes one pull", "[unit][cluster]") {
  auto [m, d] = cached_by_digest();
  int pulls = 0;
  rt->on_pull = [&](const std::string&, const std::string&, auto done) {
    ++pulls;
    done({true, false, {}, d.str(), "dm1"});
  };
  CHECK(gcall("HEAD", "/v2/lib/app/manifests/v1").status == 200);
  clock += std::chrono::milliseconds(300);
  auto r = gcall("GET", "/v2/lib/app/manifests/v1");
  CHECK(r.status == 200);
  CHECK(body_of(r) == m);
  CHECK(pulls == 1);
  // A while later the tag may have moved: the cluster is asked again.
  clock += std::chrono::seconds(3);
  CHECK(gcall("GET", "/v2/lib/app/manifests/v1").status == 200);
  CHECK(pulls == 2);
  // A local push of the tag forgets what the last pull said.
  CHECK(gcall("PUT", "/v2/lib/app/manifests/v1", m, {{"Content-Type", manifest_type}}).status == 201);
  CHECK(gcall("GET", "/v2/lib/app/manifests/v1").status == 200);
  CHECK(pulls == 3);
}

TEST_CASE_METHOD(gateway_fixture, "a pull is answered from the master's plan and its blobs relayed as they arrive",
                 "[unit][cluster][relay]") {
  // dm2: a real OCI endpoint holding the image the plan names.
  auto dm2_dir = test::make_temp_dir();
  auto dm2_store = store::registry_store::open(dm2_dir);
  net::registry_api dm2_api(*dm2_store);
  std::string config = R"({"os":"linux","architecture":"amd64"})";
  std::string layer(100 * 1000, '\0');
  for (std::size_t i = 0; i < layer.size(); ++i) layer[i] = char((i * 7919) % 251);
  auto cd = oci::sha256_of(config), ld = oci::sha256_of(layer);
  REQUIRE(call_on(dm2_api, "POST", "/v2/lib/app/blobs/uploads/?digest=" + cd.str(), config).status == 201);
  REQUIRE(call_on(dm2_api, "POST", "/v2/lib/app/blobs/uploads/?digest=" + ld.str(), layer).status == 201);
  auto m = image_manifest(cd, config.size(), {{ld, layer.size()}});
  auto d = oci::sha256_of(m);
  REQUIRE(call_on(dm2_api, "PUT", "/v2/lib/app/manifests/v1", m, {{"Content-Type", manifest_type}}).status == 201);
  net::http_server_options o;
  o.threads = 1;
  net::http_server dm2_http(dm2_api, o);
  dm2_http.start();
  auto dm2 = config::identity::generate();
  nodes->add({"dm2", config::role::data, "127.0.0.1:" + std::to_string(dm2_http.port()), dm2.public_key_hex()});

  // The pull stays in flight; its plan names dm2 at once.
  actors::runtime_port::pull_fn finish;
  rt->on_pull = [&](const std::string&, const std::string&, auto done) {
    finish = std::move(done);
    rt->plan(actors::runtime_pull_plan{7, d.str(), "dm2"});
  };
  auto r = gcall("GET", "/v2/lib/app/manifests/v1");
  REQUIRE(r.status == 200);
  CHECK(r.body == m);
  CHECK(r.headers.get_or("Docker-Content-Digest") == d.str());
  CHECK_FALSE(cache->manifest("lib/app", oci::reference{d})); // answered before the image is here
  CHECK(gcall("GET", "/v2/lib/app/manifests/" + d.str()).body == m); // by digest too, from the plan
  CHECK(gcall("HEAD", "/v2/lib/app/blobs/" + ld.str()).status == 404); // senders ask what the cache holds

  // The client's blob GET is answered with a body that follows the delivery.
  auto blob = gcall("GET", "/v2/lib/app/blobs/" + ld.str());
  REQUIRE(blob.status == 200);
  REQUIRE(blob.stream);
  CHECK(blob.stream->length == layer.size());
  auto got = std::async(std::launch::async, [&] { return net::read_stream(*blob.stream); });
  CHECK(got.wait_for(std::chrono::milliseconds(50)) == std::future_status::timeout);
  // A client resuming with a range waits for the verified blob in the cache.
  auto ranged = std::async(std::launch::async,
                           [&] { return gcall("GET", "/v2/lib/app/blobs/" + ld.str(), {}, {{"Range", "bytes=10-19"}}); });
  CHECK(ranged.wait_for(std::chrono::milliseconds(50)) == std::future_status::timeout);
  // A client tagging the image it just read (`crane tag`) has its manifest
  // taken once the blobs it names landed, not refused for naming blobs the
  // cache does not hold yet.
  rt->push_answer = {true, {}, "dm2", 3};
  auto tagged = std::async(std::launch::async, [&] {
    return gcall("PUT", "/v2/lib/app/manifests/v2", m, {{"Content-Type", manifest_type}});
  });
  CHECK(tagged.wait_for(std::chrono::milliseconds(50)) == std::future_status::timeout);
  auto target = "/v2/lib/app/blobs/uploads/?digest=" + ld.str();
  REQUIRE(gcall("POST", target, layer, {{"Authorization", config::node_authorization(dm2, "dm2", "POST", target, config::unix_time_ms())}})
            .status == 201);
  CHECK(got.get() == layer);
  auto part = ranged.get();
  CHECK(part.status == 206);
  CHECK(body_of(part) == layer.substr(10, 10));
  CHECK(tagged.wait_for(std::chrono::milliseconds(50)) == std::future_status::timeout); // the config is still to come
  auto config_target = "/v2/lib/app/blobs/uploads/?digest=" + cd.str();
  REQUIRE(gcall("POST", config_target, config,
                {{"Authorization", config::node_authorization(dm2, "dm2", "POST", config_target, config::unix_time_ms())}})
            .status == 201);
  auto tag_answer = tagged.get();
  INFO(tag_answer.body);
  CHECK(tag_answer.status == 201);
  CHECK(rt->pushes.back() == "lib/app:v2@" + d.str());

  // The pull ends: the cache serves from now on.
  finish({true, false, {}, d.str(), "dm2"});
  CHECK(body_of(gcall("GET", "/v2/lib/app/blobs/" + ld.str())) == layer);

  // The sender's question about the layer is not taken for a client's: a
  // client pushing next into the repository has its blob followed.
  auto next = blob_bytes(1 << 20, 9);
  CHECK(gcall("HEAD", "/v2/lib/app/blobs/" + oci::sha256_of(next).str()).status == 404);
  auto loc = std::string(gcall("POST", "/v2/lib/app/blobs/uploads/").headers.get_or("Location"));
  REQUIRE(gcall("PATCH", loc, next).status == 202);
  CHECK(rt->arriving.size() == 1);
  dm2_http.stop();
  std::filesystem::remove_all(dm2_dir);
}

TEST_CASE_METHOD(gateway_fixture, "test packets are verified and measured", "[unit][cluster]") {
  std::string packet(64 * 1024, 'x');
  auto target = std::string("/stowage/v1/probe?round=9&from=dm1");
  auto sig = config::node_authorization(dm1, "dm1", "POST", target, config::unix_time_ms());
  CHECK(gcall("POST", target, packet).status == 401);
  auto other = config::identity::generate();
  CHECK(gcall("POST", target, packet,
              {{"Authorization", config::node_authorization(other, "dm1", "POST", target, config::unix_time_ms())}})
          .status == 401);
  auto wrong_from = std::string("/stowage/v1/probe?round=9&from=dm2");
  CHECK(gcall("POST", wrong_from, packet,
              {{"Authorization", config::node_authorization(dm1, "dm1", "POST", wrong_from, config::unix_time_ms())}})
          .status == 403);
  CHECK(packets.empty());
  CHECK(gcall("POST", target, packet, {{"Authorization", sig}}).status == 204);
  REQUIRE(packets.size() == 1);
  CHECK(packets[0].round == 9);
  CHECK(packets[0].node == "dm1");
  CHECK(packets[0].bytes == packet.size());
  CHECK(gcall("GET", target).status == 405);
}

TEST_CASE_METHOD(gateway_fixture, "a blob a push mounts counts as used for the cache's trimming", "[unit][cluster]") {
  net::gateway_options tracking;
  tracking.track_use = true;
  tracking.relay = relay;
  net::gateway gw_tracking(cache, rt, nodes, [](const actors::probe_arrival&) {}, tracking);
  std::string layer = "a layer another repository has";
  auto d = oci::sha256_of(layer);
  REQUIRE(call_on(gw_tracking, "POST", "/v2/lib/app/blobs/uploads/?digest=" + d.str(), layer).status == 201);
  auto path = cache->blob_anywhere(d)->path;
  const auto long_ago = std::filesystem::file_time_type::clock::now() - std::chrono::hours(5);
  std::filesystem::last_write_time(path, long_ago);

  auto r = call_on(gw_tracking, "POST", "/v2/lib/other/blobs/uploads/?mount=" + d.str() + "&from=lib/app");
  REQUIRE(r.status == 201);
  CHECK(std::filesystem::last_write_time(path) > long_ago + std::chrono::hours(4));
}

TEST_CASE_METHOD(gateway_fixture, "an image missing a blob in the cache is pulled through the cluster again",
                 "[unit][cluster]") {
  std::string layer = "layer";
  auto [m, d] = cached_by_digest();
  std::vector<std::string> asked;
  rt->on_pull = [&](const std::string& repo, const std::string& ref, auto done) {
    asked.push_back(repo + ":" + ref);
    // The delivery brings back what the cache lacks.
    REQUIRE(gcall("POST", "/v2/lib/app/blobs/uploads/?digest=" + oci::sha256_of(layer).str(), layer).status == 201);
    done({true, false, {}, d.str(), "dm1"});
  };
  CHECK(gcall("GET", "/v2/lib/app/manifests/" + d.str()).status == 200); // whole: from the cache
  CHECK(gcall("HEAD", "/v2/lib/app/manifests/v1").status == 200);        // a pull resolves the tag
  CHECK(asked.size() == 1);

  // A client deletes a layer from the cache (a blob DELETE concerns it alone).
  REQUIRE(gcall("DELETE", "/v2/lib/app/blobs/" + oci::sha256_of(layer).str()).status == 202);
  REQUIRE(gcall("HEAD", "/v2/lib/app/blobs/" + oci::sha256_of(layer).str()).status == 404);
  // The tag, resolved a moment ago, and the digest both go to the cluster,
  // which brings the layer back.
  CHECK(gcall("GET", "/v2/lib/app/manifests/v1").status == 200);
  CHECK(asked.size() == 2);
  CHECK(gcall("GET", "/v2/lib/app/blobs/" + oci::sha256_of(layer).str()).status == 200);
  REQUIRE(gcall("DELETE", "/v2/lib/app/blobs/" + oci::sha256_of(layer).str()).status == 202);
  auto r = gcall("GET", "/v2/lib/app/manifests/" + d.str());
  CHECK(r.status == 200);
  CHECK(body_of(r) == m);
  CHECK(asked == std::vector<std::string>{"lib/app:v1", "lib/app:v1", "lib/app:" + d.str()});
  CHECK(gcall("GET", "/v2/lib/app/blobs/" + oci::sha256_of(layer).str()).status == 200);
}

TEST_CASE_METHOD(gateway_fixture, "a GET of a blob the cache lacks pulls that blob through the cluster", "[unit][cluster]") {
  const std::string layer = "a layer nobody asked a manifest for";
  const auto d = oci::sha256_of(layer);
  std::vector<std::string> asked;
  rt->on_pull_blob = [&](const std::string& repo, const std::string& digest, auto done) {
    asked.push_back(repo + "@" + digest);
    if (repo == "lib/gone") return done({false, true, "unknown blob lib/gone@" + digest, {}, {}});
    if (repo == "lib/busy") return done({false, false, "no holder answered the probe in time", {}, {}});
    // The chosen data manager delivers it into the cache.
    REQUIRE(gcall("POST", "/v2/" + repo + "/blobs/uploads/?digest=" + digest, layer).status == 201);
    done({true, false, {}, digest, "dm1"});
  };
  // A HEAD says what the cache holds (a client about to push asks it).
  CHECK(gcall("HEAD", "/v2/lib/app/blobs/" + d.str()).status == 404);
  CHECK(asked.empty());
  auto r = gcall("GET", "/v2/lib/app/blobs/" + d.str(), "", {{"Range", "bytes=2-7"}});
  CHECK(r.status == 206);
  CHECK(body_of(r) == layer.substr(2, 6));
  CHECK(gcall("GET", "/v2/lib/app/blobs/" + d.str()).status == 200); // in the cache now: no second pull
  CHECK(asked == std::vector<std::string>{"lib/app@" + d.str()});
  auto gone = gcall("GET", "/v2/lib/gone/blobs/" + d.str());
  CHECK(gone.status == 404);
  CHECK(body_of(gone).find("BLOB_UNKNOWN") != std::string::npos);
  CHECK(gcall("GET", "/v2/lib/busy/blobs/" + d.str()).status == 503);
  // A blob a client deleted stays deleted here: not pulled back.
  REQUIRE(gcall("DELETE", "/v2/lib/app/blobs/" + d.str()).status == 202);
  auto deleted = gcall("GET", "/v2/lib/app/blobs/" + d.str());
  CHECK(deleted.status == 404);
  CHECK(body_of(deleted).find("BLOB_UNKNOWN") != std::string::npos);
  CHECK(asked.size() == 3);
}
