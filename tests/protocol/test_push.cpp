// Push (DESIGN §3 push 1-7, §4 proofs): proofs, pre-receives, replication,
// min_copies.
#include "fixture.hpp"

#include "actors/decision_journal.hpp"
#include "actors/image_copy.hpp"

#include <fstream>

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

  /// Pushes a 2 MiB image "big" over dm1 (4 MB/s, the best measured), dm2
  /// (2 MB/s) and dm3 (1 MB/s), and returns its digest once a quarter of it
  /// is on its way to dm1.
  std::uint64_t big_size = 0;
  std::string push_big_a_quarter_to_dm1() {
    build({{"dm1", link(4)}, {"dm2", link(2)}, {"dm3", link(1)}});
    auto big = make_image(*rt_store, repo, "big", 2 << 20, 7);
    big_size = *sa::image_size(*rt_store, repo, big);
    self->send(runtime, sa::push_image{repo, "big", big});
    for (int i = 0; i < 100 && decisions().empty(); ++i) // the probe round
      settle(20ms);
    REQUIRE(decisions().size() == 1);
    REQUIRE(decisions()[0].chosen == "dm1");
    settle(at(4) / 4);
    REQUIRE_FALSE(holds(*dms["dm1"].store, repo, big));
    return big;
  }
  /// Right after dm1 was given up: a second decision, for dm2, at once, and
  /// the push done there.
  void goes_on_to_dm2_at_once() {
    settle(10ms);
    auto log = decisions();
    REQUIRE(log.size() == 2);
    CHECK(log[0].chosen == "dm2");
    auto done = await<sa::push_done>();
    INFO(done.error);
    REQUIRE(done.ok);
    CHECK(done.target == "dm2");
  }
  /// How long the big image takes at `mbps` MB/s.
  std::chrono::milliseconds at(std::uint64_t mbps) const { return std::chrono::milliseconds(big_size / mbps / 1000); }
};

} // namespace

TEST_CASE_METHOD(push_cluster, "a push issues both proofs and the pre-receives, then replicates to every peer",
                 "[protocol][push]") {
  build({{"dm1", link(50)}, {"dm2", link(10)}, {"dm3", link(5)}, {"dm4", link(20)}});
  auto done = ask<sa::push_done>(runtime, sa::push_image{repo, "latest", digest});
  REQUIRE(done.ok);
  CHECK(done.target == "dm1");
  CHECK(done.seq == 1);
  // Acknowledged at min_copies (2): the target and its fastest peer; the
  // other two were still fetching it and go on.
  CHECK(done.ack.copies == 2);
  CHECK(done.ack.replicas == std::vector<std::string>{"dm1", "dm4"});
  CHECK(done.ack.receiving == std::vector<std::string>{"dm2", "dm3"});
  CHECK(done.ack.handed_off.empty());
  CHECK_FALSE(holds(*dms["dm3"].store, repo, digest));
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
  settle(1s);
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
  settle(1s);
  for (auto& [name, d] : dms)
    CHECK(tag_digest(*d.store, repo, "latest") == v2);
}

