#include "actors/runtime.hpp"

#include "actors/image_copy.hpp"
#include "actors/join.hpp"
#include "actors/link_guard.hpp"
#include "actors/protocol.hpp"
#include "actors/removal.hpp"
#include "actors/transfer_book.hpp"
#include "oci/digest.hpp"

#include <caf/actor_system.hpp>
#include <caf/send.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_response_promise.hpp>

#include <spdlog/spdlog.h>

#include <functional>
#include <map>
#include <optional>
#include <set>

namespace stowage::actors {

namespace {

struct measured_round {
  caf::actor_clock::time_point start;
  std::chrono::microseconds deadline{0};
  std::vector<std::string> candidates;
  std::map<std::string, candidate_result> results;
  caf::actor master; // who to report to
};

/// A pull in flight whose requester (the gateway's port) asked to be told
/// of the master's plans (pull_image::plans).
struct pull_watch {
  std::string repository;
  std::string reference;
  caf::strong_actor_ptr requester;
};

/// A push session opened while a client still uploads blobs (open_push):
/// each blob goes to the target while it arrives in the runtime's store
/// (blob_arriving) or once it is there (blob_pushed), so that at the
/// manifest PUT only the manifest is left.
struct ahead_push {
  bool asking = true;            // the storage_request is not answered yet
  bool failed = false;           // no grant, or a blob did not get through: push as usual
  first_proof_message grant;     // once answered
  std::map<std::string, std::uint64_t> queued; // blobs that came before the grant (size if still arriving, else 0)
  std::set<std::string> sent;    // blobs sent, or on their way
  std::uint32_t sending = 0;     // blob transfers in flight
  std::function<void()> granted; // the push that took the session, once the answer is in
  std::function<void()> then;    // its manifest, once nothing is in flight
  caf::actor_clock::time_point opened;
};

struct rt_state {
  runtime_config cfg;
  caf::actor master;
  std::uint64_t links_to_master = 1; // the master given at spawn is the first; connect_master counts the others
  std::map<std::uint64_t, measured_round> rounds;
  std::optional<caf::actor_clock::time_point> sweep_at; // pending round_deadline wake-up
  transfer_book transfers;
  std::map<std::uint64_t, pull_watch> watches; // pulls in flight that want plans, by local id
  std::uint64_t next_watch = 1;
  std::map<std::string, std::shared_ptr<ahead_push>> ahead; // by repository, until its push_image
  // What waits on a node, given up when the link to it breaks: commits to a
  // push target (its transfers are, by `transfers`) and requests to the
  // master (node "", request_master). By id: the node and what to do.
  std::map<std::uint64_t, std::pair<std::string, std::function<void()>>> on_lost;
  std::uint64_t next_lost = 1;
  static inline const char* name = "stowage.runtime";
};
using rt_actor = caf::stateful_actor<rt_state>;

/// Asks the master `msg` (the caller checked there is one). Should the link
/// to the master break first, `on_error` runs at once: a master that dies
/// holding the request never answers it, and the gateway's client would
/// otherwise wait out request_timeout (11 minutes), also after the master
/// came back. `also`: a node the master's answer waits on (a push target
/// that must take the session's name); its loss fails the request at once
/// too, instead of when the master's own wait for it times out. A late
/// answer is then dropped.
template <class Answer, class Msg, class OnAnswer, class OnError>
void request_master(rt_actor* self, Msg msg, OnAnswer on_answer, OnError on_error, std::string also = {}) {
  auto& st = self->state;
  auto id = st.next_lost;
  st.next_lost += 2; // id waits on the master, id + 1 on `also`
  // True the first time only: whatever settles the request takes both waits.
  auto settle = [self, id] { return self->state.on_lost.erase(id) + self->state.on_lost.erase(id + 1) > 0; };
  auto fail = std::make_shared<OnError>(std::move(on_error));
  auto lost = [settle, fail](const std::string& what) {
    if (!settle())
      return;
    caf::error e = caf::make_error(caf::sec::request_receiver_down, "lost the link to " + what);
    (*fail)(e);
  };
  st.on_lost[id] = {"", [lost] { lost("the master"); }};
  if (!also.empty())
    st.on_lost[id + 1] = {also, [lost, also] { lost(also); }};
  self->request(st.master, st.cfg.request_timeout, std::move(msg))
    .then(
      [settle, on_answer](Answer& a) mutable {
        if (settle())
          on_answer(a);
      },
      [settle, fail](caf::error& e) {
        if (settle())
          (*fail)(e);
      });
}

/// Runs (once) what waits on `node` ("": the master), its link being lost.
void give_up_waits(rt_actor* self, const std::string& node) {
  auto& st = self->state;
  std::vector<std::uint64_t> ids;
  for (const auto& [id, waiting] : st.on_lost)
    if (waiting.first == node)
      ids.push_back(id);
  for (auto id : ids)
    if (auto j = st.on_lost.find(id); j != st.on_lost.end())
      std::function<void()>(j->second.second)(); // a copy: the call removes the entry
}

/// The link to the master broke: until a master is connected again
/// (connect_master), requests fail at once ("no master"), and those in
/// flight fail now.
void master_lost(rt_actor* self) {
  auto& st = self->state;
  auto waiting =
    std::count_if(st.on_lost.begin(), st.on_lost.end(), [](const auto& w) { return w.second.first.empty(); });
  if (waiting > 0)
    spdlog::warn("{}: lost the link to the master: failing the {} request(s) it had not answered", st.cfg.name,
                 waiting);
  st.master = nullptr;
  give_up_waits(self, "");
}

void start_transfer(rt_actor* self, transfer_order order, transfer_book::then_fn then) {
  self->state.transfers.start(self, *self->state.cfg.transfer, std::move(order), std::move(then));
}

/// A push target's link broke (a dead or hung process): its transfers and
/// commits are given up at once and the push goes on elsewhere.
void target_lost(rt_actor* self, const caf::down_msg& dm) {
  auto& st = self->state;
  auto name = st.transfers.lost(dm, *st.cfg.transfer);
  if (!name)
    return;
  spdlog::warn("{}: lost the link to {}: giving up its transfers", st.cfg.name, *name);
  give_up_waits(self, *name);
}

/// The master lost its link to `name`: the same, for a node this runtime
/// may have no link of its own to yet.
void master_says_down(rt_actor* self, const std::string& name) {
  auto& st = self->state;
  st.transfers.give_up(name, *st.cfg.transfer, "the master lost the link to " + name);
  give_up_waits(self, name);
}

void join(rt_actor* self) {
  auto& st = self->state;
  if (!st.master)
    return;
  join_request j{st.cfg.name, "runtime", st.cfg.public_key, st.cfg.http, st.cfg.store->free_bytes(),
                 {}, {}, {}};
  join_master(self, {st.master, std::move(j), st.cfg.identity, st.cfg.settings.master_public_key, st.cfg.links,
                     st.cfg.settings.probe_timeout * 5, st.links_to_master});
}

void report(rt_actor* self, std::uint64_t id) {
  auto i = self->state.rounds.find(id);
  if (i == self->state.rounds.end())
    return;
  auto r = std::move(i->second);
  self->state.rounds.erase(i);
  test_result out{id, self->state.cfg.name, {}};
  for (const auto& node : r.candidates) {
    auto m = r.results.find(node);
    out.results.push_back(m != r.results.end() ? m->second : candidate_result{node, 0, 0, false});
  }
  if (r.master)
    self->send(r.master, std::move(out));
}

void measure(rt_actor* self, const test_packet& p) {
  auto i = self->state.rounds.find(p.round);
  if (i == self->state.rounds.end())
    return; // late: the round was reported already
  auto& r = i->second;
  if (std::find(r.candidates.begin(), r.candidates.end(), p.node) == r.candidates.end())
    return;
  auto arrival = std::chrono::duration_cast<std::chrono::microseconds>(self->clock().now() - r.start);
  if (arrival > r.deadline)
    return;
  auto tp = p.bytes * 1'000'000 / std::max<std::uint64_t>(1, p.transfer_us);
  r.results[p.node] = {p.node, static_cast<std::uint64_t>(arrival.count()), tp, true};
  if (r.results.size() == r.candidates.size())
    report(self, p.round);
}

// One wake-up at the earliest open deadline serves every round in flight.
void arm_sweep(rt_actor* self) {
  auto& st = self->state;
  if (st.rounds.empty())
    return;
  auto earliest = st.rounds.begin()->second.start + st.rounds.begin()->second.deadline;
  for (const auto& [id, r] : st.rounds)
    earliest = std::min(earliest, r.start + r.deadline);
  if (st.sweep_at && *st.sweep_at <= earliest)
    return;
  st.sweep_at = earliest;
  auto now = self->clock().now();
  self->delayed_send(self, earliest > now ? earliest - now : caf::actor_clock::duration_type{0}, round_deadline{});
}

void sweep(rt_actor* self) {
  auto& st = self->state;
  st.sweep_at.reset();
  auto now = self->clock().now();
  std::vector<std::uint64_t> due;
  for (const auto& [id, r] : st.rounds)
    if (r.start + r.deadline <= now)
      due.push_back(id);
  for (auto id : due)
    report(self, id);
  arm_sweep(self);
}

// ---- pull ---------------------------------------------------------------------

struct pull_reply {
  std::uint64_t watch = 0;
  caf::typed_response_promise<pull_done> rp;
};

void finish_pull(rt_actor* self, pull_reply& reply, pull_done d) {
  self->state.watches.erase(reply.watch);
  reply.rp.deliver(std::move(d));
}

/// The master's plan for a pull (pull_scheduled) goes to every local
/// requester of that repository and reference.
void tell_watchers(rt_actor* self, const pull_scheduled& s) {
  for (const auto& [id, w] : self->state.watches)
    if (w.repository == s.repository && w.reference == s.reference)
      self->send(caf::actor_cast<caf::actor>(w.requester), s);
}

void pull_attempt(rt_actor* self, pull_image p, std::uint64_t retry_of, std::string failed,
                  std::uint32_t attempt, pull_reply rp) {
  auto& st = self->state;
  if (!st.master) {
    finish_pull(self, rp, pull_done{false, "no master", {}, {}, attempt});
    return;
  }
  pull_request req{st.cfg.name, p.repository, p.reference, retry_of, failed, p.blob};
  request_master<pull_answer>(
      self, std::move(req),
      [self, p, attempt, rp](pull_answer& a) mutable {
        auto& st = self->state;
        if (a.ok) {
          // The copy verified every blob on arrival and stores a manifest
          // only after everything it references; check that it is here.
          auto dig = oci::digest::parse(a.digest);
          if (dig && (p.blob ? st.cfg.store->blob(p.repository, *dig).has_value()
                             : st.cfg.store->manifest(p.repository, oci::reference{*dig}).has_value())) {
            finish_pull(self, rp, pull_done{true, {}, a.digest, a.target, attempt});
            return;
          }
          a.ok = false;
          a.error = "image incomplete after the transfer";
        }
        if (a.decision != 0 && !a.target.empty() && attempt < st.cfg.max_attempts) {
          spdlog::warn("{}: pull from {} failed ({}), asking again", st.cfg.name, a.target, a.error);
          pull_attempt(self, p, a.decision, a.target, attempt + 1, rp);
          return;
        }
        finish_pull(self, rp, pull_done{false, a.error, a.digest, a.target, attempt});
      },
      [self, attempt, rp](caf::error& e) mutable {
        finish_pull(self, rp, pull_done{false, self->system().render(e), {}, {}, attempt});
      });
}

// ---- push ---------------------------------------------------------------------

/// Sends push_commit and sends it again whenever `commit_repeat` passes
/// without an answer, until `deadline`: the first message to a data manager
/// goes over a link the middleman may still be setting up, and one lost there
/// would otherwise stall the push for the whole request timeout. The data
/// manager answers a repeat with the first commit's ack (one replication).
void commit_until(rt_actor* self, caf::actor target, push_commit c, caf::actor_clock::time_point deadline,
                  std::function<void(push_ack)> ok, std::function<void(std::string)> fail) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - self->clock().now());
  auto wait = std::max(std::chrono::milliseconds(1), std::min(left, self->state.cfg.commit_repeat));
  self->request(target, wait, c)
    .then([ok](push_ack& a) { ok(std::move(a)); },
          [self, target, c, deadline, ok, fail](caf::error& e) {
            if (e == caf::sec::request_timeout && self->clock().now() < deadline) {
              spdlog::info("{}: no answer yet to the commit of {}@{}; sending it again", self->state.cfg.name,
                           c.repository, c.digest);
              return commit_until(self, target, c, deadline, ok, fail);
            }
            fail(self->system().render(e));
          });
}

