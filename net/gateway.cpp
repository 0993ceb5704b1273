#include "net/gateway.hpp"

#include "config/node_auth.hpp"
#include "net/api_internal.hpp"
#include "net/blob_relay.hpp"
#include "net/client_uploads.hpp"
#include "net/cluster_gate.hpp"
#include "net/probe_receiver.hpp"
#include "net/registry_api.hpp"
#include "net/registry_client.hpp"
#include "net/worker_pool.hpp"
#include "oci/media_types.hpp"
#include "store/cache_trim.hpp"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <atomic>
#include <map>
#include <deque>
#include <mutex>
#include <set>
#include <optional>

namespace stowage::net {

namespace {

/// Fetches of planned manifests (blocking HTTP) run here, never on the
/// actors' threads. Process-wide: a pull in flight may outlive its gateway.
worker_pool& fetch_pool() {
  static worker_pool pool(2);
  return pool;
}

/// Referrers questions to the data managers, one job per node: a node that
/// hangs holds up neither the others nor a pull's manifest fetch.
worker_pool& listing_pool() {
  static worker_pool pool(8);
  return pool;
}

std::string key_of(const std::string& repo, const std::string& digest) { return repo + '@' + digest; }

response manifest_response(const std::string& digest, const std::string& media_type, std::string body) {
  response r;
  r.headers.set("Content-Type", media_type);
  r.headers.set("Docker-Content-Digest", digest);
  r.headers.set("ETag", "\"" + digest + "\"");
  r.body = std::move(body);
  return r;
}

/// Passes a body through and shows its answer to `watch` before it goes out.
class answer_watch final : public body_handler {
public:
  answer_watch(std::unique_ptr<body_handler> inner, std::function<void(const response&)> watch)
      : inner_(std::move(inner)), watch_(std::move(watch)) {}
  bool on_data(const char* p, std::size_t n) override { return inner_->on_data(p, n); }
  void on_end(bool complete, responder respond) override {
    inner_->on_end(complete, [watch = watch_, respond](response r) {
      watch(r);
      respond(std::move(r));
    });
  }

private:
  std::unique_ptr<body_handler> inner_;
  std::function<void(const response&)> watch_;
};

/// A client's manifest PUT that names blobs still on their way into the
/// cache (a pull bringing them, another client uploading them) goes to the
/// cache once they landed: the cache accepts a manifest only over blobs it
/// holds, and a client may well write one right after reading another
/// (`crane tag` on an image the cache lacks) or while another client
/// uploads the same blobs. Blobs not on their way are checked at once.
class blobs_landed_first final : public body_handler {
public:
  blobs_landed_first(std::unique_ptr<body_handler> inner, std::shared_ptr<blob_relay> relay, std::string repo,
                     std::string media_type, std::size_t max_bytes)
      : inner_(std::move(inner)), relay_(std::move(relay)), repo_(std::move(repo)),
        media_type_(std::move(media_type)), max_bytes_(max_bytes) {}
  bool on_data(const char* p, std::size_t n) override {
    if (body_.size() + n <= max_bytes_) body_.append(p, n); // a larger one is the inner handler's to refuse
    return inner_->on_data(p, n);
  }
  void on_end(bool complete, responder respond) override {
    auto parsed = oci::parse_manifest(body_, media_type_);
    if (!complete || !parsed.value) return inner_->on_end(complete, std::move(respond));
    std::shared_ptr<body_handler> inner(std::move(inner_));
    auto blobs = parsed.value->blobs();
    auto left = std::make_shared<std::atomic<std::size_t>>(blobs.size() + 1);
    auto landed = [inner, left, respond] {
      if (--*left == 0) inner->on_end(true, respond);
    };
    for (const auto& b : blobs) relay_->when_settled(repo_, b.dig, landed); // at once unless on its way
    landed();
  }

private:
  std::unique_ptr<body_handler> inner_;
  std::shared_ptr<blob_relay> relay_;
  std::string repo_, media_type_;
  std::size_t max_bytes_;
  std::string body_;
};

} // namespace

struct gateway::impl : std::enable_shared_from_this<gateway::impl> {
  std::shared_ptr<store::registry_store> cache;
  std::shared_ptr<actors::runtime_port> runtime;
  std::shared_ptr<const config::directory> dir;
  actors::packet_sink sink;
  gateway_options opts;
  std::unique_ptr<registry_api> api;        // every request but a delivery's blob upload
  std::unique_ptr<registry_api> deliveries; // blob uploads signed by a node: images delivered into the cache
  std::shared_ptr<blob_relay> relay;
  std::shared_ptr<client_uploads> uploads;

