// Pull (DESIGN §3 pull 1-6): probes, ranking, scheduling, retries.
#include "fixture.hpp"

using namespace stowage;
using namespace stowage::test;

namespace {

const std::string repo = "library/app";

// Three holders of one image, dm1 fastest, dm3 slowest.
struct three_holders : cluster_fixture {
  std::string digest;
  explicit three_holders(std::size_t layer = 64 * 1024) {
    start_master();
    std::map<std::string, sa::link_profile> links{{"dm1", link(20)}, {"dm2", link(10)}, {"dm3", link(2)}};
    for (auto& [name, l] : links) {
      std::shared_ptr<store::registry_store> s = store::registry_store::open(root / name / "store");
      digest = make_image(*s, repo, "v1", layer, 7);
      dms[name].store = s;
      net->add_node(name, s, l);
      add_data_manager(name, l);
    }
    add_runtime();
  }
};

} // namespace

TEST_CASE_METHOD(three_holders, "a pull among three data managers of different measured speed goes to the fastest",
                 "[protocol][pull]") {
  auto done = ask<sa::pull_done>(runtime, sa::pull_image{repo, "v1", true});
  INFO(done.error);
  REQUIRE(done.ok);
  CHECK(done.target == "dm1");
  CHECK(done.digest == digest);
  CHECK(holds(*rt_store, repo, digest));
  auto log = decisions();
  REQUIRE(log.size() == 1);
  const auto& d = log.front();
  CHECK(d.kind == "pull");
  CHECK(d.runtime == "rt1");
  CHECK(d.reference == repo + ":v1");
  CHECK(d.chosen == "dm1");
  REQUIRE(d.candidates.size() == 3);
  std::map<std::string, sa::candidate_result> by;
  for (auto& c : d.candidates)
    by[c.node] = c;
  CHECK(by["dm1"].ok);
  CHECK(by["dm3"].ok);
  // Measured, not configured: the runtime's figures order the nodes.
  CHECK(by["dm1"].throughput_bps > by["dm2"].throughput_bps);
  CHECK(by["dm2"].throughput_bps > by["dm3"].throughput_bps);
  CHECK(by["dm1"].arrival_us < by["dm3"].arrival_us);
  // The requester heard the plan (for its gateway to answer early) too.
  auto plan = await<sa::pull_scheduled>();
  CHECK(plan.decision == d.id);
  CHECK(plan.repository == repo);
  CHECK(plan.reference == "v1");
  CHECK(plan.digest == digest);
  CHECK(plan.target == "dm1");
}

TEST_CASE_METHOD(three_holders, "plans go only to requesters that ask for them", "[protocol][pull]") {
  REQUIRE(ask<sa::pull_done>(runtime, sa::pull_image{repo, "v1"}).ok);
  bool planned = false;
  self->receive([&](sa::pull_scheduled&) { planned = true; }, caf::after(std::chrono::seconds(0)) >> [] {});
  CHECK_FALSE(planned);
}

TEST_CASE_METHOD(cluster_fixture, "only holders are probed", "[protocol][pull]") {
  start_master();
  std::string digest;
  for (auto name : {"dm1", "dm2", "dm3"}) {
    std::shared_ptr<store::registry_store> s = store::registry_store::open(root / name / "store");
    if (std::string(name) != "dm3") // dm3, the fastest, lacks the image
      digest = make_image(*s, repo, "v1", 4096, 1);
    dms[name].store = s;
    net->add_node(name, s, link(std::string(name) == "dm3" ? 500 : 10));
    add_data_manager(name, link(std::string(name) == "dm3" ? 500 : 10));
  }
  add_runtime();
  auto done = ask<sa::pull_done>(runtime, sa::pull_image{repo, "v1"});
  INFO(done.error);
  REQUIRE(done.ok);
  CHECK(done.target != "dm3");
  auto d = decisions().front();
  std::vector<std::string> probed;
  for (auto& c : d.candidates)
    probed.push_back(c.node);
  std::sort(probed.begin(), probed.end());
  CHECK(probed == std::vector<std::string>{"dm1", "dm2"});
}