/// Commits at the target and answers the push. If the commit fails (the
/// link to the target broke, or no answer within the request timeout),
/// `again(target)` pushes once more elsewhere, when the caller has attempts
/// left; an answered commit, even a refusal, is final.
void commit_and_answer(rt_actor* self, const push_image& p, const first_proof_message& g, std::uint64_t seq,
                       caf::typed_response_promise<push_done> rp, std::function<void(std::string)> again) {
  auto& st = self->state;
  auto target = g.proof.scope.target;
  auto session = g.proof.scope.session;
  auto lost_id = st.next_lost++; // in on_lost until the commit is answered or given up
  auto fail = [self, rp, target, seq, session, again, lost_id](std::string error) mutable {
    if (self->state.on_lost.erase(lost_id) == 0)
      return; // settled already
    if (again) {
      spdlog::warn("{}: the commit at {} failed ({}), pushing again", self->state.cfg.name, target, error);
      return again(target);
    }
    rp.deliver(push_done{false, std::move(error), target, seq, session, {}});
  };
  st.on_lost[lost_id] = {target, [fail, target]() mutable { fail("lost the link to " + target); }};
  commit_until(self, g.target, push_commit{session, p.repository, p.digest},
               self->clock().now() + st.cfg.request_timeout,
               [self, rp, target, seq, session, lost_id](push_ack a) mutable {
                 if (self->state.on_lost.erase(lost_id) == 0)
                   return; // given up already
                 rp.deliver(push_done{a.ok, a.error, target, seq, session, a});
               },
               fail);
}

