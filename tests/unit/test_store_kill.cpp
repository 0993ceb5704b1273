// A child process commits blobs and manifests in a loop and reports each
// acknowledged digest; it is killed with SIGKILL at an arbitrary moment. The
// reopened store must serve every acknowledged object intact and hold no
// file whose content does not match its name. The same for a cache, which
// never fsyncs: a process killed leaves its writes with the kernel.
#include "store_test_support.hpp"
#include "store/image_removal.hpp"

#include <catch2/catch.hpp>

#include <csignal>
#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <functional>
#include <chrono>
#include <sstream>
#include <thread>

using namespace store_test;
using stowage::store::registry_store;
using stowage::store::store_kind;

namespace {

std::string blob_bytes(int i) {
  // Sizes from a few bytes to ~2 MiB so the kill also lands mid-write.
  std::size_t n = (i % 4 == 3) ? (2u << 20) + static_cast<std::size_t>(i) : 100 + static_cast<std::size_t>(i) * 37;
  std::string s(n, '\0');
  std::uint32_t x = static_cast<std::uint32_t>(i) * 2654435761u + 1;
  for (auto& c : s) {
    x = x * 1664525u + 1013904223u;
    c = static_cast<char>(x >> 24);
  }
  return s;
}

/// What a child reports to the test, a line at a time; a child that cannot
/// report ends.
void report(int out, const std::string& text) {
  if (::write(out, text.data(), text.size()) != static_cast<ssize_t>(text.size()))
    ::_exit(3);
}

/// Runs `loop(out)` in a child process, reads its reports until `enough`
/// says so (or a minute passes), waits `delay`, kills it with SIGKILL and
/// returns everything it reported.
std::string run_and_kill(const std::function<void(int)>& loop, const std::function<bool(const std::string&)>& enough,
                         std::chrono::microseconds delay) {
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::close(fds[0]);
    loop(fds[1]);
    ::_exit(4); // loops never return
  }
  ::close(fds[1]);
  std::string reported;
  char buf[4096];
  ssize_t n;
  pollfd pfd{fds[0], POLLIN, 0};
  while (!enough(reported) && ::poll(&pfd, 1, 60000) > 0 && (n = ::read(fds[0], buf, sizeof buf)) > 0)
    reported.append(buf, static_cast<std::size_t>(n));
  std::this_thread::sleep_for(delay);
  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  REQUIRE(WIFSIGNALED(status));
  while ((n = ::read(fds[0], buf, sizeof buf)) > 0)
    reported.append(buf, static_cast<std::size_t>(n));
  ::close(fds[0]);
  return reported;
}

[[noreturn]] void child_loop(const fs::path& dir, store_kind kind, int out, int start) {
  try {
    auto s = registry_store::open(dir, std::chrono::hours(24), kind);
    for (int i = start;; ++i) {
      // Both ways of writing: around the page cache and through it.
      auto d = put_blob(*s, "kill", blob_bytes(i),
                        i % 2 ? stowage::store::upload_use::read_soon : stowage::store::upload_use::kept);
      std::ostringstream line;
      line << "b " << d.str() << '\n';
      if (i % 3 == 0) {
        std::string tag = "t";
        tag += std::to_string(i % 5);
        auto m = put_manifest(*s, "kill", image_manifest(d, blob_bytes(i).size()), tag);
        line << "m " << m.dig.str() << ' ' << tag << ' ' << m.update.seq << '\n';
      }
      report(out, line.str());
    }
  } catch (...) {
    ::_exit(2);
  }
}

} // namespace

