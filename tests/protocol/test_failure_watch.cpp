// A node's actor that stops by itself is reported (actors/failure_watch.hpp):
// in CAF 0.17 an exception in a handler ends the actor, and the process must
// then exit to be restarted rather than serve on without it.
#include "actors/failure_watch.hpp"

#include <caf/all.hpp>
#include <caf/test/dsl.hpp>

#include <catch2/catch.hpp>

#include <optional>
#include <stdexcept>
#include <string>

namespace {

struct watch_fixture : test_coordinator_fixture<> {};

caf::behavior fragile(caf::event_based_actor*) {
  return {[](int x) -> int {
    if (x < 0)
      throw std::runtime_error("the disk is full");
    return x;
  }};
}

} // namespace

TEST_CASE_METHOD(watch_fixture, "an actor stopped by an exception is reported, one shut down is not",
                 "[protocol][failure]") {
  auto failing = sys.spawn(fragile);
  auto stopped = sys.spawn(fragile);
  std::optional<std::string> failing_reason, stopped_reason;
  stowage::actors::on_failure(failing, [&](const std::string& why) { failing_reason = why; });
  stowage::actors::on_failure(stopped, [&](const std::string& why) { stopped_reason = why; });
  caf::anon_send(failing, 1);
  sched.run();
  CHECK_FALSE(failing_reason); // a message handled: still running
  caf::anon_send(failing, -1);
  caf::anon_send_exit(stopped, caf::exit_reason::user_shutdown);
  sched.run();
  CHECK(failing_reason);
  CHECK_FALSE(stopped_reason);
}
