// Deletes (protocol.hpp delete_image): recorded by the master for every data
// manager before they are acknowledged, applied by those up at once and by
// the others when they join, never undone by a node that missed one.
#include "fixture.hpp"
#include "actors/handoff_queue.hpp"
#include "store/image_removal.hpp"
#include "oci/media_types.hpp"

#include <nlohmann/json.hpp>

using namespace stowage;
using namespace stowage::test;

namespace {

const std::string repo = "team/service";

struct delete_cluster : cluster_fixture {
  void build() {
    start_master();
    add_data_manager("dm1", link(50));
    add_data_manager("dm2", link(20));
    add_data_manager("dm3", link(10));
    add_runtime();
  }
  std::vector<sa::removal_record> removals() {
    return ask<sa::removals_answer>(master, sa::removals_query{}).removals;
  }
  std::string push(const std::string& tag, const std::string& digest) {
    auto done = ask<sa::push_done>(runtime, sa::push_image{repo, tag, digest});
    REQUIRE(done.ok);
    return digest;
  }
  /// Stores an index of the manifests `digests` (in the runtime's cache)
  /// there under `tag`, pushes it, and returns its digest.
  oci::digest push_index(const std::string& tag, const std::vector<std::string>& digests) {
    nlohmann::json index{{"schemaVersion", 2}, {"mediaType", "application/vnd.oci.image.index.v1+json"}};
    for (const auto& d : digests) {
      auto m = rt_store->manifest(repo, oci::reference{*oci::digest::parse(d)});
      index["manifests"].push_back({{"mediaType", m->media_type}, {"digest", d}, {"size", m->size}});
    }
    const std::string body = index.dump();
    auto parsed = oci::parse_manifest(body, oci::media::oci_index);
    REQUIRE(parsed.value);
    const auto idx = oci::sha256_of(body);
    rt_store->put_manifest(repo, idx, *parsed.value, body, tag, 1);
    push(tag, idx.str());
    return idx;
  }
  bool catalog_lists(const std::string& digest) {
    for (const auto& img : images())
      if (img.digest == digest)
        return true;
    return false;
  }
  void restart_dm3() {
    net->set_up("dm3", true);
    add_data_manager("dm3", link(10));
  }
};

} // namespace

TEST_CASE_METHOD(delete_cluster, "a deleted tag is gone everywhere, also from a node that was down",
                 "[protocol][delete]") {
  build();
  auto a = push("latest", make_image(*rt_store, repo, "latest", 16 * 1024, 61));
  auto b = push("v2", make_image(*rt_store, repo, "v2", 16 * 1024, 62));
  settle(2s);
  REQUIRE(tag_digest(*dms["dm3"].store, repo, "latest") == a);
  const auto pushed_seq = dms["dm1"].store->tag_seq(repo, "latest").value();

  kill_data_manager("dm3");
  auto done = ask<sa::delete_done>(runtime, sa::delete_image{repo, "latest"});
  REQUIRE(done.ok);
  CHECK(done.digest == a);
  CHECK(done.tags == std::vector<std::string>{"latest"});
  settle(1s);
  // Applied where it could be; recorded for dm3.
  for (const auto* dm : {"dm1", "dm2"}) {
    CHECK_FALSE(tag_digest(*dms[dm].store, repo, "latest"));
    CHECK(dms[dm].store->tag_seq(repo, "latest") > pushed_seq); // an older delivery cannot set it again
    CHECK(holds(*dms[dm].store, repo, a)); // a tag delete leaves the manifest
    CHECK(tag_digest(*dms[dm].store, repo, "v2") == b);
  }
  auto listed = ask<sa::tags_answer>(runtime, sa::tags_query{repo});
  CHECK(listed.ok);
  CHECK(listed.known);
  CHECK(listed.tags == std::vector<std::string>{"v2"});
  CHECK_FALSE(ask<sa::tags_answer>(runtime, sa::tags_query{"team/none"}).known);
  auto pending = removals();
  REQUIRE(pending.size() == 1); // rt1 applied its share at once
  CHECK(pending[0].node == "dm3");
  CHECK(pending[0].tag == "latest");
  auto pulled = ask<sa::pull_done>(runtime, sa::pull_image{repo, "latest"});
  CHECK_FALSE(pulled.ok);
  CHECK(pulled.error.starts_with("unknown image"));
  // Deleting it again finds nothing.
  CHECK(ask<sa::delete_done>(runtime, sa::delete_image{repo, "latest"}).not_found);

  // dm3 comes back holding `latest`: it applies the delete before its
  // inventory counts, so nobody is owed the tag again.
  restart_dm3();
  settle(settings.retry_interval + 1s);
  CHECK_FALSE(tag_digest(*dms["dm3"].store, repo, "latest"));
  CHECK(removals().empty());
  CHECK(handoffs().empty());
  CHECK_FALSE(ask<sa::pull_done>(runtime, sa::pull_image{repo, "latest"}).ok);
  for (const auto& img : images()) {
    CHECK(img.tag != "latest");
    if (img.digest == a) // still held everywhere, by digest
      CHECK(img.replicas == std::vector<std::string>{"dm1", "dm2", "dm3"});
  }
  CHECK(ask<sa::pull_done>(runtime, sa::pull_image{repo, a}).ok);

  // The tag can be pushed again; it then wins over the delete everywhere.
  auto c = push("latest", make_image(*rt_store, repo, "latest", 16 * 1024, 63));
  settle(2s);
  for (const auto* dm : {"dm1", "dm2", "dm3"})
    CHECK(tag_digest(*dms[dm].store, repo, "latest") == c);
}

