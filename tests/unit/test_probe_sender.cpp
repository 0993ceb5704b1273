// The HTTP test packet sender against a receiver that never answers: a
// packet lives until its round's deadline at most, so that a slow or hung
// link is free again for the next round.
#include "net/http_probe_sender.hpp"
#include "silent_listener.hpp"

#include <catch2/catch.hpp>

#include <future>
#include <memory>

using namespace stowage;
using namespace std::chrono_literals;

namespace {

std::shared_ptr<config::directory> directory_with(const std::string& runtime_endpoint) {
  auto dir = std::make_shared<config::directory>();
  dir->add({"rt1", config::role::runtime, runtime_endpoint, ""});
  return dir;
}

/// Destroys `sender`, which waits for its packets in flight, on another
/// thread; true if that ended within 30 s.
bool drained(std::unique_ptr<net::http_probe_sender> sender) {
  auto gone = std::async(std::launch::async, [s = std::move(sender)]() mutable { s.reset(); });
  return gone.wait_for(30s) == std::future_status::ready;
}

} // namespace

TEST_CASE("probe sender: a packet whose round is over is not sent", "[net][probe]") {
  silent_listener rt1;
  net::http_probe_options opts;
  opts.threads = 1;
  auto sender = std::make_unique<net::http_probe_sender>("dm1", directory_with(rt1.endpoint),
                                                         config::identity::generate(), opts);
  sender->send_test_packet("dm1", "rt1", 7, 4096, 0us);
  REQUIRE(drained(std::move(sender)));
  CHECK(rt1.connections_taken() == 0);
}

TEST_CASE("probe sender: a packet to a receiver that never answers ends at its round's deadline",
          "[net][probe]") {
  silent_listener rt1;
  net::http_probe_options opts;
  opts.threads = 1; // no other limit than the deadline: a step alone may take a minute
  auto sender = std::make_unique<net::http_probe_sender>("dm1", directory_with(rt1.endpoint),
                                                         config::identity::generate(), opts);
  sender->send_test_packet("dm1", "rt1", 7, 4096, 300ms);
  // Queued behind the first on the one thread until after its own deadline.
  sender->send_test_packet("dm1", "rt1", 8, 4096, 100ms);
  CHECK(drained(std::move(sender)));
  CHECK(rt1.connections_taken() == 1);
}