void push_attempt(rt_actor* self, push_image p, std::uint64_t size, std::uint64_t retry_of, std::string failed,
                  std::uint32_t attempt, caf::typed_response_promise<push_done> rp) {
  auto& st = self->state;
  if (!st.master) {
    rp.deliver(push_done{false, "no master", {}, 0, {}, {}});
    return;
  }
  storage_request req{st.cfg.name, p.repository, p.tag, p.digest, size, retry_of, failed};
  request_master<first_proof_message>(
      self, std::move(req),
      [self, p, size, attempt, rp](first_proof_message& g) mutable {
        auto& st = self->state;
        if (!g.ok) {
          rp.deliver(push_done{false, g.error, {}, 0, {}, {}});
          return;
        }
        auto target = g.proof.scope.target;
        auto seq = g.proof.scope.seq;
        st.transfers.watch(self, target, g.target);
        transfer_order order{st.cfg.name, target, p.repository, p.digest, p.tag, std::nullopt, encode(g.proof)};
        start_transfer(self, order, [self, p, size, attempt, rp, g, target, seq](const transfer_done& d) mutable {
          auto& st = self->state;
          if (!d.ok) {
            if (d.status == 401 || d.status == 403) {
              rp.deliver(push_done{false, "refused by " + target + ": " + d.error, target, seq, g.proof.scope.session, {}});
            } else if (attempt < st.cfg.max_attempts) {
              spdlog::warn("{}: push to {} failed ({}), asking again", st.cfg.name, target, d.error);
              push_attempt(self, p, size, g.decision, target, attempt + 1, rp);
            } else {
              rp.deliver(push_done{false, d.error, target, seq, g.proof.scope.session, {}});
            }
            return;
          }
          std::function<void(std::string)> again;
          if (attempt < st.cfg.max_attempts)
            again = [self, p, size, attempt, rp, decision = g.decision](std::string failed) mutable {
              push_attempt(self, p, size, decision, std::move(failed), attempt + 1, rp);
            };
          commit_and_answer(self, p, g, seq, rp, std::move(again));
        });
      },
      [self, rp](caf::error& e) mutable { rp.deliver(push_done{false, self->system().render(e), {}, 0, {}, {}}); });
}

