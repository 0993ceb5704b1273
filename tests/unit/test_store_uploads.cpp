// Upload sessions and blobs of the disk store: commit, verification,
// chunked writes, cancel, mounts and deletion.
#include "store_test_support.hpp"

#include <catch2/catch.hpp>

#include <sys/resource.h>
#include <sys/stat.h>

#include <csignal>

#include <algorithm>
#include <atomic>
#include <thread>

using namespace store_test;
using stowage::store::commit_status;
using stowage::store::registry_store;

namespace {
std::string pattern(std::size_t n, unsigned seed = 1) {
  std::string s(n, '\0');
  std::uint32_t x = seed * 2654435761u + 1;
  for (auto& c : s) {
    x = x * 1664525u + 1013904223u;
    c = static_cast<char>(x >> 24);
  }
  return s;
}
} // namespace

TEST_CASE("upload, commit and read back", "[store]") {
  temp_dir dir;
  auto s = registry_store::open(dir.path);
  CHECK_FALSE(s->repository_exists("lib/alpine"));
  const std::string data = "hello, blob";
  auto u = s->begin_upload("lib/alpine");
  CHECK(u.id.size() == 32);
  CHECK(u.size == 0);
  CHECK(s->repository_exists("lib/alpine"));
  CHECK(s->repositories().empty()); // listed once it holds a blob or a manifest
  CHECK(fs::exists(dir.path / "uploads" / u.id));

  auto w = s->append("lib/alpine", u.id);
  REQUIRE(w);
  w->write(data.data(), data.size());
  CHECK(w->size() == data.size());
  w->finish();
  w.reset();
  REQUIRE(s->find_upload("lib/alpine", u.id));
  CHECK(s->find_upload("lib/alpine", u.id)->size == data.size());

  auto d = oci::sha256_of(data);
  CHECK_FALSE(s->blob_anywhere(d));
  REQUIRE(s->commit_upload("lib/alpine", u.id, d, data.size()) == commit_status::ok);

  CHECK(s->repositories() == std::vector<std::string>{"lib/alpine"});
  auto b = s->blob("lib/alpine", d);
  REQUIRE(b);
  CHECK(b->dig == d);
  CHECK(b->size == data.size());
  CHECK(b->path == dir.path / "blobs" / blob_rel(d));
  CHECK(slurp(b->path) == data);
  struct stat st{};
  REQUIRE(::stat(b->path.c_str(), &st) == 0);
  CHECK((st.st_mode & 0222) == 0); // immutable: read-only
  CHECK(s->blob_anywhere(d));
  CHECK_FALSE(s->blob("other", d));
  CHECK_FALSE(s->find_upload("lib/alpine", u.id));
  CHECK(files_under(dir.path / "uploads").empty());
  CHECK(s->used_bytes() == data.size());
  CHECK(s->free_bytes() > 0);
}

TEST_CASE("an empty blob commits", "[store]") {
  temp_dir dir;
  auto s = registry_store::open(dir.path);
  auto u = s->begin_upload("r");
  auto d = oci::sha256_of("");
  REQUIRE(s->commit_upload("r", u.id, d) == commit_status::ok);
  REQUIRE(s->blob("r", d));
  CHECK(s->blob("r", d)->size == 0);
}

TEST_CASE("a digest mismatch leaves nothing", "[store]") {
  temp_dir dir;
  auto s = registry_store::open(dir.path);
  auto u = s->begin_upload("r");
  auto w = s->append("r", u.id);
  w->write("abc", 3);
  w->finish();
  w.reset();
  auto wrong = oci::sha256_of("abd");
  CHECK(s->commit_upload("r", u.id, wrong) == commit_status::digest_mismatch);
  CHECK_FALSE(s->find_upload("r", u.id));
  CHECK_FALSE(s->blob_anywhere(wrong));
  CHECK_FALSE(s->blob_anywhere(oci::sha256_of("abc")));
  CHECK(files_under(dir.path / "uploads").empty());
  CHECK(files_under(dir.path / "blobs").empty());
  CHECK(s->used_bytes() == 0);
  // The session is over.
  CHECK(s->append("r", u.id) == nullptr);
  CHECK(s->commit_upload("r", u.id, oci::sha256_of("abc")) == commit_status::upload_unknown);
}

