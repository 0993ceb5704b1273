// Layer unpacking: tars are built here with libarchive's writer (plain, gzip,
// zstd), unpacked, stacked, and checked on disk. Hostile tars must be refused
// with nothing written outside the target directory. Runs as root in CI
// (owners, whiteout devices and trusted.* xattrs need it).
#include "run/layer_cache.hpp"
#include "run/layer_unpack.hpp"
#include "run/rootfs.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <random>
#include <sstream>

namespace fs = std::filesystem;
using namespace stowage;

namespace {

struct tar_entry {
  char kind = 'f';      // f file, d dir, l symlink, h hardlink
  std::string path;
  std::string data;     // file content, or link target
  unsigned mode = 0644;
  unsigned uid = 0, gid = 0;
};

enum class compression { none, gzip, zstd };

std::string build_tar(const std::vector<tar_entry>& entries, compression c) {
  archive* a = archive_write_new();
  archive_write_set_format_pax_restricted(a);
  if (c == compression::gzip) archive_write_add_filter_gzip(a);
  if (c == compression::zstd) REQUIRE(archive_write_add_filter_zstd(a) == ARCHIVE_OK);
  std::vector<char> buf(1 << 20);
  size_t used = 0;
  archive_write_set_bytes_in_last_block(a, 1);
  REQUIRE(archive_write_open_memory(a, buf.data(), buf.size(), &used) == ARCHIVE_OK);
  for (const auto& e : entries) {
    archive_entry* ae = archive_entry_new();
    archive_entry_set_pathname(ae, e.path.c_str());
    archive_entry_set_uid(ae, e.uid);
    archive_entry_set_gid(ae, e.gid);
    archive_entry_set_mtime(ae, 1700000000, 0);
    switch (e.kind) {
    case 'd': archive_entry_set_filetype(ae, AE_IFDIR); archive_entry_set_perm(ae, e.mode); break;
    case 'l':
      archive_entry_set_filetype(ae, AE_IFLNK);
      archive_entry_set_perm(ae, 0777);
      archive_entry_set_symlink(ae, e.data.c_str());
      break;
    case 'h':
      archive_entry_set_filetype(ae, AE_IFREG);
      archive_entry_set_perm(ae, e.mode);
      archive_entry_set_hardlink(ae, e.data.c_str());
      break;
    default:
      archive_entry_set_filetype(ae, AE_IFREG);
      archive_entry_set_perm(ae, e.mode);
      archive_entry_set_size(ae, static_cast<la_int64_t>(e.data.size()));
    }
    REQUIRE(archive_write_header(a, ae) == ARCHIVE_OK);
    if (e.kind == 'f' && !e.data.empty()) archive_write_data(a, e.data.data(), e.data.size());
    archive_entry_free(ae);
  }
  archive_write_close(a);
  archive_write_free(a);
  return std::string(buf.data(), used);
}

struct temp_dir {
  fs::path path;
  temp_dir() {
    std::random_device rd;
    path = fs::temp_directory_path() / ("stowage-unpack-" + std::to_string(::getpid()) + "-" + std::to_string(rd()));
    fs::create_directories(path);
  }
  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

fs::path write_file(const fs::path& p, const std::string& data) {
  std::ofstream(p, std::ios::binary) << data;
  return p;
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool exists_nofollow(const fs::path& p) {
  struct stat st {};
  return ::lstat(p.c_str(), &st) == 0;
}

const bool is_root = ::geteuid() == 0;

} // namespace

TEST_CASE("plain, gzip and zstd layers unpack and hash to their diff ID", "[run][unpack]") {
  std::vector<tar_entry> entries = {{'d', "bin", "", 0755}, {'f', "bin/hello", "hello world\n", 0755}};
  const std::string plain = build_tar(entries, compression::none);
  const oci::digest diff_id = oci::sha256_of(plain);
  for (auto c : {compression::none, compression::gzip, compression::zstd}) {
    temp_dir t;
    auto blob = write_file(t.path / "blob", build_tar(entries, c));
    if (c != compression::none) CHECK(read_file(blob) != plain);
    auto r = run::unpack_layer(blob, t.path / "out");
    INFO(r.error);
    REQUIRE(r.ok());
    CHECK(r.diff_id == diff_id);
    CHECK(r.tar_bytes == plain.size());
    CHECK(read_file(t.path / "out/bin/hello") == "hello world\n");
  }
}

TEST_CASE("modes, owners, symlinks and hard links are restored", "[run][unpack]") {
  temp_dir t;
  auto blob = write_file(t.path / "blob", build_tar({{'d', "etc", "", 0750, 10, 20},
                                                     {'f', "etc/secret", "s", 0600, 1234, 567},
                                                     {'f', "etc/tool", "x", 04755},
                                                     {'h', "etc/tool2", "etc/tool"},
                                                     {'l', "etc/abs", "/etc/tool"},
                                                     {'d', "ro", "", 0555},
                                                     {'f', "ro/inside", "i", 0444}},
                                                    compression::gzip));
  auto r = run::unpack_layer(blob, t.path / "out");
  INFO(r.error);
  REQUIRE(r.ok());
  struct stat st {};
  REQUIRE(::stat((t.path / "out/etc/secret").c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0600);
  REQUIRE(::stat((t.path / "out/etc").c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0750);
  REQUIRE(::stat((t.path / "out/ro").c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0555);
  CHECK(read_file(t.path / "out/ro/inside") == "i");
  if (is_root) {
    REQUIRE(::stat((t.path / "out/etc/secret").c_str(), &st) == 0);
    CHECK(st.st_uid == 1234);
    CHECK(st.st_gid == 567);
    REQUIRE(::stat((t.path / "out/etc").c_str(), &st) == 0);
    CHECK(st.st_uid == 10);
    REQUIRE(::stat((t.path / "out/etc/tool").c_str(), &st) == 0);
    CHECK((st.st_mode & 07777) == 04755);
  }
  struct stat a {}, b {};
  REQUIRE(::stat((t.path / "out/etc/tool").c_str(), &a) == 0);
  REQUIRE(::stat((t.path / "out/etc/tool2").c_str(), &b) == 0);
  CHECK(a.st_ino == b.st_ino);
  CHECK(fs::read_symlink(t.path / "out/etc/abs") == "/etc/tool"); // kept as is: resolved inside the container
}

TEST_CASE("whiteouts and opaque whiteouts hide lower layers", "[run][unpack]") {
  if (!is_root) {
    WARN("whiteout devices and trusted.overlay xattrs need root: skipped");
    return;
  }
  temp_dir t;
  auto l1 = write_file(t.path / "l1", build_tar({{'d', "a", "", 0755},
                                                 {'f', "a/keep", "k"},
                                                 {'f', "a/gone", "g"},
                                                 {'d', "d", "", 0755},
                                                 {'f', "d/old", "o"},
                                                 {'d', "d/sub", "", 0755},
                                                 {'f', "top", "t"}},
                                                compression::none));
  auto l2 = write_file(t.path / "l2", build_tar({{'f', "a/.wh.gone", ""},
                                                 {'f', ".wh.top", ""},
                                                 {'d', "d", "", 0755},
                                                 {'f', "d/.wh..wh..opq", ""},
                                                 {'f', "d/new", "n"}},
                                                compression::gzip));
  run::layer_cache cache(t.path / "cache");
  auto d1 = run::unpack_layer(l1, t.path / "probe1").diff_id;
  auto d2 = run::unpack_layer(l2, t.path / "probe2").diff_id;
  REQUIRE(cache.add(l1, d1) == "");
  REQUIRE(cache.add(l2, d2) == "");
  CHECK(run::is_whiteout_device(cache.path_of(d2) / "a/gone"));
  CHECK(!exists_nofollow(cache.path_of(d2) / "a/.wh.gone"));

  auto check = [&](const fs::path& rootfs) {
    CHECK(read_file(rootfs / "a/keep") == "k");
    CHECK(!exists_nofollow(rootfs / "a/gone"));
    CHECK(!exists_nofollow(rootfs / "top"));
    CHECK(read_file(rootfs / "d/new") == "n");
    CHECK(!exists_nofollow(rootfs / "d/old"));
    CHECK(!exists_nofollow(rootfs / "d/sub"));
  };
  SECTION("merged copy") {
    auto r = run::assemble_rootfs({cache.path_of(d1), cache.path_of(d2)}, t.path / "c1", false);
    REQUIRE(r.error == "");
    CHECK(r.kind == run::rootfs_kind::copy);
    check(t.path / "c1/rootfs");
    // The copy is private: writing to it leaves the cache alone.
    write_file(t.path / "c1/rootfs/a/keep", "changed");
    CHECK(read_file(cache.path_of(d1) / "a/keep") == "k");
  }
  SECTION("overlay mount") {
    auto r = run::assemble_rootfs({cache.path_of(d1), cache.path_of(d2)}, t.path / "c2", true);
    REQUIRE(r.error == "");
    if (r.kind != run::rootfs_kind::overlay) WARN("overlay mount unavailable; copy used");
    check(t.path / "c2/rootfs");
    run::release_rootfs(t.path / "c2");
  }
  // An opaque whiteout at a layer's root hides everything below it, the
  // same way mounted or copied (overlayfs ignores the mark on a lower
  // layer's root).
  auto l3 = write_file(t.path / "l3", build_tar({{'f', ".wh..wh..opq", ""}, {'f', "only", "o"}}, compression::none));
  auto d3 = run::unpack_layer(l3, t.path / "probe3").diff_id;
  REQUIRE(cache.add(l3, d3) == "");
  for (bool overlay : {false, true}) {
    const auto dir = t.path / (overlay ? "c4" : "c3");
    auto r = run::assemble_rootfs({cache.path_of(d1), cache.path_of(d2), cache.path_of(d3)}, dir, overlay);
    REQUIRE(r.error == "");
    CHECK(read_file(dir / "rootfs/only") == "o");
    CHECK(!exists_nofollow(dir / "rootfs/a"));
    CHECK(!exists_nofollow(dir / "rootfs/d"));
    if (r.kind == run::rootfs_kind::overlay) run::release_rootfs(dir);
  }
}

TEST_CASE("hostile layers are refused and nothing lands outside", "[run][unpack]") {
  temp_dir t;
  const fs::path outside = t.path / "outside";
  fs::create_directories(outside);
  const fs::path target = t.path / "deep/a/b/rootfs";

  struct hostile { const char* why; std::vector<tar_entry> entries; };
  std::vector<hostile> cases = {
      {"dotdot file", {{'f', "ok", "fine"}, {'f', "../../../../outside/pwned", "x"}}},
      {"dotdot with a newline in the name", {{'f', "../../../../outside/pwned\nfake: ok", "x"}}},
      {"dotdot in the middle", {{'d', "x", "", 0755}, {'f', "x/../../../../../outside/pwned", "x"}}},
      {"absolute path", {{'f', (outside / "pwned").string(), "x"}}},
      {"write through an absolute symlink", {{'l', "evil", outside.string()}, {'f', "evil/pwned", "x"}}},
      {"write through a relative symlink", {{'l', "evil", "../../../../outside"}, {'f', "evil/pwned", "x"}}},
      {"whiteout through a symlink", {{'l', "evil", outside.string()}, {'f', "evil/.wh.victim", ""}}},
      {"hard link out of the layer", {{'h', "pw", "../../../../outside/victim"}}},
      {"hard link to an absolute path", {{'h', "pw", (outside / "victim").string()}}},
      {"hard link through a symlink", {{'l', "evil", outside.string()}, {'h', "pw", "evil/victim"}}},
  };
  for (const auto& c : cases) {
    SECTION(c.why) {
      write_file(outside / "victim", "intact");
      auto blob = write_file(t.path / "blob", build_tar(c.entries, compression::gzip));
      auto r = run::unpack_layer(blob, target);
      INFO(r.error);
      CHECK(!r.ok());
      CHECK(r.error.find("layer refused") == 0);
      CHECK(r.error.find('\n') == std::string::npos);
      CHECK(!exists_nofollow(outside / "pwned"));
      CHECK(!exists_nofollow(t.path / "deep/pwned"));
      CHECK(read_file(outside / "victim") == "intact");
      std::vector<fs::path> in_outside;
      for (auto& e : fs::directory_iterator(outside)) in_outside.push_back(e.path().filename());
      CHECK(in_outside == std::vector<fs::path>{"victim"});

      // Through the cache: the layer is not kept and no temporary is left.
      run::layer_cache cache(t.path / "cache");
      auto fake = oci::sha256_of("whatever");
      CHECK(cache.add(blob, fake) != "");
      CHECK(!cache.has(fake));
      CHECK(fs::is_empty(t.path / "cache/tmp"));
    }
  }
}

TEST_CASE("the cache keeps a layer only under the diff ID its tar hashes to", "[run][unpack]") {
  temp_dir t;
  const std::string plain = build_tar({{'f', "f", "data"}}, compression::none);
  auto blob = write_file(t.path / "blob", build_tar({{'f', "f", "data"}}, compression::zstd));
  run::layer_cache cache(t.path / "cache");
  auto wrong = oci::sha256_of("not the tar");
  CHECK(cache.add(blob, wrong).find("hashes to " + oci::sha256_of(plain).str()) != std::string::npos);
  CHECK(!cache.has(wrong));
  auto right = oci::sha256_of(plain);
  CHECK(cache.add(blob, right) == "");
  CHECK(read_file(cache.path_of(right) / "f") == "data");
  CHECK(cache.add(blob, right) == ""); // already there: shared, not unpacked again
}

TEST_CASE("corrupt and non-tar blobs are refused", "[run][unpack]") {
  temp_dir t;
  std::string gz = build_tar({{'f', "f", std::string(100000, 'z')}}, compression::gzip);
  gz.resize(gz.size() / 2);
  auto truncated = write_file(t.path / "truncated", gz);
  CHECK(!run::unpack_layer(truncated, t.path / "o1").ok());
  auto garbage = write_file(t.path / "garbage", std::string(2000, 'Q'));
  CHECK(!run::unpack_layer(garbage, t.path / "o2").ok());
  auto empty = write_file(t.path / "empty", "");
  CHECK(!run::unpack_layer(empty, t.path / "o3").ok());
}

TEST_CASE("aufs bookkeeping is dropped, not turned into whiteouts, and links into it still work", "[run][unpack]") {
  temp_dir t;
  auto blob = write_file(t.path / "blob", build_tar({{'d', ".wh..wh.plnk", "", 0700},
                                                     {'f', ".wh..wh.plnk/123.456", "hard-linked content"},
                                                     {'f', ".wh..wh.plnk/.wh.x", ""},
                                                     {'d', "etc", "", 0755},
                                                     {'h', "etc/linked", ".wh..wh.plnk/123.456"},
                                                     {'f', ".wh..wh.aufs", ""},
                                                     {'f', "kept", "k"}},
                                                    compression::none));
  auto r = run::unpack_layer(blob, t.path / "out");
  INFO(r.error);
  REQUIRE(r.ok());
  std::vector<fs::path> names;
  for (auto& e : fs::recursive_directory_iterator(t.path / "out")) names.push_back(e.path().lexically_relative(t.path / "out"));
  std::sort(names.begin(), names.end());
  CHECK(names == std::vector<fs::path>{"etc", "etc/linked", "kept"});
  CHECK(read_file(t.path / "out/etc/linked") == "hard-linked content");
}

TEST_CASE("a hard link to a file of another layer is refused in one line", "[run][unpack]") {
  temp_dir t;
  auto blob = write_file(t.path / "blob", build_tar({{'h', "link", "bin/elsewhere"}}, compression::none));
  auto r = run::unpack_layer(blob, t.path / "out");
  CHECK(!r.ok());
  INFO(r.error);
  CHECK(r.error.find("layer refused: entry 'link'") == 0);
  CHECK(r.error.find('\n') == std::string::npos);
}

TEST_CASE("a target directory reached through a symlink is fine, and cwd is left alone", "[run][unpack]") {
  temp_dir t;
  fs::create_directories(t.path / "real");
  fs::create_symlink(t.path / "real", t.path / "via");
  auto blob = write_file(t.path / "blob", build_tar({{'d', "d", "", 0755}, {'f', "d/f", "x"}}, compression::gzip));
  const auto cwd = fs::current_path();
  auto r = run::unpack_layer(blob, t.path / "via/out");
  INFO(r.error);
  REQUIRE(r.ok());
  CHECK(read_file(t.path / "real/out/d/f") == "x");
  CHECK(fs::current_path() == cwd);
}

TEST_CASE("temporary trees of dead processes are swept, live ones kept", "[run][unpack]") {
  temp_dir t;
  pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  REQUIRE(child > 0);
  int status = 0;
  ::waitpid(child, &status, 0); // reaped: that pid is dead
  run::layer_cache cache(t.path / "cache");
  const fs::path dead = t.path / "cache/tmp" / ("abcd." + std::to_string(child) + ".0");
  const fs::path alive = t.path / "cache/tmp" / ("abcd." + std::to_string(::getppid()) + ".0");
  fs::create_directories(dead / "sub");
  fs::create_directories(alive);
  CHECK(cache.sweep_stale() == 1);
  CHECK(!fs::exists(dead));
  CHECK(fs::exists(alive));
}

TEST_CASE("a layer that would fill the disk is refused", "[run][unpack]") {
  temp_dir t;
  auto blob = write_file(t.path / "blob", build_tar({{'f', "big", std::string(4096, 'z')}}, compression::gzip));
  fs::create_directories(t.path / "out");
  auto free_now = fs::space(t.path).available;
  auto r = run::unpack_layer(blob, t.path / "out", free_now + (1ull << 30)); // as if the disk were nearly full
  CHECK(r.error.find("would fill the disk") != std::string::npos);
  CHECK(run::unpack_layer(blob, t.path / "ok", 0).ok());
  CHECK(run::default_keep_free(t.path) >= (1ull << 30));
}

TEST_CASE("the copied rootfs keeps a sparse file sparse", "[run][unpack]") {
  temp_dir t;
  const fs::path layer = t.path / "layer";
  fs::create_directories(layer);
  const std::uint64_t size = 64ull << 20;
  {
    int fd = ::open((layer / "sparse").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    REQUIRE(fd >= 0);
    REQUIRE(::pwrite(fd, "head", 4, 0) == 4);
    REQUIRE(::pwrite(fd, "tail", 4, static_cast<off_t>(size - 4)) == 4);
    REQUIRE(::close(fd) == 0);
  }
  auto r = run::assemble_rootfs({layer}, t.path / "c", false);
  REQUIRE(r.error == "");
  const fs::path copy = t.path / "c/rootfs/sparse";
  struct stat st {};
  REQUIRE(::stat(copy.c_str(), &st) == 0);
  CHECK(static_cast<std::uint64_t>(st.st_size) == size);
  CHECK(static_cast<std::uint64_t>(st.st_blocks) * 512 < (1u << 20)); // holes stayed holes
  auto bytes = read_file(copy);
  CHECK(bytes.substr(0, 4) == "head");
  CHECK(bytes.substr(size - 4) == "tail");
  CHECK(bytes.find_first_not_of('\0', 4) == size - 4);
}

TEST_CASE("only filesystem layer media types are unpacked", "[run][unpack]") {
  for (const char* t : {"application/vnd.oci.image.layer.v1.tar", "application/vnd.oci.image.layer.v1.tar+gzip",
                        "application/vnd.oci.image.layer.v1.tar+zstd",
                        "application/vnd.docker.image.rootfs.diff.tar.gzip",
                        "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"})
    CHECK(run::is_filesystem_layer(t));
  for (const char* t : {"application/vnd.cncf.helm.chart.content.v1.tar+gzip", "application/zip",
                        "application/vnd.oci.image.config.v1+json", "", "application/vnd.oci.image.layer.v1.tar+bzip2"})
    CHECK_FALSE(run::is_filesystem_layer(t));
}