// ---- push ahead of the manifest ---------------------------------------------------

/// An image's size is unknown before its manifest; the ranking of a push
/// opened ahead assumes this much, so that throughput counts, not only latency.
constexpr std::uint64_t ahead_size_guess = 64ull << 20;

void continue_if_idle(const std::shared_ptr<ahead_push>& a) {
  if (a->asking || a->sending > 0 || !a->then)
    return;
  std::exchange(a->then, {})();
}

void answered(const std::shared_ptr<ahead_push>& a) {
  a->asking = false;
  if (a->granted)
    std::exchange(a->granted, {})();
  continue_if_idle(a);
}

/// A session is used while its proof has at least half its lifetime left,
/// for the manifest and the commit.
bool still_fresh(rt_actor* self, const ahead_push& a) {
  return !a.failed && self->clock().now() - a.opened < self->state.cfg.settings.proof_ttl / 2;
}

bool in_store(rt_actor* self, const std::string& repository, const std::string& digest) {
  auto d = oci::digest::parse(digest);
  return d && self->state.cfg.store->blob(repository, *d).has_value();
}

/// Sends one blob to the session's target: from the store, or while it
/// still arrives (`arriving_size` > 0).
void send_ahead(rt_actor* self, const std::string& repository, const std::shared_ptr<ahead_push>& a,
                const std::string& digest, std::uint64_t arriving_size = 0) {
  auto& st = self->state;
  if (!a->sent.insert(digest).second)
    return;
  ++a->sending;
  transfer_order order{st.cfg.name, a->grant.proof.scope.target, repository, digest, {}, std::nullopt,
                       encode(a->grant.proof), true};
  order.blob_size = arriving_size;
  start_transfer(self, order, [self, repository, digest, a, arriving_size](const transfer_done& d) {
    --a->sending;
    // On the target now: its peers can fetch it while the client uploads on.
    if (d.ok)
      self->send(a->grant.target, blob_landed{a->grant.proof.scope.session, repository, digest});
    if (!d.ok && arriving_size > 0) {
      // It did not arrive whole (the client stopped, or uploaded other
      // bytes than announced): sent from the store if it is there by now,
      // else by the blob_pushed that comes once it is.
      a->sent.erase(digest);
      spdlog::debug("{}: blob {} of {} was not sent while arriving ({})", self->state.cfg.name, digest, repository,
                    d.error);
      if (!a->failed && in_store(self, repository, digest))
        send_ahead(self, repository, a, digest);
    } else if (!d.ok && !a->failed) {
      a->failed = true;
      spdlog::warn("{}: a blob of {} did not get to {} ahead of its manifest ({}); it will be pushed as usual",
                   self->state.cfg.name, repository, a->grant.proof.scope.target, d.error);
    }
    continue_if_idle(a);
  });
}

