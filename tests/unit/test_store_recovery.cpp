// Restart and crash recovery of the disk store: everything committed
// survives a reopen; a commit stopped between any two of its durable steps
// leaves nothing visible and nothing stray; idle uploads expire.
#include "store/disk_store.hpp"
#include "store_test_support.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <condition_variable>
#include <future>
#include <mutex>
#include <thread>

#include <sys/wait.h>
#include <unistd.h>

using namespace store_test;
using stowage::store::commit_status;
using stowage::store::open_disk_store;
using stowage::store::registry_store;

namespace {

struct simulated_crash {};

/// A hook that throws at `step`, once armed.
struct crash_at {
  std::string step;
  bool armed = false;
  void operator()(std::string_view s) const {
    if (armed && s == step)
      throw simulated_crash{};
  }
};

const oci::digest config = oci::sha256_of("{}");

/// Uploads `bytes` into "r" and commits them with `hook` armed: the store
/// "dies" at its step. The session's id.
std::string commit_until_crash(registry_store& s, crash_at& hook, const std::string& bytes) {
  hook.armed = true;
  auto u = s.begin_upload("r");
  auto w = s.append("r", u.id);
  w->write(bytes.data(), bytes.size());
  w->finish();
  w.reset();
  CHECK_THROWS_AS(s.commit_upload("r", u.id, oci::sha256_of(bytes)), simulated_crash);
  return u.id;
}

void check_serves(registry_store& s, std::string_view repo, const oci::digest& d, const std::string& bytes) {
  auto b = s.blob(repo, d);
  REQUIRE(b);
  CHECK(b->size == bytes.size());
  CHECK(slurp(b->path) == bytes);
}

} // namespace

TEST_CASE("a reopened store serves everything committed", "[store]") {
  temp_dir dir;
  oci::digest layer, mounted;
  stored_manifest m, ref;
  std::string upload_id;
  {
    auto s = registry_store::open(dir.path);
    layer = put_blob(*s, "app", "layer bytes");
    mounted = put_blob(*s, "base", "base layer");
    REQUIRE(s->mount_blob("app", mounted, "base"));
    m = put_manifest(*s, "app", image_manifest(config, 2), "v1", 7);
    put_manifest(*s, "app", m.body, "latest");
    ref = put_manifest(*s, "app", image_manifest(config, 2, "application/vnd.example.sig", &m.dig));
    auto u = s->begin_upload("app");
    upload_id = u.id;
    auto w = s->append("app", u.id);
    w->write("partial", 7);
    w->finish();
  }
  auto s = registry_store::open(dir.path);
  CHECK(s->repositories() == std::vector<std::string>{"app", "base"});
  check_serves(*s, "app", layer, "layer bytes");
  check_serves(*s, "app", mounted, "base layer");
  check_serves(*s, "base", mounted, "base layer");
  auto got = s->manifest("app", tag_ref("v1"));
  REQUIRE(got);
  CHECK(got->dig == m.dig);
  CHECK(s->read_manifest(*got) == m.body);
  CHECK(s->tag_seq("app", "v1") == 7u);
  CHECK(s->tags("app", {}, "") == std::vector<std::string>{"latest", "v1"});
  CHECK_FALSE(put_manifest(*s, "app", ref.body, "v1", 6).update.moved);
  auto refs = s->referrers("app", m.dig, "");
  REQUIRE(refs.size() == 1);
  CHECK(refs[0].dig == ref.dig);
  CHECK(refs[0].artifact_type == "application/vnd.example.sig");
  CHECK(s->used_bytes() == 11 + 10 + m.body.size() + ref.body.size() + 7); // and the open upload

  // The open upload continues after the restart (its hash is rebuilt).
  auto u = s->find_upload("app", upload_id);
  REQUIRE(u);
  CHECK(u->size == 7);
  auto w = s->append("app", upload_id);
  REQUIRE(w);
  w->write(" and rest", 9);
  w->finish();
  w.reset();
  auto d = oci::sha256_of("partial and rest");
  REQUIRE(s->commit_upload("app", upload_id, d) == commit_status::ok);
  check_serves(*s, "app", d, "partial and rest");
}

