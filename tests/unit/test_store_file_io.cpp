// The file primitives under uploads and downloads. Appender: whatever the
// piece sizes, resume offsets and I/O mode (O_DIRECT where the file system
// takes it, buffered elsewhere), the file holds exactly the bytes appended.
// Range reader: any range, from the page cache or not, comes back exact.
#include "store/disk_store.hpp"
#include "store/file_io.hpp"
#include "store/range_reader.hpp"
#include "store/registry_store.hpp"
#include "store_test_support.hpp"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <linux/magic.h>
#include <sys/mman.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <atomic>
#include <future>
#include <random>

using namespace stowage::store;
using store_test::random_bytes;
using store_test::slurp;
using store_test::temp_dir;
namespace fs = std::filesystem;

namespace {


/// Appends `data` in pieces of the given sizes (cycled), in `sessions`
/// appenders, each reopening the file at its current size as an upload does.
/// What the appenders' taps saw goes to `tapped`.
void append_in_sessions(const fs::path& p, const std::string& data, std::vector<std::size_t> pieces,
                        int sessions, bool* saw_direct = nullptr, std::string* tapped = nullptr,
                        fileio::buffered_appender::mode mode = fileio::buffered_appender::mode::direct_if_possible) {
  fileio::open_file(p, O_WRONLY | O_CREAT | O_TRUNC);
  std::size_t pos = 0, k = 0;
  for (int s = 0; s < sessions; ++s) {
    std::size_t stop = s + 1 == sessions ? data.size() : data.size() * std::size_t(s + 1) / std::size_t(sessions);
    auto fd = fileio::open_file(p, O_RDWR);
    fileio::buffered_appender::tap_fn tap;
    if (tapped) tap = [tapped](const char* d, std::size_t n) { tapped->append(d, n); };
    fileio::buffered_appender out(std::move(fd), p, pos, mode, tap);
    if (saw_direct && out.direct()) *saw_direct = true;
    while (pos < stop) {
      std::size_t n = std::min(pieces[k++ % pieces.size()], stop - pos);
      out.append(data.data() + pos, n);
      pos += n;
    }
    out.flush();
    REQUIRE(fs::file_size(p) == pos);
  }
}

} // namespace

TEST_CASE("the appender writes exactly the bytes appended", "[store][appender]") {
  temp_dir d;
  auto p = d.path / "upload";
  auto data = random_bytes(5 * fileio::buffered_appender::buffer_size + 12345, 7);
  bool direct = false;

  SECTION("one session, odd piece sizes") {
    append_in_sessions(p, data, {1, 4095, 4097, 65536, 300000, 1 << 20, 3 << 20}, 1, &direct);
  }
  SECTION("many sessions resuming mid-block") {
    append_in_sessions(p, data, {777, 100003, 5000}, 9, &direct);
  }
  SECTION("flush twice, append after a flush") {
    fileio::open_file(p, O_WRONLY | O_CREAT | O_TRUNC);
    fileio::buffered_appender out(fileio::open_file(p, O_RDWR), p, 0);
    direct = out.direct();
    out.append(data.data(), 10);
    out.flush();
    out.flush();
    REQUIRE(fs::file_size(p) == 10);
    out.append(data.data() + 10, data.size() - 10);
    out.flush();
  }
  REQUIRE(fs::file_size(p) == data.size());
  REQUIRE(slurp(p) == data);
  // Not a requirement (tmpfs may refuse O_DIRECT), but the report says which mode ran.
  INFO("direct I/O: " << direct);
}

TEST_CASE("the appender flushes a buffer short of full by less than a block exactly", "[store][appender]") {
  // Padded to whole blocks, such a buffer is as long as a full one.
  temp_dir d;
  auto p = d.path / "upload";
  const auto size = fileio::buffered_appender::buffer_size;
  auto data = random_bytes(3 * size, 19);
  for (std::size_t first : {size - 100, 2 * size - 1, size - fileio::buffered_appender::block + 1}) {
    CAPTURE(first);
    fileio::open_file(p, O_WRONLY | O_CREAT | O_TRUNC);
    fileio::buffered_appender out(fileio::open_file(p, O_RDWR), p, 0);
    out.append(data.data(), first);
    out.flush();
    CHECK(fs::file_size(p) == first);
    out.append(data.data() + first, data.size() - first);
    out.flush();
    CHECK(slurp(p) == data);
  }
}

