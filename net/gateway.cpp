#include "net/gateway.hpp"

#include "config/node_auth.hpp"
#include "net/api_internal.hpp"
#include "net/cluster_gate.hpp"
#include "net/probe_receiver.hpp"
#include "net/registry_api.hpp"

#include <spdlog/spdlog.h>

namespace stowage::net {

struct gateway::impl : std::enable_shared_from_this<gateway::impl> {
  std::shared_ptr<store::registry_store> cache;
  std::shared_ptr<actors::runtime_port> runtime;
  std::shared_ptr<const config::directory> dir;
  actors::packet_sink sink;
  std::unique_ptr<registry_api> api;

  // After a manifest went into the cache: a delivery from a data manager
  // (signed; the gate verified it) is done; a local engine's push runs the
  // push flow and its 201 waits for the push guarantee.
  void after_put(const manifest_put_event& ev, manifest_put_done done) {
    if (config::is_node_authorization(ev.authorization)) return done(std::nullopt);
    const std::string what = ev.repository + (ev.tag ? ":" + *ev.tag : "@" + ev.dig.str());
    runtime->push(ev.repository, ev.tag.value_or(""), ev.dig.str(), [done, what](actors::runtime_push_result r) {
      if (r.ok) {
        spdlog::info("gateway: push {} durable on {} places (target {})", what, r.copies, r.target);
        return done(std::nullopt);
      }
      spdlog::warn("gateway: push {} not acknowledged: {}", what, r.error);
      done(refusal{503, oci::error_code::unsupported, "the cluster did not store the image durably: " + r.error, {}});
    });
  }

  // Answers a manifest GET/HEAD once the runtime pulled it into the cache.
  void pull_then_serve(request req, std::string repo, std::string reference, responder respond) {
    auto self = shared_from_this();
    runtime->pull(repo, reference, [self, req = std::move(req), repo, reference, respond](actors::runtime_pull_result r) mutable {
      if (!r.ok) {
        if (r.not_found)
          return respond(error_response(oci::error_code::manifest_unknown, "manifest unknown to the cluster", 404));
        spdlog::warn("gateway: pull of {}:{} failed: {}", repo, reference, r.error);
        return respond(error_response(oci::error_code::unsupported, "pull through the cluster failed: " + r.error, 503));
      }
      try {
        // Served from the cache by digest: the same bytes the data manager sent.
        request by_digest = std::move(req);
        by_digest.set_target("/v2/" + repo + "/manifests/" + r.digest);
        auto rr = self->api->route(by_digest);
        if (rr.reply) return respond(std::move(*rr.reply));
        respond(error_response(oci::error_code::unsupported, "unexpected answer from the cache", 500));
      } catch (const std::exception& e) {
        respond(error_response(oci::error_code::unsupported, std::string("cache failure: ") + e.what(), 500));
      }
    });
  }
};


gateway::gateway(std::shared_ptr<store::registry_store> cache, std::shared_ptr<actors::runtime_port> runtime,
                 std::shared_ptr<const config::directory> dir, actors::packet_sink sink, gateway_options opts)
    : impl_(std::make_shared<impl>()) {
  impl_->cache = std::move(cache);
  impl_->runtime = std::move(runtime);
  impl_->dir = std::move(dir);
  impl_->sink = std::move(sink);
  std::weak_ptr<impl> weak = impl_;
  impl_->api = std::make_unique<registry_api>(
    *impl_->cache, gateway_gate(impl_->dir, opts.open_local_pushes),
    [weak](const manifest_put_event& ev, manifest_put_done done) {
      if (auto self = weak.lock()) return self->after_put(ev, std::move(done));
      done(refusal{503, oci::error_code::unsupported, "the gateway is shutting down", {}});
    });
}

gateway::~gateway() = default;

route_result gateway::route(const request& req) {
  if (req.path == probe_path) return route_probe(req, *impl_->dir, impl_->sink);
  if (req.method == "GET" || req.method == "HEAD") {
    auto t = api::parse_target(req.path);
    if (t.ep == api::endpoint::manifest && oci::valid_repository(t.repo)) {
      auto ref = oci::reference::parse(t.arg);
      // A digest the cache holds never changes; tags always ask the cluster.
      if (ref && !(ref->is_digest() && impl_->cache->manifest(t.repo, *ref)))
        return route_result::stream(
          std::make_unique<deferred_answer>([self = impl_, req, repo = t.repo, reference = ref->str()](responder r) {
            self->pull_then_serve(req, repo, reference, std::move(r));
          }));
    }
  }
  return impl_->api->route(req);
}

} // namespace stowage::net