  // Blobs a client deleted from the cache (repository@digest), the newest
  // `deleted_kept`: a GET of one says 404 as the DELETE promised, instead
  // of pulling it back from the cluster, which may hold it in an image (a
  // blob DELETE concerns the cache only) or until an image's delete has
  // reached every data manager. A manifest pull brings it back as usual.
  static constexpr std::size_t deleted_kept = 10000;
  std::mutex deleted_mu;
  std::set<std::string> deleted;
  std::deque<std::string> deleted_order;
  void blob_deleted(const std::string& repo, const oci::digest& d) {
    std::lock_guard lock(deleted_mu);
    if (!deleted.insert(repo + "@" + d.str()).second) return;
    deleted_order.push_back(repo + "@" + d.str());
    if (deleted_order.size() > deleted_kept) {
      deleted.erase(deleted_order.front());
      deleted_order.pop_front();
    }
  }
  bool deleted_here(const std::string& repo, const oci::digest& d) {
    std::lock_guard lock(deleted_mu);
    return deleted.count(repo + "@" + d.str()) > 0;
  }

  // A client's manifest request waiting for a pull through the cluster.
  struct pull_wait {
    request req;
    std::string repo, reference;
    bool by_tag = false;
    responder respond;
    std::mutex mu;
    bool answered = false, finished = false;
    std::string early_digest;                 // set once answered from a plan
    std::vector<oci::descriptor> expected;    // blobs announced to the relay
  };

  // Manifests answered from a plan before they are in the cache, by
  // repository@digest (for the client's next request by digest), with the
  // number of pulls in flight that answered them.
  struct planned_manifest {
    std::string media_type, body;
    int pulls = 0;
  };
  std::map<std::string, planned_manifest> planned;

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
  /// The digest `tag` resolved to within tag_reuse, if its manifest is still
  /// cached or on its way.
  std::optional<std::string> recent(const std::string& repo, const std::string& tag) {
    std::string digest;
    {
      std::lock_guard lock(mu);
      auto it = resolved.find(tag_key(repo, tag));
      if (it == resolved.end() || opts.now() - it->second.at >= opts.tag_reuse) return std::nullopt;
      digest = it->second.digest;
      if (planned.count(key_of(repo, digest))) return digest;
    }
    auto d = oci::digest::parse(digest);
    if (!d || !whole_in_cache(repo, *d)) return std::nullopt;
    return digest;
  }

  /// Whether the cache holds manifest `d` and every blob it names (an
  /// index's children are asked for one by one). A delivery stores a
  /// manifest only after its blobs, but a client may delete a blob from the
  /// cache (a blob DELETE concerns the cache alone): such an image is pulled
  /// through the cluster again, which brings back what is missing.
  bool whole_in_cache(const std::string& repo, const oci::digest& d) {
    auto info = cache->manifest(repo, oci::reference{d});
    if (!info) return false;
    try {
      auto parsed = oci::parse_manifest(cache->read_manifest(*info), info->media_type);
      if (!parsed.value) return false;
      for (const auto& b : parsed.value->blobs())
        if (!oci::optional_layer(b) && !cache->blob(repo, b.dig)) return false;
      return true;
    } catch (const std::exception& e) {
      spdlog::warn("gateway: cached manifest {}@{} unreadable: {}", repo, d.str(), e.what());
      return false;
    }
  }

  std::optional<response> planned_manifest_response(const std::string& repo, const std::string& digest) {
    std::lock_guard lock(mu);
    auto it = planned.find(key_of(repo, digest));
    if (it == planned.end()) return std::nullopt;
    return manifest_response(digest, it->second.media_type, it->second.body);
  }

