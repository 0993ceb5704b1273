// The master's HTTP surface (DESIGN §6), one port:
//   GET /healthz            -> 200 "ok\n"
//   GET /metrics            -> Prometheus text (nodes up/down by role, images,
//                              replicas, pending handoffs and deletes,
//                              decisions by kind, test packets received)
//   GET /api/v1/nodes       -> [{"name","role","state":"up"|"down","http","public_key"}]
//   GET /api/v1/images      -> [{"repository","tag","digest","replicas":[..],"pending":[..]}]
//   GET /api/v1/decisions?limit=N -> newest first
//        [{"id","kind","runtime","reference",
//          "candidates":[{"node","arrival_us","throughput_bps","ok"}],"chosen"}]
//   GET /api/v1/handoffs    -> [{"digest","repository","node","attempts"}]
//   GET /api/v1/removals    -> deletes data managers have still to apply:
//                              [{"repository","tag","digest","seq","node"}]
//                              (a tag removal names the tag, a manifest
//                              removal the digest)
//   GET /                   -> the dashboard (web/dashboard.html, embedded at build time)
//   POST /stowage/v1/probe  -> third-test packets (net/probe_receiver.hpp) -> `sink`
//   /v2/...                 -> the master's spool (handoff store) as an OCI
//                              endpoint: reads open (data managers pull
//                              deliveries), writes only with a data manager's
//                              Stowage-Node signature (handoffs).
// The admin API answers 503 {"error":..} when the master does not answer in time.
#pragma once

#include "actors/ports.hpp"
#include "actors/records.hpp"
#include "config/directory.hpp"
#include "net/http_types.hpp"
#include "store/registry_store.hpp"

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace stowage::net {

class master_http final : public http_handler {
public:
  /// `spool` must be the very store given to the master actor
  /// (master_config::spool).
  master_http(std::shared_ptr<actors::master_port> master, std::shared_ptr<store::registry_store> spool,
              std::shared_ptr<const config::directory> dir, actors::packet_sink sink);
  ~master_http() override;
  route_result route(const request& req) override;
  /// A JSON error, as the admin API's other refusals.
  response malformed(std::string_view why) const override;

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

// ---- the JSON shapes of DESIGN §6 (pure; used by master_http and tests) --------
std::string nodes_json(const std::vector<actors::node_record>& nodes);
std::string images_json(const std::vector<actors::image_record>& images);
std::string decisions_json(const std::vector<actors::decision>& decisions);
std::string handoffs_json(const std::vector<actors::handoff_record>& handoffs);
std::string removals_json(const std::vector<actors::removal_record>& removals);

/// The embedded dashboard page.
std::string_view dashboard_html();

} // namespace stowage::net
