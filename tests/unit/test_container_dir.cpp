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

/// A stand-in for runc keeping its state under `dir`/state: `state ID`
/// prints the status a test gave it (fake_state), `delete --force ID` forgets
/// it.
runc_options fake_runc(const fs::path& dir) {
  auto p = dir / "fake-runc";
  std::ofstream(p) << "#!/bin/sh\n"
                      "root=$2\n"
                      "case $3 in\n"
                      "  state) [ -f \"$root/$4/status\" ] || exit 1\n"
                      "         printf '{\"id\":\"%s\",\"status\":\"%s\"}' \"$4\" \"$(cat \"$root/$4/status\")\" ;;\n"
                      "  delete) rm -rf \"$root/$5\" ;;\n"
                      "esac\n";
  fs::permissions(p, fs::perms::owner_all);
  return {p.string(), dir / "state"};
}

/// Gives container `id` the status `status` in runc's state under `runc`.
void fake_state(const runc_options& runc, const std::string& id, const std::string& status) {
  fs::create_directories(runc.state_root / id);
  std::ofstream(runc.state_root / id / "status") << status;
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
  auto swept = sweep_abandoned(containers, fake_runc(t.path));
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
  auto swept = sweep_abandoned(containers, fake_runc(t.path));
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
  auto runc = fake_runc(t.path);
  fake_state(runc, "kept", "stopped"); // runc died after the container
  auto swept = sweep_abandoned(containers, runc);
  CHECK(has(swept.removed, "rm"));
  CHECK_FALSE(has(swept.removed, "kept"));
  CHECK(fs::exists(containers / "kept" / "owner"));
  CHECK_FALSE(fs::exists(containers / "rm"));
  CHECK_FALSE(fs::exists(runc.state_root / "kept")); // runc delete
  // Looked at once: a released directory is not looked at again.
  auto again = sweep_abandoned(containers, runc);
  CHECK(again.removed.empty());
  CHECK(again.orphaned.empty());
}

TEST_CASE("a container runc created but never started goes", "[run][sweep]") {
  temp_dir t;
  auto containers = t.path / "containers";
  in_killed_child([&] { (new container_dir(containers / "c1", false))->set_started(true); });
  auto runc = fake_runc(t.path);
  fake_state(runc, "c1", "created"); // runc run died between create and start
  auto swept = sweep_abandoned(containers, runc);
  CHECK(swept.orphaned.empty());
  CHECK_FALSE(fs::exists(runc.state_root / "c1"));
  CHECK(fs::exists(containers / "c1" / "owner")); // kept: no --rm
}

TEST_CASE("a container runc still runs, or cannot be asked about, is left alone", "[run][sweep]") {
  for (bool ask_another_runc : {false, true}) {
    temp_dir t;
    auto containers = t.path / "containers";
    in_killed_child([&] { (new container_dir(containers / "c1", true))->set_started(true); });
    auto runc = fake_runc(t.path);
    fake_state(runc, "c1", "running"); // nobody waits for it any more
    if (ask_another_runc)
      runc.runc = (t.path / "no-such-runc").string(); // --runc naming another binary
    auto swept = sweep_abandoned(containers, runc);
    CHECK(swept.orphaned == std::vector<std::string>{"c1"});
    CHECK(swept.removed.empty());
    CHECK(fs::exists(containers / "c1" / "owner"));
  }
}

TEST_CASE("directories without an owner file are not the sweep's", "[run][sweep]") {
  temp_dir t;
  auto containers = t.path / "containers";
  fs::create_directories(containers / "old-bundle" / "rootfs");
  std::ofstream(containers / "old-bundle" / "config.json") << "{}";
  auto swept = sweep_abandoned(containers, fake_runc(t.path));
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
  CHECK(sweep_abandoned(containers, fake_runc(t.path)).released.empty());
}