  /// Serves a manifest GET/HEAD by digest: from a plan while the image is on
  /// its way, else from the cache (the same bytes the data manager sent).
  route_result serve_by_digest(request req, const std::string& repo, const std::string& digest) {
    if (auto r = planned_manifest_response(repo, digest)) return route_result::answer(std::move(*r));
    req.set_target("/v2/" + repo + "/manifests/" + digest);
    return api->route(req);
  }

  // After a manifest went into the cache: a delivery from a data manager
  // (signed; the gate verified it) is done; a local engine's push runs the
  // push flow and its 201 waits for the push guarantee.
  void after_put(const manifest_put_event& ev, manifest_put_done done) {
    if (config::is_node_authorization(ev.authorization)) return done(std::nullopt);
    const std::string what = ev.tag ? ev.repository + ':' + *ev.tag : ev.repository + '@' + ev.dig.str();
    if (ev.tag) forget(ev.repository, *ev.tag); // moved here: the next pull asks the cluster
    auto pushed = [done, what](actors::runtime_push_result r) {
      if (r.ok) {
        spdlog::info("gateway: push {} durable on {} places (target {})", what, r.copies, r.target);
        return done(std::nullopt);
      }
      spdlog::warn("gateway: push {} not acknowledged: {}", what, r.error);
      done(refusal{503, oci::error_code::unsupported, "the cluster did not store the image durably: " + r.error, {}});
    };
    runtime->push(ev.repository, ev.tag.value_or(""), ev.dig.str(), std::move(pushed));
  }

  // Answers a manifest GET/HEAD for a pull through the cluster: as soon as
  // the master's plan names the manifest (fetched from the chosen target,
  // digest verified), its blobs then stream through the relay as they
  // arrive; or, failing that, once the whole image is in the cache.
  void pull_then_serve(request req, std::string repo, std::string reference, bool by_tag, responder respond) {
    auto self = shared_from_this();
    auto w = std::make_shared<pull_wait>();
    w->req = std::move(req);
    w->repo = std::move(repo);
    w->reference = std::move(reference);
    w->by_tag = by_tag;
    w->respond = std::move(respond);
    runtime->pull(
      w->repo, w->reference, [self, w](actors::runtime_pull_result r) { self->pull_finished(*w, r); },
      [self, w](actors::runtime_pull_plan plan) {
        if (!fetch_pool().post([self, w, plan] { self->plan_arrived(*w, plan); }))
          spdlog::debug("gateway: shutting down; the pull of {} answers when it ends", w->reference);
      });
  }

  // Blob pulls in flight (repository@digest), with the GETs waiting for
  // each: a GET of a blob already being pulled waits for that pull.
  using blob_waiter = std::function<void(const actors::runtime_pull_result&)>;
  std::mutex blob_pulls_mu;
  std::map<std::string, std::vector<blob_waiter>> blob_pulls;

  /// Answers a blob GET for a blob the cache lacks and no pull is bringing:
  /// the runtime pulls that one blob through the cluster, then it is served
  /// from the cache (Range and all).
  void pull_blob_then_serve(request req, std::string repo, oci::digest d, responder respond) {
    auto self = shared_from_this();
    const auto key = repo + "@" + d.str();
    {
      std::lock_guard lock(blob_pulls_mu);
      auto [waiting, first] = blob_pulls.try_emplace(key);
      waiting->second.push_back([self, req, repo, d, respond](const actors::runtime_pull_result& r) {
        self->serve_pulled_blob(req, repo, d, respond, r);
      });
      if (!first) return;
    }
    runtime->pull_blob(repo, d.str(), [self, key](actors::runtime_pull_result r) {
      std::vector<blob_waiter> waiting;
      {
        std::lock_guard lock(self->blob_pulls_mu);
        auto i = self->blob_pulls.find(key);
        waiting = std::move(i->second);
        self->blob_pulls.erase(i);
      }
      for (auto& w : waiting) w(r);
    });
  }

