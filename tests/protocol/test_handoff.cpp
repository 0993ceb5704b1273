// Handoffs (DESIGN §3 push 8): an unreachable peer, periodic third tests,
// delivery once it is back, restart of the master, tags that never roll back.
#include "fixture.hpp"
#include "actors/image_copy.hpp"

using namespace stowage;
using namespace stowage::test;

namespace {

const std::string repo = "team/service";

struct handoff_cluster : cluster_fixture {
  void build(const std::map<std::string, sa::link_profile>& links = {{"dm1", link(50)},
                                                                      {"dm2", link(20)},
                                                                      {"dm3", link(10)}}) {
    start_master();
    for (const auto& [name, l] : links)
      add_data_manager(name, l);
    add_runtime();
  }
  std::uint32_t attempts_for(const std::string& node) {
    std::uint32_t n = 0;
    for (auto& h : handoffs())
      if (h.node == node)
        n = std::max(n, h.attempts);
    return n;
  }
};

} // namespace

TEST_CASE_METHOD(handoff_cluster, "an unreachable peer gets the image by handoff once it is back",
                 "[protocol][handoff]") {
  build();
  auto digest = make_image(*rt_store, repo, "latest", 32 * 1024, 21);
  net->set_up("dm3", false); // partitioned: its actor lives, its data path is cut
  auto done = ask<sa::push_done>(runtime, sa::push_image{repo, "latest", digest});
  REQUIRE(done.ok);
  CHECK(done.ack.copies == 2); // dm1 and dm2: acknowledged without waiting for the handoff
  CHECK(done.ack.replicas == std::vector<std::string>{"dm1", "dm2"});
  settle(1s); // the target hands dm3's copy to the master's spool
  CHECK(holds(*spool, repo, digest));
  auto hs = handoffs();
  REQUIRE(hs.size() == 1);
  CHECK(hs[0].node == "dm3");
  CHECK(hs[0].digest == digest);
  CHECK(hs[0].seq == done.seq);

  // While it stays down, third tests fail periodically.
  settle(settings.retry_interval * 3 + 500ms);
  CHECK(attempts_for("dm3") >= 2);
  CHECK_FALSE(holds(*dms["dm3"].store, repo, digest));
  auto imgs = images();
  REQUIRE(imgs.size() == 1);
  CHECK(imgs[0].pending == std::vector<std::string>{"dm3"});

  // The partition heals: the next third test succeeds and the master delivers.
  net->set_up("dm3", true);
  settle(settings.retry_interval * 2 + 500ms);
  CHECK(holds(*dms["dm3"].store, repo, digest));
  CHECK(tag_digest(*dms["dm3"].store, repo, "latest") == digest);
  CHECK(dms["dm3"].store->tag_seq(repo, "latest") == done.seq);
  CHECK(handoffs().empty());
  imgs = images();
  CHECK(imgs[0].pending.empty());
  CHECK(imgs[0].replicas == std::vector<std::string>{"dm1", "dm2", "dm3"});
  // Delivered everywhere: the spooled copy is gone.
  CHECK_FALSE(holds(*spool, repo, digest));
  CHECK(spool->manifests(repo).empty());
}

TEST_CASE_METHOD(handoff_cluster, "the spool keeps an image until every data manager owed it has it",
                 "[protocol][handoff][spool]") {
  build();
  add_data_manager("dm4", link(5));
  auto digest = make_image(*rt_store, repo, "latest", 32 * 1024, 25);
  net->set_up("dm3", false);
  net->set_up("dm4", false);
  auto done = ask<sa::push_done>(runtime, sa::push_image{repo, "latest", digest});
  REQUIRE(done.ok);
  settle(1s);
  REQUIRE(handoffs().size() == 2);

  net->set_up("dm3", true);
  settle(settings.retry_interval * 2 + 500ms);
  CHECK(holds(*dms["dm3"].store, repo, digest));
  REQUIRE(handoffs().size() == 1); // dm4 is still owed it
  CHECK(holds(*spool, repo, digest));

  net->set_up("dm4", true);
  settle(settings.retry_interval * 2 + 500ms);
  CHECK(holds(*dms["dm4"].store, repo, digest));
  CHECK(handoffs().empty());
  CHECK_FALSE(holds(*spool, repo, digest));
}

