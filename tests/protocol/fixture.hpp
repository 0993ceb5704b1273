// A whole cluster in one process under CAF's test coordinator: a master,
// data managers and a runtime as real actors over real registry stores in a
// temporary directory, connected by the in-process data plane (sim_network)
// whose deliveries run in simulated time. No sleeps: the helpers below move
// the clock from one scheduled event to the next.
#pragma once

#include "actors/admission.hpp"
#include "actors/data_manager.hpp"
#include "actors/master.hpp"
#include "actors/protocol.hpp"
#include "actors/runtime.hpp"
#include "actors/sample_image.hpp"
#include "actors/sim_network.hpp"
#include "oci/manifest.hpp"

#include <caf/all.hpp>
#include <caf/test/dsl.hpp>

#include <catch2/catch.hpp>
#include <spdlog/spdlog.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <string>

namespace stowage::test {

using namespace std::chrono_literals;
namespace sa = stowage::actors;

struct protocol_config : caf::actor_system_config {
  protocol_config() { sa::add_protocol_types(*this); }
};

struct dm_handles {
  caf::actor actor;
  std::shared_ptr<store::registry_store> store;
  std::shared_ptr<sa::proof_guard> guard;
  sa::link_profile link;
};

/// A link of `mbps` megabytes per second and `latency`.
inline sa::link_profile link(std::uint64_t mbps, std::chrono::microseconds latency = 500us) {
  return {latency, mbps * 1'000'000, true};
}

class cluster_fixture : public test_coordinator_fixture<protocol_config> {
public:
  std::filesystem::path root;
  config::cluster_settings settings;
  std::shared_ptr<sa::sim_network> net;
  std::optional<config::identity> master_id;
  std::shared_ptr<store::registry_store> spool;
  caf::actor master;
  std::map<std::string, dm_handles> dms;
  caf::actor runtime;
  std::shared_ptr<store::registry_store> rt_store;
  std::string rt_name;
  std::chrono::milliseconds commit_repeat{30000}; // the runtime's (runtime_config::commit_repeat)
  std::int64_t skew_ms = 0; // added to the data managers' proof clocks
  /// Data managers started from now on trust this key as the master's
  /// (another one: they refuse every proof); empty: the master's.
  std::optional<config::identity> guard_master;
  std::map<std::string, caf::resumable*> hung; // hang_data_manager

  cluster_fixture() {
    spdlog::set_level(std::getenv("STOWAGE_TEST_LOG") ? spdlog::level::debug : spdlog::level::warn);
    char tmpl[] = "/tmp/stowage-protocol-XXXXXX";
    root = ::mkdtemp(tmpl);
    settings.probe_bytes = 256 * 1024;
    settings.probe_timeout = 2000ms;
    settings.retry_interval = 2000ms;
    settings.proof_ttl = 60000ms;
    settings.min_copies = 2;
    net = sa::sim_network::make(sys);
    master_id = config::identity::generate();
  }

  ~cluster_fixture() override {
    stop_all();
    std::error_code ec;
    std::filesystem::remove_all(root, ec);
  }