TEST_CASE("a blob commit stopped at any step leaves nothing partial", "[store]") {
  auto step = GENERATE(as<std::string>{}, "commit:verified", "commit:synced", "commit:renamed",
                       "commit:dir_synced");
  INFO("crash after " << step);
  temp_dir dir;
  crash_at hook{step};
  const std::string before = "committed before", victim = "interrupted blob";
  auto vd = oci::sha256_of(victim);
  oci::digest bd;
  std::string upload_id;
  {
    auto s = open_disk_store(dir.path, std::chrono::hours(24), std::ref(hook));
    bd = put_blob(*s, "r", before);
    upload_id = commit_until_crash(*s, hook, victim);
  } // the process "dies": nothing more happens to the directory
  auto s = registry_store::open(dir.path);
  check_serves(*s, "r", bd, before);
  CHECK_FALSE(s->blob_anywhere(vd));
  CHECK_FALSE(s->blob("r", vd));
  CHECK(files_under(dir.path / "blobs") == std::set<std::string>{blob_rel(bd)});
  CHECK(files_under(dir.path / "tmp").empty());
  auto left = s->find_upload("r", upload_id); // the session stays where its bytes did
  CHECK(s->used_bytes() == before.size() + (left ? left->size : 0));
  bool data_kept = step == "commit:verified" || step == "commit:synced";
  if (data_kept) {
    // The upload was never moved: the session can still be committed.
    REQUIRE(s->find_upload("r", upload_id));
    CHECK(s->commit_upload("r", upload_id, vd) == commit_status::ok);
    check_serves(*s, "r", vd, victim);
  } else {
    // The session lost its data to the rename: it is gone, cleanly.
    CHECK_FALSE(s->find_upload("r", upload_id));
    CHECK(files_under(dir.path / "uploads").empty());
    put_blob(*s, "r", victim); // a retry by the client succeeds
    check_serves(*s, "r", vd, victim);
  }
}

TEST_CASE("a commit that fails after its rename leaves the session usable and no file in blobs/", "[store]") {
  // Not a crash: an error the process lives on after (a full disk failing
  // the transaction, the directory's fsync). The file goes back to the session.
  auto step = GENERATE(as<std::string>{}, "commit:renamed", "commit:dir_synced");
  INFO("error after " << step);
  temp_dir dir;
  bool armed = false;
  auto hook = [&](std::string_view s) {
    if (armed && s == step) throw stowage::store::store_error("injected at " + step);
  };
  auto s = open_disk_store(dir.path, std::chrono::hours(24), hook);
  const std::string bytes = "a blob whose commit fails once";
  auto d = oci::sha256_of(bytes);
  auto u = s->begin_upload("r");
  {
    auto w = s->append("r", u.id);
    w->write(bytes.data(), bytes.size());
    w->finish();
  }
  armed = true;
  CHECK_THROWS_AS(s->commit_upload("r", u.id, d), stowage::store::store_error);
  armed = false;
  CHECK_FALSE(s->blob("r", d));
  CHECK(files_under(dir.path / "blobs").empty());
  CHECK(s->used_bytes() == bytes.size()); // the session's, counted once
  // The client's retry of the same commit succeeds.
  REQUIRE(s->find_upload("r", u.id));
  CHECK(s->commit_upload("r", u.id, d) == commit_status::ok);
  check_serves(*s, "r", d, bytes);
}

TEST_CASE("a commit stopped once its upload was made read-only reopens without root", "[store]") {
  // A store runs as any user: the upload a commit had made read-only (just
  // before moving it into blobs/) must not keep the store from opening, nor
  // the session from being committed. As root (which may write read-only
  // files) the reopening runs in a child as nobody.
  temp_dir dir;
  crash_at hook{"commit:synced"};
  const std::string victim = "interrupted blob";
  auto vd = oci::sha256_of(victim);
  std::string upload_id;
  {
    auto s = open_disk_store(dir.path, std::chrono::hours(24), std::ref(hook));
    upload_id = commit_until_crash(*s, hook, victim);
  }
  REQUIRE((fs::status(dir.path / "uploads" / upload_id).permissions() & fs::perms::owner_write) == fs::perms::none);
  // 0: reopened and committed; 1: the open failed; 2: the commit failed.
  auto reopen_and_commit = [&]() -> int {
    try {
      auto s = registry_store::open(dir.path);
      if (s->commit_upload("r", upload_id, vd) != commit_status::ok)
        return 2;
      auto b = s->blob("r", vd);
      return b && slurp(b->path) == victim ? 0 : 2;
    } catch (const std::exception&) {
      return 1;
    }
  };
  if (::geteuid() != 0) {
    CHECK(reopen_and_commit() == 0);
    return;
  }
  const uid_t nobody = 65534;
  for (const auto& e : fs::recursive_directory_iterator(dir.path))
    REQUIRE(::lchown(e.path().c_str(), nobody, nobody) == 0);
  REQUIRE(::chown(dir.path.c_str(), nobody, nobody) == 0);
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    if (::setgid(nobody) != 0 || ::setuid(nobody) != 0)
      ::_exit(3);
    ::_exit(reopen_and_commit());
  }
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
}