TEST_CASE("the appender's tap sees every appended byte once, in order", "[store][appender]") {
  // The tap is an upload's SHA-256: a byte seen twice (the old bytes of a
  // block a resumed upload rewrites, a partial block kept after a flush) or
  // not at all would make every commit hash the whole file again, or fail.
  temp_dir d;
  auto p = d.path / "upload";
  auto data = random_bytes(4 * fileio::buffered_appender::buffer_size + 4321, 17);
  using mode = fileio::buffered_appender::mode;
  for (auto m : {mode::direct_if_possible, mode::buffered, mode::unsynced_buffered})
    for (int sessions : {1, 3, 7}) { // each after the first resumes mid-block; 3: past a full buffer
      CAPTURE(static_cast<int>(m), sessions);
      std::string tapped;
      append_in_sessions(p, data, {1, 4095, 777, 300000, 1 << 20, 100003, 3 << 20}, sessions, nullptr, &tapped, m);
      CHECK(tapped.size() == data.size());
      CHECK(tapped == data);
      CHECK(slurp(p) == data);
    }
}

TEST_CASE("the appender's buffered mode writes exactly the bytes appended", "[store][appender]") {
  // A descriptor the kernel will not switch to O_DIRECT forces the fallback.
  temp_dir d;
  auto p = d.path / "upload";
  auto data = random_bytes(3 * fileio::buffered_appender::buffer_size + 99, 11);
  fileio::open_file(p, O_WRONLY | O_CREAT | O_TRUNC);
  std::size_t pos = 0;
  for (std::size_t piece : {std::size_t(1) << 20, std::size_t(333), std::size_t(300000)}) {
    fileio::buffered_appender out(fileio::open_file(p, O_RDWR), p, pos, fileio::buffered_appender::mode::buffered);
    REQUIRE_FALSE(out.direct());
    std::size_t stop = std::min(data.size(), pos + data.size() / 3 + 1);
    while (pos < stop) {
      std::size_t n = std::min(piece, stop - pos);
      out.append(data.data() + pos, n);
      pos += n;
    }
    out.flush();
  }
  REQUIRE(pos == data.size());
  REQUIRE(slurp(p) == data);
}

TEST_CASE("the appender hands what it wrote around the page cache to background fdatasyncs", "[store][appender]") {
  using appender = fileio::buffered_appender;
  temp_dir d;
  auto p = d.path / "upload";
  const auto piece = random_bytes(appender::buffer_size, 13);
  fileio::open_file(p, O_WRONLY | O_CREAT | O_TRUNC);
  appender out(fileio::open_file(p, O_RDWR), p, 0, appender::mode::direct_if_possible);
  if (!out.direct()) {
    WARN("the file system refuses O_DIRECT: the buffered fallback's writeback is not observable here");
    return;
  }
  const std::uint64_t total = 3 * appender::sync_every + appender::buffer_size;
  for (std::uint64_t n = 0; n < total; n += piece.size()) out.append(piece.data(), piece.size());
  // One starts at each sync_every, unless the one before is still running
  // (the next threshold tries again): the first always starts.
  CHECK(out.sync_started_through() >= appender::sync_every);
  CHECK(out.sync_started_through() <= total);
  out.flush(); // collects the last one's result
  CHECK(fs::file_size(p) == total);
}

TEST_CASE("a store writes kept uploads around the page cache with background syncs, a cache too",
          "[store][appender][cache]") {
  // A cache never fsyncs a commit; its O_DIRECT writes are still flushed from
  // the device's write cache as they go, or the next process that syncs on
  // the device (a container engine storing a layer) would pay for them.
  using mode = fileio::buffered_appender::mode;
  CHECK(upload_write_mode(store_kind::cache, upload_use::kept) == mode::direct_if_possible);
  CHECK(upload_write_mode(store_kind::durable, upload_use::kept) == mode::direct_if_possible);
  CHECK(upload_write_mode(store_kind::durable, upload_use::read_soon) == mode::buffered);
  CHECK(upload_write_mode(store_kind::cache, upload_use::read_soon) == mode::unsynced_buffered);
}

TEST_CASE("the range reader returns exactly the range, cached or not", "[store][range_reader]") {
  temp_dir d;
  auto p = d.path / "blob";
  auto data = random_bytes(3 * range_reader::piece_size + 5000, 3);
  {
    fileio::open_file(p, O_WRONLY | O_CREAT | O_TRUNC);
    fileio::buffered_appender out(fileio::open_file(p, O_RDWR), p, 0);
    out.append(data.data(), data.size());
    out.flush();
  }
  auto read_range = [&](std::uint64_t off, std::uint64_t len) {
    range_reader r(p, off, len);
    std::string got;
    for (auto piece = r.next(); !piece.empty(); piece = r.next()) {
      CHECK(piece.size() <= range_reader::piece_size);
      got += piece;
    }
    CHECK(r.left() == 0);
    return got;
  };
  auto check_ranges = [&] {
    for (auto [off, len] : std::vector<std::pair<std::uint64_t, std::uint64_t>>{
             {0, data.size()}, {1, 10}, {4095, 4098}, {range_reader::piece_size - 1, range_reader::piece_size + 2},
             {data.size() - 1, 1}, {12345, data.size() - 12345}, {0, 0}})
      CHECK(read_range(off, len) == data.substr(off, len));
  };
  SECTION("not in the page cache (written with O_DIRECT where possible)") { check_ranges(); }
  SECTION("in the page cache") {
    (void)slurp(p);
    check_ranges();
  }
  SECTION("a file shorter than the range is an error, not a short answer") {
    range_reader r(p, data.size() - 10, 20);
    CHECK(r.next().size() == 10);
    CHECK_THROWS_AS(r.next(), store_error);
  }
}