void open_ahead(rt_actor* self, const std::string& repository) {
  auto& st = self->state;
  if (auto i = st.ahead.find(repository); i != st.ahead.end() && still_fresh(self, *i->second))
    return;
  if (!st.master)
    return;
  auto a = std::make_shared<ahead_push>();
  a->opened = self->clock().now();
  st.ahead[repository] = a;
  storage_request req{st.cfg.name, repository, {}, {}, ahead_size_guess, 0, {}};
  request_master<first_proof_message>(
      self, std::move(req),
      [self, repository, a](first_proof_message& g) {
        if (!g.ok) {
          a->failed = true;
          spdlog::info("{}: no push session for {} ahead of its manifest: {}", self->state.cfg.name, repository, g.error);
        } else {
          self->state.transfers.watch(self, g.proof.scope.target, g.target);
          a->grant = std::move(g);
          for (const auto& [d, arriving_size] : std::exchange(a->queued, {}))
            send_ahead(self, repository, a, d, arriving_size);
        }
        answered(a);
      },
      [a](caf::error&) {
        a->failed = true;
        answered(a);
      });
}

void blob_ahead(rt_actor* self, const std::string& repository, const std::string& digest,
                std::uint64_t arriving_size) {
  auto i = self->state.ahead.find(repository);
  if (i == self->state.ahead.end() || i->second->failed)
    return;
  auto a = i->second;
  if (!a->asking)
    return send_ahead(self, repository, a, digest, arriving_size);
  auto [q, fresh] = a->queued.emplace(digest, arriving_size);
  if (!fresh && arriving_size == 0)
    q->second = 0; // arrived meanwhile: from the store
}