TEST_CASE_METHOD(delete_cluster, "a tag deleted while a delivery under it is pending stays deleted across a master restart",
                 "[protocol][delete][restart]") {
  build();
  kill_data_manager("dm3");
  auto a = push("v1", make_image(*rt_store, repo, "v1", 16 * 1024, 66)); // handed off for dm3
  settle(1s);
  REQUIRE(handoffs().size() == 1);
  REQUIRE(ask<sa::delete_done>(runtime, sa::delete_image{repo, "v1"}).ok);
  auto h = handoffs();
  REQUIRE(h.size() == 1); // still owed, by digest alone
  CHECK(h[0].tag.empty());
  CHECK(h[0].digest == a);

  restart_master(); // the catalog is rebuilt from the handoffs and the joins
  settle(1s);
  CHECK_FALSE(ask<sa::pull_done>(runtime, sa::pull_image{repo, "v1"}).ok);
  CHECK(ask<sa::tags_answer>(runtime, sa::tags_query{repo}).tags.empty());
  CHECK(ask<sa::pull_done>(runtime, sa::pull_image{repo, a}).ok); // the manifest stays

  restart_dm3();
  settle(settings.retry_interval * 2 + 1s);
  CHECK(holds(*dms["dm3"].store, repo, a));
  CHECK_FALSE(tag_digest(*dms["dm3"].store, repo, "v1"));
  CHECK(handoffs().empty());
  CHECK(removals().empty());
}

TEST_CASE_METHOD(delete_cluster, "a tag deleted before a late peer fails stays deleted across a master restart",
                 "[protocol][delete][restart]") {
  auto a = push_while_dm3_fetches(repo, "v1", 67).digest;
  REQUIRE(handoffs().empty());

  // The tag goes while dm3 fetches; then dm3 fails, and its handoff, under
  // the tag's old number, is recorded after the delete.
  REQUIRE(ask<sa::delete_done>(runtime, sa::delete_image{repo, "v1"}).ok);
  net->set_up("dm3", false); // its fetch breaks off
  settle(5s);
  auto h = handoffs();
  REQUIRE(h.size() == 1);
  CHECK(h[0].node == "dm3");
  CHECK(h[0].tag.empty()); // owed by digest alone

  restart_master(); // the catalog is rebuilt from the handoffs and the joins
  settle(1s);
  CHECK(ask<sa::tags_answer>(runtime, sa::tags_query{repo}).tags.empty());
  CHECK_FALSE(ask<sa::pull_done>(runtime, sa::pull_image{repo, "v1"}).ok);
  CHECK(ask<sa::pull_done>(runtime, sa::pull_image{repo, a}).ok); // the manifest stays

  net->set_up("dm3", true);
  settle(settings.retry_interval * 2 + 5s);
  CHECK(holds(*dms["dm3"].store, repo, a));
  CHECK_FALSE(tag_digest(*dms["dm3"].store, repo, "v1"));
  CHECK(handoffs().empty());
  CHECK(ask<sa::tags_answer>(runtime, sa::tags_query{repo}).tags.empty());
}