TEST_CASE_METHOD(cluster_fixture, "a probe that misses its deadline excludes that node", "[protocol][pull]") {
  start_master();
  std::string digest;
  // dm1 has by far the best bandwidth but its packets arrive after the
  // round's deadline (probe_timeout 2 s).
  std::map<std::string, sa::link_profile> links{{"dm1", link(1000, 3s)}, {"dm2", link(10)}, {"dm3", link(5)}};
  for (auto& [name, l] : links) {
    std::shared_ptr<store::registry_store> s = store::registry_store::open(root / name / "store");
    digest = make_image(*s, repo, "v1", 4096, 1);
    dms[name].store = s;
    net->add_node(name, s, l);
    add_data_manager(name, l);
  }
  add_runtime();
  auto done = ask<sa::pull_done>(runtime, sa::pull_image{repo, "v1"});
  INFO(done.error);
  REQUIRE(done.ok);
  CHECK(done.target == "dm2");
  auto d = decisions().front();
  for (auto& c : d.candidates)
    CHECK(c.ok == (c.node != "dm1"));
}

namespace {

/// Three holders of one small image, every link with `latency`.
std::string slow_holders(cluster_fixture& f, std::chrono::microseconds latency) {
  f.start_master();
  std::string digest;
  std::map<std::string, sa::link_profile> links{
    {"dm1", link(1000, latency)}, {"dm2", link(100, latency)}, {"dm3", link(10, latency)}};
  for (auto& [name, l] : links) {
    std::shared_ptr<store::registry_store> s = store::registry_store::open(f.root / name / "store");
    digest = f.make_image(*s, repo, "v1", 4096, 1);
    f.dms[name].store = s;
    f.net->add_node(name, s, l);
    f.add_data_manager(name, l);
  }
  f.add_runtime();
  return digest;
}

} // namespace

TEST_CASE_METHOD(cluster_fixture, "a round that measured nobody is measured again with twice the deadline",
                 "[protocol][pull]") {
  // Every packet takes 3 s: the first round (2 s) misses them all, the
  // second (4 s) measures every holder.
  auto digest = slow_holders(*this, 3s);
  auto done = ask<sa::pull_done>(runtime, sa::pull_image{repo, "v1"});
  INFO(done.error);
  REQUIRE(done.ok);
  CHECK(done.digest == digest);
  CHECK(done.target == "dm1");
  auto log = decisions(); // newest first
  REQUIRE(log.size() == 2);
  CHECK(log[0].chosen == "dm1");
  for (auto& c : log[0].candidates)
    CHECK(c.ok);
  CHECK(log[1].chosen.empty());
  for (auto& c : log[1].candidates)
    CHECK_FALSE(c.ok);
}

TEST_CASE_METHOD(cluster_fixture, "a pull asked of a master that dies is answered at once and works again with a new master",
                 "[protocol][pull]") {
  slow_holders(*this, 1s); // the master holds the pull while its probe round waits for packets
  self->send(runtime, sa::pull_image{repo, "v1"});
  settle(200ms);
  caf::anon_send_exit(master, caf::exit_reason::kill); // kill -9: the request is never answered
  auto done = await<sa::pull_done>(5s);                // not after request_timeout (11 min)
  CHECK_FALSE(done.ok);
  CHECK(done.error.find("lost the link to the master") != std::string::npos);
  CHECK(ask<sa::pull_done>(runtime, sa::pull_image{repo, "v1"}, 5s).error == "no master");

  restart_master();
  settle(5s); // the data managers and the runtime join it
  auto again = ask<sa::pull_done>(runtime, sa::pull_image{repo, "v1"});
  INFO(again.error);
  CHECK(again.ok);
}

TEST_CASE_METHOD(cluster_fixture, "a pull fails once the widest round measured nobody", "[protocol][pull]") {
  slow_holders(*this, 20s); // beyond 2, 4 and 8 s
  auto done = ask<sa::pull_done>(runtime, sa::pull_image{repo, "v1"});
  CHECK_FALSE(done.ok);
  CHECK(done.error == "no holder answered the probe in time");
  auto log = decisions();
  REQUIRE(log.size() == 1 + sa::max_probe_widenings);
  for (auto& d : log)
    CHECK(d.chosen.empty());
  CHECK_FALSE(holds(*rt_store, repo, done.digest));
}

TEST_CASE_METHOD(three_holders, "a round for a runtime that is gone is not measured again", "[protocol][pull]") {
  auto a = ask<sa::pull_answer>(master, sa::pull_request{"rt9", repo, "v1", 0, {}}); // never joined
  CHECK_FALSE(a.ok);
  CHECK(decisions().size() == 1);
}