  void serve_pulled_blob(const request& req, const std::string& repo, const oci::digest& d, const responder& respond,
                         const actors::runtime_pull_result& r) {
    if (!r.ok) {
      if (r.not_found)
        return respond(error_response(oci::error_code::blob_unknown, "blob unknown to the cluster", 404));
      spdlog::warn("gateway: pull of blob {}@{} failed: {}", repo, d.str(), r.error);
      return respond(error_response(oci::error_code::unsupported, "pull through the cluster failed: " + r.error, 503));
    }
    try {
      if (opts.track_use) store::touch_blob(*cache, d);
      auto rr = api->route(req);
      respond(rr.reply ? std::move(*rr.reply)
                       : error_response(oci::error_code::unsupported, "unexpected answer from the cache", 500));
    } catch (const std::exception& e) {
      respond(error_response(oci::error_code::unsupported, std::string("cache failure: ") + e.what(), 500));
    }
  }

  void plan_arrived(pull_wait& w, const actors::runtime_pull_plan& plan) {
    {
      std::lock_guard lock(w.mu);
      if (w.answered || w.finished) return; // a retry's plan: the relay follows the new target
    }
    fetched_manifest m;
    oci::manifest parsed;
    try {
      auto ep = dir->http_of(plan.target);
      if (!ep) return;
      registry_client c(*ep);
      c.set_timeout(std::chrono::seconds(5));
      m = c.get_manifest(w.repo, plan.digest); // checked against the digest
      auto p = oci::parse_manifest(m.body, m.media_type);
      if (!p.value) return;
      parsed = std::move(*p.value);
    } catch (const std::exception& e) {
      spdlog::debug("gateway: manifest {} not fetched early from {}: {}", plan.digest, plan.target, e.what());
      return; // answered once the pull ends
    }
    if (!parsed.manifests.empty()) return; // an index: its children are pulled by digest, answered when whole

    std::lock_guard lock(w.mu);
    if (w.answered || w.finished) return;
    auto blobs = parsed.layers;
    if (parsed.config) blobs.insert(blobs.begin(), *parsed.config);
    std::vector<oci::descriptor> missing;
    try {
      for (const auto& b : blobs)
        if (!cache->blob(w.repo, b.dig)) missing.push_back(b);
    } catch (const std::exception& e) { // the cache's database: nothing expected yet
      spdlog::warn("gateway: {} not answered early: {}", plan.digest, e.what());
      return; // answered once the pull ends
    }
    for (const auto& b : missing) {
      relay->expect(w.repo, b.dig, b.size);
      w.expected.push_back(b);
    }
    {
      std::lock_guard g(mu);
      auto& p = planned[key_of(w.repo, plan.digest)];
      p.media_type = m.media_type;
      p.body = m.body;
      ++p.pulls;
    }
    if (w.by_tag) remember(w.repo, w.reference, plan.digest);
    w.answered = true;
    w.early_digest = plan.digest;
    spdlog::info("gateway: {}{}{} answered from the plan of decision {} ({} blobs relayed as they arrive from {})",
                 w.repo, w.by_tag ? ":" : "@", w.reference, plan.decision, w.expected.size(), plan.target);
    w.respond(manifest_response(plan.digest, m.media_type, std::move(m.body)));
  }