TEST_CASE_METHOD(delete_cluster, "a manifest deleted by digest goes with its tags and blobs, across a master restart",
                 "[protocol][delete][restart]") {
  build();
  auto a = push("latest", make_image(*rt_store, repo, "latest", 16 * 1024, 64));
  push("stable", a);
  auto keep = push("other", make_image(*rt_store, repo, "other", 16 * 1024, 65));
  settle(2s);
  auto parts = store::parts_of(*dms["dm1"].store, repo, *oci::digest::parse(a));
  REQUIRE(parts.blobs.size() == 2);
  REQUIRE(holds(*dms["dm3"].store, repo, a));

  kill_data_manager("dm3");
  auto done = ask<sa::delete_done>(runtime, sa::delete_image{repo, a});
  REQUIRE(done.ok);
  CHECK(done.tags == std::vector<std::string>{"latest", "stable"});
  settle(1s);
  REQUIRE(removals().size() == 3); // dm3: two tags and the manifest

  restart_master(); // the records are on the master's disk
  CHECK(removals().size() == 3);
  for (const auto* dm : {"dm1", "dm2"}) {
    CHECK_FALSE(holds(*dms[dm].store, repo, a));
    CHECK_FALSE(tag_digest(*dms[dm].store, repo, "stable"));
    for (const auto& b : parts.blobs)
      CHECK_FALSE(dms[dm].store->blob(repo, *oci::digest::parse(b)));
    CHECK(holds(*dms[dm].store, repo, keep));
  }
  CHECK_FALSE(holds(*rt_store, repo, a)); // the runtime's cache too,
  for (const auto& b : parts.blobs)        // which keeps the blobs (a client may still delete them)
    CHECK(rt_store->blob(repo, *oci::digest::parse(b)));
  CHECK_FALSE(ask<sa::pull_done>(runtime, sa::pull_image{repo, a}).ok);
  CHECK_FALSE(catalog_lists(a));

  restart_dm3();
  settle(settings.retry_interval + 1s);
  CHECK_FALSE(holds(*dms["dm3"].store, repo, a));
  CHECK(removals().empty());
  CHECK(handoffs().empty());
  CHECK_FALSE(catalog_lists(a));
  CHECK(holds(*dms["dm3"].store, repo, keep));

  // Pushed again, the image is there again.
  auto again = push("latest", make_image(*rt_store, repo, "latest", 16 * 1024, 64));
  REQUIRE(again == a);
  settle(2s);
  for (const auto* dm : {"dm1", "dm2", "dm3"})
    CHECK(tag_digest(*dms[dm].store, repo, "latest") == a);
  CHECK(ask<sa::pull_done>(runtime, sa::pull_image{repo, a}).ok);
}

TEST_CASE_METHOD(delete_cluster, "a node that missed a tag's move still deletes the image the tag moved from",
                 "[protocol][delete][restart]") {
  // dm3 still has latest -> A from before it went down; latest moved to B
  // meanwhile, and A, untagged now, is deleted by digest. dm3's old tag
  // must not spare A (tags count their numbers apart).
  build();
  auto a = push("latest", make_image(*rt_store, repo, "latest", 16 * 1024, 67));
  settle(2s);
  REQUIRE(tag_digest(*dms["dm3"].store, repo, "latest") == a);
  kill_data_manager("dm3");
  auto b = push("latest", make_image(*rt_store, repo, "latest", 16 * 1024, 68));
  settle(1s);
  REQUIRE(ask<sa::delete_done>(runtime, sa::delete_image{repo, a}).ok);

  restart_dm3();
  settle(settings.retry_interval * 2 + 1s);
  CHECK_FALSE(holds(*dms["dm3"].store, repo, a));
  CHECK(tag_digest(*dms["dm3"].store, repo, "latest") == b);
  CHECK(removals().empty());
  restart_master(); // rebuilt from the inventories: A is nowhere to be learned from
  settle(settings.retry_interval * 2 + 1s);
  CHECK_FALSE(catalog_lists(a));
  for (const auto& [name, dm] : dms)
    CHECK_FALSE(holds(*dm.store, repo, a));
  CHECK_FALSE(ask<sa::pull_done>(runtime, sa::pull_image{repo, a}).ok);
}