TEST_CASE_METHOD(cluster_fixture, "a probe round has at least two candidates wherever two exist", "[protocol][pull]") {
  settings.probe_fanout = 1; // asks for one; two exist
  start_master();
  for (auto name : {"dm1", "dm2", "dm3"}) {
    std::shared_ptr<store::registry_store> s = store::registry_store::open(root / name / "store");
    make_image(*s, repo, "v1", 4096, 1);
    dms[name].store = s;
    net->add_node(name, s, link(10));
    add_data_manager(name, link(10));
  }
  add_runtime();
  REQUIRE(ask<sa::pull_done>(runtime, sa::pull_image{repo, "v1"}).ok);
  CHECK(decisions().front().candidates.size() == 2);
}

TEST_CASE_METHOD(three_holders, "a target that dies mid-pull is replaced by the next best", "[protocol][pull]") {
  // Rebuild with a large image so the transfer from dm1 takes ~400 ms.
  auto big = make_image(*dms["dm1"].store, repo, "big", 8 << 20, 9);
  make_image(*dms["dm2"].store, repo, "big", 8 << 20, 9);
  make_image(*dms["dm3"].store, repo, "big", 8 << 20, 9);
  for (auto name : {"dm1", "dm2", "dm3"})
    caf::anon_send(dms[name].actor, sa::connect_master{master}); // re-join with the new inventory
  sched.run();
  self->send(runtime, sa::pull_image{repo, "big", true});
  settle(300ms); // the round is over (~140 ms) and dm1 is sending
  REQUIRE(decisions().front().chosen == "dm1");
  kill_data_manager("dm1");
  auto done = await<sa::pull_done>();
  REQUIRE(done.ok);
  CHECK(done.target == "dm2");
  CHECK(done.attempts == 2);
  CHECK(holds(*rt_store, repo, big));
  auto log = decisions();
  REQUIRE(log.size() >= 2);
  CHECK(log[0].chosen == "dm2");
  CHECK(log[1].chosen == "dm1");
  // One plan per target tried, in order, each naming the same manifest.
  auto first = await<sa::pull_scheduled>();
  auto second = await<sa::pull_scheduled>();
  CHECK(first.target == "dm1");
  CHECK(second.target == "dm2");
  CHECK(second.decision == log[0].id);
  CHECK(first.digest == big);
  CHECK(second.digest == big);
  // The dead node is out of the candidate sets.
  auto ns = nodes();
  for (auto& n : ns)
    if (n.name == "dm1")
      CHECK_FALSE(n.up);
}

TEST_CASE_METHOD(three_holders, "a retry delivers the manifest its pull began with, though the tag moved since",
                 "[protocol][pull]") {
  auto big = make_image(*dms["dm1"].store, repo, "big", 8 << 20, 9);
  make_image(*dms["dm2"].store, repo, "big", 8 << 20, 9);
  make_image(*dms["dm3"].store, repo, "big", 8 << 20, 9);
  for (auto name : {"dm1", "dm2", "dm3"})
    caf::anon_send(dms[name].actor, sa::connect_master{master});
  sched.run();
  self->send(runtime, sa::pull_image{repo, "big"});
  settle(300ms); // dm1 is sending
  REQUIRE(decisions().front().chosen == "dm1");
  // Meanwhile a push moves the tag to an image only dm1 holds so far.
  auto moved = make_image(*dms["dm1"].store, repo, "big", 16 * 1024, 10, 50);
  self->send(master, sa::image_stored{"dm1", {repo, "big", moved, 50, 16 * 1024}});
  sched.run();
  kill_data_manager("dm1");
  auto done = await<sa::pull_done>();
  REQUIRE(done.ok);
  CHECK(done.target == "dm2");
  CHECK(holds(*rt_store, repo, big)); // the image the pull began with, from the next holder
}

TEST_CASE_METHOD(three_holders, "a dead data manager leaves the candidate sets", "[protocol][pull][membership]") {
  kill_data_manager("dm1");
  auto done = ask<sa::pull_done>(runtime, sa::pull_image{repo, "v1"});
  INFO(done.error);
  REQUIRE(done.ok);
  CHECK(done.target == "dm2");
  for (auto& c : decisions().front().candidates)
    CHECK(c.node != "dm1");
}

