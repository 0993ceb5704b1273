// The gateway's relay of arriving blobs (net/blob_relay.hpp) over a real
// store: readers get bytes while they arrive, continue from the cache once the
// blob is committed, survive a failed upload followed by another, and never
// complete a body that does not match its digest.
#include "store_test_support.hpp"

#include "net/blob_relay.hpp"

#include <catch2/catch.hpp>

#include <future>

using namespace stowage;
using namespace store_test;

namespace {

/// Asks `src` for its next piece without waiting: the bytes, or nullopt if
/// the source cut the body.
std::future<std::optional<std::string>> ask_piece(net::body_source& src) {
  auto answer = std::make_shared<std::promise<std::optional<std::string>>>();
  auto f = answer->get_future();
  src.next([answer](bool ok, std::string_view p) {
    answer->set_value(ok ? std::optional<std::string>(std::string(p)) : std::nullopt);
  });
  return f;
}

/// The next piece, which must come within a second.
std::optional<std::string> next_piece(net::body_source& src) {
  auto f = ask_piece(src);
  if (f.wait_for(std::chrono::seconds(1)) != std::future_status::ready) throw std::runtime_error("no piece yet");
  return f.get();
}

bool waiting(std::future<std::optional<std::string>>& f) {
  return f.wait_for(std::chrono::milliseconds(20)) == std::future_status::timeout;
}

struct relay_fixture {
  temp_dir dir;
  std::shared_ptr<store::registry_store> cache = store::registry_store::open(dir.path);
  net::blob_relay relay{cache};
  const std::string repo = "lib/app";

  /// Stores `bytes` in the cache, as the delivery's commit would.
  void commit(const std::string& bytes) { put_blob(*cache, repo, bytes); }

  /// A pull in flight expects `blob`: its relayed body.
  net::streamed_body bring(const std::string& blob) {
    relay.expect(repo, oci::sha256_of(blob), blob.size());
    auto body = relay.open(repo, oci::sha256_of(blob));
    REQUIRE(body);
    REQUIRE(body->length == blob.size());
    return *body;
  }
};

} // namespace

TEST_CASE_METHOD(relay_fixture, "a blob nobody brings is not relayed", "[unit][relay]") {
  auto d = oci::sha256_of("x");
  CHECK_FALSE(relay.open(repo, d));
  relay.arriving(repo, d)->data("x", 1);
  CHECK_FALSE(relay.open(repo, d)); // arriving, but no pull asks for it
  relay.expect(repo, d, 1);
  auto body = relay.open(repo, d);
  REQUIRE(body);
  CHECK(body->length == 1u);
  CHECK_FALSE(relay.open("other/repo", d)); // expected in another repository only
  relay.settle(repo, d);
  CHECK_FALSE(relay.open(repo, d));
}

TEST_CASE_METHOD(relay_fixture, "a reader gets bytes as they arrive and the last piece only once all match",
                 "[unit][relay]") {
  const std::string blob = random_bytes(3000, 1);
  const auto d = oci::sha256_of(blob);
  auto body = bring(blob);
  auto& src = body.source;

  auto first = ask_piece(*src);
  CHECK(waiting(first)); // nothing arrived yet
  auto up = relay.arriving(repo, d);
  up->data(blob.data(), 1000);
  REQUIRE(first.get() == blob.substr(0, 1000)); // relayed before the upload ended

  auto second = ask_piece(*src);
  CHECK(waiting(second));
  up->data(blob.data() + 1000, 2000);
  CHECK(second.get() == blob.substr(1000)); // the whole: it hashes to the digest
  commit(blob);
  up->end(true);
  relay.settle(repo, d);
}

TEST_CASE_METHOD(relay_fixture, "a reader behind the window continues from the cache once committed",
                 "[unit][relay]") {
  const std::string blob = random_bytes(net::blob_relay::window + (3 << 20), 2);
  const auto d = oci::sha256_of(blob);
  relay.expect(repo, d, blob.size());
  auto up = relay.arriving(repo, d);
  for (std::size_t off = 0; off < blob.size(); off += 512 * 1024)
    up->data(blob.data() + off, std::min<std::size_t>(512 * 1024, blob.size() - off));
  // Opened now, the first bytes are no longer held: it waits for the commit.
  auto body = relay.open(repo, d);
  REQUIRE(body);
  auto& src = body->source;
  auto first = ask_piece(*src);
  CHECK(waiting(first));
  commit(blob);
  up->end(true);
  std::string got = *first.get();
  got += *net::read_stream({src, blob.size() - got.size()});
  CHECK(got == blob);
  relay.settle(repo, d);
}