  void pull_finished(pull_wait& w, const actors::runtime_pull_result& r) {
    std::lock_guard lock(w.mu);
    w.finished = true;
    // The image is used now, whether delivered or already here.
    if (r.ok && opts.track_use)
      if (auto d = oci::digest::parse(r.digest)) store::touch_blob(*cache, *d);
    if (w.answered) {
      // Blobs still expected are either in the cache now or never coming:
      // relay readers continue from the cache or are cut short.
      for (const auto& b : w.expected) relay->settle(w.repo, b.dig);
      std::lock_guard g(mu);
      if (auto p = planned.find(key_of(w.repo, w.early_digest)); p != planned.end() && --p->second.pulls <= 0)
        planned.erase(p);
      if (!r.ok) spdlog::warn("gateway: pull of {}:{} failed after its manifest was answered: {}", w.repo, w.reference, r.error);
      return;
    }
    if (!r.ok) {
      if (r.not_found)
        return w.respond(error_response(oci::error_code::manifest_unknown, "manifest unknown to the cluster", 404));
      spdlog::warn("gateway: pull of {}:{} failed: {}", w.repo, w.reference, r.error);
      return w.respond(error_response(oci::error_code::unsupported, "pull through the cluster failed: " + r.error, 503));
    }
    try {
      if (w.by_tag) remember(w.repo, w.reference, r.digest);
      auto rr = serve_by_digest(w.req, w.repo, r.digest);
      if (rr.reply) return w.respond(std::move(*rr.reply));
      w.respond(error_response(oci::error_code::unsupported, "unexpected answer from the cache", 500));
    } catch (const std::exception& e) {
      w.respond(error_response(oci::error_code::unsupported, std::string("cache failure: ") + e.what(), 500));
    }
  }

  /// GET of a blob a pull in flight is bringing: relayed as it arrives. A
  /// range of it (a client resuming a cut response) waits for the blob to be
  /// in the cache and is served from there.
  std::optional<route_result> relay_blob(const request& req, const api::target& t) {
    // A HEAD says what the cache holds: a client that pushes skips a blob
    // it is told is here and names it in its manifest, which the cache
    // accepts only once the blob is stored; a data manager asks before it
    // sends one.
    if (req.method != "GET") return std::nullopt;
    auto d = oci::digest::parse(t.arg);
    if (!d) return std::nullopt;
    auto body = relay->open(t.repo, *d); // in memory: cheap for every cached blob's GET
    if (!body || cache->blob(t.repo, *d)) return std::nullopt;
    if (req.headers.get("Range"))
      return route_result::stream(std::make_unique<deferred_answer>(
        [self = shared_from_this(), req, repo = t.repo, d = *d](responder respond) {
          self->relay->when_settled(repo, d, [self, req, respond] {
            try {
              auto rr = self->api->route(req);
              respond(rr.reply ? std::move(*rr.reply)
                               : error_response(oci::error_code::unsupported, "unexpected answer from the cache", 500));
            } catch (const std::exception& e) {
              respond(error_response(oci::error_code::unsupported, std::string("cache failure: ") + e.what(), 500));
            }
          });
        }));
    response r;
    r.headers.set("Docker-Content-Digest", d->str());
    r.headers.set("Content-Type", "application/octet-stream");
    r.stream = std::move(*body);
    return route_result::answer(std::move(r));
  }

  route_result client_manifest_put(const request& req, const api::target& t) {
    auto rr = api->route(req);
    if (rr.body)
      rr.body = std::make_unique<blobs_landed_first>(std::move(rr.body), relay, t.repo,
                                                     std::string(req.headers.get_or("Content-Type")),
                                                     registry_api_options{}.max_manifest_bytes);
    return rr;
  }

  /// A client's manifest DELETE: deleted from the cluster first (every data
  /// manager applies it, runtime_port::remove), then from the cache. What
  /// the cluster does not know is deleted from the cache alone: 202, or 404
  /// if the cache lacks it too.
  route_result delete_manifest(const request& req, const api::target& t, const oci::reference& ref) {
    if (auto no = api->gate(req, t.repo)) return route_result::answer(refusal_response(*no));
    return route_result::stream(std::make_unique<deferred_answer>(
      [self = shared_from_this(), req, repo = t.repo, reference = ref.str()](responder respond) {
        self->runtime->remove(repo, reference, [self, req, repo, respond](actors::runtime_delete_result r) {
          if (!r.ok && !r.not_found) {
            spdlog::warn("gateway: delete of {} failed: {}", req.path, r.error);
            return respond(error_response(oci::error_code::unsupported, "delete through the cluster failed: " + r.error, 503));
          }
          for (const auto& tag : r.tags) self->forget(repo, tag);
          try {
            auto local = self->api->route(req); // the cache's copy, if any
            if (r.ok) return respond(api::empty_response(202));
            respond(local.reply ? std::move(*local.reply)
                                : error_response(oci::error_code::unsupported, "unexpected answer from the cache", 500));
          } catch (const std::exception& e) {
            respond(error_response(oci::error_code::unsupported, std::string("cache failure: ") + e.what(), 500));
          }
        });
      }));
  }