TEST_CASE("kill -9 at arbitrary moments loses nothing acknowledged", "[store]") {
  const auto store = GENERATE(store_kind::durable, store_kind::cache);
  INFO((store == store_kind::durable ? "durable store" : "cache"));
  temp_dir dir;
  std::vector<std::string> blobs, manifests;
  // tag -> (digest, seq) acknowledged last. A later move may have committed
  // without its acknowledgement reaching us before the kill.
  std::map<std::string, std::pair<std::string, std::uint64_t>> last_tag;
  int start = 0;
  for (int round = 0; round < 4; ++round) {
    // Let a few commits through (however slow the build), then kill at a
    // moment that varies by round: mid-write, mid-commit or between.
    const auto wanted = 2 + 2 * round;
    auto acked = run_and_kill([&](int out) { child_loop(dir.path, store, out, start); },
                              [&](const std::string& r) { return std::count(r.begin(), r.end(), '\n') >= wanted; },
                              std::chrono::milliseconds(7 + 13 * round));
    std::istringstream in(acked);
    std::string kind, dig, tag;
    std::uint64_t seq = 0;
    while (in >> kind >> dig) {
      if (kind == "b") {
        blobs.push_back(dig);
        ++start;
      } else {
        in >> tag >> seq;
        manifests.push_back(dig);
        last_tag[tag] = {dig, seq};
      }
    }
    start += 1000; // next round: fresh contents

    auto s = registry_store::open(dir.path, std::chrono::hours(24), store);
    for (const auto& b : blobs) {
      auto d = oci::digest::parse(b);
      REQUIRE(d);
      auto info = s->blob("kill", *d);
      REQUIRE(info);
      CHECK(oci::sha256_of(slurp(info->path)) == *d);
    }
    for (const auto& m : manifests) {
      auto got = s->manifest("kill", digest_ref(*oci::digest::parse(m)));
      REQUIRE(got);
      CHECK(oci::sha256_of(s->read_manifest(*got)).str() == m);
    }
    for (const auto& [t, acked] : last_tag) {
      auto got = s->manifest("kill", tag_ref(t));
      REQUIRE(got);
      auto now_seq = s->tag_seq("kill", t);
      REQUIRE(now_seq);
      CHECK(*now_seq >= acked.second); // never rolled back
      if (*now_seq == acked.second)
        CHECK(got->dig.str() == acked.first);
      CHECK(oci::sha256_of(s->read_manifest(*got)) == got->dig);
    }
    // Nothing stored is partial: every blob file hashes to its own name.
    for (const auto& rel : files_under(dir.path / "blobs")) {
      auto name = fs::path(rel).filename().string();
      CHECK(oci::sha256_of(slurp(dir.path / "blobs" / rel)).hex == name);
    }
    CHECK(files_under(dir.path / "tmp").empty());
  }
  INFO(blobs.size() << " blobs and " << manifests.size() << " manifests acknowledged");
  CHECK(blobs.size() > 4);
}

namespace {

// Pushes images of one config blob each in batches of 16, then removes the
// batch image by image, forever: "p MANIFEST CONFIG" once a push is stored,
// "r MANIFEST" once its removal returned.
[[noreturn]] void delete_loop(const fs::path& dir, int out, int start) {
  try {
    auto s = registry_store::open(dir, std::chrono::hours(24), store_kind::durable);
    for (int i = start;;) {
      std::vector<oci::digest> batch;
      for (int k = 0; k < 16; ++k, ++i) {
        auto bytes = blob_bytes(i);
        auto c = put_blob(*s, "del", bytes);
        auto m = put_manifest(*s, "del", image_manifest(c, bytes.size()));
        batch.push_back(m.dig);
        report(out, "p " + m.dig.str() + ' ' + c.str() + '\n');
      }
      for (const auto& m : batch) {
        stowage::store::remove_image(*s, "del", m);
        report(out, "r " + m.str() + '\n');
      }
    }
  } catch (...) {
    ::_exit(2);
  }
}

} // namespace

TEST_CASE("kill -9 during deletes leaves each image whole or gone", "[store]") {
  temp_dir dir;
  std::map<std::string, std::string> config_of; // manifest -> its config blob
  std::set<std::string> removed;
  for (int round = 0; round < 6; ++round) {
    // Kill once the removals of the first batch have begun, a little later
    // each round.
    auto acked = run_and_kill([&](int out) { delete_loop(dir.path, out, 100000 * (round + 1)); },
                              [](const std::string& r) { return r.find("\nr ") != std::string::npos; },
                              std::chrono::microseconds(500 + 1700 * round));
    std::istringstream in(acked);
    std::string kind, m, c;
    while (in >> kind >> m) {
      if (kind == "p") {
        in >> c;
        config_of[m] = c;
      } else {
        removed.insert(m);
      }
    }

    auto s = registry_store::open(dir.path, std::chrono::hours(24), store_kind::durable);
    for (const auto& [man, cfg] : config_of) {
      INFO("manifest " << man);
      auto md = oci::digest::parse(man);
      auto cd = oci::digest::parse(cfg);
      REQUIRE((md && cd));
      const bool has_manifest = s->manifest("del", digest_ref(*md)).has_value();
      const bool has_config = s->blob("del", *cd).has_value();
      CHECK(has_manifest == has_config); // whole or gone, never a manifest's blobs left behind
      if (removed.count(man))
        CHECK(!has_manifest);
    }
    // What the killed child left half-done is finished here, as a data
    // manager re-applies a removal it has not confirmed.
    for (const auto& [man, cfg] : config_of)
      if (!removed.count(man))
        if (auto md = oci::digest::parse(man); md && !s->manifest("del", digest_ref(*md)))
          removed.insert(man);
  }
  INFO(config_of.size() << " images pushed, " << removed.size() << " removed");
  CHECK(removed.size() > 6);
}