TEST_CASE("a manifest put stopped at any step leaves nothing partial", "[store]") {
  auto step = GENERATE(as<std::string>{}, "manifest:temp_written", "manifest:renamed", "manifest:dir_synced");
  INFO("crash after " << step);
  temp_dir dir;
  crash_at hook{step};
  auto first = image_manifest(config, 2, "", nullptr, {{"n", "1"}});
  auto second = image_manifest(config, 2, "", nullptr, {{"n", "2"}});
  oci::digest d1, d2 = oci::sha256_of(second);
  {
    auto s = open_disk_store(dir.path, std::chrono::hours(24), std::ref(hook));
    d1 = put_manifest(*s, "app", first, "v").dig;
    hook.armed = true;
    CHECK_THROWS_AS(put_manifest(*s, "app", second, "v"), simulated_crash);
  }
  auto s = registry_store::open(dir.path);
  auto m = s->manifest("app", tag_ref("v"));
  REQUIRE(m);
  CHECK(m->dig == d1);
  CHECK(s->read_manifest(*m) == first);
  CHECK(s->tag_seq("app", "v") == 1u);
  CHECK_FALSE(s->manifest("app", digest_ref(d2)));
  CHECK_FALSE(s->blob_anywhere(d2));
  CHECK(files_under(dir.path / "blobs") == std::set<std::string>{blob_rel(d1)});
  CHECK(files_under(dir.path / "tmp").empty());
  auto retry = put_manifest(*s, "app", second, "v");
  CHECK(retry.update.seq == 2);
  CHECK(s->read_manifest(*s->manifest("app", tag_ref("v"))) == second);
}

TEST_CASE("recovery clears the on-disk states a crash can leave", "[store]") {
  temp_dir dir;
  const std::string kept = "kept blob", lost = "blob whose file vanished";
  oci::digest kd, ld;
  stored_manifest needs_lost;
  std::string live_upload;
  {
    auto s = registry_store::open(dir.path);
    kd = put_blob(*s, "r", kept);
    ld = put_blob(*s, "r", lost);
    needs_lost = put_manifest(*s, "r", image_manifest(config, 2), "t");
    auto u = s->begin_upload("r");
    live_upload = u.id;
    auto w = s->append("r", u.id);
    w->write("0123456789", 10);
    w->finish();
  }
  const auto blobs = dir.path / "blobs";
  // A temporary file of an interrupted manifest put.
  spit(dir.path / "tmp" / "0123456789abcdef0123456789abcdef.tmp", "half");
  // Stray files in blobs/: temp names, wrong bucket, wrong algorithm.
  spit(blobs / "sha256" / kd.hex.substr(0, 2) / (kd.hex + ".tmp"), "half");
  auto orphan = oci::sha256_of("renamed but never recorded");
  spit(blobs / "sha256" / "00" / orphan.hex, "renamed but never recorded"); // wrong bucket
  spit(blobs / "sha256" / orphan.hex.substr(0, 2) / orphan.hex, "renamed but never recorded");
  spit(blobs / "md5" / "ab" / "cd", "x");
  // An upload file whose row was never written, and garbage in uploads/.
  spit(dir.path / "uploads" / "ffffffffffffffffffffffffffffffff", "row-less");
  spit(dir.path / "uploads" / "not-an-id", "x");
  // The live upload got extra bytes that were never recorded (a body that broke off).
  {
    std::ofstream out(dir.path / "uploads" / live_upload, std::ios::app | std::ios::binary);
    out << "junk";
  }
  // A committed blob whose file disappeared (disk damage): it must not be
  // announced as present.
  fs::remove(blobs / blob_rel(ld));
  // A manifest's file truncated: its row must go, with its tag.
  fs::permissions(blobs / blob_rel(needs_lost.dig), fs::perms::owner_write, fs::perm_options::add);
  fs::resize_file(blobs / blob_rel(needs_lost.dig), 3);

  auto s = registry_store::open(dir.path);
  CHECK(files_under(dir.path / "tmp").empty());
  CHECK(files_under(blobs) == std::set<std::string>{blob_rel(kd)});
  CHECK(files_under(dir.path / "uploads") == std::set<std::string>{live_upload});
  check_serves(*s, "r", kd, kept);
  CHECK_FALSE(s->blob_anywhere(ld));
  CHECK_FALSE(s->blob("r", ld));
  CHECK_FALSE(s->blob_anywhere(orphan));
  CHECK_FALSE(s->manifest("r", tag_ref("t")));
  CHECK_FALSE(s->manifest("r", digest_ref(needs_lost.dig)));
  CHECK(s->tags("r", {}, "").empty());
  CHECK(s->used_bytes() == kept.size() + 10); // and the live upload's recorded bytes
  REQUIRE(s->find_upload("r", live_upload));
  CHECK(s->find_upload("r", live_upload)->size == 10);
  CHECK(s->commit_upload("r", live_upload, oci::sha256_of("0123456789")) == commit_status::ok);
}

