// The relay of arriving blobs (net/blob_relay.hpp) over a real store and
// real upload sessions, fed as an upload's body handler feeds it: readers get
// bytes from the upload's file while it arrives and the rest from the stored
// blob once committed; they go on after a failed upload with the next one
// only if what they sent compares equal; and they never complete a body the
// store did not verify.
#include "body_source_support.hpp"
#include "store_test_support.hpp"

#include "net/blob_relay.hpp"

#include <catch2/catch.hpp>

#include <future>

using namespace stowage;
using namespace store_test;
using test::ask_piece;
using test::next_piece;
using test::waiting;

namespace {

/// Reads pieces until at least `n` bytes came (each within a second).
std::string read_at_least(net::body_source& src, std::size_t n) {
  std::string got;
  while (got.size() < n) {
    auto p = next_piece(src);
    REQUIRE(p);
    got += *p;
  }
  return got;
}

/// Reads until the source ends or cuts; what came.
std::string read_until_cut(net::body_source& src) {
  std::string got;
  for (std::optional<std::string> p; (p = next_piece(src));) got += *p;
  return got;
}

constexpr std::size_t unwritten = store::upload_writer::max_unwritten;

struct relay_fixture {
  temp_dir dir;
  std::shared_ptr<store::registry_store> cache = store::registry_store::open(dir.path);
  net::blob_relay relay{cache};
  const std::string repo = "lib/app";

  /// One upload session of the store, reported to the relay.
  struct upload {
    store::upload_info session;
    std::unique_ptr<store::upload_writer> writer;
    std::shared_ptr<net::blob_relay::arrival> arrival;
  };
  upload start(const oci::digest& d, bool with_file = true) {
    upload u;
    u.session = cache->begin_upload(repo);
    u.writer = cache->append(repo, u.session.id);
    REQUIRE(u.writer);
    u.arrival = relay.arriving(repo, d, with_file ? u.session.file : std::filesystem::path{});
    return u;
  }
  static void feed(upload& u, std::string_view bytes) {
    for (std::size_t off = 0; off < bytes.size(); off += 256 * 1024) {
      auto n = std::min<std::size_t>(256 * 1024, bytes.size() - off);
      u.writer->write(bytes.data() + off, n);
      u.arrival->data(n);
    }
  }
  store::commit_status finish(upload& u, const oci::digest& d) {
    u.writer->finish();
    u.writer.reset();
    auto st = cache->commit_upload(repo, u.session.id, d);
    u.arrival->end(st == store::commit_status::ok);
    return st;
  }
  void fail(upload& u) {
    u.writer.reset();
    cache->cancel_upload(repo, u.session.id);
    u.arrival->end(false);
  }

  /// `blob` is on its way: its relayed body.
  net::streamed_body bring(const std::string& blob) {
    relay.expect(repo, oci::sha256_of(blob), blob.size());
    auto body = relay.open(repo, oci::sha256_of(blob));
    REQUIRE(body);
    REQUIRE(body->length == blob.size());
    return *body;
  }
};

} // namespace

TEST_CASE_METHOD(relay_fixture, "a blob nobody expects is not relayed", "[unit][relay]") {
  auto d = oci::sha256_of("x");
  CHECK_FALSE(relay.open(repo, d));
  auto up = start(d);
  CHECK_FALSE(relay.open(repo, d)); // arriving, but nobody said it comes
  relay.expect(repo, d, 1);
  auto body = relay.open(repo, d);
  REQUIRE(body);
  CHECK(body->length == 1u);
  CHECK_FALSE(relay.open("other/repo", d)); // expected in another repository only
  relay.settle(repo, d);
  CHECK_FALSE(relay.open(repo, d));
  fail(up);
}

TEST_CASE_METHOD(relay_fixture, "a reader follows the upload's file and ends from the stored blob",
                 "[unit][relay]") {
  const std::string blob = random_bytes(6 << 20, 1);
  const auto d = oci::sha256_of(blob);
  auto body = bring(blob);
  auto& src = body.source;
  auto first = ask_piece(*src);
  CHECK(waiting(first)); // nothing arrived yet
  auto up = start(d);
  feed(up, std::string_view(blob).substr(0, 4 << 20));
  // All but the writer's unwritten tail is in the file: read from there,
  // before the upload ends.
  std::string got = *first.get();
  got += read_at_least(*src, (4 << 20) - unwritten - got.size());
  CHECK(got == blob.substr(0, got.size()));

  feed(up, std::string_view(blob).substr(4 << 20));
  got += read_at_least(*src, blob.size() - unwritten - got.size());
  auto last = ask_piece(*src);
  CHECK(waiting(last)); // every byte arrived; the rest comes from the stored blob
  REQUIRE(finish(up, d) == store::commit_status::ok);
  got += *last.get();
  got += *net::read_stream({src, blob.size() - got.size()});
  CHECK(got == blob);
  relay.settle(repo, d);
}

TEST_CASE_METHOD(relay_fixture, "an upload that fails midway: the reader goes on with the next one",
                 "[unit][relay]") {
  const std::string blob = random_bytes(5 << 20, 3);
  const auto d = oci::sha256_of(blob);
  auto body = bring(blob);
  auto& src = body.source;
  auto first = start(d);
  feed(first, std::string_view(blob).substr(0, 3 << 20));
  std::string got = read_at_least(*src, (3 << 20) - unwritten); // all that is surely in its file
  fail(first); // the sending data manager died; its file is gone

  auto pending = ask_piece(*src);
  CHECK(waiting(pending)); // still expected: another target will send it
  auto again = start(d);
  feed(again, std::string_view(blob).substr(0, 1 << 20));
  CHECK(waiting(pending)); // not yet as far as what was sent
  feed(again, std::string_view(blob).substr(1 << 20));
  got += *pending.get(); // compared equal up to there: goes on
  REQUIRE(finish(again, d) == store::commit_status::ok);
  got += *net::read_stream({src, blob.size() - got.size()});
  CHECK(got == blob);
  relay.settle(repo, d);
}

