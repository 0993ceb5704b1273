#include "net/push_relay.hpp"

#include "net/api_internal.hpp"
#include "net/blob_relay.hpp"
#include "net/cluster_gate.hpp"
#include "store/file_io.hpp"

namespace stowage::net {

push_relay::push_relay(std::shared_ptr<store::registry_store> store, std::shared_ptr<registry_api> api)
    : store_(std::move(store)), api_(std::move(api)),
      relay_(std::make_shared<blob_relay>(store_)) {}

push_relay::~push_relay() = default;

void push_relay::on_arriving(std::function<void(const arriving_blob&)> fn) {
  std::lock_guard lock(mu_);
  arriving_ = std::move(fn);
}

response push_relay::malformed(std::string_view why) const { return api_->malformed(why); }

route_result push_relay::route(const request& req) {
  auto t = api::parse_target(req.path);
  if (!oci::valid_repository(t.repo)) return api_->route(req);

  // A blob arriving (or just stored: the relay's reader then reads the store).
  if (t.ep == api::endpoint::blob && req.method == "GET" && !req.headers.get("Range")) {
    auto d = oci::digest::parse(t.arg);
    if (auto body = d ? relay_->open(t.repo, *d) : std::nullopt) {
      response r;
      r.headers.set("Docker-Content-Digest", d->str());
      r.headers.set("Content-Type", "application/octet-stream");
      r.stream = std::move(*body);
      return route_result::answer(std::move(r));
    }
    return api_->route(req);
  }

  // A whole blob in one PUT with its digest, under a push proof.
  const bool whole_blob_put = req.method == "PUT" && t.ep == api::endpoint::upload_session &&
                              !req.chunked && req.content_length.value_or(0) > 0;
  if (!whole_blob_put) return api_->route(req);
  auto session = proof_session(req.headers.get_or("Authorization"));
  auto d = oci::digest::parse(req.param("digest").value_or(""));
  auto rr = api_->route(req);
  if (!rr.body || !session || !d) return rr; // refused, answered at once, or not a push's blob
  auto u = store_->find_upload(t.repo, t.arg);
  if (!u || u->size != 0) return rr; // not the whole blob from its first byte

  const std::uint64_t size = *req.content_length;
  relay_->expect(t.repo, *d, size);
  // Once the upload ended, the relay's readers that are still behind read the
  // stored blob, and its pages leave the page cache (as after any send: see
  // http_image_transfer's pusher).
  rr.body = blob_relay::relayed(std::move(rr.body), relay_->arriving(t.repo, *d, u->file),
                                [relay = relay_, st = store_, repo = t.repo, d = *d] {
                                  relay->settle(repo, d);
                                  if (auto b = st->blob(repo, d)) store::fileio::drop_from_page_cache_later(b->path);
                                });
  std::function<void(const arriving_blob&)> tell;
  {
    std::lock_guard lock(mu_);
    tell = arriving_;
  }
  if (tell) tell({std::move(*session), t.repo, d->str(), size});
  return rr;
}

} // namespace stowage::net