TEST_CASE_METHOD(delete_cluster, "a node joining with a copy of a deleted image no record covers removes it",
                 "[protocol][delete][restart]") {
  // dm4 was not in the cluster when A was deleted (a disk brought from
  // elsewhere, say): it joins with A, after a restart of the master, and
  // must not keep it, or the master would learn A back from it and spread it.
  build();
  auto a = push("latest", make_image(*rt_store, repo, "latest", 16 * 1024, 69));
  settle(2s);
  REQUIRE(ask<sa::delete_done>(runtime, sa::delete_image{repo, a}).ok);
  settle(1s);
  restart_master(); // every node applied the delete: only the master's mark of it is left
  settle(1s);
  REQUIRE(removals().empty());
  auto& dm4 = dms["dm4"];
  dm4.store = store::registry_store::open(root / "dm4" / "store");
  net->add_node("dm4", dm4.store, link(30));
  REQUIRE(make_image(*dm4.store, repo, "latest", 16 * 1024, 69) == a);
  add_data_manager("dm4", link(30));
  settle(settings.retry_interval * 2 + 1s);
  CHECK_FALSE(holds(*dm4.store, repo, a));
  restart_master();
  settle(settings.retry_interval * 2 + 1s);
  CHECK_FALSE(catalog_lists(a));
  for (const auto& [name, dm] : dms)
    CHECK_FALSE(holds(*dm.store, repo, a));
}

TEST_CASE_METHOD(delete_cluster, "an image deleted while a peer still fetches it ends up nowhere",
                 "[protocol][delete]") {
  auto [digest, done] = push_while_dm3_fetches(repo, "latest", 66);

  REQUIRE(ask<sa::delete_done>(runtime, sa::delete_image{repo, digest}).ok);
  settle(settings.retry_interval * 2 + 5s); // dm3's fetch ends (its source lost the image)
  for (const auto* dm : {"dm1", "dm2", "dm3"})
    CHECK_FALSE(holds(*dms[dm].store, repo, digest));
  CHECK(removals().empty());
  CHECK(handoffs().empty());
  CHECK_FALSE(catalog_lists(digest));

  // Had the copy landed after all, its report makes the master have it
  // removed there again instead of counting it.
  REQUIRE(make_image(*dms["dm3"].store, repo, "latest", 1 << 20, 66, done.seq) == digest);
  self->send(master, sa::image_stored{"dm3", {repo, "latest", digest, done.seq, 0}});
  settle(1s);
  CHECK_FALSE(holds(*dms["dm3"].store, repo, digest));
  CHECK(removals().empty());
  CHECK_FALSE(catalog_lists(digest));
  CHECK_FALSE(ask<sa::pull_done>(runtime, sa::pull_image{repo, digest}).ok);
}

TEST_CASE_METHOD(delete_cluster, "an index deleted while a node was down takes its platform manifests with it there too",
                 "[protocol][delete][index]") {
  build();
  // An index of two platform images, pushed under a tag.
  auto amd64 = make_image(*rt_store, repo, "", 16 * 1024, 71);
  auto arm64 = make_image(*rt_store, repo, "", 16 * 1024, 72);
  const auto idx = push_index("multi", {amd64, arm64});
  settle(2s);
  for (const auto* dm : {"dm1", "dm2", "dm3"})
    REQUIRE(holds(*dms[dm].store, repo, arm64));

  kill_data_manager("dm3");
  REQUIRE(ask<sa::delete_done>(runtime, sa::delete_image{repo, idx.str()}).ok);
  settle(1s);
  for (const auto* dm : {"dm1", "dm2"})
    for (const auto& d : {idx.str(), amd64, arm64})
      CHECK_FALSE(holds(*dms[dm].store, repo, d));
  CHECK_FALSE(catalog_lists(amd64));

  // dm3 comes back with all three: nothing of it is counted or owed, and it
  // removes them all.
  restart_dm3();
  settle(settings.retry_interval * 2 + 1s);
  for (const auto& d : {idx.str(), amd64, arm64}) {
    CHECK_FALSE(holds(*dms["dm3"].store, repo, d));
    CHECK_FALSE(catalog_lists(d));
  }
  CHECK(handoffs().empty());
  CHECK(removals().empty());
  for (const auto* dm : {"dm1", "dm2"})
    CHECK_FALSE(holds(*dms[dm].store, repo, arm64));
}