TEST_CASE_METHOD(relay_fixture, "a reader behind the window reads the running upload's file", "[unit][relay]") {
  const std::string blob = random_bytes(net::blob_relay::window + (5 << 20), 7);
  const auto d = oci::sha256_of(blob);
  relay.expect(repo, d, blob.size());
  // A real upload session of the cache, as a delivery's PUT writes it.
  auto session = cache->begin_upload(repo);
  auto writer = cache->append(repo, session.id);
  REQUIRE(writer);
  auto up = relay.arriving(repo, d, session.file);
  const std::size_t arrived = blob.size() - 1024; // all but the end: the upload still runs
  for (std::size_t off = 0; off < arrived; off += 512 * 1024) {
    auto n = std::min<std::size_t>(512 * 1024, arrived - off);
    writer->write(blob.data() + off, n);
    up->data(blob.data() + off, n);
  }
  // Opened now, the first bytes are no longer held in memory: they come from
  // the upload's file, then from the window, all before the commit.
  auto body = relay.open(repo, d);
  REQUIRE(body);
  auto& src = body->source;
  std::string got;
  while (got.size() < arrived) {
    auto p = next_piece(*src);
    REQUIRE(p);
    got += *p;
  }
  CHECK(got == blob.substr(0, arrived));
  auto last = ask_piece(*src);
  CHECK(waiting(last));
  writer->write(blob.data() + arrived, blob.size() - arrived);
  up->data(blob.data() + arrived, blob.size() - arrived);
  got += *last.get();
  CHECK(got == blob);
  writer->finish();
  CHECK(cache->commit_upload(repo, session.id, d) == store::commit_status::ok);
  // Committed, the upload not yet ended: its file has moved into the cache.
  // A reader behind the window now waits for the end, then reads the blob.
  auto late = relay.open(repo, d);
  REQUIRE(late);
  auto first = ask_piece(*late->source);
  CHECK(waiting(first));
  up->end(true);
  std::string again = *first.get();
  again += *net::read_stream({late->source, blob.size() - again.size()});
  CHECK(again == blob);
  relay.settle(repo, d);
}

TEST_CASE_METHOD(relay_fixture, "an upload that fails midway: the reader continues with the next one",
                 "[unit][relay]") {
  const std::string blob = random_bytes(4096, 3);
  const auto d = oci::sha256_of(blob);
  auto body = bring(blob);
  auto& src = body.source;
  auto first = relay.arriving(repo, d);
  first->data(blob.data(), 1500);
  CHECK(next_piece(*src) == blob.substr(0, 1500));
  first->end(false); // the sending data manager died

  auto pending = ask_piece(*src);
  CHECK(waiting(pending)); // the pull is still in flight: another target will send it
  auto again = relay.arriving(repo, d);
  again->data(blob.data(), 1000);
  CHECK(waiting(pending)); // bytes it already sent
  again->data(blob.data() + 1000, blob.size() - 1000);
  CHECK(pending.get() == blob.substr(1500));
  commit(blob);
  again->end(true);
  relay.settle(repo, d);
}

TEST_CASE_METHOD(relay_fixture, "bytes that do not match the digest are cut before the last piece",
                 "[unit][relay]") {
  const std::string blob = random_bytes(2048, 4);
  std::string forged = blob;
  forged[2000] ^= 1;
  const auto d = oci::sha256_of(blob);
  auto body = bring(blob);
  auto& src = body.source;
  auto up = relay.arriving(repo, d);
  up->data(forged.data(), 1024);
  CHECK(next_piece(*src) == forged.substr(0, 1024));
  up->data(forged.data() + 1024, 1024);
  CHECK_FALSE(next_piece(*src)); // the piece completing a wrong blob never goes out
  up->end(false);
  relay.settle(repo, d);
}

TEST_CASE_METHOD(relay_fixture, "a pull that ends without the blob cuts its waiting readers", "[unit][relay]") {
  const std::string blob = random_bytes(100, 5);
  const auto d = oci::sha256_of(blob);
  auto body = bring(blob);
  auto& src = body.source;
  auto pending = ask_piece(*src);
  CHECK(waiting(pending));
  relay.settle(repo, d);
  CHECK_FALSE(pending.get());
}

TEST_CASE_METHOD(relay_fixture, "a blob already committed is read from the cache", "[unit][relay]") {
  const std::string blob = random_bytes(5000, 6);
  const auto d = oci::sha256_of(blob);
  auto body = bring(blob);
  commit(blob);
  CHECK(net::read_stream(body) == blob);
  relay.settle(repo, d);
}

TEST_CASE_METHOD(relay_fixture, "waiting for a blob to settle: committed, or no pull brings it", "[unit][relay]") {
  const std::string blob = random_bytes(100, 7);
  const auto d = oci::sha256_of(blob);
  int settled = 0;
  relay.when_settled(repo, d, [&] { ++settled; }); // nothing on its way: at once
  CHECK(settled == 1);

  relay.expect(repo, d, blob.size());
  relay.when_settled(repo, d, [&] { ++settled; });
  auto up = relay.arriving(repo, d);
  up->data(blob.data(), 50);
  CHECK(settled == 1); // still arriving
  commit(blob);
  up->end(true);
  CHECK(settled == 2);

  const auto other = oci::sha256_of("never sent");
  relay.expect(repo, other, 10);
  relay.when_settled(repo, other, [&] { ++settled; });
  CHECK(settled == 2);
  relay.settle(repo, other); // the pull ended without it
  CHECK(settled == 3);
  relay.settle(repo, d);
}

// ---- checked by commit (a push's target relaying to its peers) ----------------

