#include "actors/join.hpp"

#include "actors/link_guard.hpp"

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>

#include <spdlog/spdlog.h>

namespace stowage::actors {

namespace {

// A join that failed (master busy, link dropped, refused) is tried again a
// little later, for the same link; the actor drops the retry if a newer
// link came meanwhile.
constexpr auto join_retry = std::chrono::seconds(3);

void retry_later(caf::event_based_actor* self, const join_params& p) {
  self->delayed_send(self, join_retry, connect_master{p.master, p.link});
}

void send_join(caf::event_based_actor* self, std::shared_ptr<join_params> p) {
  auto name = p->request.name;
  self->request(p->master, p->timeout, p->request)
    .then(
      [self, p](join_answer& a) {
        if (p->links)
          p->links->set_master(p->master.node());
        spdlog::info("{}: joined {}{}", p->request.name, a.master, p->identity ? " (signed handshake)" : "");
      },
      [self, p](caf::error& e) {
        spdlog::warn("{}: join failed: {}; trying again in {} s", p->request.name, self->system().render(e),
                     join_retry.count());
        retry_later(self, *p);
      });
}

} // namespace

bool take_master(const connect_master& c, caf::actor& master, std::uint64_t& links, link_membership* guard) {
  if (c.retry != 0) // our join failed: again, unless a newer link came meanwhile
    return c.retry == links;
  if (guard && c.master != master)
    guard->clear_master(); // trusted again once it proves its key
  master = c.master;
  ++links;
  return true;
}

void join_master(caf::event_based_actor* self, join_params params) {
  auto p = std::make_shared<join_params>(std::move(params));
  if (!p->master)
    return;
  if (!p->identity) {
    send_join(self, p);
    return;
  }
  auto nonce = config::to_hex(config::random_bytes(32));
  self->request(p->master, p->timeout, join_challenge_request{p->request.name, nonce})
    .then(
      [self, p, nonce](join_challenge& c) {
        const auto& name = p->request.name;
        auto sig = config::from_hex(c.signature);
        if (p->master_public_key.empty() || !sig
            || !config::identity::verify(p->master_public_key, join_challenge_bytes(name, nonce, c.nonce), *sig)) {
          spdlog::error("{}: the master at the other end of the link did not prove the key of the cluster "
                        "file (master_public_key {}); not joining",
                        name, p->master_public_key.empty() ? "is empty" : p->master_public_key.substr(0, 16) + "…");
          retry_later(self, *p);
          return;
        }
        p->request.nonce = c.nonce;
        p->request.signature = config::to_hex(p->identity->sign(join_bytes(p->request)));
        send_join(self, p);
      },
      [self, p](caf::error& e) {
        spdlog::warn("{}: join challenge failed: {}; trying again in {} s", p->request.name,
                     self->system().render(e), join_retry.count());
        retry_later(self, *p);
      });
}

} // namespace stowage::actors