TEST_CASE_METHOD(delete_cluster, "an index deleted by digest leaves a platform manifest a tag names",
                 "[protocol][delete][index]") {
  build();
  // amd64 is pushed and tagged on its own too; arm64 only in the index.
  auto amd64 = push("solo", make_image(*rt_store, repo, "solo", 16 * 1024, 73));
  auto arm64 = make_image(*rt_store, repo, "", 16 * 1024, 74);
  const auto idx = push_index("multi", {amd64, arm64});
  settle(2s);

  kill_data_manager("dm3"); // applies the delete when it is back
  REQUIRE(ask<sa::delete_done>(runtime, sa::delete_image{repo, idx.str()}).ok);
  settle(1s);
  restart_dm3();
  settle(settings.retry_interval * 2 + 1s);
  for (const auto* dm : {"dm1", "dm2", "dm3"}) {
    CHECK_FALSE(holds(*dms[dm].store, repo, idx.str()));
    CHECK_FALSE(holds(*dms[dm].store, repo, arm64));
    CHECK(tag_digest(*dms[dm].store, repo, "solo") == amd64);
  }
  CHECK(catalog_lists(amd64));
  CHECK_FALSE(catalog_lists(arm64));
  CHECK(tag_digest(*rt_store, repo, "solo") == amd64); // the runtime's cache too
  auto pulled = ask<sa::pull_done>(runtime, sa::pull_image{repo, "solo"});
  CHECK(pulled.ok);
  CHECK(removals().empty());
}

TEST_CASE_METHOD(delete_cluster, "a delete's mark goes long after every node of the cluster file removed the image",
                 "[protocol][delete]") {
  cluster_file = {{"dm1", "data"}, {"dm2", "data"}, {"dm3", "data"}, {"rt1", "runtime"}};
  delete_mark_lifetime = 0ms; // the floor: twice transfer_timeout (10 min)
  build();
  auto a = push("latest", make_image(*rt_store, repo, "latest", 16 * 1024, 81));
  auto b = push("old", make_image(*rt_store, repo, "old", 16 * 1024, 82));
  settle(2s);
  REQUIRE(ask<sa::delete_done>(runtime, sa::delete_image{repo, a}).ok);
  kill_data_manager("dm3");
  REQUIRE(ask<sa::delete_done>(runtime, sa::delete_image{repo, b}).ok); // dm3 owes this one
  using marked = std::set<std::pair<std::string, std::string>>;
  auto marks = [&] {
    auto rows = sa::handoff_queue(root / "master").deleted_images();
    return marked(rows.begin(), rows.end());
  };
  CHECK(marks() == marked{{repo, a}, {repo, b}});

  settle(19min); // transfers under way at the delete may still land: both stay
  CHECK(marks().size() == 2);
  settle(2min); // looked at once a minute
  CHECK(marks().size() == 2); // dm3 is down: it has yet to remove b, and may hold a copy of a
  restart_dm3();
  settle(settings.retry_interval * 2 + 1s);
  CHECK(removals().empty());
  settle(1min);
  CHECK(marks().empty());
  for (const auto& [name, dm] : dms) {
    CHECK_FALSE(holds(*dm.store, repo, a));
    CHECK_FALSE(holds(*dm.store, repo, b));
  }
  CHECK_FALSE(catalog_lists(a));
  CHECK_FALSE(catalog_lists(b));
}

TEST_CASE_METHOD(delete_cluster, "a delete owed by a node the cluster file dropped keeps its mark for good",
                 "[protocol][delete][restart]") {
  cluster_file = {{"dm1", "data"}, {"dm2", "data"}, {"dm3", "data"}, {"rt1", "runtime"}};
  delete_mark_lifetime = 0ms;
  build();
  auto a = push("latest", make_image(*rt_store, repo, "latest", 16 * 1024, 84));
  settle(2s);
  kill_data_manager("dm3");
  REQUIRE(ask<sa::delete_done>(runtime, sa::delete_image{repo, a}).ok); // dm3 owes it
  cluster_file.erase("dm3"); // taken out of the file: its deletes are dropped at the restart
  restart_master();
  settle(1s);
  CHECK(removals().empty());
  settle(25min);
  CHECK(sa::handoff_queue(root / "master").deleted_images().size() == 1);
  // Put back, dm3 joins with its old copy: removed there, spread nowhere.
  cluster_file["dm3"] = "data";
  restart_master();
  restart_dm3();
  settle(settings.retry_interval * 2 + 1s);
  CHECK_FALSE(catalog_lists(a));
  for (const auto& [name, dm] : dms)
    CHECK_FALSE(holds(*dm.store, repo, a));
}

