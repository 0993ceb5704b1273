// Push (DESIGN §3 push 1-7, §4 proofs): proofs, pre-receives, replication,
// min_copies.
#include "fixture.hpp"

using namespace stowage;
using namespace stowage::test;

namespace {

const std::string repo = "team/service";

struct push_cluster : cluster_fixture {
  std::string digest;
  void build(std::map<std::string, sa::link_profile> links) {
    start_master();
    for (auto& [name, l] : links)
      add_data_manager(name, l);
    add_runtime();
    digest = make_image(*rt_store, repo, "latest", 128 * 1024, 3);
  }
  push_cluster() = default;
};

} // namespace

TEST_CASE_METHOD(push_cluster, "a push issues both proofs and the pre-receives, then replicates to every peer",
                 "[protocol][push]") {
  build({{"dm1", link(50)}, {"dm2", link(10)}, {"dm3", link(5)}, {"dm4", link(20)}});
  auto done = ask<sa::push_done>(runtime, sa::push_image{repo, "latest", digest});
  REQUIRE(done.ok);
  CHECK(done.target == "dm1");
  CHECK(done.seq == 1);
  CHECK(done.ack.copies == 4);
  CHECK(done.ack.handed_off.empty());
  // The second proof reached the target and admitted exactly this push;
  // the commit closed the session.
  CHECK_FALSE(dms["dm1"].guard->admitted(done.session));
  // A repeated commit (its first answer lost) gets the first one's ack and
  // replicates nothing again; the session admits nothing else.
  auto again_commit = ask<sa::push_ack>(dms["dm1"].actor, sa::push_commit{done.session, repo, digest});
  CHECK(again_commit == done.ack);
  auto other = ask<sa::push_ack>(dms["dm1"].actor, sa::push_commit{done.session, repo, std::string(71, 'x')});
  CHECK_FALSE(other.ok);
  // Every peer was told to expect it (replication is refused otherwise) and stored it.
  for (auto& [name, d] : dms) {
    CHECK(holds(*d.store, repo, digest));
    CHECK(tag_digest(*d.store, repo, "latest") == digest);
    CHECK(d.store->tag_seq(repo, "latest") == 1);
  }
  auto log = decisions();
  REQUIRE(log.size() == 1);
  CHECK(log[0].kind == "push");
  CHECK(log[0].chosen == "dm1");
  auto imgs = images();
  REQUIRE(imgs.size() == 1);
  CHECK(imgs[0].replicas == std::vector<std::string>{"dm1", "dm2", "dm3", "dm4"});
  // A second push of the tag gets the next sequence number.
  auto v2 = make_image(*rt_store, repo, "latest", 1024, 4);
  auto again = ask<sa::push_done>(runtime, sa::push_image{repo, "latest", v2});
  REQUIRE(again.ok);
  CHECK(again.seq == 2);
  for (auto& [name, d] : dms)
    CHECK(tag_digest(*d.store, repo, "latest") == v2);
}

TEST_CASE_METHOD(push_cluster, "a replication request without a pre-receive is refused", "[protocol][push]") {
  build({{"dm1", link(50)}, {"dm2", link(10)}});
  make_image(*dms["dm1"].store, repo, "x", 1024, 5);
  auto d = make_image(*dms["dm1"].store, repo, "x", 1024, 5);
  auto a = ask<sa::replication_answer>(dms["dm2"].actor, sa::replication_request{"no-such-session", repo, "x", d, 1, "dm1"});
  CHECK_FALSE(a.ok);
  settle(1s);
  CHECK_FALSE(holds(*dms["dm2"].store, repo, d));
}

TEST_CASE_METHOD(push_cluster, "the push goes to the best measured data manager with room", "[protocol][push]") {
  build({{"dm1", link(5)}, {"dm2", link(80)}, {"dm3", link(10)}});
  auto done = ask<sa::push_done>(runtime, sa::push_image{repo, "latest", digest});
  REQUIRE(done.ok);
  CHECK(done.target == "dm2");
}

TEST_CASE_METHOD(push_cluster, "no acknowledgement with fewer than min_copies", "[protocol][push][copies]") {
  settings.min_copies = 3;
  build({{"dm1", link(50)}, {"dm2", link(10)}});
  net->set_up("dm2", false); // dm2 cannot receive: target + master spool = 2 < 3
  auto done = ask<sa::push_done>(runtime, sa::push_image{repo, "latest", digest});
  CHECK_FALSE(done.ok);
  CHECK(done.ack.copies == 2);
  CHECK(done.error.find("3 required") != std::string::npos);
}

TEST_CASE_METHOD(push_cluster, "min_copies counts the master's handoff store", "[protocol][push][copies]") {
  build({{"dm1", link(50)}, {"dm2", link(10)}});
  net->set_up("dm2", false);
  auto done = ask<sa::push_done>(runtime, sa::push_image{repo, "latest", digest});
  REQUIRE(done.ok);
  CHECK(done.ack.copies == 2);
  CHECK(done.ack.replicas == std::vector<std::string>{"dm1"});
  CHECK(done.ack.handed_off == std::vector<std::string>{"dm2"});
  CHECK(holds(*spool, repo, digest));
}

TEST_CASE_METHOD(push_cluster, "a lone data manager makes its second copy in the master's spool",
                 "[protocol][push][copies]") {
  build({{"dm1", link(50)}});
  auto done = ask<sa::push_done>(runtime, sa::push_image{repo, "latest", digest});
  REQUIRE(done.ok);
  CHECK(done.ack.copies == 2);
  CHECK(holds(*spool, repo, digest));
  CHECK(handoffs().empty()); // nobody to deliver to
}

TEST_CASE_METHOD(push_cluster, "no acknowledgement when the master's spool is unreachable too",
                 "[protocol][push][copies]") {
  build({{"dm1", link(50)}, {"dm2", link(10)}});
  net->set_up("dm2", false);
  net->set_up("master", false);
  auto done = ask<sa::push_done>(runtime, sa::push_image{repo, "latest", digest});
  CHECK_FALSE(done.ok);
  CHECK(done.ack.copies == 1);
}

TEST_CASE_METHOD(push_cluster, "a commit unanswered for a while is sent again and joins the first",
                 "[protocol][push]") {
  commit_repeat = 20ms; // replication to the slow peers takes longer than this
  build({{"dm1", link(50)}, {"dm2", link(1)}, {"dm3", link(1)}});
  auto big = make_image(*rt_store, repo, "big", 2 << 20, 5);
  auto done = ask<sa::push_done>(runtime, sa::push_image{repo, "big", big});
  INFO(done.error);
  REQUIRE(done.ok);
  CHECK(done.ack.copies == 3);
  for (auto& [name, d] : dms)
    CHECK(holds(*d.store, repo, big));
  CHECK(decisions().size() == 1);
  auto imgs = images();
  REQUIRE(imgs.size() == 1);
  CHECK(imgs[0].replicas == std::vector<std::string>{"dm1", "dm2", "dm3"});
}
