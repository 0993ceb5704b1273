// Ranking, decision log, catalog and handoff queue: the master's pure parts.
#include "actors/catalog.hpp"
#include "actors/decision_log.hpp"
#include "actors/handoff_queue.hpp"
#include "actors/ranking.hpp"

#include <catch2/catch.hpp>

#include <filesystem>

using namespace stowage::actors;

TEST_CASE("ranking prefers the shortest expected transfer", "[unit][ranking]") {
  std::vector<candidate_result> m{
    {"slow-start", 50'000, 1'000'000'000, true}, // 50 ms latency, 1 GB/s
    {"steady", 1'000, 10'000'000, true},          // 1 ms, 10 MB/s
    {"failed", 10, 10'000'000'000, false},
  };
  // Small image: latency dominates.
  auto small = rank(m, 10'000, false, {});
  REQUIRE(small.size() == 2);
  CHECK(small[0].node == "steady");
  // Large image: throughput dominates.
  auto large = rank(m, 1'000'000'000, false, {});
  CHECK(large[0].node == "slow-start");
}

TEST_CASE("ranking accounts for load and free space, ties by name", "[unit][ranking]") {
  std::vector<candidate_result> m{{"b", 1000, 1'000'000, true}, {"a", 1000, 1'000'000, true}};
  auto tie = rank(m, 1000, false, {});
  CHECK(tie[0].node == "a");
  auto loaded = rank(m, 1000, false, {{"a", {3, UINT64_MAX}}});
  CHECK(loaded[0].node == "b");
  auto full = rank(m, 1000, true, {{"b", {0, 10}}});
  REQUIRE(full.size() == 1);
  CHECK(full[0].node == "a");
  CHECK(rank(m, 1000, false, {{"b", {0, 10}}}).size() == 2); // pulls need no room
}

TEST_CASE("the decision log is newest first and bounded", "[unit][decisions]") {
  decision_log log(3);
  for (int i = 0; i < 5; ++i)
    log.record({0, "pull", "rt1", "r:" + std::to_string(i), {}, "dm1"});
  auto all = log.latest();
  REQUIRE(all.size() == 3);
  CHECK(all[0].id == 5);
  CHECK(all[0].reference == "r:4");
  CHECK(all[2].id == 3);
  CHECK(log.latest(1).size() == 1);
  CHECK(log.find(2) == nullptr);
  CHECK(log.find(4) != nullptr);
}

TEST_CASE("the catalog resolves tags to the newest sequence", "[unit][catalog]") {
  catalog c;
  c.add_replica({"r", "t", "sha256:a", 1, 10}, "dm1");
  c.add_replica({"r", "t", "sha256:b", 2, 20}, "dm2");
  c.add_replica({"r", "t", "sha256:a", 1, 10}, "dm2");
  auto img = c.resolve("r", "t");
  REQUIRE(img);
  CHECK(img->digest == "sha256:b");
  CHECK(c.holders("r", "sha256:a") == std::vector<std::string>{"dm1", "dm2"});
  CHECK(c.holders("r", "sha256:b") == std::vector<std::string>{"dm2"});
  CHECK(c.resolve("r", "sha256:a")->size == 10);
  CHECK_FALSE(c.resolve("r", "u"));
  CHECK(c.tag_seq("r", "t") == 2);
  c.add_pending({"r", "t", "sha256:b", 2, 20}, "dm3");
  CHECK(c.images().size() == 2);
  c.add_replica({"r", "t", "sha256:b", 2, 20}, "dm3");
  for (auto& i : c.images())
    CHECK(i.pending.empty());
  c.forget_node("dm2");
  CHECK(c.holders("r", "sha256:b") == std::vector<std::string>{"dm3"});
}

TEST_CASE("the handoff queue and sequence numbers survive a reopen", "[unit][handoff]") {
  char t[] = "/tmp/stowage-handoff-XXXXXX";
  std::filesystem::path dir = ::mkdtemp(t);
  {
    handoff_queue q(dir);
    q.add({"sha256:a", "r", "t", 1, "dm3", 0});
    q.add({"sha256:a", "r", "t", 1, "dm3", 0}); // idempotent
    q.add({"sha256:b", "r", "t", 2, "dm2", 0});
    q.count_attempt("dm3");
    CHECK(q.next_seq("r", "t", 0) == 1);
    CHECK(q.next_seq("r", "t", 0) == 2);
    CHECK(q.next_seq("r", "t", 7) == 8);
  }
  handoff_queue q(dir);
  auto all = q.all();
  REQUIRE(all.size() == 2);
  auto d3 = q.for_node("dm3");
  REQUIRE(d3.size() == 1);
  CHECK(d3[0].attempts == 1);
  CHECK(d3[0].digest == "sha256:a");
  CHECK(q.next_seq("r", "t", 0) == 9);
  q.remove("r", "sha256:a", "dm3");
  CHECK(q.for_node("dm3").empty());

  // Many at once, in one transaction; an existing one keeps its attempts.
  q.count_attempt("dm2");
  q.add_all({{"sha256:b", "r", "t", 2, "dm2", 0}, {"sha256:c", "r", "u", 3, "dm1", 0}, {"sha256:d", "r", "v", 4, "dm1", 0}});
  q.add_all({});
  {
    handoff_queue again(dir);
    CHECK(again.all().size() == 3);
    CHECK(again.for_node("dm1").size() == 2);
    REQUIRE(again.for_node("dm2").size() == 1);
    CHECK(again.for_node("dm2")[0].attempts == 1);
  }
  std::filesystem::remove_all(dir);
}

TEST_CASE("a handoff keeps a tag with its own sequence number", "[unit][handoff]") {
  char t[] = "/tmp/stowage-handoff-XXXXXX";
  std::filesystem::path dir = ::mkdtemp(t);
  {
    handoff_queue q(dir);
    auto only = [&] {
      auto all = q.for_node("dm3");
      REQUIRE(all.size() == 1);
      return std::pair(all[0].tag, all[0].seq);
    };
    q.add({"sha256:a", "r", "latest", 6, "dm3", 0});
    q.add({"sha256:a", "r", "v1", 1, "dm3", 0}); // the same image under another tag: v1 at 1, not at 6
    CHECK(only() == std::pair(std::string("v1"), std::uint64_t{1}));
    q.add({"sha256:a", "r", "v1", 3, "dm3", 0});
    q.add({"sha256:a", "r", "v1", 2, "dm3", 0}); // older: kept at 3
    CHECK(only() == std::pair(std::string("v1"), std::uint64_t{3}));
    q.add({"sha256:a", "r", "", 0, "dm3", 0}); // by digest alone: the tagged delivery stays
    CHECK(only() == std::pair(std::string("v1"), std::uint64_t{3}));

    // A tag numbered past the delivery's since (deleted or moved on): the
    // delivery goes by digest alone, recorded before or after, reopened too.
    for (int i = 0; i < 5; ++i) q.next_seq("r", "latest", 0);
    q.add({"sha256:b", "r", "latest", 5, "dm2", 0});
    q.add({"sha256:c", "r", "latest", 4, "dm1", 0});
    CHECK(q.for_node("dm2")[0].tag == "latest");
    CHECK(q.for_node("dm1")[0].tag.empty());
    CHECK(q.for_node("dm1")[0].seq == 0);
    CHECK(q.next_seq("r", "latest", 0) == 6);
    CHECK(q.for_node("dm2")[0].tag.empty());
  }
  {
    handoff_queue q(dir);
    for (const auto& h : q.all())
      if (h.node != "dm3") CHECK(h.tag.empty());
  }
  std::filesystem::remove_all(dir);
}

TEST_CASE("a deleted image stays marked across restarts until it is pushed again", "[unit][handoff][delete]") {
  char t[] = "/tmp/stowage-handoff-XXXXXX";
  std::filesystem::path dir = ::mkdtemp(t);
  using marks = std::vector<std::pair<std::string, std::string>>;
  {
    handoff_queue q(dir);
    q.add({"sha256:a", "r", "t", 1, "dm3", 0});
    q.add_removals({{"r", "", "sha256:a", 1, "dm1"}, {"r", "", "sha256:a", 1, "dm2"}, {"r", "t", "", 2, "dm1"}});
    CHECK(q.for_node("dm3").empty()); // its pending delivery went with it
    CHECK(q.deleted_images() == marks{{"r", "sha256:a"}});
    q.remove_removal({"r", "", "sha256:a", 1, ""}, "dm1");
    q.remove_removal({"r", "", "sha256:a", 1, ""}, "dm2");
  }
  handoff_queue q(dir);
  CHECK(q.deleted_images() == marks{{"r", "sha256:a"}}); // applied everywhere, still marked
  q.forget_manifest_removals("r", "sha256:a");
  CHECK(q.deleted_images().empty());
  std::filesystem::remove_all(dir);
}

TEST_CASE("the catalog keeps what a delete removed from coming back", "[unit][catalog][delete]") {
  catalog c;
  c.add_replica({"r", "t", "sha256:a", 3, 10}, "dm1");
  c.add_replica({"r", "u", "sha256:a", 1, 10}, "dm1");
  CHECK(c.tags_of("r", "sha256:a") == std::vector<std::string>{"t", "u"});

  c.remove_tag("r", "t", 4);
  CHECK_FALSE(c.resolve("r", "t"));
  CHECK(c.tag_seq("r", "t") == 4);
  CHECK(c.resolve("r", "sha256:a")); // the manifest stays
  c.add_replica({"r", "t", "sha256:a", 3, 10}, "dm2"); // a late report of the older tag
  CHECK_FALSE(c.resolve("r", "t"));
  c.add_replica({"r", "t", "sha256:b", 5, 10}, "dm2"); // pushed again
  CHECK(c.resolve("r", "t")->digest == "sha256:b");

  c.remove_tag("r", "u", 2);
  const auto t0 = std::chrono::steady_clock::time_point{} + std::chrono::hours(1);
  c.remove_image("r", "sha256:a", t0);
  CHECK(c.marks_before(t0).empty());
  CHECK(c.marks_before(t0 + std::chrono::seconds(1)) ==
        std::vector<std::pair<std::string, std::string>>{{"r", "sha256:a"}});
  CHECK_FALSE(c.resolve("r", "sha256:a"));
  CHECK(c.holders("r", "sha256:a").empty());
  c.add_replica({"r", "", "sha256:a", 1, 10}, "dm3"); // a copy under way at the delete
  CHECK(c.removed("r", "sha256:a"));
  CHECK_FALSE(c.resolve("r", "sha256:a"));
  c.revive("r", "sha256:a");
  CHECK(c.marks_before(t0 + std::chrono::seconds(1)).empty());
  c.add_replica({"r", "", "sha256:a", 1, 10}, "dm3");
  CHECK(c.holders("r", "sha256:a") == std::vector<std::string>{"dm3"});
}

TEST_CASE("deletes still to apply survive a reopen", "[unit][handoff][delete]") {
  char t[] = "/tmp/stowage-removals-XXXXXX";
  std::filesystem::path dir = ::mkdtemp(t);
  {
    handoff_queue q(dir);
    q.add_removals({{"r", "t", "", 4, "dm1"}, {"r", "", "sha256:a", 4, "dm1"}, {"r", "t", "", 4, "dm3"}});
    q.add_removals({{"r", "t", "", 4, "dm1"}}); // idempotent
  }
  handoff_queue q(dir);
  CHECK(q.removals().size() == 3);
  REQUIRE(q.removals_for("dm1").size() == 2);
  // Applied as sent: a newer delete of the same tag recorded meanwhile stays.
  q.add_removals({{"r", "t", "", 6, "dm3"}});
  q.remove_removal({"r", "t", "", 4, ""}, "dm3");
  REQUIRE(q.removals_for("dm3").size() == 1);
  CHECK(q.removals_for("dm3")[0].seq == 6);
  q.remove_removal({"r", "t", "", 4, ""}, "dm1");
  REQUIRE(q.removals_for("dm1").size() == 1);
  CHECK(q.removals_for("dm1")[0].digest == "sha256:a");
  // Pushed again: the manifest's removals go, the tags' stay.
  q.forget_manifest_removals("r", "sha256:a");
  CHECK(q.removals_for("dm1").empty());
  CHECK(q.removals_for("dm3").size() == 1);
  std::filesystem::remove_all(dir);
}

TEST_CASE("the catalog lists an image once per tag, and once if no tag names it", "[unit][catalog]") {
  catalog c;
  c.add_replica({"r", "latest", "sha256:a", 2, 10}, "dm1");
  c.add_replica({"r", "1.0", "sha256:a", 1, 10}, "dm1");
  c.add_replica({"r", "1.0", "sha256:a", 1, 10}, "dm2");
  c.add_replica({"r", "", "sha256:b", 0, 5}, "dm2");
  auto all = c.images();
  REQUIRE(all.size() == 3);
  CHECK(all[0].tag.empty());
  CHECK(all[0].digest == "sha256:b");
  CHECK(all[1].tag == "1.0");
  CHECK(all[1].seq == 1);
  CHECK(all[2].tag == "latest");
  CHECK(all[2].seq == 2);
  CHECK(all[1].replicas == std::vector<std::string>{"dm1", "dm2"});
  CHECK(all[2].replicas == all[1].replicas); // one image, two names
  // dm2 reported `1.0` only: it misses `latest` on an image it holds.
  auto stale = c.stale_tags("dm2");
  REQUIRE(stale.size() == 1);
  CHECK(stale[0].tag == "latest");
  CHECK(stale[0].seq == 2);
  CHECK(c.stale_tags("dm1").empty());
}