TEST_CASE_METHOD(relay_fixture, "a reader on an upload another one replaced goes on once the first commits",
                 "[unit][relay]") {
  // A slow target's delivery is replaced by a retry's, then completes after
  // all: the blob is stored, and the reader on it need not wait for the retry.
  const std::string blob = random_bytes(5 << 20, 6);
  const auto d = oci::sha256_of(blob);
  auto body = bring(blob);
  auto& src = body.source;
  auto slow = start(d);
  feed(slow, blob);
  std::string got = read_at_least(*src, blob.size() - unwritten);
  auto last = ask_piece(*src);
  CHECK(waiting(last)); // the rest comes from the stored blob
  auto retry = start(d); // nothing of it arrived yet
  CHECK(waiting(last));
  REQUIRE(finish(slow, d) == store::commit_status::ok);
  REQUIRE(last.wait_for(std::chrono::seconds(1)) == std::future_status::ready);
  auto piece = last.get();
  REQUIRE(piece);
  got += *piece;
  got += *net::read_stream({src, blob.size() - got.size()});
  CHECK(got == blob);
  fail(retry);
  relay.settle(repo, d);
}

TEST_CASE_METHOD(relay_fixture, "a next upload with other bytes than those sent cuts the reader",
                 "[unit][relay]") {
  const std::string blob = random_bytes(4 << 20, 4);
  std::string other = blob;
  other[1000] ^= 1; // a forgery, or a broken sender
  const auto d = oci::sha256_of(blob);
  auto body = bring(blob);
  auto& src = body.source;
  auto first = start(d);
  feed(first, other);
  auto sent = read_at_least(*src, 1 << 20);
  fail(first);
  auto again = start(d);
  feed(again, blob);
  sent += read_until_cut(*src);
  CHECK(sent.size() < blob.size());
  REQUIRE(finish(again, d) == store::commit_status::ok);
  relay.settle(repo, d);
}

TEST_CASE_METHOD(relay_fixture, "bytes that do not match the digest are never completed", "[unit][relay]") {
  const std::string blob = random_bytes(3 << 20, 5);
  std::string forged = blob;
  forged[blob.size() - 10] ^= 1;
  const auto d = oci::sha256_of(blob);
  auto body = bring(blob);
  auto up = start(d);
  feed(up, forged);
  auto got = std::async(std::launch::async, [&] { return read_until_cut(*body.source); });
  CHECK(finish(up, d) == store::commit_status::digest_mismatch);
  relay.settle(repo, d); // the pull ends without it
  CHECK(got.get().size() < blob.size());
}

TEST_CASE_METHOD(relay_fixture, "an upload without a file is not followed: readers wait for its commit",
                 "[unit][relay]") {
  const std::string blob = random_bytes(4 << 20, 6);
  const auto d = oci::sha256_of(blob);
  auto body = bring(blob);
  auto up = start(d, false);
  feed(up, blob);
  auto first = ask_piece(*body.source);
  CHECK(waiting(first));
  REQUIRE(finish(up, d) == store::commit_status::ok);
  std::string got = *first.get();
  got += *net::read_stream({body.source, blob.size() - got.size()});
  CHECK(got == blob);
  relay.settle(repo, d);
}

TEST_CASE_METHOD(relay_fixture, "a pull that ends without the blob cuts its waiting readers", "[unit][relay]") {
  const std::string blob = random_bytes(100, 7);
  const auto d = oci::sha256_of(blob);
  auto body = bring(blob);
  auto pending = ask_piece(*body.source);
  CHECK(waiting(pending));
  relay.settle(repo, d);
  CHECK_FALSE(pending.get());
}

TEST_CASE_METHOD(relay_fixture, "a blob already stored is read from the store", "[unit][relay]") {
  const std::string blob = random_bytes(5000, 8);
  const auto d = oci::sha256_of(blob);
  auto body = bring(blob);
  put_blob(*cache, repo, blob);
  CHECK(net::read_stream(body) == blob);
  relay.settle(repo, d);
}

TEST_CASE_METHOD(relay_fixture, "waiting for a blob to settle: committed, or no longer expected",
                 "[unit][relay]") {
  const std::string blob = random_bytes(100, 9);
  const auto d = oci::sha256_of(blob);
  int settled = 0;
  relay.when_settled(repo, d, [&] { ++settled; }); // nothing on its way: at once
  CHECK(settled == 1);

  relay.expect(repo, d, blob.size());
  relay.when_settled(repo, d, [&] { ++settled; });
  auto up = start(d);
  feed(up, blob);
  CHECK(settled == 1); // still arriving
  REQUIRE(finish(up, d) == store::commit_status::ok);
  CHECK(settled == 2);

  const auto other = oci::sha256_of("never sent");
  relay.expect(repo, other, 10);
  relay.when_settled(repo, other, [&] { ++settled; });
  CHECK(settled == 2);
  relay.settle(repo, other); // the pull ended without it
  CHECK(settled == 3);
  relay.settle(repo, d);
}