TEST_CASE_METHOD(delete_cluster, "without a cluster file a delete's mark stays", "[protocol][delete]") {
  delete_mark_lifetime = 0ms;
  build();
  auto a = push("latest", make_image(*rt_store, repo, "latest", 16 * 1024, 83));
  settle(2s);
  REQUIRE(ask<sa::delete_done>(runtime, sa::delete_image{repo, a}).ok);
  settle(30min);
  CHECK(removals().empty());
  // A node nobody knew of may still join with a copy: the mark stays.
  CHECK(sa::handoff_queue(root / "master").deleted_images().size() == 1);
}

TEST_CASE_METHOD(delete_cluster, "deleting what the cluster does not know changes nothing", "[protocol][delete]") {
  build();
  auto a = push("latest", make_image(*rt_store, repo, "latest", 16 * 1024, 67));
  auto unknown = ask<sa::delete_done>(runtime, sa::delete_image{repo, "nope"});
  CHECK_FALSE(unknown.ok);
  CHECK(unknown.not_found);
  CHECK(ask<sa::delete_done>(runtime, sa::delete_image{"team/other", "latest"}).not_found);
  auto bad = ask<sa::delete_done>(runtime, sa::delete_image{repo, "sha256:nothex"});
  CHECK_FALSE(bad.ok);
  CHECK_FALSE(bad.not_found);
  settle(1s);
  CHECK(removals().empty());
  for (const auto* dm : {"dm1", "dm2", "dm3"})
    CHECK(tag_digest(*dms[dm].store, repo, "latest") == a);
}

TEST_CASE_METHOD(delete_cluster, "a runtime down during a delete drops the image from its cache when it joins",
                 "[protocol][delete]") {
  build();
  auto a = push("latest", make_image(*rt_store, repo, "latest", 16 * 1024, 68));
  settle(2s);
  REQUIRE(holds(*rt_store, repo, a)); // its cache has it (it pushed it)

  net->set_up("rt1", false);
  caf::anon_send_exit(runtime, caf::exit_reason::kill);
  settle(1s);
  // Another runtime's delete reaches the master the same way.
  auto done = ask<sa::delete_done>(master, sa::delete_image{repo, a});
  REQUIRE(done.ok);
  settle(1s);
  auto pending = removals();
  REQUIRE(pending.size() == 2); // rt1: the tag and the manifest
  for (const auto& r : pending)
    CHECK(r.node == "rt1");
  CHECK(holds(*rt_store, repo, a));

  net->set_up("rt1", true);
  add_runtime("rt1"); // the host is back: same cache, a new actor joins
  settle(1s);
  CHECK_FALSE(holds(*rt_store, repo, a));
  CHECK(removals().empty());
}

TEST_CASE_METHOD(delete_cluster, "a master lists the cluster file's nodes before they join and drops deletes of nodes it no longer names",
                 "[protocol][delete]") {
  const auto dir = root / "master-with-file";
  std::filesystem::create_directories(dir);
  {
    sa::handoff_queue q(dir);
    q.add_removals({{repo, "latest", "", 3, "dm1"}, {repo, "latest", "", 3, "dm9"}, {repo, "latest", "", 3, "rt1"}});
  }
  sa::master_config cfg;
  cfg.dir = dir;
  cfg.settings = settings;
  cfg.spool = store::registry_store::open(dir / "spool");
  cfg.directory = {{"dm1", {"data", config::identity::generate().public_key_hex(), "127.0.0.1:5011"}},
                   {"rt1", {"runtime", config::identity::generate().public_key_hex(), "127.0.0.1:5000"}}};
  auto m = sa::spawn_master(sys, cfg);
  sched.run();
  // Not joined yet, the cluster file's nodes are listed, down.
  auto nodes = ask<sa::nodes_answer>(m, sa::nodes_query{}).nodes;
  REQUIRE(nodes.size() == 3);
  CHECK(nodes[1] == sa::node_record{"dm1", "data", false, "127.0.0.1:5011", cfg.directory["dm1"].public_key});
  CHECK(nodes[2].name == "rt1");
  CHECK_FALSE(nodes[2].up);
  auto left = ask<sa::removals_answer>(m, sa::removals_query{}).removals;
  REQUIRE(left.size() == 2);
  CHECK(left[0].node == "dm1");
  CHECK(left[1].node == "rt1");
  caf::anon_send_exit(m, caf::exit_reason::user_shutdown);
  sched.run();
}