  /// A tags list: the cluster's tags (a cache holds only what this host
  /// pulled or pushed).
  route_result list_tags(const request& req, const api::target& t) {
    return route_result::stream(std::make_unique<deferred_answer>(
      [self = shared_from_this(), req, repo = t.repo](responder respond) {
        self->runtime->tags(repo, [req, repo, respond](actors::runtime_tags_result r) {
          if (!r.ok)
            return respond(error_response(oci::error_code::unsupported, "the cluster's tags are unavailable: " + r.error, 503));
          if (!r.known)
            return respond(error_response(oci::error_code::name_unknown, "repository name not known to the cluster", 404));
          respond(api::tags_list_of(req, repo, std::move(r.tags)));
        });
      }));
  }

  /// The catalog: the repositories the cluster holds images of.
  route_result list_repositories(const request& req) {
    return route_result::stream(std::make_unique<deferred_answer>([self = shared_from_this(), req](responder respond) {
      self->runtime->repositories([req, respond](std::optional<std::vector<std::string>> repos, std::string error) {
        if (!repos)
          return respond(error_response(oci::error_code::unsupported, "the cluster's catalog is unavailable: " + error, 503));
        respond(api::catalog_of(req, std::move(*repos)));
      });
    }));
  }

  /// A referrers list: the union of what the data managers list (an
  /// artifact naming this image, a signature say, is pushed on its own and
  /// need not be in this cache). 503 if none of them answered.
  route_result list_referrers(const request& req, const api::target& t) {
    auto subject = oci::digest::parse(t.arg);
    if (!subject) return api->route(req); // the API's own error
    return route_result::stream(std::make_unique<deferred_answer>(
      [self = shared_from_this(), repo = t.repo, subject = *subject,
       type = std::string(req.param("artifactType").value_or(""))](responder respond) {
        struct gathering {
          std::mutex mu;
          std::map<std::string, nlohmann::json> found; // by digest: sorted, each once
          std::size_t answered = 0, left = 0;
        };
        auto g = std::make_shared<gathering>();
        auto finish = [g, type, respond] { // once every node answered or failed
          if (g->answered == 0)
            return respond(error_response(oci::error_code::unsupported, "no data manager answered for referrers", 503));
          auto list = nlohmann::json::array();
          for (auto& [d, m] : g->found) list.push_back(std::move(m));
          nlohmann::json index{{"schemaVersion", 2}, {"mediaType", oci::media::oci_index}, {"manifests", list}};
          auto r = api::json_response(200, index.dump(), oci::media::oci_index);
          if (!type.empty()) r.headers.set("OCI-Filters-Applied", "artifactType");
          respond(std::move(r));
        };
        auto dms = self->dir->with_role(config::role::data);
        g->left = dms.size();
        if (dms.empty()) return finish();
        for (const auto* dm : dms) {
          auto ask = [g, finish, repo, subject, type, name = dm->name, http = dm->http](bool run) {
            std::optional<std::map<std::string, nlohmann::json>> listed; // by digest
            try {
              if (run) {
                registry_client c(http);
                c.set_timeout(std::chrono::seconds(5));
                auto index = nlohmann::json::parse(c.get_referrers(repo, subject, type));
                if (!index.is_object() || !index.contains("manifests") || !index["manifests"].is_array())
                  throw std::runtime_error("not an image index");
                listed.emplace();
                for (auto& m : index["manifests"])
                  if (m.is_object() && m.contains("digest") && m["digest"].is_string()) {
                    auto digest = m["digest"].get<std::string>();
                    (*listed)[digest] = std::move(m);
                  }
              }
            } catch (const std::exception& e) {
              spdlog::debug("gateway: referrers of {} from {}: {}", subject.str(), name, e.what());
              listed.reset();
            }
            std::unique_lock lock(g->mu);
            if (listed) {
              ++g->answered;
              g->found.merge(*listed);
            }
            if (--g->left > 0) return;
            lock.unlock();
            finish();
          };
          if (!listing_pool().post([ask] { ask(true); })) ask(false); // shutting down: counted as failed
        }
      }));
  }