TEST_CASE_METHOD(three_holders, "the master answers membership and catalog queries", "[protocol][queries]") {
  auto ns = nodes();
  std::map<std::string, sa::node_record> by;
  for (auto& n : ns)
    by[n.name] = n;
  CHECK(by.size() == 5);
  CHECK(by["master"].role == "master");
  CHECK(by["dm2"].role == "data");
  CHECK(by["dm2"].up);
  CHECK(by["rt1"].role == "runtime");
  auto imgs = images();
  REQUIRE(imgs.size() == 1);
  CHECK(imgs[0].repository == repo);
  CHECK(imgs[0].tag == "v1");
  CHECK(imgs[0].digest == digest);
  CHECK(imgs[0].replicas == std::vector<std::string>{"dm1", "dm2", "dm3"});
  CHECK(imgs[0].size > 64 * 1024);
}

TEST_CASE_METHOD(three_holders, "a pull of an unknown image fails without probing", "[protocol][pull]") {
  auto done = ask<sa::pull_done>(runtime, sa::pull_image{repo, "nope"});
  CHECK_FALSE(done.ok);
  CHECK(decisions().empty());
}

TEST_CASE_METHOD(three_holders, "a pull by the digest of an image no tag names works after the master restarted",
                 "[protocol][pull][restart]") {
  // v1 moves on from `digest`; another image is held by digest only.
  std::string newer, untagged;
  for (auto& [name, d] : dms) {
    newer = make_image(*d.store, repo, "v1", 16 * 1024, 8, 2);
    untagged = make_image(*d.store, repo, "v1", 16 * 1024, 9, 1); // seq 1 < 2: stored, the tag does not move
  }
  REQUIRE(tag_digest(*dms["dm1"].store, repo, "v1") == newer);
  restart_master(); // the catalog is rebuilt from the inventories alone

  for (const auto& d : {digest, untagged}) {
    auto done = ask<sa::pull_done>(runtime, sa::pull_image{repo, d});
    INFO(done.error);
    CHECK(done.ok);
    CHECK(holds(*rt_store, repo, d));
  }
  auto tagged = ask<sa::pull_done>(runtime, sa::pull_image{repo, "v1"});
  REQUIRE(tagged.ok);
  CHECK(tagged.digest == newer);
  for (const auto& img : images())
    CHECK(img.tag == (img.digest == newer ? "v1" : ""));
}

TEST_CASE_METHOD(three_holders, "one blob is pulled alone over the holders of its repository, the next when one lacks it",
                 "[protocol][pull][blob]") {
  auto m = dms["dm1"].store->manifest(repo, oci::reference{*oci::digest::parse(digest)});
  REQUIRE(m);
  auto parsed = oci::parse_manifest(dms["dm1"].store->read_manifest(*m), m->media_type);
  REQUIRE(parsed.value);
  const auto layer = parsed.value->layers.at(0).dig;
  // dm1, the fastest, lost the layer (its image is still listed as held).
  REQUIRE(dms["dm1"].store->delete_blob(repo, layer));

  auto done = ask<sa::pull_done>(runtime, sa::pull_image{repo, layer.str(), false, true});
  INFO(done.error);
  REQUIRE(done.ok);
  CHECK(done.target == "dm2");
  CHECK(done.digest == layer.str());
  CHECK(rt_store->blob(repo, layer));
  CHECK_FALSE(holds(*rt_store, repo, digest)); // the blob alone, not its image
  auto log = decisions();
  REQUIRE_FALSE(log.empty());
  CHECK(log.back().reference == repo + "@" + layer.str());
  CHECK(log.back().chosen == "dm1");
  CHECK(log.back().candidates.size() == 3);

  // A repository the cluster holds nothing of: refused without probing.
  auto before = decisions().size();
  auto unknown = ask<sa::pull_done>(runtime, sa::pull_image{"no/such", layer.str(), false, true});
  CHECK_FALSE(unknown.ok);
  CHECK(unknown.error.starts_with("unknown blob"));
  CHECK(decisions().size() == before);
  // A blob no holder has: the pull fails once they were tried.
  auto missing = ask<sa::pull_done>(runtime, sa::pull_image{repo, oci::sha256_of("nobody's").str(), false, true});
  CHECK_FALSE(missing.ok);
}
