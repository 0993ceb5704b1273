#include "net/master_http.hpp"

#include "net/cluster_gate.hpp"
#include "net/probe_receiver.hpp"
#include "net/registry_api.hpp"

#include <nlohmann/json.hpp>

#include <atomic>
#include <charconv>
#include <map>
#include <mutex>
#include <set>
#include <sstream>

namespace stowage::net {

using ordered_json = nlohmann::ordered_json;

// ---- JSON shapes (DESIGN §6) ---------------------------------------------------

std::string nodes_json(const std::vector<actors::node_record>& nodes) {
  auto out = ordered_json::array();
  for (const auto& n : nodes)
    out.push_back(ordered_json{{"name", n.name},
                               {"role", n.role},
                               {"state", n.up ? "up" : "down"},
                               {"http", n.http},
                               {"public_key", n.public_key}});
  return out.dump();
}

std::string images_json(const std::vector<actors::image_record>& images) {
  auto out = ordered_json::array();
  for (const auto& i : images)
    out.push_back(ordered_json{{"repository", i.repository},
                               {"tag", i.tag},
                               {"digest", i.digest},
                               {"replicas", i.replicas},
                               {"pending", i.pending}});
  return out.dump();
}

std::string decisions_json(const std::vector<actors::decision>& decisions) {
  auto out = ordered_json::array();
  for (const auto& d : decisions) {
    auto candidates = ordered_json::array();
    for (const auto& c : d.candidates)
      candidates.push_back(ordered_json{
        {"node", c.node}, {"arrival_us", c.arrival_us}, {"throughput_bps", c.throughput_bps}, {"ok", c.ok}});
    out.push_back(ordered_json{{"id", d.id},
                               {"kind", d.kind},
                               {"runtime", d.runtime},
                               {"reference", d.reference},
                               {"candidates", std::move(candidates)},
                               {"chosen", d.chosen}});
  }
  return out.dump();
}

std::string handoffs_json(const std::vector<actors::handoff_record>& handoffs) {
  auto out = ordered_json::array();
  for (const auto& h : handoffs)
    out.push_back(
      ordered_json{{"digest", h.digest}, {"repository", h.repository}, {"node", h.node}, {"attempts", h.attempts}});
  return out.dump();
}

std::string removals_json(const std::vector<actors::removal_record>& removals) {
  auto out = ordered_json::array();
  for (const auto& r : removals)
    out.push_back(ordered_json{
      {"repository", r.repository}, {"tag", r.tag}, {"digest", r.digest}, {"seq", r.seq}, {"node", r.node}});
  return out.dump();
}

// ---- the handler -------------------------------------------------------------

namespace {

response text(int status, std::string body, std::string content_type = "text/plain; charset=utf-8") {
  response r;
  r.status = status;
  r.headers.set("Content-Type", std::move(content_type));
  r.headers.set("Cache-Control", "no-store");
  r.body = std::move(body);
  return r;
}

response json(std::string body) { return text(200, std::move(body), "application/json"); }

response unavailable() {
  return text(503, R"({"error":"the master did not answer in time"})", "application/json");
}


route_result later(std::function<void(responder)> start) {
  return route_result::stream(std::make_unique<deferred_answer>(std::move(start)));
}

// Collects the five answers /metrics is made of, answers when the last arrives.
struct metrics_round {
  std::mutex mtx;
  int remaining = 5;
  std::optional<std::vector<actors::node_record>> nodes;
  std::optional<std::vector<actors::image_record>> images;
  std::optional<std::vector<actors::decision>> decisions;
  std::optional<std::vector<actors::handoff_record>> handoffs;
  std::optional<std::vector<actors::removal_record>> removals;
  std::uint64_t packets = 0;
  responder respond;

  void one_done() {
    {
      std::lock_guard lock(mtx);
      if (--remaining > 0) return;
    }
    respond(text(200, render(), "text/plain; version=0.0.4; charset=utf-8"));
  }