  void stop_all() {
    while (!hung.empty())
      resume_data_manager(hung.begin()->first);
    for (auto& [name, d] : dms)
      caf::anon_send_exit(d.actor, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(master, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(runtime, caf::exit_reason::user_shutdown);
    net->shutdown();
    sched.run();
  }

  /// Simulated wall clock in unix milliseconds (proof expiry).
  std::int64_t unix_ms() const {
    return 1'700'000'000'000
           + std::chrono::duration_cast<std::chrono::milliseconds>(sched.clock().now().time_since_epoch()).count();
  }

  /// Set before start_master: the nodes of a cluster file (name -> role).
  /// The master then checks every join against their keys, and the nodes
  /// started under these names sign theirs.
  std::map<std::string, std::string> cluster_file;
  std::map<std::string, config::identity> file_ids;
  /// Set before start_master: master_config::delete_mark_lifetime.
  std::optional<std::chrono::milliseconds> delete_mark_lifetime;
  std::optional<config::identity> file_identity(const std::string& name) {
    if (!cluster_file.count(name)) return std::nullopt;
    return file_ids.try_emplace(name, config::identity::generate()).first->second;
  }

  void start_master(sa::link_profile l = link(1000)) {
    if (!spool) {
      spool = store::registry_store::open(root / "master" / "spool");
      net->add_node("master", spool, l);
    }
    sa::master_config cfg;
    cfg.name = "master";
    cfg.http = "127.0.0.1:5001";
    cfg.dir = root / "master";
    cfg.settings = settings;
    cfg.identity = master_id;
    cfg.spool = spool;
    cfg.unix_ms = [this] { return unix_ms(); };
    if (delete_mark_lifetime)
      cfg.delete_mark_lifetime = *delete_mark_lifetime;
    for (const auto& [name, role] : cluster_file)
      cfg.directory[name] = {role, file_identity(name)->public_key_hex(), "127.0.0.1:0"};
    if (!cluster_file.empty())
      settings.master_public_key = master_id->public_key_hex();
    master = sa::spawn_master(sys, cfg);
    net->set_receiver("master", master);
    sched.run();
  }

  /// Kills the master and starts a new one over the same directory; every
  /// node is told to join the new one.
  void restart_master() {
    caf::anon_send_exit(master, caf::exit_reason::kill);
    sched.run();
    start_master();
    for (auto& [name, d] : dms)
      caf::anon_send(d.actor, sa::connect_master{master});
    if (runtime)
      caf::anon_send(runtime, sa::connect_master{master});
    sched.run();
  }

  caf::actor add_data_manager(const std::string& name, sa::link_profile l) {
    auto& d = dms[name];
    if (!d.store) {
      d.store = store::registry_store::open(root / name / "store");
      net->add_node(name, d.store, l);
    }
    d.link = l;
    d.guard = std::make_shared<sa::proof_guard>(name, (guard_master ? *guard_master : *master_id).public_key(),
                                                root / name, [this] { return unix_ms() + skew_ms; });
    net->set_admission(name, sa::guard_admission(d.guard));
    sa::data_manager_config cfg;
    cfg.name = name;
    cfg.http = "127.0.0.1:0";
    cfg.settings = settings;
    cfg.store = d.store;
    cfg.guard = d.guard;
    cfg.probes = net->probes();
    cfg.transfer = net->transfers();
    cfg.identity = file_identity(name);
    d.actor = sa::spawn_data_manager(sys, cfg, master);
    sched.run();
    return d.actor;
  }

  /// Kills a data manager's actor and cuts its link (a crashed host).
  void kill_data_manager(const std::string& name) {
    net->set_up(name, false);
    caf::anon_send_exit(dms.at(name).actor, caf::exit_reason::kill);
    sched.run();
  }

  /// Hangs a data manager as SIGSTOP hangs its process: its actor runs
  /// nothing (what is sent to it waits in its mailbox, requests to it go
  /// unanswered) and its data plane is down, until resume_data_manager().
  /// Done by taking the actor's job out of the coordinator's queue: while a
  /// job is queued, CAF queues it no second time.
  void hang_data_manager(const std::string& name) {
    net->set_up(name, false);
    const auto& actor = dms.at(name).actor;
    caf::anon_send(actor, sa::node_down{"(nobody)"}); // something to run, so that its job is queued
    auto* job = dynamic_cast<caf::resumable*>(caf::actor_cast<caf::abstract_actor*>(actor));
    auto i = std::find(sched.jobs.begin(), sched.jobs.end(), job);
    REQUIRE(i != sched.jobs.end());
    sched.jobs.erase(i);
    hung[name] = job;
  }
  void resume_data_manager(const std::string& name) {
    sched.jobs.push_back(hung.at(name));
    hung.erase(name);
    net->set_up(name, true);
    sched.run();
  }
  /// Tells the master its link to `name` broke, as the middleman does when
  /// a remote node stops answering its heartbeats.
  void master_loses_link(const std::string& name) {
    caf::anon_send(master, caf::down_msg{dms.at(name).actor.address(), caf::exit_reason::remote_link_unreachable});
    sched.run();
  }

  /// A pushed image and the push's answer.
  struct pushed {
    std::string digest;
    sa::push_done done;
  };

  /// Starts a cluster whose dm3 (1 Mbit/s) is still fetching when a push of
  /// a 1 MiB image (layer seeded by `seed`) is acknowledged (dm1 50 Mbit/s,
  /// dm2 40 Mbit/s).
  pushed push_while_dm3_fetches(const std::string& repo, const std::string& tag, unsigned seed) {
    start_master();
    add_data_manager("dm1", link(50));
    add_data_manager("dm2", link(40));
    add_data_manager("dm3", link(1));
    add_runtime();
    auto digest = make_image(*rt_store, repo, tag, 1 << 20, seed);
    auto done = ask<sa::push_done>(runtime, sa::push_image{repo, tag, digest});
    REQUIRE(done.ok);
    REQUIRE(done.ack.receiving == std::vector<std::string>{"dm3"}); // still fetching
    return {digest, done};
  }

  /// Starts a runtime; started again under the same name (its host back),
  /// it keeps its cache.
  caf::actor add_runtime(const std::string& name = "rt1", sa::link_profile l = link(1000)) {
    if (!rt_store || rt_name != name) {
      rt_store = store::registry_store::open(root / name / "store");
      rt_name = name;
      net->add_node(name, rt_store, l);
    }
    sa::runtime_config cfg;
    cfg.name = name;
    cfg.http = "127.0.0.1:5000";
    cfg.settings = settings;
    cfg.store = rt_store;
    cfg.transfer = net->transfers();
    cfg.commit_repeat = commit_repeat;
    cfg.identity = file_identity(name);
    runtime = sa::spawn_runtime(sys, cfg, master);
    net->set_receiver(name, runtime);
    sched.run();
    return runtime;
  }

  /// Sends `msg` to `to` as `self` and runs the simulation, event by event,
  /// until the answer of type T arrives (at most `limit` of simulated time).
  template <class T, class Msg>
  T ask(const caf::actor& to, Msg msg, std::chrono::milliseconds limit = 120s) {
    self->send(to, std::move(msg));
    return await<T>(limit);
  }

  template <class T>
  T await(std::chrono::milliseconds limit = 120s) {
    auto end = sched.clock().now() + limit;
    for (;;) {
      sched.run();
      std::optional<T> got;
      self->receive([&](T& x) { got = std::move(x); }, caf::after(std::chrono::seconds(0)) >> [] {});
      if (got)
        return std::move(*got);
      if (sched.clock().now() > end || !sched.trigger_timeout())
        FAIL("no answer within the simulated time limit");
    }
  }

  /// Runs every event scheduled within the next `d` of simulated time.
  void settle(std::chrono::milliseconds d) {
    auto end = sched.clock().now() + d;
    for (;;) {
      sched.run();
      const auto& s = sched.clock().schedule();
      if (s.empty() || s.begin()->first > end)
        break;
      sched.trigger_timeout();
    }
    if (sched.clock().current_time < end)
      sched.clock().current_time = end;
    sched.run();
  }

  /// Stores a small image (config + one layer of `layer_bytes` random bytes
  /// seeded by `seed`) in `s` under repository:tag with sequence number
  /// `seq`; returns the manifest digest.
  static std::string make_image(store::registry_store& s, const std::string& repo, const std::string& tag,
                                std::size_t layer_bytes, unsigned seed, std::uint64_t seq = 1) {
    return sa::store_sample_image(s, repo, tag, layer_bytes, seed, seq);
  }

  static bool holds(const store::registry_store& s, const std::string& repo, const std::string& digest) {
    auto d = oci::digest::parse(digest);
    return d && s.manifest(repo, oci::reference{*d}).has_value();
  }

  static std::optional<std::string> tag_digest(const store::registry_store& s, const std::string& repo,
                                               const std::string& tag) {
    auto m = s.manifest(repo, oci::reference{tag});
    if (!m)
      return std::nullopt;
    return m->dig.str();
  }

  std::vector<sa::decision> decisions() { return ask<sa::decisions_answer>(master, sa::decisions_query{}).decisions; }
  std::vector<sa::handoff_record> handoffs() { return ask<sa::handoffs_answer>(master, sa::handoffs_query{}).handoffs; }
  std::vector<sa::node_record> nodes() { return ask<sa::nodes_answer>(master, sa::nodes_query{}).nodes; }
  std::vector<sa::image_record> images() { return ask<sa::images_answer>(master, sa::images_query{}).images; }
};

} // namespace stowage::test