TEST_CASE_METHOD(handoff_cluster, "a dead data manager gets the image after it comes back", "[protocol][handoff]") {
  build();
  auto digest = make_image(*rt_store, repo, "latest", 32 * 1024, 22);
  kill_data_manager("dm3");
  auto done = ask<sa::push_done>(runtime, sa::push_image{repo, "latest", digest});
  REQUIRE(done.ok);
  settle(settings.retry_interval * 2 + 500ms);
  REQUIRE(handoffs().size() == 1);
  CHECK(attempts_for("dm3") >= 1);
  // The host restarts: same store, a new actor joins.
  net->set_up("dm3", true);
  add_data_manager("dm3", link(10));
  settle(settings.retry_interval * 2 + 500ms);
  CHECK(holds(*dms["dm3"].store, repo, digest));
  CHECK(handoffs().empty());
}

TEST_CASE_METHOD(handoff_cluster, "a handoff survives a master restart", "[protocol][handoff][restart]") {
  build();
  auto digest = make_image(*rt_store, repo, "latest", 32 * 1024, 23);
  net->set_up("dm3", false);
  auto done = ask<sa::push_done>(runtime, sa::push_image{repo, "latest", digest});
  REQUIRE(done.ok);
  settle(1s);
  REQUIRE(handoffs().size() == 1);
  auto decided = decisions();
  REQUIRE_FALSE(decided.empty());

  restart_master();
  auto hs = handoffs();
  REQUIRE(hs.size() == 1); // reloaded from the master's directory
  CHECK(decisions() == decided); // so is the decision log
  CHECK(hs[0].node == "dm3");
  CHECK(hs[0].digest == digest);

  net->set_up("dm3", true);
  settle(settings.retry_interval * 2 + 500ms);
  CHECK(holds(*dms["dm3"].store, repo, digest));
  CHECK(handoffs().empty());
  // Sequence numbers continue after the restart.
  auto v2 = make_image(*rt_store, repo, "latest", 1024, 24);
  auto again = ask<sa::push_done>(runtime, sa::push_image{repo, "latest", v2});
  REQUIRE(again.ok);
  CHECK(again.seq == done.seq + 1);
  CHECK(decisions().front().id > decided.front().id); // ids continue after the restart
}

TEST_CASE_METHOD(handoff_cluster, "a peer cut off after the acknowledgement gets the image by handoff",
                 "[protocol][handoff][copies]") {
  start_master();
  add_data_manager("dm1", link(50));
  add_data_manager("dm2", link(40));
  add_data_manager("dm3", link(1)); // slow: still fetching when dm2 has it
  add_runtime();
  auto digest = make_image(*rt_store, repo, "latest", 1 << 20, 26);
  auto done = ask<sa::push_done>(runtime, sa::push_image{repo, "latest", digest});
  REQUIRE(done.ok);
  CHECK(done.ack.replicas == std::vector<std::string>{"dm1", "dm2"});
  CHECK(done.ack.receiving == std::vector<std::string>{"dm3"});
  CHECK(handoffs().empty());
  // The admin view shows dm3 owed the image from the acknowledgement on,
  // while it fetches and then while it is handed off, until it has it.
  auto listed = [&] {
    for (const auto& img : images())
      if (img.repository == repo && img.tag == "latest") return img;
    FAIL("the image is not listed");
    return sa::image_record{};
  };
  CHECK(listed().replicas == std::vector<std::string>{"dm1", "dm2"});
  CHECK(listed().pending == std::vector<std::string>{"dm3"});

  net->set_up("dm3", false); // its fetch breaks off
  settle(5s);
  auto hs = handoffs();
  REQUIRE(hs.size() == 1);
  CHECK(hs[0].node == "dm3");
  CHECK(holds(*spool, repo, digest));
  CHECK_FALSE(holds(*dms["dm3"].store, repo, digest));
  CHECK(listed().pending == std::vector<std::string>{"dm3"});

  net->set_up("dm3", true);
  settle(settings.retry_interval * 2 + 5s);
  CHECK(holds(*dms["dm3"].store, repo, digest));
  CHECK(handoffs().empty());
  CHECK_FALSE(holds(*spool, repo, digest));
  CHECK(listed().pending.empty());
  CHECK(listed().replicas == std::vector<std::string>{"dm1", "dm2", "dm3"});
}