TEST_CASE("size mismatch and unsupported algorithms keep the session", "[store]") {
  temp_dir dir;
  auto s = registry_store::open(dir.path);
  auto u = s->begin_upload("r");
  auto w = s->append("r", u.id);
  w->write("abcdef", 6);
  w->finish();
  w.reset();
  auto d = oci::sha256_of("abcdef");
  CHECK(s->commit_upload("r", u.id, d, 5) == commit_status::size_mismatch);
  CHECK_FALSE(s->blob_anywhere(d));
  auto sha512 = oci::digest{"sha512", std::string(128, 'a')};
  CHECK(s->commit_upload("r", u.id, sha512) == commit_status::unsupported);
  REQUIRE(s->find_upload("r", u.id));
  CHECK(s->commit_upload("r", u.id, d, 6) == commit_status::ok);
  CHECK(s->blob("r", d));
}

TEST_CASE("chunked appends over several writers", "[store]") {
  temp_dir dir;
  auto s = registry_store::open(dir.path);
  // Crosses the 1 MiB write buffer with odd-sized pieces and one large write.
  const auto data = pattern(5 * 1024 * 1024 + 12345);
  auto u = s->begin_upload("big");
  std::size_t off = 0;
  const std::size_t chunks[] = {1, 4095, 1 << 20, (1 << 20) + 7, 3 * 1024 * 1024};
  for (auto chunk : chunks) {
    auto w = s->append("big", u.id);
    REQUIRE(w);
    CHECK(w->size() == off);
    auto n = std::min(chunk, data.size() - off);
    // feed each writer in small and large pieces
    std::size_t done = 0;
    while (done < n) {
      auto piece = std::min<std::size_t>(done % 2 ? 65536 : 1500000, n - done);
      w->write(data.data() + off + done, piece);
      done += piece;
    }
    off += n;
    w->finish();
    CHECK(s->find_upload("big", u.id)->size == off);
  }
  {
    auto w = s->append("big", u.id);
    w->write(data.data() + off, data.size() - off);
    w->finish();
  }
  auto d = oci::sha256_of(data);
  REQUIRE(s->commit_upload("big", u.id, d, data.size()) == commit_status::ok);
  auto b = s->blob("big", d);
  REQUIRE(b);
  CHECK(b->size == data.size());
  CHECK(slurp(b->path) == data);
}

TEST_CASE("an unfinished write is discarded", "[store]") {
  temp_dir dir;
  auto s = registry_store::open(dir.path);
  auto u = s->begin_upload("r");
  {
    auto w = s->append("r", u.id);
    w->write("keep", 4);
    w->finish();
  }
  {
    auto w = s->append("r", u.id);
    std::string junk(3 << 20, 'x'); // larger than the buffer: reaches the file
    w->write(junk.data(), junk.size());
    // destroyed without finish(): a body that broke off
  }
  CHECK(s->find_upload("r", u.id)->size == 4);
  {
    auto w = s->append("r", u.id);
    CHECK(w->size() == 4);
    w->write("-more", 5);
    w->finish();
  }
  auto d = oci::sha256_of("keep-more");
  REQUIRE(s->commit_upload("r", u.id, d, 9) == commit_status::ok);
  CHECK(slurp(s->blob("r", d)->path) == "keep-more");
}

TEST_CASE("one session, one writer at a time", "[store]") {
  temp_dir dir;
  auto s = registry_store::open(dir.path);
  auto u = s->begin_upload("r");
  auto w = s->append("r", u.id);
  REQUIRE(w);
  CHECK(s->append("r", u.id) == nullptr);
  CHECK(s->commit_upload("r", u.id, oci::sha256_of("")) == commit_status::upload_unknown);
  w->finish();
  w.reset();
  CHECK(s->append("r", u.id) != nullptr);
}

TEST_CASE("a writer at an offset the session no longer ends at is refused", "[store]") {
  temp_dir dir;
  auto s = registry_store::open(dir.path);
  auto u = s->begin_upload("r");
  auto checked = s->find_upload("r", u.id)->size; // a chunk for 0- is checked ...
  auto other = s->append("r", u.id);              // ... and a copy of it ends first
  other->write("01234", 5);
  other->finish();
  other.reset();
  CHECK(s->append("r", u.id, stowage::store::upload_use::kept, checked) == nullptr);
  CHECK(s->find_upload("r", u.id)->size == 5);
  CHECK(s->append("r", u.id, stowage::store::upload_use::kept, 5) != nullptr);
}

