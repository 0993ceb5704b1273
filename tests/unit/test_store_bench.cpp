// Throughput and memory of a large upload through the disk store. Hidden:
// run with ./unit_tests "[.store-bench]"; STOWAGE_BENCH_MIB sets the size.
#include "store_test_support.hpp"

#include <catch2/catch.hpp>

#include <sys/resource.h>

#include <chrono>
#include <cstdio>

using namespace store_test;
using stowage::store::commit_status;
using stowage::store::registry_store;

namespace {
long peak_rss_kib() {
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss;
}
double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}
} // namespace

TEST_CASE("large upload: throughput and flat memory", "[.store-bench]") {
  const char* env = std::getenv("STOWAGE_BENCH_MIB");
  const std::size_t mib = env ? std::strtoul(env, nullptr, 10) : 1024;
  temp_dir dir;
  std::string chunk(256 * 1024, '\0');
  for (std::size_t i = 0; i < chunk.size(); ++i)
    chunk[i] = static_cast<char>(i * 31 + 7);
  const std::size_t chunks = mib * 4;

  oci::sha256_hasher expect;
  for (std::size_t i = 0; i < chunks; ++i)
    expect.update(chunk);
  auto d = expect.finish();

  long rss_before = peak_rss_kib();
  std::string id;
  {
    auto s = registry_store::open(dir.path);
    auto u = s->begin_upload("bench");
    id = u.id;
    auto t0 = std::chrono::steady_clock::now();
    auto w = s->append("bench", u.id);
    for (std::size_t i = 0; i < chunks; ++i)
      w->write(chunk.data(), chunk.size());
    w->finish();
    w.reset();
    double write_s = seconds_since(t0);
    auto t1 = std::chrono::steady_clock::now();
    REQUIRE(s->commit_upload("bench", u.id, d) == commit_status::ok);
    double commit_s = seconds_since(t1);
    std::printf("store bench: %zu MiB written+hashed in %.2f s (%.0f MiB/s), commit (fsync, rename) %.2f s\n",
                mib, write_s, mib / write_s, commit_s);
    REQUIRE(s->delete_blob("bench", d));
  }
  {
    // After a restart the running hash is gone: commit re-reads the file.
    auto s = registry_store::open(dir.path);
    auto u = s->begin_upload("bench");
    {
      auto w = s->append("bench", u.id);
      for (std::size_t i = 0; i < chunks; ++i)
        w->write(chunk.data(), chunk.size());
      w->finish();
    }
    s.reset();
    s = registry_store::open(dir.path);
    auto t = std::chrono::steady_clock::now();
    REQUIRE(s->commit_upload("bench", u.id, d) == commit_status::ok);
    double rehash_s = seconds_since(t);
    std::printf("store bench: commit after restart (re-hash %zu MiB) %.2f s (%.0f MiB/s)\n", mib, rehash_s,
                mib / rehash_s);
  }
  long growth = peak_rss_kib() - rss_before;
  std::printf("store bench: peak RSS grew by %ld KiB over the run\n", growth);
  CHECK(growth < 64 * 1024);
}

TEST_CASE("small blob commits per second", "[.store-bench]") {
  temp_dir dir;
  auto s = registry_store::open(dir.path);
  const int n = 200;
  auto t = std::chrono::steady_clock::now();
  for (int i = 0; i < n; ++i)
    put_blob(*s, "bench", "small blob " + std::to_string(i));
  double secs = seconds_since(t);
  std::printf("store bench: %d small uploads (begin, write, commit with fsyncs) in %.2f s: %.1f ms each\n", n,
              secs, secs * 1000 / n);
  CHECK(s->used_bytes() > 0);
}