TEST_CASE_METHOD(handoff_cluster, "data managers of the cluster file that never joined are owed a push from the spool",
                 "[protocol][handoff][copies]") {
  cluster_file = {{"dm1", "data"}, {"dm2", "data"}, {"dm3", "data"}, {"rt1", "runtime"}};
  start_master();
  add_data_manager("dm1", link(50)); // the only one up since the master started
  add_runtime();
  auto digest = make_image(*rt_store, repo, "latest", 64 * 1024, 29);
  auto done = ask<sa::push_done>(runtime, sa::push_image{repo, "latest", digest});
  REQUIRE(done.ok); // dm1 and the spool
  CHECK(holds(*spool, repo, digest));
  std::set<std::string> owed;
  for (const auto& h : handoffs()) owed.insert(h.node);
  CHECK(owed == std::set<std::string>{"dm2", "dm3"});

  // dm1's disk is lost before the others come: the spool's copy reaches them.
  kill_data_manager("dm1");
  add_data_manager("dm2", link(50));
  add_data_manager("dm3", link(50));
  settle(settings.retry_interval * 2 + 5s);
  CHECK(holds(*dms["dm2"].store, repo, digest));
  CHECK(holds(*dms["dm3"].store, repo, digest));
  CHECK(tag_digest(*dms["dm3"].store, repo, "latest") == digest);
  CHECK(handoffs().empty());
  CHECK_FALSE(holds(*spool, repo, digest)); // delivered everywhere owed: released
}

TEST_CASE_METHOD(handoff_cluster, "a peer cut off while the spool cannot take the image is owed it from a holder",
                 "[protocol][handoff][copies]") {
  auto digest = push_while_dm3_fetches(repo, "latest", 28).digest;

  // dm3's fetch breaks off, and the target's copy into the master's spool
  // fails too (the master's data plane is down; its actor answers).
  net->set_up("master", false);
  net->set_up("dm3", false);
  settle(5s);
  CHECK_FALSE(holds(*spool, repo, digest));
  auto hs = handoffs();
  REQUIRE(hs.size() == 1);
  CHECK(hs[0].node == "dm3");
  CHECK(hs[0].tag == "latest");

  net->set_up("master", true);
  net->set_up("dm3", true);
  settle(settings.retry_interval * 2 + 5s);
  CHECK(holds(*dms["dm3"].store, repo, digest));
  CHECK(tag_digest(*dms["dm3"].store, repo, "latest") == digest);
  CHECK(handoffs().empty());
}

TEST_CASE_METHOD(handoff_cluster, "a peer that dies while it fetches after the acknowledgement is handed off at once",
                 "[protocol][handoff][copies]") {
  auto digest = push_while_dm3_fetches(repo, "latest", 29).digest;

  // dm3's process dies (kill -9) with the target's replication request
  // unanswered: the target hands dm3's copy off now, not when that request
  // times out (transfer_timeout, 10 minutes).
  kill_data_manager("dm3");
  settle(5s);
  auto hs = handoffs();
  REQUIRE(hs.size() == 1);
  CHECK(hs[0].node == "dm3");
  CHECK(hs[0].tag == "latest");

  net->set_up("dm3", true);
  add_data_manager("dm3", link(10));
  settle(settings.retry_interval * 2 + 5s);
  CHECK(holds(*dms["dm3"].store, repo, digest));
  CHECK(tag_digest(*dms["dm3"].store, repo, "latest") == digest);
  CHECK(handoffs().empty());
  for (const auto& img : images())
    CHECK(img.pending.empty());
}

TEST_CASE_METHOD(handoff_cluster, "a peer the master reports down is handed off at once, though the target's link to it stands",
                 "[protocol][handoff][copies]") {
  auto p = push_while_dm3_fetches(repo, "latest", 31);
  // dm3 hangs with ~1 s of its fetch to go (the fetch then fails); the
  // target's own link to it says nothing, the master's broke. Told so, the
  // target hands dm3's copy off now.
  net->set_up("dm3", false);
  caf::send_as(master, dms.at(p.done.target).actor, sa::node_down{"dm3"});
  settle(200ms);
  auto hs = handoffs();
  REQUIRE(hs.size() == 1);
  CHECK(hs[0].node == "dm3");
}

TEST_CASE_METHOD(handoff_cluster, "the master tells every node that joined which node it lost", "[protocol][handoff]") {
  build();
  auto told = std::make_shared<std::vector<std::string>>();
  auto spy = sys.spawn([told](caf::event_based_actor* s) -> caf::behavior {
    s->set_default_handler(caf::drop); // the join's answer, rosters
    return {[told](sa::node_down& d) { told->push_back(d.name); }};
  });
  caf::send_as(spy, master, sa::join_request{"rt2", "runtime", {}, "127.0.0.1:5001", 0, {}, {}, {}});
  sched.run();
  kill_data_manager("dm3");
  settle(10ms);
  CHECK(*told == std::vector<std::string>{"dm3"});
  caf::anon_send_exit(spy, caf::exit_reason::kill);
}

