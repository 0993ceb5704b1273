// The CAF side of actors/ports.hpp: each call spawns a short-lived hidden
// event-based actor that sends one request and hands the answer (or the
// error) to the callback, then quits. Hidden, so a request still waiting for
// its timeout never holds up the actor system's shutdown.
#include "actors/ports.hpp"

#include "actors/data_plane.hpp"
#include "actors/protocol.hpp"

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/send.hpp>

#include <algorithm>
#include <initializer_list>
#include <string_view>

namespace stowage::actors {

namespace {

template <class Answer, class Request, class OnAnswer, class OnError, class... Extra>
void ask(caf::actor_system& sys, const caf::actor& target, std::chrono::milliseconds timeout, Request req,
         OnAnswer on_answer, OnError on_error, Extra... extra) {
  if (!target) {
    on_error(std::string("no such actor"));
    return;
  }
  sys.spawn<caf::hidden>([target, timeout, req = std::move(req), on_answer = std::move(on_answer),
                          on_error = std::move(on_error),
                          extra...](caf::event_based_actor* self) mutable -> caf::behavior {
    self->request(target, timeout, std::move(req))
      .then(
        [self, on_answer](Answer& a) mutable {
          on_answer(std::move(a));
          self->quit();
        },
        [self, on_error](caf::error& e) mutable {
          on_error(self->system().render(e));
          self->quit();
        });
    // Stays alive for the answer above; `extra` handles what the target
    // sends before it (a pull's plan).
    return {[](caf::ok_atom) {}, extra...};
  });
}

class runtime_port_impl final : public runtime_port {
  /// A pull's answer for the HTTP side: not found if it failed saying one
  /// of `not_found_when` ("unknown image …": no data manager holds it).
  static runtime_pull_result pull_result(pull_done d, std::initializer_list<std::string_view> not_found_when) {
    const bool not_found = !d.ok && std::ranges::any_of(not_found_when, [&](std::string_view s) {
      return d.error.find(s) != std::string::npos;
    });
    return {d.ok, not_found, std::move(d.error), std::move(d.digest), std::move(d.target)};
  }

public:
  runtime_port_impl(caf::actor_system& sys, caf::actor rt, std::chrono::milliseconds timeout)
      : sys_(sys), rt_(std::move(rt)), timeout_(timeout) {}

  void pull(std::string repository, std::string reference, pull_fn done, plan_fn on_plan) override {
    auto plan = [on_plan](pull_scheduled& s) {
      if (on_plan) on_plan(runtime_pull_plan{s.decision, std::move(s.digest), std::move(s.target)});
    };
    ask<pull_done>(
      sys_, rt_, timeout_, pull_image{std::move(repository), std::move(reference), true},
      [done](pull_done d) { done(pull_result(std::move(d), {"unknown image"})); },
      [done](std::string error) { done(runtime_pull_result{false, false, std::move(error), {}, {}}); }, plan);
  }

  void pull_blob(std::string repository, std::string digest, pull_fn done) override {
    ask<pull_done>(
      sys_, rt_, timeout_, pull_image{std::move(repository), std::move(digest), false, true},
      // Not found: the master knows no image of the repository, or the last
      // data manager tried (each was, in turn) lacked the blob.
      [done](pull_done d) { done(pull_result(std::move(d), {"unknown blob", sender_lacks_it})); },
      [done](std::string error) { done(runtime_pull_result{false, false, std::move(error), {}, {}}); });
  }

  // Fire and forget, as the runtime itself (link guards refuse anonymous messages).
  void open_push(std::string repository) override { caf::send_as(rt_, rt_, actors::open_push{std::move(repository)}); }
  void blob_pushed(std::string repository, std::string digest) override {
    caf::send_as(rt_, rt_, actors::blob_pushed{std::move(repository), std::move(digest)});
  }
  void blob_arriving(std::string repository, std::string digest, std::uint64_t size) override {
    caf::send_as(rt_, rt_, actors::blob_arriving{std::move(repository), std::move(digest), size});
  }