/// The manifest of a push whose session was named and whose blobs went
/// ahead, then the commit. A blob that did not get through ahead, or the
/// manifest failing, starts over as an ordinary push.
template <class AsUsual>
void manifest_ahead(rt_actor* self, const push_image& p, const std::shared_ptr<ahead_push>& a, std::uint64_t seq,
                    caf::typed_response_promise<push_done> rp, AsUsual as_usual) {
  auto& st = self->state;
  const auto& g = a->grant;
  if (a->failed)
    return as_usual(0, {});
  auto target = g.proof.scope.target;
  spdlog::info("{}: push {}:{} continues with decision {} ({} blobs sent ahead to {})", st.cfg.name, p.repository,
               p.tag, g.decision, a->sent.size(), target);
  transfer_order order{st.cfg.name, target, p.repository, p.digest, p.tag, std::nullopt, encode(g.proof)};
  start_transfer(self, order, [self, p, a, rp, as_usual, seq](const transfer_done& d) mutable {
    const auto& g = a->grant;
    if (!d.ok) {
      spdlog::warn("{}: push to {} failed ({}), asking again", self->state.cfg.name, g.proof.scope.target, d.error);
      return as_usual(g.decision, g.proof.scope.target);
    }
    commit_and_answer(self, p, g, seq, rp,
                      [as_usual, decision = g.decision](std::string failed) mutable { as_usual(decision, std::move(failed)); });
  });
}

/// The push of an image whose blobs went ahead: name the session (the
/// master assigns the tag's sequence number and tells the target) while the
/// last blobs are still on their way, then send the manifest and commit.
/// Anything failing before the commit starts over as an ordinary push (once
/// no blob is in flight), without that target if it was the one failing.
void push_ahead(rt_actor* self, push_image p, std::uint64_t size, std::shared_ptr<ahead_push> a,
                caf::typed_response_promise<push_done> rp) {
  auto& st = self->state;
  const auto& g = a->grant;
  auto as_usual = [self, p, size, rp](std::uint64_t retry_of, std::string failed) mutable {
    push_attempt(self, p, size, retry_of, std::move(failed), 1, rp);
  };
  // `failed`: the session's target, when it is the one that failed.
  auto as_usual_when_idle = [a, as_usual](std::string failed = {}) mutable {
    a->then = [as_usual, decision = failed.empty() ? 0 : a->grant.decision, failed]() mutable {
      as_usual(decision, failed);
    };
    continue_if_idle(a);
  };
  if (!still_fresh(self, *a) || !st.master)
    return as_usual_when_idle();
  name_push n{g.proof.scope.session, st.cfg.name, p.repository, p.tag, p.digest};
  request_master<push_named>(
      self, std::move(n),
      [self, p, a, rp, as_usual, as_usual_when_idle](push_named& named) mutable {
        if (!named.ok) {
          spdlog::warn("{}: the push of {}:{} opened ahead was not named ({}); pushing as usual",
                       self->state.cfg.name, p.repository, p.tag, named.error);
          return as_usual_when_idle();
        }
        a->then = [self, p, a, rp, as_usual, seq = named.seq]() mutable {
          manifest_ahead(self, p, a, seq, rp, as_usual);
        };
        continue_if_idle(a);
      },
      [self, p, a, as_usual_when_idle](caf::error& e) mutable {
        // The master waits for the target to take the name; a target lost
        // meanwhile fails this at once, not when that wait times out. With
        // the master still there, the target is what failed.
        auto target = self->state.master ? a->grant.proof.scope.target : std::string{};
        spdlog::warn("{}: the push of {}:{} opened ahead was not named ({}); pushing as usual", self->state.cfg.name,
                     p.repository, p.tag, self->system().render(e));
        as_usual_when_idle(target);
      },
      g.proof.scope.target);
}

/// Passes a local request on to the master and its answer back; `failed`
/// makes the answer when there is none (no master, an error).
template <class Answer, class Request, class Failed>
void ask_master(rt_actor* self, Request req, Failed failed) {
  auto rp = self->make_response_promise<Answer>();
  if (!self->state.master) {
    rp.deliver(failed("no master to ask"));
    return;
  }
  request_master<Answer>(
      self, std::move(req), [rp](Answer& a) mutable { rp.deliver(std::move(a)); },
      [self, rp, failed](caf::error& e) mutable {
        rp.deliver(failed("the master did not answer: " + self->system().render(e)));
      });
}

