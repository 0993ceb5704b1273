// A whole cluster in one process over real sockets: a master, three data
// managers and a runtime as actors of a real (threaded) caf::actor_system,
// each with a real registry_store in a temporary directory and a real HTTP
// server on an ephemeral 127.0.0.1 port, connected by the HTTP data plane
// (image transfers, test packets, push gates, gateway, master HTTP). No
// sleeps: waits are bounded polls with deadlines.
#pragma once

#include "actors/data_manager.hpp"
#include "actors/image_copy.hpp"
#include "actors/master.hpp"
#include "actors/ports.hpp"
#include "actors/proof.hpp"
#include "actors/protocol.hpp"
#include "actors/runtime.hpp"
#include "config/directory.hpp"
#include "net/cluster_gate.hpp"
#include "net/gateway.hpp"
#include "net/http_image_transfer.hpp"
#include "net/http_probe_sender.hpp"
#include "net/http_server.hpp"
#include "net/master_http.hpp"
#include "net/registry_api.hpp"
#include "oci/manifest.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/send.hpp>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <optional>
#include <thread>

namespace stowage::test {

using namespace std::chrono_literals;
namespace sa = stowage::actors;

/// Polls `done` until it holds or `limit` passes.
template <class F>
bool eventually(F done, std::chrono::milliseconds limit = 20s) {
  auto end = std::chrono::steady_clock::now() + limit;
  for (;;) {
    if (done()) return true;
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(20ms);
  }
}

/// Waits for a port callback's value (bounded).
template <class T>
std::optional<T> wait_for(std::future<T>& f, std::chrono::milliseconds limit = 30s) {
  if (f.wait_for(limit) != std::future_status::ready) return std::nullopt;
  return f.get();
}

/// Lets a server start before its handler exists (the directory needs every
/// node's port before the handlers can be built).
struct late_handler final : net::http_handler {
  std::atomic<net::http_handler*> target{nullptr};
  net::route_result route(const net::request& r) override {
    if (auto* h = target.load()) return h->route(r);
    net::response busy;
    busy.status = 503;
    busy.body = "starting\n";
    return net::route_result::answer(std::move(busy));
  }
};

struct node_http {
  late_handler front;
  std::unique_ptr<net::http_server> server;
  std::unique_ptr<net::http_handler> handler;
  std::uint16_t port = 0;

  void start(const std::string& name, std::uint16_t at = 0) {
    net::http_server_options o;
    o.host = "127.0.0.1";
    o.port = at;
    o.threads = 2;
    o.name = name;
    server = std::make_unique<net::http_server>(front, o);
    server->start();
    port = server->port();
  }
  void set(std::unique_ptr<net::http_handler> h) {
    handler = std::move(h);
    front.target = handler.get();
  }
  void stop() {
    if (server) server->stop(std::chrono::milliseconds(500));
    server.reset();
  }
  std::string endpoint() const { return "127.0.0.1:" + std::to_string(port); }
};

struct loopback_config : caf::actor_system_config {
  loopback_config() {
    sa::add_protocol_types(*this);
    set("scheduler.max-threads", 4);
  }
};

struct dm_node {
  std::string name;
  config::identity id = config::identity::generate();
  std::shared_ptr<store::registry_store> store;
  std::shared_ptr<sa::proof_guard> guard;
  std::shared_ptr<net::http_probe_sender> probes;
  std::shared_ptr<net::http_image_transfer> transfer;
  caf::actor actor;
  node_http http;
};

class loopback_cluster {
public:
  std::filesystem::path root;
  config::cluster_settings settings;
  loopback_config cfg;
  caf::actor_system sys{cfg};
  config::identity master_id = config::identity::generate();
  config::identity rt_id = config::identity::generate();
  std::shared_ptr<config::directory> dir = std::make_shared<config::directory>();

  std::shared_ptr<store::registry_store> spool;
  caf::actor master;
  node_http master_http;
  std::shared_ptr<sa::master_port> master_port;

  std::map<std::string, dm_node> dms;

  std::shared_ptr<store::registry_store> rt_store;
  std::shared_ptr<net::http_image_transfer> rt_transfer;
  caf::actor runtime;
  node_http gateway;