namespace {

/// A relay checked by commit over a real upload session of the store, fed as
/// a PUT's body handler feeds it.
struct commit_fixture : relay_fixture {
  net::blob_relay by_commit{cache, net::blob_relay::check::commit};
  store::upload_info session = cache->begin_upload(repo);
  std::unique_ptr<store::upload_writer> writer = cache->append(repo, session.id);

  std::shared_ptr<net::blob_relay::arrival> arriving(const oci::digest& d, std::uint64_t size) {
    by_commit.expect(repo, d, size);
    return by_commit.arriving(repo, d, session.file);
  }
  void feed(net::blob_relay::arrival& up, std::string_view bytes) {
    for (std::size_t off = 0; off < bytes.size(); off += 256 * 1024) {
      auto n = std::min<std::size_t>(256 * 1024, bytes.size() - off);
      writer->write(bytes.data() + off, n);
      up.data(bytes.data() + off, n);
    }
  }
  /// Reads pieces until `n` bytes came (each within a second).
  static std::string read_at_least(net::body_source& src, std::size_t n) {
    std::string got;
    while (got.size() < n) {
      auto p = next_piece(src);
      REQUIRE(p);
      got += *p;
    }
    return got;
  }
};

} // namespace

TEST_CASE_METHOD(commit_fixture, "checked by commit, a reader follows the upload's file and ends after the commit",
                 "[unit][relay]") {
  const std::string blob = random_bytes(6 << 20, 11);
  const auto d = oci::sha256_of(blob);
  auto up = arriving(d, blob.size());
  auto body = by_commit.open(repo, d);
  REQUIRE(body);
  auto& src = body->source;
  auto first = ask_piece(*src);
  CHECK(waiting(first)); // nothing in the file yet

  feed(*up, std::string_view(blob).substr(0, 4 << 20));
  // All but the writer's unwritten tail is in the file: read from there,
  // before the upload ends.
  std::string got = *first.get();
  got += read_at_least(*src, (2 << 20) - got.size());
  CHECK(got == blob.substr(0, got.size()));

  feed(*up, std::string_view(blob).substr(4 << 20));
  got += read_at_least(*src, blob.size() - store::upload_writer::max_unwritten - got.size());
  auto last = ask_piece(*src);
  CHECK(waiting(last)); // every byte arrived; the rest comes from the committed blob
  writer->finish();
  writer.reset();
  REQUIRE(cache->commit_upload(repo, session.id, d) == store::commit_status::ok);
  up->end(true);
  got += *last.get();
  got += *net::read_stream({src, blob.size() - got.size()});
  CHECK(got == blob);
  by_commit.settle(repo, d);
}

TEST_CASE_METHOD(commit_fixture, "checked by commit, a reader of an upload that fails is cut", "[unit][relay]") {
  const std::string blob = random_bytes(4 << 20, 12);
  const auto d = oci::sha256_of(blob);
  auto up = arriving(d, blob.size());
  auto body = by_commit.open(repo, d);
  REQUIRE(body);
  auto& src = body->source;
  feed(*up, std::string_view(blob).substr(0, 3 << 20));
  std::size_t sent = read_at_least(*src, 1 << 20).size();
  writer.reset();
  cache->cancel_upload(repo, session.id);
  up->end(false); // the runtime went away
  // Even though another upload brings the blob: what was sent came from one
  // that never verified, so the body is cut (after what was read already).
  auto again = by_commit.arriving(repo, d);
  again->data(blob.data(), blob.size());
  commit(blob);
  again->end(true);
  for (std::optional<std::string> p; (p = next_piece(*src));)
    sent += p->size();
  CHECK(sent < blob.size());
  by_commit.settle(repo, d);
}

TEST_CASE_METHOD(commit_fixture, "checked by commit, a reader whose upload another replaced is cut",
                 "[unit][relay]") {
  const std::string blob = random_bytes(64 * 1024, 13);
  const auto d = oci::sha256_of(blob);
  by_commit.expect(repo, d, blob.size());
  auto first = by_commit.arriving(repo, d); // no file: pieces in memory
  auto body = by_commit.open(repo, d);
  REQUIRE(body);
  first->data(blob.data(), 1000);
  CHECK(next_piece(*body->source) == blob.substr(0, 1000));
  auto second = by_commit.arriving(repo, d);
  second->data(blob.data(), blob.size());
  CHECK_FALSE(next_piece(*body->source));
  commit(blob);
  second->end(true);
  by_commit.settle(repo, d);
}

TEST_CASE_METHOD(commit_fixture, "checked by commit, a reader that asks only after the commit reads the stored blob",
                 "[unit][relay]") {
  const std::string blob = random_bytes(3000, 14);
  const auto d = oci::sha256_of(blob);
  by_commit.expect(repo, d, blob.size());
  auto body = by_commit.open(repo, d);
  REQUIRE(body);
  auto up = by_commit.arriving(repo, d);
  up->data(blob.data(), blob.size());
  commit(blob);
  up->end(true);
  CHECK(net::read_stream(*body) == blob);
  by_commit.settle(repo, d);
}
