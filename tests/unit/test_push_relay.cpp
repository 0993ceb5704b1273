// A push's target relays each blob to its peers while it arrives
// (net/push_relay.hpp): a real store and registry API, requests driven
// without sockets, the upload's body fed piece by piece as a runtime's PUT
// would send it.
#include "body_source_support.hpp"
#include "registry_api_fixture.hpp"
#include "store_test_support.hpp"

#include "actors/proof.hpp"
#include "config/identity.hpp"
#include "net/push_relay.hpp"

#include <future>

using namespace stowage;
using test::ask_piece;

namespace {

struct push_relay_fixture {
  store_test::temp_dir dir;
  std::shared_ptr<store::registry_store> st = store::registry_store::open(dir.path);
  std::shared_ptr<net::registry_api> api = std::make_shared<net::registry_api>(*st); // open: the gate has its own tests
  net::push_relay endpoint{st, api};
  std::vector<net::arriving_blob> told;
  const std::string repo = "lib/app";
  const std::string proof = "Stowage-Proof " +
                            actors::encode(actors::issue_proofs(config::identity::generate(),
                                                                {"", repo, "v1", 1, "rt1", "dm1", 4102444800000})
                                             .first);

  push_relay_fixture() {
    endpoint.on_arriving([this](const net::arriving_blob& b) { told.push_back(b); });
  }

  /// Opens an upload and starts its whole-blob PUT: the body handler.
  std::unique_ptr<net::body_handler> start_put(const std::string& blob, const std::string& authorization) {
    auto started = test::api_fixture::call_on(endpoint, "POST", "/v2/" + repo + "/blobs/uploads/");
    REQUIRE(started.status == 202);
    net::request put;
    put.method = "PUT";
    REQUIRE(put.set_target(std::string(*started.headers.get("Location")) + "?digest=" +
                           oci::sha256_of(blob).str()));
    if (!authorization.empty()) put.headers.add("Authorization", authorization);
    put.content_length = blob.size();
    auto rr = endpoint.route(put);
    REQUIRE(rr.body);
    return std::move(rr.body);
  }
  static void feed(net::body_handler& h, std::string_view bytes) {
    for (std::size_t off = 0; off < bytes.size(); off += 256 * 1024)
      REQUIRE(h.on_data(bytes.data() + off, std::min<std::size_t>(256 * 1024, bytes.size() - off)));
  }
  static int finish(net::body_handler& h) {
    std::promise<int> status;
    h.on_end(true, [&](net::response r) { status.set_value(r.status); });
    return status.get_future().get();
  }
  net::route_result get(const oci::digest& d, std::vector<std::pair<std::string, std::string>> headers = {}) {
    net::request req;
    req.method = "GET";
    REQUIRE(req.set_target("/v2/" + repo + "/blobs/" + d.str()));
    for (auto& [k, v] : headers) req.headers.add(k, v);
    return endpoint.route(req);
  }
};

} // namespace

TEST_CASE_METHOD(push_relay_fixture, "a pushed blob is announced as it starts and served to GETs while it arrives",
                 "[unit][relay]") {
  const std::string blob = store_test::random_bytes(5 << 20, 21);
  const auto d = oci::sha256_of(blob);
  auto put = start_put(blob, proof);
  REQUIRE(told.size() == 1); // before the first byte
  CHECK(told[0].repository == repo);
  CHECK(told[0].digest == d.str());
  CHECK(told[0].size == blob.size());
  CHECK(told[0].session == actors::decode_first_proof(proof.substr(proof.find(' ') + 1))->scope.session);

  auto rr = get(d);
  REQUIRE(rr.reply);
  REQUIRE(rr.reply->stream);
  CHECK(rr.reply->stream->length == blob.size());
  auto& src = *rr.reply->stream->source;

  feed(*put, std::string_view(blob).substr(0, 4 << 20));
  std::string got;
  while (got.size() < (2 << 20)) { // from the upload's file, before its end
    auto p = ask_piece(src).get();
    REQUIRE(p);
    got += *p;
  }
  CHECK(got == blob.substr(0, got.size()));
  // A client resuming with a Range gets the registry's own answer: not there yet.
  auto ranged = get(d, {{"Range", "bytes=0-9"}});
  REQUIRE(ranged.reply);
  CHECK(ranged.reply->status == 404);

  auto rest = std::async(std::launch::async, [&] {
    std::string more;
    while (got.size() + more.size() < blob.size()) {
      auto p = ask_piece(src).get();
      if (!p) return more;
      more += *p;
    }
    return more;
  });
  feed(*put, std::string_view(blob).substr(4 << 20));
  CHECK(finish(*put) == 201);
  got += rest.get();
  CHECK(got == blob);

  auto after = get(d); // committed: the store serves it
  REQUIRE(after.reply);
  CHECK(after.reply->status == 200);
  CHECK(after.reply->file);
}

TEST_CASE_METHOD(push_relay_fixture, "an upload without a push proof is not relayed", "[unit][relay]") {
  const std::string blob = store_test::random_bytes(1 << 20, 22);
  const auto d = oci::sha256_of(blob);
  auto put = start_put(blob, "");
  CHECK(told.empty());
  feed(*put, std::string_view(blob).substr(0, 1000));
  auto rr = get(d);
  REQUIRE(rr.reply);
  CHECK(rr.reply->status == 404);
  feed(*put, std::string_view(blob).substr(1000));
  CHECK(finish(*put) == 201);
}

TEST_CASE_METHOD(push_relay_fixture, "a relayed blob that fails its digest is never completed", "[unit][relay]") {
  const std::string blob = store_test::random_bytes(3 << 20, 23);
  std::string forged = blob;
  forged[blob.size() - 10] ^= 1;
  const auto d = oci::sha256_of(blob);
  auto put = start_put(blob, proof);
  auto rr = get(d);
  REQUIRE(rr.reply);
  REQUIRE(rr.reply->stream);
  auto got = std::async(std::launch::async, [&] { return net::read_stream(*rr.reply->stream); });
  feed(*put, forged);
  CHECK(finish(*put) == 400); // DIGEST_INVALID
  CHECK_FALSE(got.get());     // cut, never the forged whole
  CHECK_FALSE(st->blob(repo, d));
}