  void push(std::string repository, std::string tag, std::string digest, push_fn done) override {
    ask<push_done>(
      sys_, rt_, timeout_, push_image{std::move(repository), std::move(tag), std::move(digest)},
      [done](push_done d) {
        runtime_push_result r;
        r.ok = d.ok;
        r.error = std::move(d.error);
        r.target = std::move(d.target);
        r.copies = d.ack.copies;
        done(std::move(r));
      },
      [done](std::string error) { done(runtime_push_result{false, std::move(error), {}, 0}); });
  }

  void remove(std::string repository, std::string reference, delete_fn done) override {
    ask<delete_done>(
      sys_, rt_, timeout_, delete_image{std::move(repository), std::move(reference)},
      [done](delete_done d) {
        done(runtime_delete_result{d.ok, d.not_found, std::move(d.error), std::move(d.digest), std::move(d.tags)});
      },
      [done](std::string error) { done(runtime_delete_result{false, false, std::move(error), {}, {}}); });
  }

  void tags(std::string repository, tags_fn done) override {
    ask<tags_answer>(
      sys_, rt_, timeout_, tags_query{std::move(repository)},
      [done](tags_answer a) { done(runtime_tags_result{a.ok, a.known, std::move(a.error), std::move(a.tags)}); },
      [done](std::string error) { done(runtime_tags_result{false, false, std::move(error), {}}); });
  }

  void repositories(repositories_fn done) override {
    ask<repositories_answer>(
      sys_, rt_, timeout_, repositories_query{},
      [done](repositories_answer a) {
        if (a.ok) done(std::move(a.repositories), {});
        else done(std::nullopt, std::move(a.error));
      },
      [done](std::string error) { done(std::nullopt, std::move(error)); });
  }

private:
  caf::actor_system& sys_;
  caf::actor rt_;
  std::chrono::milliseconds timeout_;
};

class master_port_impl final : public master_port {
public:
  master_port_impl(caf::actor_system& sys, caf::actor m, std::chrono::milliseconds timeout)
      : sys_(sys), m_(std::move(m)), timeout_(timeout) {}

  void nodes(answer_fn<node_record> done) override {
    ask<nodes_answer>(sys_, m_, timeout_, nodes_query{}, [done](nodes_answer a) { done(std::move(a.nodes)); },
                      [done](std::string) { done(std::nullopt); });
  }
  void images(answer_fn<image_record> done) override {
    ask<images_answer>(sys_, m_, timeout_, images_query{}, [done](images_answer a) { done(std::move(a.images)); },
                       [done](std::string) { done(std::nullopt); });
  }
  void decisions(std::uint32_t limit, answer_fn<decision> done) override {
    ask<decisions_answer>(sys_, m_, timeout_, decisions_query{limit},
                          [done](decisions_answer a) { done(std::move(a.decisions)); },
                          [done](std::string) { done(std::nullopt); });
  }
  void handoffs(answer_fn<handoff_record> done) override {
    ask<handoffs_answer>(sys_, m_, timeout_, handoffs_query{},
                         [done](handoffs_answer a) { done(std::move(a.handoffs)); },
                         [done](std::string) { done(std::nullopt); });
  }
  void removals(answer_fn<removal_record> done) override {
    ask<removals_answer>(sys_, m_, timeout_, removals_query{},
                         [done](removals_answer a) { done(std::move(a.removals)); },
                         [done](std::string) { done(std::nullopt); });
  }

private:
  caf::actor_system& sys_;
  caf::actor m_;
  std::chrono::milliseconds timeout_;
};

} // namespace

std::shared_ptr<runtime_port> make_runtime_port(caf::actor_system& sys, const caf::actor& runtime,
                                                std::chrono::milliseconds timeout) {
  return std::make_shared<runtime_port_impl>(sys, runtime, timeout);
}

std::shared_ptr<master_port> make_master_port(caf::actor_system& sys, const caf::actor& master,
                                              std::chrono::milliseconds timeout) {
  return std::make_shared<master_port_impl>(sys, master, timeout);
}

packet_sink make_packet_sink(const caf::actor& receiver) {
  return [receiver](const probe_arrival& a) {
    caf::send_as(receiver, receiver, test_packet{a.round, a.node, a.bytes, a.transfer_us});
  };
}

} // namespace stowage::actors