  /// A client's blob upload (a push through the gateway): its first request
  /// opens a push session ahead of the manifest, and each blob, once in the
  /// cache, goes on to that session's target while the client uploads the
  /// next one (see the runtime's open_push and blob_pushed).
  route_result client_upload(const request& req, const api::target& t) {
    auto rr = api->route(req);
    // Only an upload the gate let in opens a session (a refused client must
    // not make the cluster run probe rounds).
    const bool accepted = rr.body || (rr.reply && (rr.reply->status == 202 || rr.reply->status == 201));
    if (accepted && req.method == "POST" && t.ep == api::endpoint::upload_start) runtime->open_push(t.repo);
    if (rr.body && t.ep == api::endpoint::upload_session)
      rr.body = uploads->follow(req, t.repo, t.arg, std::move(rr.body)); // sent on while it arrives
    auto report = [runtime = runtime, uploads = uploads, req, t](const response& r) {
      uploads->answered(req, t.repo, t.ep == api::endpoint::upload_session ? t.arg : std::string(), r);
      if (r.status != 201) return;
      if (auto d = r.headers.get("Docker-Content-Digest")) runtime->blob_pushed(t.repo, std::string(*d));
    };
    if (rr.reply) {
      report(*rr.reply);
    } else if (rr.body) {
      rr.body = std::make_unique<answer_watch>(std::move(rr.body), std::move(report));
    }
    return rr;
  }

