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