  explicit loopback_cluster(const std::function<void(loopback_cluster&)>& before_start = {}) {
    spdlog::set_level(std::getenv("STOWAGE_TEST_LOG") ? spdlog::level::debug : spdlog::level::warn);
    char tmpl[] = "/tmp/stowage-loopback-XXXXXX";
    root = ::mkdtemp(tmpl);
    settings.probe_bytes = 64 * 1024;
    settings.probe_timeout = 2000ms;
    settings.retry_interval = 500ms;
    settings.proof_ttl = 60000ms;
    settings.min_copies = 2;

    spool = store::registry_store::open(root / "master" / "spool");
    rt_store = store::registry_store::open(root / "rt1" / "store");
    for (auto name : {"dm1", "dm2", "dm3"}) {
      auto& d = dms[name];
      d.name = name;
      d.store = store::registry_store::open(root / name / "store");
    }
    if (before_start) before_start(*this); // e.g. seed images the data managers hold when they join

    // Every server first, so the directory knows every port.
    master_http.start("master");
    gateway.start("rt1");
    dir->add({"master", config::role::master, master_http.endpoint(), master_id.public_key_hex()});
    dir->add({"rt1", config::role::runtime, gateway.endpoint(), rt_id.public_key_hex()});
    for (auto& [name, d] : dms) {
      d.http.start(name);
      dir->add({name, config::role::data, d.http.endpoint(), d.id.public_key_hex()});
    }

    sa::master_config mc;
    mc.name = "master";
    mc.http = master_http.endpoint();
    mc.dir = root / "master";
    mc.settings = settings;
    mc.identity = master_id;
    mc.spool = spool;
    master = sa::spawn_master(sys, mc);
    master_port = sa::make_master_port(sys, master);
    master_http.set(std::make_unique<net::master_http>(master_port, spool, dir, sa::make_packet_sink(master)));

    for (auto& [name, d] : dms) start_data_manager(d);

    rt_transfer = std::make_shared<net::http_image_transfer>("rt1", dir, rt_id, rt_store);
    sa::runtime_config rc;
    rc.name = "rt1";
    rc.http = gateway.endpoint();
    rc.public_key = rt_id.public_key_hex();
    rc.settings = settings;
    rc.store = rt_store;
    rc.transfer = rt_transfer;
    rc.request_timeout = 60s;
    runtime = sa::spawn_runtime(sys, rc, master);
    gateway.set(std::make_unique<net::gateway>(rt_store, sa::make_runtime_port(sys, runtime, 60s), dir,
                                               sa::make_packet_sink(runtime)));
    REQUIRE(eventually([&] { return up_nodes() == 5; }));
  }

  void start_data_manager(dm_node& d) {
    d.guard = std::make_shared<sa::proof_guard>(d.name, master_id.public_key(), root / d.name, sa::unix_now_ms);
    d.probes = std::make_shared<net::http_probe_sender>(d.name, dir, d.id);
    d.transfer = std::make_shared<net::http_image_transfer>(d.name, dir, d.id, d.store);
    sa::data_manager_config c;
    c.name = d.name;
    c.http = d.http.endpoint();
    c.public_key = d.id.public_key_hex();
    c.settings = settings;
    c.store = d.store;
    c.guard = d.guard;
    c.probes = d.probes;
    c.transfer = d.transfer;
    c.request_timeout = 60s;
    d.actor = sa::spawn_data_manager(sys, c, master);
    d.http.set(std::make_unique<net::registry_api>(*d.store,
                                                   net::data_manager_gate(dir, d.guard, master_id.public_key())));
  }

  /// A crashed host: its HTTP goes away and its actor dies.
  void kill_data_manager(const std::string& name) {
    auto& d = dms.at(name);
    d.http.stop();
    caf::anon_send_exit(d.actor, caf::exit_reason::kill);
  }

  /// The host comes back on the same port, with the same store and key.
  void restart_data_manager(const std::string& name) {
    auto& d = dms.at(name);
    d.http.start(name, d.http.port);
    start_data_manager(d);
  }