TEST_CASE("a manifest that needs a blob lost to disk damage goes at open, with an index over it", "[store]") {
  temp_dir dir;
  const std::string layer = "a layer whose file will vanish", other = "a layer a client deletes";
  stored_manifest broken, index, intact, client_deleted;
  oci::digest ld, od;
  auto with_layer = [](const oci::digest& l, std::size_t size) {
    auto j = nlohmann::json::parse(image_manifest(config, 2));
    j["layers"] = {{{"mediaType", "application/vnd.oci.image.layer.v1.tar"}, {"digest", l.str()}, {"size", size}}};
    return j.dump();
  };
  {
    auto s = registry_store::open(dir.path);
    put_blob(*s, "r", "{}");
    ld = put_blob(*s, "r", layer);
    od = put_blob(*s, "r", other);
    broken = put_manifest(*s, "r", with_layer(ld, layer.size()), "broken");
    client_deleted = put_manifest(*s, "r", with_layer(od, other.size()), "kept");
    intact = put_manifest(*s, "r", image_manifest(config, 2));
    nlohmann::json idx{{"schemaVersion", 2}, {"mediaType", std::string(oci::media::oci_index)}};
    for (const auto* m : {&broken, &intact})
      idx["manifests"].push_back({{"mediaType", std::string(oci::media::oci_manifest)}, {"digest", m->dig.str()},
                                  {"size", m->body.size()}});
    const auto body = idx.dump();
    auto parsed = oci::parse_manifest(body, oci::media::oci_index);
    REQUIRE(parsed.value);
    index = {oci::sha256_of(body), body, s->put_manifest("r", oci::sha256_of(body), *parsed.value, body, "multi")};
    // A client's DELETE of a layer leaves its manifest: that is not damage.
    REQUIRE(s->delete_blob("r", od));
  }
  fs::remove(dir.path / "blobs" / blob_rel(ld));

  auto s = registry_store::open(dir.path);
  CHECK_FALSE(s->manifest("r", digest_ref(broken.dig)));
  CHECK_FALSE(s->manifest("r", tag_ref("broken")));
  CHECK_FALSE(s->manifest("r", digest_ref(index.dig))); // it needed the broken one
  CHECK_FALSE(s->manifest("r", tag_ref("multi")));
  CHECK(s->manifest("r", digest_ref(intact.dig)));
  CHECK(s->manifest("r", tag_ref("kept")));
  CHECK(s->tags("r", {}, "") == std::vector<std::string>{"kept"});
}

TEST_CASE("an upload row whose file is gone is dropped at open", "[store]") {
  temp_dir dir;
  std::string id;
  {
    auto s = registry_store::open(dir.path);
    id = s->begin_upload("r").id;
  }
  fs::remove(dir.path / "uploads" / id);
  auto s = registry_store::open(dir.path);
  CHECK_FALSE(s->find_upload("r", id));
  CHECK(s->repository_exists("r"));
}

