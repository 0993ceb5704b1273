// Link authentication over a real middleman, between two processes (a fork:
// CAF names a process by its pid and host, so two actor systems in one
// process would be the same node). The parent runs a master with a
// directory of keys behind its link guard; the child is a process outside
// the cluster that tries, in order: a query without joining (refused), a
// join signed with the wrong key (refused), a join whose nonce was never
// issued (refused), the proper signed handshake (admitted, though the
// parent asked for a challenge for the same name in between), and the query
// again (answered now).
#include "actors/link_guard.hpp"
#include "actors/master.hpp"
#include "actors/protocol.hpp"
#include "config/identity.hpp"

#include <caf/all.hpp>
#include <caf/io/all.hpp>

#include <catch2/catch.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <random>

namespace sa = stowage::actors;
namespace cfg = stowage::config;
using namespace std::chrono_literals;

namespace {

struct net_config : caf::actor_system_config {
  net_config() {
    load<caf::io::middleman>();
    sa::add_protocol_types(*this);
    set("logger.console-verbosity", caf::atom("quiet"));
  }
};

// The child's side; returns the number of the first step that went wrong (0: all as expected).
// `to_parent`/`from_parent`: before its real join the child tells the parent
// it holds its challenge and waits while the parent asks for one for dm1 too.
int outsider(std::uint16_t port, const cfg::identity& dm1, const cfg::identity& stranger, const std::string& master_pk,
             int to_parent, int from_parent) {
  net_config conf;
  caf::actor_system sys{conf};
  auto master = sys.middleman().remote_actor("127.0.0.1", port);
  if (!master)
    return 1;
  caf::scoped_actor self{sys};
  bool answered = false;
  auto query = [&] {
    answered = false;
    self->request(*master, 5s, sa::nodes_query{})
      .receive([&](sa::nodes_answer&) { answered = true; }, [&](caf::error&) { answered = false; });
    return answered;
  };
  // A signed join as `id` claims it, with the master's nonce (or `nonce_override`).
  auto join = [&](const cfg::identity& id, std::optional<std::string> nonce_override, bool let_parent_ask = false) {
    auto mine = cfg::to_hex(cfg::random_bytes(32));
    sa::join_challenge challenge;
    bool got = false;
    self->request(*master, 5s, sa::join_challenge_request{"dm1", mine})
      .receive([&](sa::join_challenge& c) { challenge = c; got = true; }, [&](caf::error&) {});
    if (!got)
      return false;
    auto sig = cfg::from_hex(challenge.signature);
    if (!sig || !cfg::identity::verify(master_pk, sa::join_challenge_bytes("dm1", mine, challenge.nonce), *sig))
      return false; // the master did not prove its key
    char byte = 0;
    if (let_parent_ask && (::write(to_parent, &byte, 1) != 1 || ::read(from_parent, &byte, 1) != 1))
      return false;
    sa::join_request j{"dm1", "data", id.public_key_hex(), "127.0.0.1:1", 0, {}, nonce_override.value_or(challenge.nonce), {}};
    j.signature = cfg::to_hex(id.sign(sa::join_bytes(j)));
    bool joined = false;
    self->request(*master, 5s, j).receive([&](sa::join_answer&) { joined = true; }, [&](caf::error&) {});
    return joined;
  };
  if (query())
    return 2; // acted on before joining
  if (join(stranger, std::nullopt))
    return 3; // a key that is not dm1's
  if (join(dm1, std::string(64, 'a')))
    return 4; // a nonce the master never issued
  if (!join(dm1, std::nullopt, true))
    return 5; // the real handshake, though another process asked for a challenge for dm1 meanwhile
  if (!query())
    return 6; // joined, yet refused
  return 0;
}

} // namespace

TEST_CASE("only processes that joined with a valid signature get messages acted on", "[protocol][links]") {
  auto master_id = cfg::identity::generate();
  auto dm1 = cfg::identity::generate();
  auto stranger = cfg::identity::generate();
  int pipe_fds[2], up[2], down[2]; // the port; child -> parent; parent -> child
  REQUIRE(::pipe(pipe_fds) == 0);
  REQUIRE(::pipe(up) == 0);
  REQUIRE(::pipe(down) == 0);

  pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    ::close(pipe_fds[1]);
    ::close(up[0]);
    ::close(down[1]);
    std::uint16_t port = 0;
    int code = ::read(pipe_fds[0], &port, sizeof port) == sizeof port
                 ? outsider(port, dm1, stranger, master_id.public_key_hex(), up[1], down[0])
                 : 9;
    ::_exit(code);
  }
  ::close(pipe_fds[0]);
  ::close(up[1]); // so a child that ends early is seen (EOF)
  ::close(down[0]);

  auto dir = std::filesystem::temp_directory_path() / ("stowage-links-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  int status = 0;
  {
    net_config conf;
    caf::actor_system sys{conf};
    sa::master_config mc;
    mc.dir = dir;
    mc.identity = master_id;
    mc.directory["dm1"] = {"data", dm1.public_key_hex(), "127.0.0.1:5011"};
    mc.links = std::make_shared<sa::link_membership>();
    auto master = sa::spawn_master(sys, mc);
    auto port = sys.middleman().publish(master, 0, "127.0.0.1");
    REQUIRE(port);
    std::uint16_t p = *port;
    REQUIRE(::write(pipe_fds[1], &p, sizeof p) == sizeof p);
    ::close(pipe_fds[1]);
    // Another process (this one) asks for a challenge for dm1 while the
    // child holds its own: it must not replace the child's.
    char byte = 0;
    if (::read(up[0], &byte, 1) == 1) {
      caf::scoped_actor self{sys};
      self->request(master, 5s, sa::join_challenge_request{"dm1", cfg::to_hex(cfg::random_bytes(32))})
        .receive([](sa::join_challenge&) {}, [](caf::error&) {});
      REQUIRE(::write(down[1], &byte, 1) == 1);
    }
    REQUIRE(::waitpid(child, &status, 0) == child);
    ::close(up[0]);
    ::close(down[1]);
    caf::anon_send_exit(master, caf::exit_reason::user_shutdown);
  }
  std::filesystem::remove_all(dir);
  REQUIRE(WIFEXITED(status));
  INFO("the outsider's first unexpected step: " << WEXITSTATUS(status));
  CHECK(WEXITSTATUS(status) == 0);
}