namespace {

/// How many of the first `n` pages of `p` are in the page cache (mincore).
std::size_t resident_pages(const fs::path& p, std::size_t n) {
  const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  auto fd = fileio::open_file(p, O_RDONLY);
  void* m = ::mmap(nullptr, n * page, PROT_READ, MAP_SHARED, fd.get(), 0);
  REQUIRE(m != MAP_FAILED);
  std::vector<unsigned char> v(n);
  REQUIRE(::mincore(m, n * page, v.data()) == 0);
  ::munmap(m, n * page);
  std::size_t count = 0;
  for (auto b : v) count += b & 1;
  return count;
}

/// tmpfs keeps every page in memory: there is no page cache to stay out of.
bool on_tmpfs(const fs::path& p) {
  struct statfs fs_info {};
  REQUIRE(::statfs(p.c_str(), &fs_info) == 0);
  return fs_info.f_type == TMPFS_MAGIC;
}

} // namespace

TEST_CASE("a file dropped from the page cache keeps its bytes and leaves the cache, dirty or not",
          "[store][page_cache]") {
  temp_dir d;
  const auto p = d.path / "blob";
  const std::string data = random_bytes(4 << 20, 31);
  const std::size_t pages = data.size() / static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  {
    auto fd = fileio::open_file(p, O_WRONLY | O_CREAT | O_TRUNC);
    fileio::write_all(fd.get(), data.data(), data.size(), p); // buffered, dirty, never synced
  }
  REQUIRE(resident_pages(p, pages) == pages);
  fileio::drop_from_page_cache(p);
  if (on_tmpfs(d.path))
    WARN("the test directory is on tmpfs: not checked that the pages left");
  else
    CHECK(resident_pages(p, pages) == 0);
  CHECK(slurp(p) == data);
}

TEST_CASE("a runtime's cache writes a delivered blob around the page cache and a client's through it",
          "[store][cache][page_cache]") {
  // upload_use::kept (an image delivered into the cache) skips the page
  // cache; read_soon (a client's blob, relayed on as it arrives) fills it.
  temp_dir d;
  if (on_tmpfs(d.path)) {
    WARN("the test directory is on tmpfs: every page stays in memory, nothing to check");
    return;
  }
  auto cache = registry_store::open(d.path / "cache", std::chrono::hours(24), store_kind::cache);
  const std::size_t page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  auto upload = [&](upload_use use, unsigned seed) {
    const auto bytes = random_bytes(4 << 20, seed);
    auto u = cache->begin_upload("r");
    auto w = cache->append("r", u.id, use);
    REQUIRE(w);
    w->write(bytes.data(), bytes.size());
    w->finish();
    w.reset();
    const auto dig = stowage::oci::sha256_of(bytes);
    REQUIRE(cache->commit_upload("r", u.id, dig, bytes.size()) == commit_status::ok);
    auto b = cache->blob("r", dig);
    REQUIRE(b);
    const auto resident = resident_pages(b->path, bytes.size() / page);
    CHECK(slurp(b->path) == bytes);
    return resident;
  };
  CHECK(upload(upload_use::kept, 51) == 0);
  CHECK(upload(upload_use::read_soon, 52) == (4u << 20) / page);
}

TEST_CASE("an appender given up lets its write in flight land before quiesce returns", "[store][appender]") {
  // An abandoned upload's writer quiesces before its session is released:
  // a write landing later would change the file under the next writer.
  temp_dir d;
  auto p = d.path / "upload";
  auto data = random_bytes(fileio::buffered_appender::buffer_size + 5, 23);
  fileio::open_file(p, O_WRONLY | O_CREAT | O_TRUNC);
  std::promise<void> release;
  auto released = release.get_future().share();
  std::atomic<bool> in_tap{false};
  fileio::buffered_appender out(fileio::open_file(p, O_RDWR), p, 0, fileio::buffered_appender::mode::direct_if_possible,
                                [&](const char*, std::size_t) {
                                  in_tap = true;
                                  released.wait(); // the write is held here, before its pwrite
                                });
  if (!out.direct()) SUCCEED("no O_DIRECT here: writes are synchronous, nothing is in flight");
  else {
    out.append(data.data(), data.size()); // a full buffer goes to the writing thread
    auto q = std::async(std::launch::async, [&] { out.quiesce(); });
    CHECK(q.wait_for(std::chrono::milliseconds(50)) == std::future_status::timeout); // the write is held
    release.set_value();
    q.get();
    CHECK(in_tap);
    CHECK(fs::file_size(p) >= fileio::buffered_appender::buffer_size); // landed
  }
}