  ~loopback_cluster() {
    // HTTP first (no new work), then the actors, then the data plane's threads.
    spdlog::debug("teardown: http");
    master_http.stop();
    gateway.stop();
    for (auto& [name, d] : dms) d.http.stop();
    spdlog::debug("teardown: actors");
    for (auto& [name, d] : dms) caf::anon_send_exit(d.actor, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(runtime, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(master, caf::exit_reason::user_shutdown);
    sys.await_all_actors_done();
    spdlog::debug("teardown: data plane");
    rt_transfer.reset();
    for (auto& [name, d] : dms) {
      d.transfer.reset();
      d.probes.reset();
    }
    spdlog::debug("teardown: files");
    std::error_code ec;
    std::filesystem::remove_all(root, ec);
    spdlog::debug("teardown: done");
  }

  // ---- master queries, synchronously -------------------------------------------
  template <class T, class Call>
  std::vector<T> query(Call call) {
    auto p = std::make_shared<std::promise<std::optional<std::vector<T>>>>();
    auto f = p->get_future();
    call([p](std::optional<std::vector<T>> v) { p->set_value(std::move(v)); });
    auto got = wait_for(f, 10s);
    REQUIRE(got);
    REQUIRE(*got);
    return std::move(**got);
  }
  std::vector<sa::node_record> nodes() {
    return query<sa::node_record>([&](auto cb) { master_port->nodes(cb); });
  }
  std::vector<sa::image_record> images() {
    return query<sa::image_record>([&](auto cb) { master_port->images(cb); });
  }
  std::vector<sa::decision> decisions(std::uint32_t limit = 0) {
    return query<sa::decision>([&](auto cb) { master_port->decisions(limit, cb); });
  }
  std::vector<sa::handoff_record> handoffs() {
    return query<sa::handoff_record>([&](auto cb) { master_port->handoffs(cb); });
  }
  int up_nodes() {
    int n = 0;
    for (const auto& r : nodes()) n += r.up ? 1 : 0;
    return n;
  }

  /// Data managers whose store holds repo@digest.
  int holders(const std::string& repo, const oci::digest& d) {
    int n = 0;
    for (auto& [name, dm] : dms) n += dm.store->manifest(repo, oci::reference{d}) ? 1 : 0;
    return n;
  }
};

// ---- images on disk ---------------------------------------------------------------

struct image_files {
  std::filesystem::path dir;
  std::filesystem::path config, layer;
  std::string manifest;
  oci::digest digest;
  std::string config_bytes, layer_bytes;
};

/// A small OCI image (config + one layer of `layer_size` pseudo-random bytes)
/// written to files under `dir`.
inline image_files make_image(const std::filesystem::path& dir, const std::string& salt, std::size_t layer_size) {
  image_files f;
  f.dir = dir;
  std::filesystem::create_directories(dir);
  f.config_bytes = R"({"architecture":"amd64","os":"linux","config":{},"rootfs":{"type":"layers","diff_ids":[]},"salt":")" +
                   salt + "\"}";
  f.layer_bytes.resize(layer_size);
  std::uint64_t x = std::hash<std::string>{}(salt) | 1;
  for (auto& c : f.layer_bytes) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    c = static_cast<char>(x);
  }
  f.config = dir / (salt + ".config");
  f.layer = dir / (salt + ".layer");
  std::ofstream(f.config, std::ios::binary) << f.config_bytes;
  std::ofstream(f.layer, std::ios::binary) << f.layer_bytes;
  nlohmann::json m{{"schemaVersion", 2},
                   {"mediaType", "application/vnd.oci.image.manifest.v1+json"},
                   {"config",
                    {{"mediaType", "application/vnd.oci.image.config.v1+json"},
                     {"digest", oci::sha256_of(f.config_bytes).str()},
                     {"size", f.config_bytes.size()}}},
                   {"layers",
                    {{{"mediaType", "application/vnd.oci.image.layer.v1.tar+gzip"},
                      {"digest", oci::sha256_of(f.layer_bytes).str()},
                      {"size", f.layer_bytes.size()}}}}};
  f.manifest = m.dump();
  f.digest = oci::sha256_of(f.manifest);
  return f;
}

/// Stores the image directly into `s` (seeding a data manager before it joins).
inline void seed(store::registry_store& s, const std::string& repo, const std::string& tag, const image_files& f,
                 std::uint64_t seq) {
  for (const auto& bytes : {f.config_bytes, f.layer_bytes}) {
    auto up = s.begin_upload(repo);
    auto w = s.append(repo, up.id);
    w->write(bytes.data(), bytes.size());
    w->finish();
    w.reset();
    REQUIRE(s.commit_upload(repo, up.id, oci::sha256_of(bytes)) == store::commit_status::ok);
  }
  auto parsed = oci::parse_manifest(f.manifest, "application/vnd.oci.image.manifest.v1+json");
  REQUIRE(parsed.value);
  s.put_manifest(repo, f.digest, *parsed.value, f.manifest, std::string_view(tag), seq);
}

inline std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

} // namespace stowage::test