TEST_CASE_METHOD(handoff_cluster, "a target lost after the acknowledgement: the master delivers from another holder",
                 "[protocol][handoff][copies]") {
  build({{"dm1", link(50)}, {"dm2", link(40)}, {"dm3", link(1)}});
  auto digest = make_image(*rt_store, repo, "latest", 1 << 20, 27);
  auto done = ask<sa::push_done>(runtime, sa::push_image{repo, "latest", digest});
  REQUIRE(done.ok);
  REQUIRE(done.target == "dm1");
  CHECK(done.ack.receiving == std::vector<std::string>{"dm3"});

  // The target crashes while dm3 fetches from it: nobody is left to hand
  // the image off for dm3, so the master, which told dm3 to expect it, does.
  kill_data_manager("dm1");
  settle(1s);
  auto hs = handoffs();
  REQUIRE(hs.size() == 1);
  CHECK(hs[0].node == "dm3");
  CHECK(hs[0].seq == done.seq);
  CHECK_FALSE(holds(*spool, repo, digest)); // delivered from dm2, not from a spool copy

  settle(settings.retry_interval * 2 + 5s);
  CHECK(holds(*dms["dm3"].store, repo, digest));
  CHECK(tag_digest(*dms["dm3"].store, repo, "latest") == digest);
  CHECK(dms["dm3"].store->tag_seq(repo, "latest") == done.seq);
  CHECK(handoffs().empty());
  auto imgs = images();
  REQUIRE(imgs.size() == 1);
  CHECK(imgs[0].pending.empty());
}

TEST_CASE_METHOD(handoff_cluster, "a late delivery of an older tag does not roll the tag back",
                 "[protocol][handoff][tags]") {
  settings.retry_interval = 30s; // no retry between the two pushes
  build();
  auto v1 = make_image(*rt_store, repo, "latest", 16 * 1024, 31);
  net->set_up("dm3", false);
  auto first = ask<sa::push_done>(runtime, sa::push_image{repo, "latest", v1});
  REQUIRE(first.ok);
  settle(1s);
  REQUIRE(handoffs().size() == 1);

  net->set_up("dm3", true);
  auto v2 = make_image(*rt_store, repo, "latest", 16 * 1024, 32);
  auto second = ask<sa::push_done>(runtime, sa::push_image{repo, "latest", v2});
  REQUIRE(second.ok);
  REQUIRE(second.seq > first.seq);
  settle(2s); // dm3 fetches v2 (the acknowledgement came at min_copies)
  CHECK(tag_digest(*dms["dm3"].store, repo, "latest") == v2);
  REQUIRE(handoffs().size() == 1); // v1 still owed to dm3

  settle(settings.retry_interval + 1s); // the late delivery of v1
  CHECK(handoffs().empty());
  CHECK(holds(*dms["dm3"].store, repo, v1));
  CHECK(tag_digest(*dms["dm3"].store, repo, "latest") == v2);
  CHECK(dms["dm3"].store->tag_seq(repo, "latest") == second.seq);
}

TEST_CASE_METHOD(handoff_cluster, "a delivery whose source is lost midway is given up at once and comes from another holder",
                 "[protocol][handoff]") {
  build({{"dm1", link(50)}, {"dm2", link(40)}, {"dm3", link(1)}, {"dm4", link(30)}});
  auto digest = make_image(*rt_store, repo, "latest", 8 << 20, 31);
  const auto size = *sa::image_size(*rt_store, repo, digest);
  const auto to_dm3 = std::chrono::milliseconds(size / 1000); // at dm3's 1 MB/s
  auto done = ask<sa::push_done>(runtime, sa::push_image{repo, "latest", digest});
  REQUIRE(done.ok);
  REQUIRE(done.target == "dm1");
  settle(1s); // dm4 has it too; dm3 is still fetching from dm1
  REQUIRE(holds(*dms["dm4"].store, repo, digest));
  REQUIRE_FALSE(holds(*dms["dm3"].store, repo, digest));

  // The target dies: the master hands the image off for dm3 and delivers it
  // from the first holder up, dm2. dm2 dies in the middle of that delivery.
  kill_data_manager("dm1");
  settle(settings.retry_interval + 1s);
  REQUIRE(handoffs().size() == 1);
  REQUIRE_FALSE(holds(*dms["dm3"].store, repo, digest));
  kill_data_manager("dm2");
  // dm3 gives that fetch up at once instead of when it would have ended, so
  // the next round delivers from dm4 (a retry interval, then the transfer).
  settle(settings.retry_interval + to_dm3 + 1s);
  CHECK(holds(*dms["dm3"].store, repo, digest));
  CHECK(tag_digest(*dms["dm3"].store, repo, "latest") == digest);
  CHECK(handoffs().empty());
}