caf::behavior runtime_behavior(rt_actor* self, runtime_config cfg, caf::actor master) {
  self->state.cfg = std::move(cfg);
  self->state.master = std::move(master);
  self->set_down_handler([self](caf::down_msg& dm) {
    if (self->state.master && dm.source == self->state.master.address())
      master_lost(self);
    else
      target_lost(self, dm);
  });
  if (self->state.master)
    self->monitor(self->state.master);
  join(self);
  return {
    [self](connect_master& c) {
      auto& st = self->state;
      if (c.retry == 0 && c.master && c.master != st.master)
        self->monitor(c.master); // a new master: its loss fails what waits on it (master_lost)
      if (take_master(c, st.master, st.links_to_master, st.cfg.links.get()))
        join(self);
    },
    [self](test_round_start& s) -> test_round_ready {
      auto& r = self->state.rounds[s.round];
      r.start = self->clock().now();
      r.deadline = std::chrono::microseconds(s.deadline_us);
      r.candidates = s.candidates;
      r.master = caf::actor_cast<caf::actor>(self->current_sender());
      arm_sweep(self);
      return {s.round};
    },
    [self](test_packet& p) { measure(self, p); },
    [self](round_deadline&) { sweep(self); },
    [self](node_down& d) { master_says_down(self, d.name); },
    [self](pull_image& p) {
      auto& st = self->state;
      std::uint64_t id = 0; // no watch: the requester wants no plans
      if (p.plans) {
        id = st.next_watch++;
        st.watches[id] = {p.repository, p.reference, self->current_sender()};
      }
      pull_attempt(self, p, 0, {}, 1, pull_reply{id, self->make_response_promise<pull_done>()});
    },
    [self](pull_scheduled& s) { tell_watchers(self, s); },
    [self](push_image& p) {
      auto rp = self->make_response_promise<push_done>();
      auto size = image_size(*self->state.cfg.store, p.repository, p.digest);
      if (!size) {
        rp.deliver(push_done{false, "the image is not in the local store", {}, 0, {}, {}});
        return;
      }
      auto& st = self->state;
      auto i = st.ahead.find(p.repository);
      if (i == st.ahead.end())
        return push_attempt(self, p, *size, 0, {}, 1, rp);
      auto a = std::move(i->second); // this push takes the session; a later one opens its own
      st.ahead.erase(i);
      auto start = [self, p, size = *size, a, rp]() mutable { push_ahead(self, p, size, a, rp); };
      if (a->asking)
        a->granted = std::move(start);
      else
        start();
    },
    [self](open_push& o) { open_ahead(self, o.repository); },
    [self](blob_pushed& b) { blob_ahead(self, b.repository, b.digest, 0); },
    [self](blob_arriving& b) {
      if (b.size > 0)
        blob_ahead(self, b.repository, b.digest, b.size);
    },
    [self](delete_image& d) {
      ask_master<delete_done>(self, std::move(d), [](std::string why) { return delete_done{false, false, why, {}, {}}; });
    },
    [self](tags_query& q) {
      ask_master<tags_answer>(self, std::move(q), [](std::string why) { return tags_answer{false, false, why, {}}; });
    },
    [self](repositories_query& q) {
      ask_master<repositories_answer>(self, q, [](std::string why) { return repositories_answer{false, why, {}}; });
    },
    [self](apply_removals& a) {
      auto& st = self->state;
      return answer_removals(st.cfg.name, self->current_sender() == st.master.address(), *st.cfg.store, a,
                             removal_mode::cache);
    },
    [self](transfer_done& d) { self->state.transfers.finish(d); },
  };
}

} // namespace

caf::actor spawn_runtime(caf::actor_system& sys, runtime_config cfg, caf::actor master) {
  return sys.spawn(
    [](rt_actor* self, runtime_config cfg, caf::actor master) {
      auto links = cfg.links;
      auto name = cfg.name;
      return guard_links(self, std::move(name), std::move(links),
                         runtime_behavior(self, std::move(cfg), std::move(master)));
    },
    std::move(cfg), std::move(master));
}

} // namespace stowage::actors
