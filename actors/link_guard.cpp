#include "actors/link_guard.hpp"

#include "actors/protocol.hpp"

#include <caf/detail/behavior_impl.hpp>
#include <caf/make_counted.hpp>
#include <caf/scheduled_actor.hpp>
#include <caf/sec.hpp>
#include <caf/type_erased_tuple.hpp>

#include <spdlog/spdlog.h>

namespace stowage::actors {

void link_membership::set_master(const caf::node_id& master) {
  std::lock_guard lock(mtx_);
  master_ = master;
}

void link_membership::clear_master() {
  std::lock_guard lock(mtx_);
  master_ = caf::node_id{};
  members_.clear();
}

void link_membership::set_members(const std::vector<caf::node_id>& members) {
  std::lock_guard lock(mtx_);
  members_ = {members.begin(), members.end()};
}

bool link_membership::is_master(const caf::node_id& n) const {
  std::lock_guard lock(mtx_);
  return master_ && n == master_;
}

bool link_membership::allows(const caf::node_id& n) const {
  std::lock_guard lock(mtx_);
  return (master_ && n == master_) || members_.count(n) > 0;
}

namespace {

// A behavior that screens every message before the actor's own handlers see
// it. Replies, down and exit messages do not pass through behaviors, so the
// actor's requests to others are unaffected.
class guarded_behavior : public caf::detail::behavior_impl {
public:
  guarded_behavior(caf::scheduled_actor* self, std::string name, std::shared_ptr<link_membership> links,
                   caf::behavior inner, std::function<bool(const caf::type_erased_tuple&)> open)
    : behavior_impl(inner.timeout()), self_(self), name_(std::move(name)), links_(std::move(links)),
      inner_(std::move(inner)), open_(std::move(open)) {}

  caf::match_case::result invoke(caf::detail::invoke_result_visitor& f, caf::type_erased_tuple& xs) override {
    const auto& sender = self_->current_sender();
    const bool local = sender && sender->node() == self_->node();
    if (xs.match_elements<roster>()) {
      if (sender && links_->is_master(sender->node())) {
        links_->set_members(xs.get_as<roster>(0).members);
        spdlog::debug("{}: roster of {} member processes", name_, xs.get_as<roster>(0).members.size());
      }
      f();
      return caf::match_case::match;
    }
    if (local || (sender && links_->allows(sender->node())) || (open_ && open_(xs)))
      return inner_.as_behavior_impl()->invoke(f, xs);
    spdlog::warn("{}: refused {} from {} (not a joined node)", name_, xs.stringify().substr(0, 80),
                 sender ? to_string(sender->node()) : std::string("an anonymous sender"));
    caf::error refusal = caf::make_error(caf::sec::unexpected_message);
    f(refusal);
    return caf::match_case::match;
  }

  caf::match_case::result invoke_empty(caf::detail::invoke_result_visitor& f) override {
    return inner_.as_behavior_impl()->invoke_empty(f);
  }

  void handle_timeout() override { inner_.handle_timeout(); }

private:
  caf::scheduled_actor* self_;
  std::string name_;
  std::shared_ptr<link_membership> links_;
  caf::behavior inner_;
  std::function<bool(const caf::type_erased_tuple&)> open_;
};

} // namespace

caf::behavior guard_links(caf::scheduled_actor* self, std::string name, std::shared_ptr<link_membership> links,
                          caf::behavior inner, std::function<bool(const caf::type_erased_tuple&)> open) {
  self->set_error_handler([name](caf::scheduled_actor* s, caf::error& e) {
    const auto& sender = s->current_sender();
    spdlog::warn("{}: ignored an error nobody asked for, from {}: {}", name,
                 sender ? to_string(sender->node()) : std::string("an anonymous sender"), s->system().render(e));
  });
  if (!links)
    return inner;
  caf::behavior::impl_ptr impl = caf::make_counted<guarded_behavior>(self, std::move(name), std::move(links),
                                                                     std::move(inner), std::move(open));
  return caf::behavior{std::move(impl)};
}

} // namespace stowage::actors