TEST_CASE("sessions belong to their repository, ids are validated", "[store]") {
  temp_dir dir;
  auto s = registry_store::open(dir.path);
  auto u = s->begin_upload("a");
  CHECK_FALSE(s->find_upload("b", u.id));
  CHECK(s->append("b", u.id) == nullptr);
  CHECK(s->commit_upload("b", u.id, oci::sha256_of("")) == commit_status::upload_unknown);
  CHECK_FALSE(s->cancel_upload("b", u.id));
  for (std::string bad : {"../meta.db", "", "ABCDEF0123456789ABCDEF0123456789", "../../etc/passwd"}) {
    CHECK_FALSE(s->find_upload("a", bad));
    CHECK(s->append("a", bad) == nullptr);
    CHECK(s->commit_upload("a", bad, oci::sha256_of("")) == commit_status::upload_unknown);
    CHECK_FALSE(s->cancel_upload("a", bad));
  }
  CHECK(fs::exists(dir.path / "meta.db"));
  CHECK(s->find_upload("a", u.id));
}

TEST_CASE("cancel ends the session and removes its data", "[store]") {
  temp_dir dir;
  auto s = registry_store::open(dir.path);
  auto u = s->begin_upload("r");
  auto w = s->append("r", u.id);
  w->write("abc", 3);
  w->finish();
  w.reset();
  CHECK(s->cancel_upload("r", u.id));
  CHECK_FALSE(s->find_upload("r", u.id));
  CHECK_FALSE(fs::exists(dir.path / "uploads" / u.id));
  CHECK(s->commit_upload("r", u.id, oci::sha256_of("abc")) == commit_status::upload_unknown);
  CHECK_FALSE(s->cancel_upload("r", u.id));
  CHECK_FALSE(s->blob_anywhere(oci::sha256_of("abc")));
}

TEST_CASE("committing existing content links it once", "[store]") {
  temp_dir dir;
  auto s = registry_store::open(dir.path);
  auto d = put_blob(*s, "a", "same bytes");
  auto d2 = put_blob(*s, "b", "same bytes");
  CHECK(d == d2);
  CHECK(s->blob("a", d));
  CHECK(s->blob("b", d));
  CHECK(files_under(dir.path / "blobs") == std::set<std::string>{blob_rel(d)});
  CHECK(files_under(dir.path / "uploads").empty());
  CHECK(s->used_bytes() == 10);
}

TEST_CASE("cross-repository mount", "[store]") {
  temp_dir dir;
  auto s = registry_store::open(dir.path);
  auto d = put_blob(*s, "src", "layer");
  auto missing = oci::sha256_of("nope");
  CHECK_FALSE(s->mount_blob("dst", missing, "src"));
  CHECK_FALSE(s->mount_blob("dst", d, "elsewhere"));
  CHECK_FALSE(s->repository_exists("dst"));
  CHECK_FALSE(s->blob("dst", d));
  CHECK(s->mount_blob("dst", d, "src"));
  CHECK(s->repository_exists("dst"));
  REQUIRE(s->blob("dst", d));
  CHECK(s->blob("dst", d)->path == s->blob("src", d)->path);
  CHECK(s->mount_blob("third", d)); // any repository
  CHECK(s->blob("third", d));
  CHECK(s->mount_blob("third", d)); // again: still true
}

TEST_CASE("deleting a blob unlinks it, the file goes with the last link", "[store]") {
  temp_dir dir;
  auto s = registry_store::open(dir.path);
  auto d = put_blob(*s, "a", "shared");
  REQUIRE(s->mount_blob("b", d, "a"));
  auto path = s->blob("a", d)->path;
  CHECK(s->delete_blob("a", d));
  CHECK_FALSE(s->delete_blob("a", d));
  CHECK_FALSE(s->blob("a", d));
  CHECK(s->blob("b", d));
  CHECK(fs::exists(path));
  CHECK(s->delete_blob("b", d));
  CHECK_FALSE(s->blob_anywhere(d));
  CHECK_FALSE(fs::exists(path));
  CHECK(s->used_bytes() == 0);
  // It can be uploaded again.
  put_blob(*s, "a", "shared");
  CHECK(s->blob("a", d));
}