TEST_CASE("upload sessions idle longer than the TTL are removed", "[store]") {
  temp_dir dir;
  std::string id;
  {
    auto s = registry_store::open(dir.path);
    auto u = s->begin_upload("r");
    id = u.id;
    auto w = s->append("r", id);
    w->write("abc", 3);
    w->finish();
  }
  {
    auto s = registry_store::open(dir.path, std::chrono::hours(1));
    CHECK(s->find_upload("r", id)); // still young
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  auto s = registry_store::open(dir.path, std::chrono::seconds(0));
  CHECK_FALSE(s->find_upload("r", id));
  CHECK(files_under(dir.path / "uploads").empty());
}

TEST_CASE("idle sessions also expire while the store runs", "[store]") {
  temp_dir dir;
  auto s = registry_store::open(dir.path, std::chrono::seconds(1));
  auto old = s->begin_upload("r");
  auto busy = s->begin_upload("r");
  auto writer = s->append("r", busy.id); // in use: never swept
  std::this_thread::sleep_for(std::chrono::milliseconds(2100));
  auto fresh = s->begin_upload("r"); // sweeps at most every TTL/2 (at least 1 s)
  CHECK_FALSE(s->find_upload("r", old.id));
  CHECK_FALSE(fs::exists(dir.path / "uploads" / old.id));
  CHECK(s->find_upload("r", busy.id));
  CHECK(s->find_upload("r", fresh.id));
  writer->write("x", 1);
  writer->finish();
  CHECK(s->find_upload("r", busy.id)->size == 1);
}

TEST_CASE("a store directory is open in one store at a time, across processes too", "[store]") {
  temp_dir dir;
  {
    auto s = registry_store::open(dir.path);
    CHECK_THROWS_WITH(registry_store::open(dir.path), Catch::Contains("is in use"));
    // Another process (a second `stowage up` for the same node) is refused too.
    pid_t child = ::fork();
    if (child == 0) {
      int code = 2;
      try {
        registry_store::open(dir.path);
        code = 0;
      } catch (const stowage::store::store_error&) {
        code = 1;
      } catch (...) {
      }
      ::_exit(code);
    }
    REQUIRE(child > 0);
    int status = 0;
    REQUIRE(::waitpid(child, &status, 0) == child);
    REQUIRE(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 1);
    put_blob(*s, "r", "still works");
  }
  auto again = registry_store::open(dir.path); // released on close
  CHECK(again->blob_anywhere(oci::sha256_of("still works")));
}

TEST_CASE("lookups do not wait for a commit in progress", "[store]") {
  temp_dir dir;
  std::mutex m;
  std::condition_variable cv;
  bool inside = false, release = false, armed = false;
  auto hook = [&](std::string_view step) {
    if (!armed || step != "commit:renamed")
      return;
    std::unique_lock lock(m);
    inside = true;
    cv.notify_all();
    cv.wait(lock, [&] { return release; });
  };
  auto s = open_disk_store(dir.path, std::chrono::hours(24), hook);
  auto old = put_blob(*s, "r", "already here");
  put_manifest(*s, "r", image_manifest(config, 2), "v1");
  armed = true;
  const std::string bytes = "being committed";
  auto committer = std::async(std::launch::async, [&] { return put_blob(*s, "r", bytes); });
  {
    std::unique_lock lock(m);
    cv.wait(lock, [&] { return inside; }); // the commit now holds the write lock
  }
  auto reader = std::async(std::launch::async, [&] {
    return s->blob("r", old).has_value() && s->manifest("r", tag_ref("v1")).has_value() &&
           s->tags("r", {}, "").size() == 1 && !s->blob_anywhere(oci::sha256_of(bytes));
  });
  bool answered = reader.wait_for(std::chrono::seconds(10)) == std::future_status::ready;
  {
    std::lock_guard lock(m);
    release = true;
  }
  cv.notify_all();
  CHECK(answered);
  CHECK(reader.get());
  CHECK(committer.get() == oci::sha256_of(bytes));
  CHECK(s->blob("r", oci::sha256_of(bytes)));
}

TEST_CASE("an upload file shorter than recorded lowers the record at open", "[store]") {
  temp_dir dir;
  std::string id;
  {
    auto s = registry_store::open(dir.path);
    id = s->begin_upload("r").id;
    auto w = s->append("r", id);
    w->write("0123456789", 10);
    w->finish();
  }
  fs::resize_file(dir.path / "uploads" / id, 4); // written back only in part before a power cut
  auto s = registry_store::open(dir.path);
  REQUIRE(s->find_upload("r", id));
  CHECK(s->find_upload("r", id)->size == 4); // the client resumes from here
  auto w = s->append("r", id);
  w->write("456789", 6);
  w->finish();
  w.reset();
  CHECK(s->commit_upload("r", id, oci::sha256_of("0123456789"), 10) == commit_status::ok);
}

TEST_CASE("a cache left unsynced before the machine's last boot is emptied at open", "[store][cache]") {
  using stowage::store::store_kind;
  temp_dir dir;
  const auto open_cache = [&] { return registry_store::open(dir.path, std::chrono::hours(24), store_kind::cache); };
  const std::string bytes = random_bytes(3000, 9);
  const auto d = oci::sha256_of(bytes);
  std::string this_boot;
  {
    auto s = open_cache();
    put_blob(*s, "r", bytes);
    this_boot = slurp(dir.path / "unsynced"); // this boot's id, while writes are pending
    CHECK(!this_boot.empty());
  }
  // Closed: everything flushed, nothing pending.
  CHECK(!fs::exists(dir.path / "unsynced"));
  check_serves(*open_cache(), "r", d, bytes);

  // The process killed in this boot: the kernel still held every write.
  spit(dir.path / "unsynced", this_boot);
  check_serves(*open_cache(), "r", d, bytes);

  // Left unsynced in another boot: any file may be torn, none is served.
  spit(dir.path / "unsynced", "0c5f4f2e-boot-before-a-power-cut");
  {
    auto s = open_cache();
    CHECK(!s->blob("r", d));
    CHECK(!s->repository_exists("r"));
    CHECK(files_under(dir.path / "blobs").empty());
    put_blob(*s, "r", bytes); // and it works as a cache again
    CHECK(s->blob("r", d));
  }

  // A durable store never empties itself.
  spit(dir.path / "unsynced", "0c5f4f2e-boot-before-a-power-cut");
  auto durable = registry_store::open(dir.path);
  check_serves(*durable, "r", d, bytes);
}

TEST_CASE("a blob whose bytes went bad while the store runs is dropped with what needs it, when checked",
          "[store]") {
  temp_dir dir;
  const std::string layer = "a layer whose bytes will rot on disk";
  auto s = registry_store::open(dir.path);
  put_blob(*s, "r", "{}");
  const auto ld = put_blob(*s, "r", layer);
  auto j = nlohmann::json::parse(image_manifest(config, 2));
  j["layers"] = {{{"mediaType", "application/vnd.oci.image.layer.v1.tar"}, {"digest", ld.str()}, {"size", layer.size()}}};
  const auto rotten = put_manifest(*s, "r", j.dump(), "rotten", 7); // at the cluster's sequence number 7
  const auto intact = put_manifest(*s, "r", image_manifest(config, 2), "intact");

  // Sound, or not there at all: nothing happens.
  CHECK_FALSE(s->drop_if_damaged(ld));
  CHECK_FALSE(s->drop_if_damaged(oci::sha256_of("never stored")));
  CHECK(s->manifest("r", tag_ref("rotten")));

  {
    std::fstream f(dir.path / "blobs" / blob_rel(ld), std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(2);
    f.write("XX", 2); // same size: only its hash tells
  }
  CHECK(s->drop_if_damaged(ld));
  CHECK_FALSE(s->blob("r", ld));
  CHECK_FALSE(fs::exists(dir.path / "blobs" / blob_rel(ld)));
  CHECK_FALSE(s->manifest("r", digest_ref(rotten.dig)));
  CHECK(s->tags("r", {}, "") == std::vector<std::string>{"intact"});
  CHECK(s->manifest("r", digest_ref(intact.dig)));
  // Stored again whole, it serves as before, its tag too: delivered again
  // at the number it had (a drop is not a delete, which has a number of its
  // own and keeps older deliveries out).
  CHECK(put_blob(*s, "r", layer) == ld);
  CHECK_FALSE(s->drop_if_damaged(ld));
  CHECK(put_manifest(*s, "r", j.dump(), "rotten", 7).update.moved);
  CHECK(s->manifest("r", tag_ref("rotten")));
  CHECK_FALSE(put_manifest(*s, "r", image_manifest(config, 2), "rotten", 7).update.moved); // the tag is taken at 7
  CHECK(s->tag_seq("r", "rotten") == 7);
}