  std::string render() const {
    std::ostringstream o;
    o << "# HELP stowage_master_up Whether the master answered this scrape.\n# TYPE stowage_master_up gauge\n";
    o << "stowage_master_up " << (nodes && images && decisions && handoffs && removals ? 1 : 0) << "\n";
    if (nodes) {
      std::map<std::pair<std::string, std::string>, int> by;
      for (const auto& n : *nodes) ++by[{n.role, n.up ? "up" : "down"}];
      o << "# HELP stowage_nodes Nodes known to the master, by role and state.\n# TYPE stowage_nodes gauge\n";
      for (std::string role : {"master", "data", "runtime"})
        for (std::string state : {"up", "down"})
          o << "stowage_nodes{role=\"" << role << "\",state=\"" << state << "\"} " << by[{role, state}] << "\n";
    }
    if (images) {
      std::uint64_t replicas = 0, pending = 0;
      for (const auto& i : *images) {
        replicas += i.replicas.size();
        pending += i.pending.size();
      }
      o << "# HELP stowage_images Images in the catalog: one per tag, one per image no tag names.\n# TYPE stowage_images gauge\n";
      o << "stowage_images " << images->size() << "\n";
      o << "# HELP stowage_image_replicas Copies held by data managers, summed over images.\n"
           "# TYPE stowage_image_replicas gauge\n";
      o << "stowage_image_replicas " << replicas << "\n";
      o << "# HELP stowage_image_pending Copies still to be delivered, summed over images.\n"
           "# TYPE stowage_image_pending gauge\n";
      o << "stowage_image_pending " << pending << "\n";
    }
    if (handoffs) {
      o << "# HELP stowage_handoffs_pending Deliveries the master still owes.\n# TYPE stowage_handoffs_pending gauge\n";
      o << "stowage_handoffs_pending " << handoffs->size() << "\n";
    }
    if (removals) {
      o << "# HELP stowage_removals_pending Deletes data managers have still to apply.\n"
           "# TYPE stowage_removals_pending gauge\n";
      o << "stowage_removals_pending " << removals->size() << "\n";
    }
    if (decisions) {
      std::map<std::string, int> by;
      std::uint64_t newest = 0;
      for (const auto& d : *decisions) {
        ++by[d.kind];
        newest = std::max(newest, d.id);
      }
      o << "# HELP stowage_decisions_kept Scheduling decisions in the master's log, by kind.\n"
           "# TYPE stowage_decisions_kept gauge\n";
      for (std::string kind : {"pull", "push"})
        o << "stowage_decisions_kept{kind=\"" << kind << "\"} " << by[kind] << "\n";
      o << "# HELP stowage_decisions_total Scheduling decisions taken: the highest id (ids reserved but unused before a crash count too).\n"
           "# TYPE stowage_decisions_total counter\n";
      o << "stowage_decisions_total " << newest << "\n";
    }
    o << "# HELP stowage_test_packets_received_total Third-test packets received by the master.\n"
         "# TYPE stowage_test_packets_received_total counter\n";
    o << "stowage_test_packets_received_total " << packets << "\n";
    return o.str();
  }
};

} // namespace

struct master_http::impl {
  std::shared_ptr<actors::master_port> master;
  std::shared_ptr<store::registry_store> spool;
  std::shared_ptr<const config::directory> dir;
  actors::packet_sink sink;
  std::unique_ptr<registry_api> spool_api;
  std::shared_ptr<std::atomic<std::uint64_t>> packets = std::make_shared<std::atomic<std::uint64_t>>(0);
};

master_http::master_http(std::shared_ptr<actors::master_port> master, std::shared_ptr<store::registry_store> spool,
                         std::shared_ptr<const config::directory> dir, actors::packet_sink sink)
    : impl_(std::make_unique<impl>()) {
  impl_->master = std::move(master);
  impl_->spool = std::move(spool);
  impl_->dir = std::move(dir);
  auto packets = impl_->packets;
  impl_->sink = [packets, sink = std::move(sink)](const actors::probe_arrival& a) {
    ++*packets;
    if (sink) sink(a);
  };
  impl_->spool_api = std::make_unique<registry_api>(*impl_->spool, spool_gate(impl_->dir));
}

master_http::~master_http() = default;

response master_http::malformed(std::string_view why) const {
  return text(400, nlohmann::json{{"error", "malformed request: " + std::string(why)}}.dump(), "application/json");
}

route_result master_http::route(const request& req) {
  const auto& path = req.path;
  if (path == probe_path) return route_probe(req, *impl_->dir, impl_->sink);
  if (path == "/v2" || path.starts_with("/v2/")) return impl_->spool_api->route(req);
  static const std::set<std::string, std::less<>> pages{
      "/", "/index.html", "/healthz", "/metrics", "/api/v1/nodes", "/api/v1/images",
      "/api/v1/handoffs", "/api/v1/removals", "/api/v1/decisions"};
  if (!pages.count(path)) return route_result::answer(text(404, "not found\n"));
  if (req.method != "GET" && req.method != "HEAD") {
    auto r = text(405, "method not allowed\n");
    r.headers.set("Allow", "GET, HEAD");
    return route_result::answer(std::move(r));
  }
  auto master = impl_->master;
  if (path == "/healthz") return route_result::answer(text(200, "ok\n"));
  if (path == "/" || path == "/index.html")
    return route_result::answer(text(200, std::string(dashboard_html()), "text/html; charset=utf-8"));
  if (path == "/api/v1/nodes")
    return later([master](responder r) {
      master->nodes([r](auto v) { r(v ? json(nodes_json(*v)) : unavailable()); });
    });
  if (path == "/api/v1/images")
    return later([master](responder r) {
      master->images([r](auto v) { r(v ? json(images_json(*v)) : unavailable()); });
    });
  if (path == "/api/v1/handoffs")
    return later([master](responder r) {
      master->handoffs([r](auto v) { r(v ? json(handoffs_json(*v)) : unavailable()); });
    });
  if (path == "/api/v1/removals")
    return later([master](responder r) {
      master->removals([r](auto v) { r(v ? json(removals_json(*v)) : unavailable()); });
    });
  if (path == "/api/v1/decisions") {
    std::uint32_t limit = 0; // all the master keeps
    if (auto l = req.param("limit")) {
      auto [p, ec] = std::from_chars(l->data(), l->data() + l->size(), limit);
      if (ec != std::errc{} || p != l->data() + l->size() || limit == 0)
        return route_result::answer(text(400, R"({"error":"limit must be a positive integer"})", "application/json"));
    }
    return later([master, limit](responder r) {
      master->decisions(limit, [r](auto v) { r(v ? json(decisions_json(*v)) : unavailable()); });
    });
  }
  if (path == "/metrics") {
    auto packets = impl_->packets->load();
    return later([master, packets](responder r) {
      auto m = std::make_shared<metrics_round>();
      m->packets = packets;
      m->respond = std::move(r);
      master->nodes([m](auto v) { { std::lock_guard l(m->mtx); m->nodes = std::move(v); } m->one_done(); });
      master->images([m](auto v) { { std::lock_guard l(m->mtx); m->images = std::move(v); } m->one_done(); });
      master->decisions(0, [m](auto v) { { std::lock_guard l(m->mtx); m->decisions = std::move(v); } m->one_done(); });
      master->handoffs([m](auto v) { { std::lock_guard l(m->mtx); m->handoffs = std::move(v); } m->one_done(); });
      master->removals([m](auto v) { { std::lock_guard l(m->mtx); m->removals = std::move(v); } m->one_done(); });
    });
  }
  return route_result::answer(text(404, "not found\n"));
}

} // namespace stowage::net