TEST_CASE("malformed digests are never turned into paths", "[store]") {
  temp_dir dir;
  auto s = registry_store::open(dir.path);
  oci::digest evil{"sha256", "../../meta.db"};
  CHECK_FALSE(s->blob("r", evil));
  CHECK_FALSE(s->blob_anywhere(evil));
  CHECK_FALSE(s->mount_blob("r", evil));
  CHECK_FALSE(s->delete_blob("r", evil));
  auto u = s->begin_upload("r");
  CHECK(s->commit_upload("r", u.id, evil) == commit_status::digest_mismatch);
  CHECK(fs::exists(dir.path / "meta.db"));
}

TEST_CASE("concurrent uploads in many threads", "[store]") {
  temp_dir dir;
  auto s = registry_store::open(dir.path);
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 10; ++i) {
        auto bytes = pattern(1000 + t * 100 + i, t * 100 + i + 1);
        auto d = put_blob(*s, "repo" + std::to_string(t % 3), bytes);
        if (s->blob_anywhere(d))
          ++ok;
      }
    });
  for (auto& th : threads)
    th.join();
  CHECK(ok == 80);
  CHECK(s->repositories().size() == 3);
}

TEST_CASE("cancel while a writer is still open", "[store]") {
  temp_dir dir;
  auto s = registry_store::open(dir.path);
  auto u = s->begin_upload("r");
  auto w = s->append("r", u.id);
  REQUIRE(w);
  w->write("abc", 3);
  CHECK(s->cancel_upload("r", u.id));
  w->finish(); // the session is gone; finishing must not revive it
  CHECK_THROWS_AS(w->write("x", 1), stowage::store::store_error);
  w.reset();
  CHECK_FALSE(s->find_upload("r", u.id));
  CHECK(s->append("r", u.id) == nullptr);
  CHECK(files_under(dir.path / "uploads").empty());
}

TEST_CASE("a failed write leaves the session at its previous size", "[store]") {
  temp_dir dir;
  auto s = registry_store::open(dir.path);
  auto u = s->begin_upload("r");
  {
    auto w = s->append("r", u.id);
    w->write("abc", 3);
    w->finish();
  }
  {
    // Make the disk "full" for files past 1 MiB (EFBIG instead of SIGXFSZ).
    rlimit old{};
    REQUIRE(::getrlimit(RLIMIT_FSIZE, &old) == 0);
    auto old_handler = std::signal(SIGXFSZ, SIG_IGN);
    rlimit small = old;
    small.rlim_cur = 1 << 20;
    REQUIRE(::setrlimit(RLIMIT_FSIZE, &small) == 0);
    auto w = s->append("r", u.id);
    // A full buffer is written while the next one fills, so the failure
    // surfaces at a later write or at finish(), never later than that; from
    // then on every call fails.
    const std::string big(3 << 20, 'x');
    std::vector<bool> threw;
    auto attempt = [&](auto&& call) {
      try {
        call();
        threw.push_back(false);
      } catch (const stowage::store::store_error&) {
        threw.push_back(true);
      }
    };
    for (std::size_t off = 0; off < big.size(); off += 1 << 19)
      attempt([&] { w->write(big.data() + off, 1 << 19); });
    attempt([&] { w->write("y", 1); });
    attempt([&] { w->finish(); });
    ::setrlimit(RLIMIT_FSIZE, &old);
    std::signal(SIGXFSZ, old_handler);
    CHECK(threw.back()); // finish() did not pass the failure by
    auto first = std::find(threw.begin(), threw.end(), true);
    CHECK(std::all_of(first, threw.end(), [](bool t) { return t; }));
  }
  REQUIRE(s->find_upload("r", u.id));
  CHECK(s->find_upload("r", u.id)->size == 3);
  {
    auto w = s->append("r", u.id);
    REQUIRE(w);
    w->write("def", 3);
    w->finish();
  }
  auto d = oci::sha256_of("abcdef");
  REQUIRE(s->commit_upload("r", u.id, d, 6) == commit_status::ok);
  CHECK(slurp(s->blob("r", d)->path) == "abcdef");
}

TEST_CASE("used_bytes counts upload sessions too", "[store]") {
  temp_dir dir;
  auto s = registry_store::open(dir.path);
  const auto empty = s->used_bytes();
  auto u = s->begin_upload("r");
  {
    auto w = s->append("r", u.id);
    std::string data(5000, 'u');
    w->write(data.data(), data.size());
    w->finish();
  }
  CHECK(s->used_bytes() == empty + 5000); // an upload nobody finishes still takes the space
  s->cancel_upload("r", u.id);
  CHECK(s->used_bytes() == empty);
}
