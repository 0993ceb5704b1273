// Container directories and the sweep of those whose `stowage run` was
// killed: each case lets a forked child make one and die without cleaning up,
// as kill -9 would.
#include "run/container_dir.hpp"
#include "store_test_support.hpp"

#include <catch2/catch.hpp>

#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <functional>

namespace fs = std::filesystem;
using namespace stowage::run;
using store_test::temp_dir;

namespace {

const bool is_root = ::geteuid() == 0;

/// Runs `body` in a child that then dies at once (no destructors run).
void in_killed_child(const std::function<void()>& body) {
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    body();
    ::_exit(0);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  REQUIRE(WIFEXITED(status));
}

/// A stand-in for runc whose `state` says `status` (or fails: empty).
runc_options fake_runc(const fs::path& dir, const std::string& status) {
  auto p = dir / "fake-runc";
  std::ofstream(p) << "#!/bin/sh\n"
                   << (status.empty() ? "exit 1\n" : "echo '{\"id\":\"x\",\"status\":\"" + status + "\"}'\n");
  fs::permissions(p, fs::perms::owner_all);
  return {p.string(), {}};
}

bool mounted(const fs::path& p) {
  std::ifstream in("/proc/self/mounts");
  std::string needle(" "), line; // appended, not added: GCC 12 warns (-Wrestrict) on " " + string
  needle.append(p.string()).push_back(' ');
  while (std::getline(in, line))
    if (line.find(needle) != std::string::npos)
      return true;
  return false;
}

bool has(const std::vector<std::string>& v, const std::string& s) { return std::find(v.begin(), v.end(), s) != v.end(); }

} // namespace

TEST_CASE("a run killed before its container started leaves nothing after the next sweep", "[run][sweep]") {
  temp_dir t;
  auto containers = t.path / "containers";
  in_killed_child([&] {
    new container_dir(containers / "c1", false); // never destroyed
    fs::create_directories(containers / "c1" / "rootfs");
    if (is_root) // the overlay mount's stand-in
      ::mount("tmpfs", (containers / "c1" / "rootfs").c_str(), "tmpfs", 0, nullptr);
  });
  REQUIRE(fs::exists(containers / "c1" / "owner"));
  if (is_root)
    REQUIRE(mounted(containers / "c1" / "rootfs"));
  auto swept = sweep_abandoned(containers, fake_runc(t.path, ""));
  CHECK(has(swept.removed, "c1"));
  CHECK(has(swept.released, "c1") == is_root);
  CHECK_FALSE(fs::exists(containers / "c1"));
  CHECK_FALSE(mounted(containers / "c1" / "rootfs"));
}

TEST_CASE("a directory whose owner lives is not swept", "[run][sweep]") {
  temp_dir t;
  auto containers = t.path / "containers";
  container_dir mine(containers / "c1", true);
  mine.set_started(true);
  auto swept = sweep_abandoned(containers, fake_runc(t.path, ""));
  CHECK(swept.removed.empty());
  CHECK(swept.released.empty());
  CHECK(fs::exists(containers / "c1" / "owner"));
}

TEST_CASE("a started container's directory is kept without --rm, removed with it", "[run][sweep]") {
  temp_dir t;
  auto containers = t.path / "containers";
  in_killed_child([&] {
    (new container_dir(containers / "kept", false))->set_started(true);
    (new container_dir(containers / "rm", true))->set_started(true);
  });
  auto swept = sweep_abandoned(containers, fake_runc(t.path, "stopped"));
  CHECK(has(swept.removed, "rm"));
  CHECK_FALSE(has(swept.removed, "kept"));
  CHECK(fs::exists(containers / "kept" / "owner"));
  CHECK_FALSE(fs::exists(containers / "rm"));
  // Looked at once: a released directory is not looked at again.
  auto again = sweep_abandoned(containers, fake_runc(t.path, "stopped"));
  CHECK(again.removed.empty());
  CHECK(again.orphaned.empty());
}

TEST_CASE("a container runc still runs, with nobody waiting for it, is left alone", "[run][sweep]") {
  temp_dir t;
  auto containers = t.path / "containers";
  in_killed_child([&] { (new container_dir(containers / "c1", true))->set_started(true); });
  auto swept = sweep_abandoned(containers, fake_runc(t.path, "running"));
  CHECK(swept.orphaned == std::vector<std::string>{"c1"});
  CHECK(swept.removed.empty());
  CHECK(fs::exists(containers / "c1" / "owner"));
}

TEST_CASE("directories without an owner file are not the sweep's", "[run][sweep]") {
  temp_dir t;
  auto containers = t.path / "containers";
  fs::create_directories(containers / "old-bundle" / "rootfs");
  std::ofstream(containers / "old-bundle" / "config.json") << "{}";
  auto swept = sweep_abandoned(containers, fake_runc(t.path, ""));
  CHECK(swept.removed.empty());
  CHECK(fs::exists(containers / "old-bundle" / "config.json"));
}

TEST_CASE("a run that ends cleans up after itself", "[run][sweep]") {
  temp_dir t;
  auto containers = t.path / "containers";
  {
    container_dir never(containers / "never", false); // runc never ran it
    container_dir kept(containers / "kept", false);
    kept.set_started(true);
    container_dir rm(containers / "rm", true);
    rm.set_started(true);
  }
  CHECK_FALSE(fs::exists(containers / "never"));
  CHECK_FALSE(fs::exists(containers / "rm"));
  CHECK(fs::exists(containers / "kept" / "owner"));
  CHECK(sweep_abandoned(containers, fake_runc(t.path, "")).released.empty());
}