TEST_CASE_METHOD(handoff_cluster, "a data manager that joins empty is owed every image the cluster holds",
                 "[protocol][handoff][repair]") {
  build({{"dm1", link(50)}, {"dm2", link(40)}});
  auto old = make_image(*rt_store, repo, "latest", 16 * 1024, 41);
  REQUIRE(ask<sa::push_done>(runtime, sa::push_image{repo, "latest", old}).ok);
  auto current = make_image(*rt_store, repo, "latest", 16 * 1024, 42);
  auto second = ask<sa::push_done>(runtime, sa::push_image{repo, "latest", current});
  REQUIRE(second.ok);
  const std::string repo2 = "team/other";
  auto other = make_image(*rt_store, repo2, "v1", 16 * 1024, 43);
  REQUIRE(ask<sa::push_done>(runtime, sa::push_image{repo2, "v1", other}).ok);
  std::vector<std::string> more; // more than the master delivers to one node at once
  for (int i = 2; i <= 5; ++i) {
    more.push_back(make_image(*rt_store, repo2, "v" + std::to_string(i), 16 * 1024, 43 + i));
    REQUIRE(ask<sa::push_done>(runtime, sa::push_image{repo2, "v" + std::to_string(i), more.back()}).ok);
  }
  settle(2s);
  REQUIRE(holds(*dms["dm2"].store, repo2, other));
  REQUIRE(handoffs().empty());

  // A new data manager (or one whose disk was replaced) joins with nothing:
  // it is owed every image, the one `latest` moved on from without its tag.
  add_data_manager("dm3", link(10));
  auto hs = handoffs();
  REQUIRE(hs.size() == 7);
  for (const auto& h : hs) {
    CHECK(h.node == "dm3");
    if (h.digest == old) {
      CHECK(h.tag.empty());
      CHECK(h.seq == 0);
    }
  }

  settle(settings.retry_interval * 2 + 2s);
  CHECK(handoffs().empty());
  CHECK(tag_digest(*dms["dm3"].store, repo, "latest") == current);
  CHECK(dms["dm3"].store->tag_seq(repo, "latest") == second.seq);
  CHECK(tag_digest(*dms["dm3"].store, repo2, "v1") == other);
  for (int i = 2; i <= 5; ++i)
    CHECK(tag_digest(*dms["dm3"].store, repo2, "v" + std::to_string(i)) == more[i - 2]);
  CHECK(holds(*dms["dm3"].store, repo, old)); // by digest, for whoever pinned it
  for (const auto& img : images()) {
    CHECK(img.replicas == std::vector<std::string>{"dm1", "dm2", "dm3"});
    CHECK(img.pending.empty());
    if (img.digest == old)
      CHECK(img.tag.empty());
  }

  // Joining again with all of it owes nothing.
  kill_data_manager("dm3");
  net->set_up("dm3", true);
  add_data_manager("dm3", link(10));
  CHECK(handoffs().empty());
}

TEST_CASE_METHOD(handoff_cluster, "a master restarted while a peer fetches, then the target lost: the peer still gets it",
                 "[protocol][handoff][repair][restart]") {
  build({{"dm1", link(50)}, {"dm2", link(40)}, {"dm3", link(1)}});
  auto digest = make_image(*rt_store, repo, "latest", 1 << 20, 44);
  auto done = ask<sa::push_done>(runtime, sa::push_image{repo, "latest", digest});
  REQUIRE(done.ok);
  REQUIRE(done.target == "dm1");
  REQUIRE(done.ack.receiving == std::vector<std::string>{"dm3"});

  // The new master never told dm3 to expect the image, so it cannot know
  // from the push that dm3 is owed it; dm3's join (without it) tells it.
  restart_master();
  auto hs = handoffs();
  REQUIRE(hs.size() == 1);
  CHECK(hs[0].node == "dm3");
  CHECK(hs[0].seq == done.seq);

  kill_data_manager("dm1"); // dm3's fetch from the target breaks off
  settle(settings.retry_interval * 2 + 5s);
  CHECK(holds(*dms["dm3"].store, repo, digest));
  CHECK(tag_digest(*dms["dm3"].store, repo, "latest") == digest);
  CHECK(handoffs().empty());
}

