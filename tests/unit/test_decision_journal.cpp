// The master's decisions survive a restart: what the journal kept comes back
// in order, ids continue after it, and it keeps only the newest ones.
#include "actors/decision_journal.hpp"
#include "actors/decision_log.hpp"
#include "store_test_support.hpp"

#include <catch2/catch.hpp>

using namespace stowage::actors;
using store_test::temp_dir;

namespace {
decision pull_decision(std::string chosen) {
  return {0, "pull", "rt1", "team/app:v1",
          {{"dm1", 1200, 80'000'000, true}, {"dm2", 0, 0, false}}, std::move(chosen)};
}
/// Records `n` decisions in `log`, each appended to `j` as the master does.
void record(decision_log& log, decision_journal& j, int n) {
  for (int i = 0; i < n; ++i)
    j.append(*log.find(log.record(pull_decision("dm1"))));
}
} // namespace

TEST_CASE("decisions come back from the journal after a restart", "[master][decisions]") {
  temp_dir dir;
  std::vector<decision> written;
  {
    decision_journal j(dir.path, 100);
    decision_log log(100);
    for (int i = 0; i < 3; ++i) {
      auto id = log.record(pull_decision("dm" + std::to_string(i)));
      j.append(*log.find(id));
      written.push_back(*log.find(id));
    }
  }
  decision_journal j(dir.path, 100);
  auto back = j.load();
  CHECK(back == written); // oldest first, candidates and all
  decision_log log(100);
  log.restore(back, j.next_id());
  REQUIRE(log.latest(1).size() == 1);
  CHECK(log.latest(1)[0].id == 3);
  CHECK(log.record(pull_decision("dm1")) == 4); // ids continue, never restart at 1
}

TEST_CASE("a decision id is never handed out twice, even after a crash", "[master][decisions]") {
  temp_dir dir;
  decision_journal j(dir.path, 100);
  decision_log log(100);
  record(log, j, 5);
  // The master is killed now, its five decisions still buffered: the next
  // one opens the same file.
  decision_journal after(dir.path, 100);
  decision_log next(100);
  next.restore(after.load(), after.next_id());
  CHECK(next.latest().empty()); // the log may lose them...
  CHECK(next.record(pull_decision("dm2")) > 5); // ...but their ids stay used
}

TEST_CASE("a run that decides nothing after a crash does not give the crashed run's ids again",
          "[master][decisions]") {
  temp_dir dir;
  decision_journal crashed(dir.path, 100); // killed with five decisions buffered: left open
  decision_log log(100);
  record(log, crashed, 5);
  {
    // Started and stopped cleanly before deciding anything (its ports were
    // taken, say).
    decision_journal brief(dir.path, 100);
    decision_log l(100);
    l.restore(brief.load(), brief.next_id());
  }
  decision_journal after(dir.path, 100);
  decision_log next(100);
  next.restore(after.load(), after.next_id());
  CHECK(next.record(pull_decision("dm2")) > 5);
}

TEST_CASE("the journal keeps only the newest decisions", "[master][decisions]") {
  temp_dir dir;
  decision_journal j(dir.path, 10);
  decision_log log(10);
  record(log, j, 200);
  auto back = j.load();
  REQUIRE(back.size() == 10);
  CHECK(back.front().id == 191);
  CHECK(back.back().id == 200);
}

TEST_CASE("the journal keeps the newest decisions by count, whatever ids crashes skipped", "[master][decisions]") {
  temp_dir dir;
  // Each run takes a few decisions, then is killed (left open, as a
  // process killed with -9 never closes it): the next run's ids start
  // after the ids the last one had reserved.
  std::vector<std::unique_ptr<decision_journal>> killed;
  for (int run = 0; run < 5; ++run) {
    auto& j = *killed.emplace_back(std::make_unique<decision_journal>(dir.path, 10));
    decision_log log(10);
    log.restore(j.load(), j.next_id());
    record(log, j, 2);
    j.flush(); // written (a crash loses only what is still buffered)
  }
  decision_journal j(dir.path, 10);
  auto back = j.load();
  CHECK(back.size() == 10); // all ten: fewer than kept
  CHECK(back.back().id > 4 * 256); // the ids did skip ahead
}
