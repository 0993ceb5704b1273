#include "net/gateway.hpp"

#include "config/node_auth.hpp"
#include "net/api_internal.hpp"
#include "net/cluster_gate.hpp"
#include "net/probe_receiver.hpp"
#include "net/registry_api.hpp"

#include <spdlog/spdlog.h>

#include <map>
#include <mutex>
#include <optional>

namespace stowage::net {

struct gateway::impl : std::enable_shared_from_this<gateway::impl> {
  std::shared_ptr<store::registry_store> cache;
  std::shared_ptr<actors::runtime_port> runtime;
  std::shared_ptr<const config::directory> dir;
  actors::packet_sink sink;
  gateway_options opts;
  std::unique_ptr<registry_api> api;

  // Tags resolved by recent pulls: repository + '\n' + tag -> digest, when.
  struct resolution {
    std::string digest;
    std::chrono::steady_clock::time_point at;
  };
  std::mutex mu;
  std::map<std::string, resolution> resolved;

  static std::string tag_key(const std::string& repo, const std::string& tag) { return repo + '\n' + tag; }

  void remember(const std::string& repo, const std::string& tag, const std::string& digest) {
    if (opts.tag_reuse.count() <= 0) return;
    auto now = opts.now();
    std::lock_guard lock(mu);
    for (auto it = resolved.begin(); it != resolved.end();) // drop the stale ones as we go
      it = now - it->second.at >= opts.tag_reuse ? resolved.erase(it) : std::next(it);
    resolved[tag_key(repo, tag)] = {digest, now};
  }
  void forget(const std::string& repo, const std::string& tag) {
    std::lock_guard lock(mu);
    resolved.erase(tag_key(repo, tag));
  }
  /// The digest `tag` resolved to within tag_reuse, if its manifest is still cached.
  std::optional<std::string> recent(const std::string& repo, const std::string& tag) {
    std::string digest;
    {
      std::lock_guard lock(mu);
      auto it = resolved.find(tag_key(repo, tag));
      if (it == resolved.end() || opts.now() - it->second.at >= opts.tag_reuse) return std::nullopt;
      digest = it->second.digest;
    }
    auto d = oci::digest::parse(digest);
    if (!d || !cache->manifest(repo, oci::reference{*d})) return std::nullopt;
    return digest;
  }

  /// Serves a manifest GET/HEAD from the cache by digest: the same bytes the
  /// data manager sent.
  route_result serve_by_digest(request req, const std::string& repo, const std::string& digest) {
    req.set_target("/v2/" + repo + "/manifests/" + digest);
    return api->route(req);
  }

  // After a manifest went into the cache: a delivery from a data manager
  // (signed; the gate verified it) is done; a local engine's push runs the
  // push flow and its 201 waits for the push guarantee.
  void after_put(const manifest_put_event& ev, manifest_put_done done) {
    if (config::is_node_authorization(ev.authorization)) return done(std::nullopt);
    const std::string what = ev.repository + (ev.tag ? ":" + *ev.tag : "@" + ev.dig.str());
    if (ev.tag) forget(ev.repository, *ev.tag); // moved here: the next pull asks the cluster
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
  void pull_then_serve(request req, std::string repo, std::string reference, bool by_tag, responder respond) {
    auto self = shared_from_this();
    runtime->pull(repo, reference, [self, req = std::move(req), repo, reference, by_tag, respond](actors::runtime_pull_result r) mutable {
      if (!r.ok) {
        if (r.not_found)
          return respond(error_response(oci::error_code::manifest_unknown, "manifest unknown to the cluster", 404));
        spdlog::warn("gateway: pull of {}:{} failed: {}", repo, reference, r.error);
        return respond(error_response(oci::error_code::unsupported, "pull through the cluster failed: " + r.error, 503));
      }
      try {
        if (by_tag) self->remember(repo, reference, r.digest);
        auto rr = self->serve_by_digest(std::move(req), repo, r.digest);
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
  impl_->opts = opts;
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
      // A digest the cache holds never changes; a tag asks the cluster unless
      // a pull resolved it a moment ago.
      if (ref && !ref->is_digest())
        if (auto digest = impl_->recent(t.repo, ref->tag())) return impl_->serve_by_digest(req, t.repo, *digest);
      if (ref && !(ref->is_digest() && impl_->cache->manifest(t.repo, *ref)))
        return route_result::stream(
          std::make_unique<deferred_answer>([self = impl_, req, repo = t.repo, reference = ref->str(),
                                             by_tag = !ref->is_digest()](responder r) {
            self->pull_then_serve(req, repo, reference, by_tag, std::move(r));
          }));
    }
  }
  return impl_->api->route(req);
}

} // namespace stowage::net