  /// A data manager's blob upload into the cache (a delivery): its bytes go
  /// to the relay as the store takes them.
  route_result delivery_upload(const request& req, const api::target& t) {
    auto rr = deliveries->route(req);
    if (!rr.body) return rr; // refused or answered at once
    auto d = oci::digest::parse(req.param("digest").value_or(""));
    if (!d) return rr;
    uploads->delivered(t.repo, *d);
    std::filesystem::path file; // the session's file, for readers behind the relay's window
    if (t.ep == api::endpoint::upload_session) {
      auto u = cache->find_upload(t.repo, t.arg);
      if (!u || u->size != 0) return rr; // not the whole blob from its first byte
      file = u->file;
    }
    rr.body = blob_relay::relayed(std::move(rr.body), relay->arriving(t.repo, *d, std::move(file)));
    return rr;
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
  impl_->relay = opts.relay ? opts.relay : std::make_shared<blob_relay>(impl_->cache);
  impl_->uploads = std::make_shared<client_uploads>(impl_->cache, impl_->relay, impl_->runtime, opts.now,
                                                    opts.tidy_every);
  std::weak_ptr<impl> weak = impl_;
  // The cache writes a client's blob through the page cache: the push relay
  // sends it on to the target as it arrives. A delivered blob goes around it
  // (store::upload_use): the relay reads it back from the disk.
  auto gate = gateway_gate(impl_->dir, opts.open_local_pushes);
  registry_api_options client_side;
  client_side.uploads = store::upload_use::read_soon;
  impl_->api = std::make_unique<registry_api>(
    *impl_->cache, gate,
    [weak](const manifest_put_event& ev, manifest_put_done done) {
      if (auto self = weak.lock()) return self->after_put(ev, std::move(done));
      done(refusal{503, oci::error_code::unsupported, "the gateway is shutting down", {}});
    },
    client_side);
  registry_api_options delivered;
  delivered.uploads = store::upload_use::kept;
  impl_->deliveries = std::make_unique<registry_api>(*impl_->cache, gate, after_manifest_put_hook{}, delivered);
}

gateway::~gateway() = default;

response gateway::malformed(std::string_view why) const {
  return error_response(oci::error_code::unsupported, "malformed request: " + std::string(why), 400);
}

route_result gateway::route(const request& req) {
  auto rr = route_request(req);
  if (!impl_->opts.track_use || !rr.reply) return rr;
  // What a client reads, and a blob a push mounts from another repository
  // (its manifest comes later and must find the blob still cached), count
  // as used now for the cache's trimming.
  std::optional<std::string_view> used;
  if (rr.reply->status == 200 && (req.method == "GET" || req.method == "HEAD"))
    used = rr.reply->headers.get("Docker-Content-Digest");
  else if (rr.reply->status == 201 && req.method == "POST")
    used = req.param("mount");
  if (used)
    if (auto dig = oci::digest::parse(std::string(*used))) store::touch_blob(*impl_->cache, *dig);
  return rr;
}

route_result gateway::route_request(const request& req) {
  if (req.path == probe_path) return route_probe(req, *impl_->dir, impl_->sink);
  auto t = api::parse_target(req.path);
  if (t.ep == api::endpoint::catalog && (req.method == "GET" || req.method == "HEAD"))
    return impl_->list_repositories(req);
  if (!oci::valid_repository(t.repo)) return impl_->api->route(req);
  const bool delivery = config::is_node_authorization(req.headers.get_or("Authorization"));
  if (delivery && req.has_body() &&
      ((req.method == "PUT" && t.ep == api::endpoint::upload_session) ||
       (req.method == "POST" && t.ep == api::endpoint::upload_start)))
    return impl_->delivery_upload(req, t);
  if (!delivery && (t.ep == api::endpoint::upload_start || t.ep == api::endpoint::upload_session))
    return impl_->client_upload(req, t);
  if (t.ep == api::endpoint::blob) {
    if (auto relayed = impl_->relay_blob(req, t)) return std::move(*relayed);
    if (!delivery && req.method == "HEAD") { // a client about to upload asks first
      auto rr = impl_->api->route(req);
      auto d = oci::digest::parse(t.arg);
      if (d && rr.reply && rr.reply->status == 404) impl_->uploads->missing(t.repo, *d);
      return rr;
    }
    if (!delivery && req.method == "DELETE") {
      auto rr = impl_->api->route(req);
      if (auto d = oci::digest::parse(t.arg); d && rr.reply && rr.reply->status == 202) impl_->blob_deleted(t.repo, *d);
      return rr;
    }
    // A GET of a blob the cache lacks, with no manifest asked for first that
    // would bring it: pulled alone. (A HEAD keeps saying what the cache
    // holds: a client about to push asks it.)
    if (!delivery && req.method == "GET") {
      auto rr = impl_->api->route(req);
      auto d = oci::digest::parse(t.arg);
      if (!d || !rr.reply || rr.reply->status != 404 || impl_->deleted_here(t.repo, *d)) return rr;
      return route_result::stream(std::make_unique<deferred_answer>(
        [self = impl_, req, repo = t.repo, d = *d](responder r) { self->pull_blob_then_serve(req, repo, d, std::move(r)); }));
    }
  }
  if (t.ep == api::endpoint::tags_list && (req.method == "GET" || req.method == "HEAD"))
    return impl_->list_tags(req, t);
  if (t.ep == api::endpoint::referrers && req.method == "GET") return impl_->list_referrers(req, t);
  if (!delivery && req.method == "PUT" && t.ep == api::endpoint::manifest) return impl_->client_manifest_put(req, t);
  if (!delivery && req.method == "DELETE" && t.ep == api::endpoint::manifest)
    if (auto ref = oci::reference::parse(t.arg)) return impl_->delete_manifest(req, t, *ref);
  if (req.method == "GET" || req.method == "HEAD") {
    if (t.ep == api::endpoint::manifest) {
      auto ref = oci::reference::parse(t.arg);
      // A digest the cache holds whole never changes; a tag asks the
      // cluster unless a pull resolved it a moment ago.
      if (ref && !ref->is_digest())
        if (auto digest = impl_->recent(t.repo, ref->tag())) return impl_->serve_by_digest(req, t.repo, *digest);
      if (ref && ref->is_digest())
        if (auto r = impl_->planned_manifest_response(t.repo, ref->str())) return route_result::answer(std::move(*r));
      if (ref && !(ref->is_digest() && impl_->whole_in_cache(t.repo, ref->dig())))
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