TEST_CASE_METHOD(handoff_cluster, "a data manager gets every tag of the images it holds: missed while down, or not delivered",
                 "[protocol][handoff][repair][tags]") {
  build({{"dm1", link(50)}, {"dm2", link(40)}, {"dm3", link(10)}});
  auto digest = make_image(*rt_store, repo, "latest", 16 * 1024, 51);
  auto first = ask<sa::push_done>(runtime, sa::push_image{repo, "latest", digest});
  REQUIRE(first.ok);
  settle(2s);
  REQUIRE(tag_digest(*dms["dm3"].store, repo, "latest") == digest);

  // The same image gets a second tag while dm3 is down: dm3 holds the
  // image, so nothing is delivered to it, but it lacks the tag.
  kill_data_manager("dm3");
  auto second = ask<sa::push_done>(runtime, sa::push_image{repo, "stable", digest});
  REQUIRE(second.ok);
  settle(1s);
  net->set_up("dm3", true);
  add_data_manager("dm3", link(10));
  settle(settings.retry_interval * 2 + 1s);
  CHECK(tag_digest(*dms["dm3"].store, repo, "stable") == digest);
  CHECK(dms["dm3"].store->tag_seq(repo, "stable") == second.seq);
  CHECK(handoffs().empty());

  // dm2 comes back with its store wiped: the image is delivered under one
  // of its tags, and it gets the other one right after.
  kill_data_manager("dm2");
  std::filesystem::remove_all(root / "dm2" / "store");
  dms["dm2"].store.reset();
  net->set_up("dm2", true);
  add_data_manager("dm2", link(40));
  settle(settings.retry_interval * 2 + 2s);
  CHECK(tag_digest(*dms["dm2"].store, repo, "latest") == digest);
  CHECK(tag_digest(*dms["dm2"].store, repo, "stable") == digest);
  CHECK(dms["dm2"].store->tag_seq(repo, "latest") == first.seq);
  CHECK(dms["dm2"].store->tag_seq(repo, "stable") == second.seq);
  CHECK(handoffs().empty());
}

TEST_CASE_METHOD(handoff_cluster, "a data manager that failed to set a tag is sent it again",
                 "[protocol][handoff][repair][tags]") {
  build({{"dm1", link(50)}, {"dm2", link(40)}, {"dm3", link(10)}});
  auto digest = make_image(*rt_store, repo, "latest", 16 * 1024, 52);
  REQUIRE(ask<sa::push_done>(runtime, sa::push_image{repo, "latest", digest}).ok);
  settle(2s);
  kill_data_manager("dm3");
  auto second = ask<sa::push_done>(runtime, sa::push_image{repo, "stable", digest});
  REQUIRE(second.ok);
  settle(1s);

  // dm3 joins, is sent the tag it missed, and cannot read the manifest to
  // set it (its file is gone for now: a disk error).
  auto file = dms["dm3"].store->manifest(repo, oci::reference{*oci::digest::parse(digest)})->path;
  auto away = file;
  away += ".away";
  std::filesystem::rename(file, away);
  net->set_up("dm3", true);
  add_data_manager("dm3", link(10));
  settle(settings.retry_interval * 2 + 1s);
  CHECK_FALSE(tag_digest(*dms["dm3"].store, repo, "stable"));
  // The admin view says so: dm3 serves "latest", and is owed "stable".
  auto listed = [&](const std::string& tag) {
    for (const auto& img : images())
      if (img.repository == repo && img.tag == tag) return img;
    FAIL("no record for tag " << tag);
    return sa::image_record{};
  };
  CHECK(listed("latest").replicas == std::vector<std::string>{"dm1", "dm2", "dm3"});
  CHECK(listed("stable").replicas == std::vector<std::string>{"dm1", "dm2"});
  CHECK(listed("stable").pending == std::vector<std::string>{"dm3"});

  // The disk is back: within a minute, without another join, dm3 is sent
  // the tag again and sets it.
  std::filesystem::rename(away, file);
  settle(std::chrono::minutes(1) + settings.retry_interval);
  CHECK(tag_digest(*dms["dm3"].store, repo, "stable") == digest);
  CHECK(dms["dm3"].store->tag_seq(repo, "stable") == second.seq);
  CHECK(listed("stable").replicas == std::vector<std::string>{"dm1", "dm2", "dm3"});
  CHECK(listed("stable").pending.empty());
}