TEST_CASE_METHOD(push_cluster, "a push decision is on the master's disk within journal_delay",
                 "[protocol][push][decisions]") {
  build({{"dm1", link(50)}, {"dm2", link(10)}});
  auto done = ask<sa::push_done>(runtime, sa::push_image{repo, "latest", digest});
  REQUIRE(done.ok);
  settle(100ms); // master_config::journal_delay
  // What a master killed with -9 now would find when started again.
  auto on_disk = sa::decision_journal(root / "master", 1000).load();
  REQUIRE(on_disk.size() == 1);
  CHECK(on_disk[0].kind == "push");
  CHECK(on_disk[0].reference == repo + ":latest");
  CHECK(on_disk[0].chosen == "dm1");
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

TEST_CASE_METHOD(push_cluster, "a push round that measured nobody is measured again with twice the deadline",
                 "[protocol][push]") {
  build({{"dm1", link(5, 3s)}, {"dm2", link(80, 3s)}, {"dm3", link(10, 3s)}});
  auto done = ask<sa::push_done>(runtime, sa::push_image{repo, "latest", digest});
  INFO(done.error);
  REQUIRE(done.ok);
  CHECK(done.target == "dm2");
  auto log = decisions();
  REQUIRE(log.size() == 2);
  CHECK(log[0].chosen == "dm2");
  CHECK(log[1].chosen.empty());
}

TEST_CASE_METHOD(push_cluster, "a push its first choice refuses goes to the next, and the decision says so",
                 "[protocol][push][decisions]") {
  start_master();
  guard_master = config::identity::generate(); // dm1 refuses the master's proofs
  add_data_manager("dm1", link(100));
  guard_master.reset();
  add_data_manager("dm2", link(50));
  add_data_manager("dm3", link(20));
  add_runtime();
  digest = make_image(*rt_store, repo, "latest", 128 * 1024, 3);
  auto done = ask<sa::push_done>(runtime, sa::push_image{repo, "latest", digest});
  REQUIRE(done.ok);
  CHECK(done.target == "dm2");
  auto d = decisions().front();
  CHECK(d.kind == "push");
  CHECK(d.candidates.size() == 3);
  CHECK(d.chosen == "dm2"); // where the image went, not the refused first of the ranking
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
  CHECK(done.ack.copies == 2); // dm3 was still fetching it
  settle(5s);
  for (auto& [name, d] : dms)
    CHECK(holds(*d.store, repo, big));
  CHECK(decisions().size() == 1);
  auto imgs = images();
  REQUIRE(imgs.size() == 1);
  CHECK(imgs[0].replicas == std::vector<std::string>{"dm1", "dm2", "dm3"});
}

namespace {

/// The config and layer digests of manifest `digest` in `s`.
std::vector<std::string> blobs_of(const store::registry_store& s, const std::string& repository,
                                  const std::string& digest) {
  auto m = s.manifest(repository, oci::reference{*oci::digest::parse(digest)});
  REQUIRE(m);
  auto parsed = oci::parse_manifest(s.read_manifest(*m), m->media_type);
  REQUIRE(parsed.value);
  std::vector<std::string> out;
  if (parsed.value->config) out.push_back(parsed.value->config->dig.str());
  for (const auto& l : parsed.value->layers) out.push_back(l.dig.str());
  return out;
}

} // namespace

TEST_CASE_METHOD(push_cluster, "a push opened ahead of its manifest sends blobs while the client uploads",
                 "[protocol][push][ahead]") {
  build({{"dm1", link(50)}, {"dm2", link(10)}, {"dm3", link(5)}});
  // The gateway opens the session at the client's first blob upload and
  // reports each blob once it is in the runtime's store.
  self->send(runtime, sa::open_push{repo});
  for (const auto& b : blobs_of(*rt_store, repo, digest))
    self->send(runtime, sa::blob_pushed{repo, b});
  settle(5s);
  // The blobs are on the measured best target before the manifest exists,
  // and the best ranked of its peers (min_copies 2: one) fetched each one
  // from it as it landed; dm3 waits for the commit. The decision names the
  // repository only.
  for (auto& [name, d] : dms) {
    for (const auto& b : blobs_of(*rt_store, repo, digest))
      CHECK(static_cast<bool>(d.store->blob(repo, *oci::digest::parse(b))) == (name != "dm3"));
    CHECK_FALSE(holds(*d.store, repo, digest));
  }
  auto log = decisions();
  REQUIRE(log.size() == 1);
  CHECK(log[0].kind == "push");
  CHECK(log[0].reference == repo);
  CHECK(log[0].candidates.size() == 3);
  // The manifest PUT: the master names the session (tag, sequence number),
  // the rest goes to the same target and replicates as any push.
  auto done = ask<sa::push_done>(runtime, sa::push_image{repo, "latest", digest});
  INFO(done.error);
  REQUIRE(done.ok);
  CHECK(done.target == "dm1");
  CHECK(done.seq == 1);
  CHECK(done.ack.copies >= 2);
  settle(1s);
  for (auto& [name, d] : dms) {
    CHECK(tag_digest(*d.store, repo, "latest") == digest);
    CHECK(d.store->tag_seq(repo, "latest") == 1);
  }
  log = decisions();
  REQUIRE(log.size() == 1); // the same decision, now with its tag
  CHECK(log[0].reference == repo + ":latest");
  // The session is spent: the master names it no second time.
  auto twice = ask<sa::push_named>(master, sa::name_push{done.session, "rt1", repo, "latest", digest});
  CHECK_FALSE(twice.ok);
  // The next push of the tag, opened ahead too, gets the next sequence number.
  auto v2 = make_image(*rt_store, repo, "v2", 64 * 1024, 21);
  self->send(runtime, sa::open_push{repo});
  for (const auto& b : blobs_of(*rt_store, repo, v2))
    self->send(runtime, sa::blob_pushed{repo, b});
  auto again = ask<sa::push_done>(runtime, sa::push_image{repo, "latest", v2});
  REQUIRE(again.ok);
  CHECK(again.seq == 2);
  settle(1s);
  for (auto& [name, d] : dms)
    CHECK(tag_digest(*d.store, repo, "latest") == v2);
  CHECK(decisions().size() == 2);
}

TEST_CASE_METHOD(push_cluster, "a blob sent ahead while it arrives that does not arrive whole goes once stored",
                 "[protocol][push][ahead]") {
  build({{"dm1", link(50)}, {"dm2", link(10)}, {"dm3", link(5)}});
  // The image the client is about to upload: its digests, known from
  // another store; in the runtime's store only once uploaded.
  auto scratch = store::registry_store::open(root / "scratch");
  auto v2 = make_image(*scratch, repo, "v2", 64 * 1024, 21);
  auto blobs = blobs_of(*scratch, repo, v2);
  self->send(runtime, sa::open_push{repo});
  // The gateway announces the layer as the client starts sending it; the
  // client stops (or sends other bytes): the layer cannot go ahead yet.
  self->send(runtime, sa::blob_arriving{repo, blobs.back(), 64 * 1024});
  settle(5s);
  REQUIRE(decisions().size() == 1);
  for (auto& [name, d] : dms)
    CHECK_FALSE(d.store->blob(repo, *oci::digest::parse(blobs.back())));
  // The client uploads it again, whole this time: sent once stored.
  REQUIRE(make_image(*rt_store, repo, "v2", 64 * 1024, 21) == v2);
  for (const auto& b : blobs)
    self->send(runtime, sa::blob_pushed{repo, b});
  settle(5s);
  for (auto& [name, d] : dms)
    for (const auto& b : blobs)
      CHECK(static_cast<bool>(d.store->blob(repo, *oci::digest::parse(b))) == (name != "dm3"));
  // The session opened ahead still carries the push.
  auto done = ask<sa::push_done>(runtime, sa::push_image{repo, "v2", v2});
  INFO(done.error);
  REQUIRE(done.ok);
  CHECK(done.ack.copies >= 2);
  CHECK(decisions().size() == 1);
}

TEST_CASE_METHOD(push_cluster, "a push opened ahead whose target died goes elsewhere as an ordinary push",
                 "[protocol][push][ahead]") {
  build({{"dm1", link(50)}, {"dm2", link(10)}, {"dm3", link(5)}});
  self->send(runtime, sa::open_push{repo});
  settle(5s);
  REQUIRE(decisions().size() == 1);
  kill_data_manager("dm1");
  for (const auto& b : blobs_of(*rt_store, repo, digest))
    self->send(runtime, sa::blob_pushed{repo, b});
  auto done = ask<sa::push_done>(runtime, sa::push_image{repo, "latest", digest});
  INFO(done.error);
  REQUIRE(done.ok);
  CHECK(done.target == "dm2");
  CHECK(done.seq == 1);
  settle(1s);
  CHECK(tag_digest(*dms["dm2"].store, repo, "latest") == digest);
  CHECK(tag_digest(*dms["dm3"].store, repo, "latest") == digest);
}

TEST_CASE_METHOD(push_cluster, "a push opened ahead whose target hangs while the master names it goes on at once",
                 "[protocol][push][ahead][failover]") {
  build({{"dm1", link(50)}, {"dm2", link(10)}, {"dm3", link(5)}});
  self->send(runtime, sa::open_push{repo});
  for (const auto& b : blobs_of(*rt_store, repo, digest))
    self->send(runtime, sa::blob_pushed{repo, b});
  settle(5s);
  REQUIRE(decisions().size() == 1);
  REQUIRE(decisions()[0].chosen == "dm1");
  // The manifest PUT: the runtime asks the master to name the session, and
  // the master asks dm1, the target, to take the name. dm1 hangs and never
  // answers; the master's link to it breaks and it says so. The runtime
  // goes on to the next target at once instead of waiting for the master's
  // wait on dm1 (probe_timeout) to end.
  hang_data_manager("dm1");
  self->send(runtime, sa::push_image{repo, "latest", digest});
  sched.run();
  master_loses_link("dm1");
  goes_on_to_dm2_at_once();
  settle(1s);
  CHECK(tag_digest(*dms["dm2"].store, repo, "latest") == digest);
  CHECK(tag_digest(*dms["dm3"].store, repo, "latest") == digest);
}

TEST_CASE_METHOD(push_cluster, "only the master names a session, and only one opened without a tag",
                 "[protocol][push][ahead]") {
  build({{"dm1", link(50)}, {"dm2", link(10)}});
  // A session issued with its tag cannot be renamed.
  auto tagged = ask<sa::first_proof_message>(master, sa::storage_request{"rt1", repo, "latest", digest, 70000, 0, {}});
  REQUIRE(tagged.ok);
  CHECK_FALSE(dms["dm1"].guard->name(tagged.proof.scope.session, "other", 7, digest));
  // One opened ahead: named only for the runtime that opened it.
  auto ahead = ask<sa::first_proof_message>(master, sa::storage_request{"rt1", repo, {}, {}, 70000, 0, {}});
  REQUIRE(ahead.ok);
  CHECK(ahead.proof.scope.tag.empty());
  auto stranger = ask<sa::push_named>(master, sa::name_push{ahead.proof.scope.session, "rt9", repo, "latest", digest});
  CHECK_FALSE(stranger.ok);
  auto other_repo = ask<sa::push_named>(master, sa::name_push{ahead.proof.scope.session, "rt1", "other/repo", "latest", digest});
  CHECK_FALSE(other_repo.ok);
  // A peer fetches a blob early only from the target of a session it expects.
  auto layer = blobs_of(*rt_store, repo, digest).back();
  auto size = rt_store->blob(repo, *oci::digest::parse(layer))->size;
  self->send(dms["dm2"].actor, sa::replicate_blob{ahead.proof.scope.session, repo, layer, size, "rt1"});
  self->send(dms["dm2"].actor, sa::replicate_blob{"no-such-session", repo, layer, size, "rt1"});
  settle(2s);
  CHECK_FALSE(dms["dm2"].store->blob(repo, *oci::digest::parse(layer)));
}

namespace {

/// Stores blob `d` of `from` in `to`, as an upload would.
void copy_blob(store::registry_store& from, store::registry_store& to, const std::string& repo,
               const oci::digest& d) {
  auto info = from.blob(repo, d);
  REQUIRE(info);
  std::ifstream in(info->path, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto up = to.begin_upload(repo);
  auto w = to.append(repo, up.id);
  w->write(bytes.data(), bytes.size());
  w->finish();
  w.reset();
  REQUIRE(to.commit_upload(repo, up.id, d) == store::commit_status::ok);
}

} // namespace

TEST_CASE_METHOD(push_cluster, "a target passes the blobs of its open session on to its peers",
                 "[protocol][push][ahead]") {
  build({{"dm1", link(50)}, {"dm2", link(5)}, {"dm3", link(10)}});
  auto ahead = ask<sa::first_proof_message>(master, sa::storage_request{"rt1", repo, {}, {}, 70000, 0, {}});
  REQUIRE(ahead.ok);
  auto& t = dms[ahead.proof.scope.target];
  // The runtime's first write presented the proof (the data plane admits it).
  REQUIRE(t.guard->admit(ahead.proof, repo, "rt1").result == sa::verdict::ok);
  const auto blobs = blobs_of(*rt_store, repo, digest);
  const auto layer = *oci::digest::parse(blobs.back());
  const auto size = rt_store->blob(repo, layer)->size;
  // Told as its upload starts, with its size (net/push_relay relays it to
  // the peers as it comes): the target asks its peers before it holds the
  // blob. Here the upload completes right after the target passed the
  // notice on, before the peers fetch. Only the copies the acknowledgement
  // waits for go ahead (min_copies 2: the target and its best ranked peer,
  // dm3, measured faster than dm2); dm2 fetches at the commit.
  REQUIRE(ahead.proof.scope.target == "dm1");
  self->send(t.actor, sa::blob_landed{ahead.proof.scope.session, repo, layer.str(), size});
  REQUIRE(sched.try_run_once()); // the target, and only it
  CHECK_FALSE(t.store->blob(repo, layer));
  copy_blob(*rt_store, *t.store, repo, layer);
  settle(2s);
  CHECK(dms["dm3"].store->blob(repo, layer));
  CHECK_FALSE(dms["dm2"].store->blob(repo, layer));
  // Told again once stored (the runtime does): nothing changes.
  self->send(t.actor, sa::blob_landed{ahead.proof.scope.session, repo, layer.str(), 0});
  settle(2s);
  // A blob the target neither holds nor was told the size of is not passed on.
  const auto config = *oci::digest::parse(blobs.front());
  self->send(t.actor, sa::blob_landed{ahead.proof.scope.session, repo, config.str(), 0});
  settle(2s);
  for (auto& [name, dm] : dms)
    CHECK_FALSE(dm.store->blob(repo, config));
}

TEST_CASE_METHOD(push_cluster, "a target lost in the middle of a push: the runtime gives it up at once and goes elsewhere",
                 "[protocol][push][failover]") {
  auto big = push_big_a_quarter_to_dm1();
  // The host is lost: the runtime's link to it breaks (down_msg), while its
  // transfer would only end (failed) later, at the data plane's pace. The
  // runtime gives the transfer up at once and asks for the next target.
  kill_data_manager("dm1");
  goes_on_to_dm2_at_once();
  settle(at(1) + 1s);
  CHECK(holds(*dms["dm3"].store, repo, big));
}

TEST_CASE_METHOD(push_cluster, "a target the master reports down is given up though the runtime's link to it stands",
                 "[protocol][push][failover]") {
  push_big_a_quarter_to_dm1();
  // dm1 hangs: its transfer would fail only at the data plane's pace, and
  // the runtime's own link to it (here: its monitor) says nothing, as when
  // that link was still being set up. The master, whose link to dm1 broke,
  // says so; the runtime gives dm1 up at once and pushes elsewhere.
  net->set_up("dm1", false);
  caf::send_as(master, runtime, sa::node_down{"dm1"});
  goes_on_to_dm2_at_once();
}

TEST_CASE_METHOD(push_cluster,
                 "a push retried away from a node the runtime lost hands that node off, though the master still counts it up",
                 "[protocol][push][failover]") {
  auto big = push_big_a_quarter_to_dm1();
  // dm1 hangs. The runtime's link to it breaks first; the master's would a
  // moment later, after the retry was granted. Told to replicate to dm1 as
  // to a node that is up, dm2 would wait out request_timeout for it.
  hang_data_manager("dm1");
  caf::anon_send(runtime, caf::down_msg{dms.at("dm1").actor.address(), caf::exit_reason::remote_link_unreachable});
  goes_on_to_dm2_at_once();
  settle(5s);
  auto owed = handoffs();
  CHECK(std::ranges::any_of(owed, [&](const sa::handoff_record& h) { return h.node == "dm1" && h.digest == big; }));
}

TEST_CASE_METHOD(push_cluster, "an error message nobody asked for stops no node", "[protocol][push][links]") {
  // Such an error comes from a link guard refusing a message sent before
  // its sender was on the roster, or from a node dropping a message it does
  // not expect; CAF 0.17 ends an actor on one by default.
  build({{"dm1", link(4)}, {"dm2", link(2)}});
  auto stray = caf::make_error(caf::sec::unexpected_message);
  self->send(master, stray);
  for (auto& [name, d] : dms)
    self->send(d.actor, stray);
  self->send(runtime, stray);
  sched.run();
  auto done = ask<sa::push_done>(runtime, sa::push_image{repo, "latest", digest});
  INFO(done.error);
  CHECK(done.ok);
  for (const auto& n : nodes())
    CHECK(n.up);
}
