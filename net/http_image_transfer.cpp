#include "net/http_image_transfer.hpp"

#include "config/node_auth.hpp"
#include "net/registry_client.hpp"
#include "net/worker_pool.hpp"
#include "oci/manifest.hpp"
#include "store/cache_trim.hpp"
#include "store/file_io.hpp"

#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <exception>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

namespace stowage::net {

namespace {

oci::manifest parse_or_throw(const std::string& body, const std::string& media_type, const oci::digest& d) {
  auto r = oci::parse_manifest(body, media_type);
  if (!r.value) throw registry_error("manifest " + d.str() + " is invalid: " + r.error.message);
  return std::move(*r.value);
}

constexpr int max_depth = 4; // index -> manifest is 1; deeper nesting is refused

/// Blobs of one manifest move this many at a time, each on its own thread
/// and connection: one stream alone leaves the receiver idle while the
/// sender reads and the sender idle while the receiver hashes and writes.
constexpr std::size_t blobs_at_once = 4;

/// Runs `fn` on every item, up to `width` at once; once all have ended,
/// rethrows the first failure (the others stop picking up new items).
template <class T, class Fn>
void for_each_concurrently(const std::vector<T>& items, std::size_t width, Fn fn) {
  std::atomic<std::size_t> next{0};
  std::mutex mu;
  std::exception_ptr first;
  auto work = [&] {
    for (std::size_t i; (i = next++) < items.size();) {
      try {
        fn(items[i]);
      } catch (...) {
        std::lock_guard lock(mu);
        if (!first) first = std::current_exception();
        next = items.size();
      }
    }
  };
  std::vector<std::thread> helpers;
  for (std::size_t k = 1; k < std::min(width, items.size()); ++k) helpers.emplace_back(work);
  work();
  for (auto& t : helpers) t.join();
  if (first) std::rethrow_exception(first);
}

/// The local copy of something being sent turned out damaged on disk (its
/// bytes no longer match its digest) and was dropped from the store.
struct local_copy_damaged : registry_error {
  using registry_error::registry_error;
};

/// The other end sent a blob whose bytes do not match its digest.
struct sent_mismatched_blob : registry_error {
  sent_mismatched_blob(const std::string& what, const oci::digest& d) : registry_error(what), dig(d) {}
  oci::digest dig;
};

// ---- to == self: pull from the source's OCI endpoint into the local store ------
class puller {
public:
  puller(registry_client& c, store::registry_store& local, const std::string& repo)
      : c_(c), local_(local), repo_(repo) {}

  void manifest(const oci::digest& d, std::optional<std::string_view> tag, std::optional<std::uint64_t> seq,
                int depth = 0) {
    if (depth > max_depth) throw registry_error("manifest " + d.str() + " nests too deep");
    auto m = c_.get_manifest(repo_, d.str()); // verified against d
    auto parsed = parse_or_throw(m.body, m.media_type, d);
    for (const auto& child : parsed.manifests)
      if (!local_.manifest(repo_, oci::reference{child.dig})) manifest(child.dig, std::nullopt, std::nullopt, depth + 1);
    for_each_concurrently(parsed.blobs(), blobs_at_once, [this](const oci::descriptor& b) { blob(b); });
    local_.put_manifest(repo_, d, parsed, m.body, tag, seq);
    bytes += m.body.size();
  }

  void blob(const oci::descriptor& desc) {
    if (auto present = local_.blob(repo_, desc.dig)) {
      store::mark_used(present->path); // in use (a cache's trimmer goes by it)
      return;
    }
    if (local_.mount_blob(repo_, desc.dig)) return;
    auto up = local_.begin_upload(repo_);
    try {
      auto w = local_.append(repo_, up.id);
      if (!w) throw store::store_error("upload session vanished");
      std::uint64_t n = 0;
      try {
        // The commit below verifies the digest (and the size).
        n = c_.get_blob(repo_, desc.dig, [&](const char* p, std::size_t len) { w->write(p, len); }, desc.size, true);
      } catch (const registry_error& e) {
        if (e.status == 404 && oci::optional_layer(desc)) {
          w.reset();
          local_.cancel_upload(repo_, up.id);
          return;
        }
        throw;
      }
      w->finish();
      w.reset();
      auto st = local_.commit_upload(repo_, up.id, desc.dig, desc.size);
      if (st != store::commit_status::ok)
        throw sent_mismatched_blob("blob " + desc.dig.str() + " failed verification on arrival", desc.dig);
      bytes += n;
    } catch (...) {
      local_.cancel_upload(repo_, up.id);
      throw;
    }
  }

  std::atomic<std::uint64_t> bytes = 0;

private:
  registry_client& c_;
  store::registry_store& local_;
  const std::string& repo_;
};

/// A body_source read on a blocking thread: each call waits for the next
/// piece. A source that stays silent for `stall_limit` (the client stopped
/// uploading) or cannot complete the body ends the transfer.
class waiting_reader {
public:
  waiting_reader(std::shared_ptr<body_source> src, std::chrono::milliseconds stall_limit)
      : src_(std::move(src)), stall_limit_(stall_limit) {}

  std::string_view operator()() {
    struct slot {
      std::mutex mu;
      std::condition_variable cv;
      bool ready = false, ok = false;
      std::string_view piece;
    };
    auto s = std::make_shared<slot>();
    src_->next([s](bool ok, std::string_view piece) {
      std::lock_guard lock(s->mu);
      s->ready = true;
      s->ok = ok;
      s->piece = piece;
      s->cv.notify_all();
    });
    std::unique_lock lock(s->mu);
    if (!s->cv.wait_for(lock, stall_limit_, [&] { return s->ready; }))
      throw registry_error("the blob stopped arriving");
    if (!s->ok) throw registry_error("the blob did not arrive whole");
    return s->piece;
  }

private:
  std::shared_ptr<body_source> src_;
  std::chrono::milliseconds stall_limit_;
};

/// How long a blob sent while it arrives may stall before its transfer
/// gives up (the client's upload stopped; blob_pushed sends it later from
/// the store if it completes).
constexpr std::chrono::seconds arrival_stall_limit{60};

// ---- from == self: push from the local store to the receiver's OCI endpoint ----
class pusher {
public:
  pusher(registry_client& c, store::registry_store& local, const std::string& repo, std::size_t width,
         const arriving_blobs& arriving = {})
      : c_(c), local_(local), repo_(repo), width_(width), arriving_(arriving) {}

  void manifest(const oci::digest& d, const std::string& tag, std::string_view query, int depth = 0) {
    if (depth > max_depth) throw registry_error("manifest " + d.str() + " nests too deep");
    auto info = local_.manifest(repo_, oci::reference{d});
    if (!info) throw registry_error("manifest " + d.str() + ": " + std::string(actors::sender_lacks_it), 404);
    auto body = local_.read_manifest(*info);
    if (oci::sha256_of(body) != d) {
      if (local_.drop_if_damaged(d))
        throw local_copy_damaged("the local copy of manifest " + d.str() + " was damaged on disk: dropped");
      throw registry_error("local manifest " + d.str() + " does not match its digest");
    }
    auto parsed = parse_or_throw(body, info->media_type, d);
    for (const auto& child : parsed.manifests) manifest(child.dig, {}, {}, depth + 1);
    for_each_concurrently(parsed.blobs(), width_, [this](const oci::descriptor& b) { blob(b); });
    c_.push_manifest(repo_, tag.empty() ? d.str() : tag, body, info->media_type, query);
    bytes += body.size();
  }

  /// `desc.size` > 0 with `arriving`: the blob may still be arriving in the
  /// local store, and is sent as it arrives.
  void blob(const oci::descriptor& desc, bool arriving = false) {
    if (c_.has_blob(repo_, desc.dig)) return;
    auto info = local_.blob(repo_, desc.dig);
    if (!info && arriving && arriving_)
      if (auto body = arriving_(repo_, desc.dig)) {
        if (body->length != desc.size)
          throw registry_error("blob " + desc.dig.str() + " arrives with " + std::to_string(body->length) +
                               " bytes, not " + std::to_string(desc.size));
        bytes += c_.push_blob(repo_, desc.dig, body->length, waiting_reader(body->source, arrival_stall_limit));
        info = local_.blob(repo_, desc.dig); // it was committed before its last byte went out
        if (info) store::fileio::drop_from_page_cache_later(info->path);
        return;
      }
    if (!info) {
      if (oci::optional_layer(desc)) return;
      throw registry_error("blob " + desc.dig.str() + ": " + std::string(actors::sender_lacks_it), 404);
    }
    try {
      bytes += c_.push_blob(repo_, desc.dig, info->path);
    } catch (const registry_error& e) {
      // The receiver hashed what it got and refused it: the bytes on this
      // disk may have gone bad since they were stored. If so they are
      // dropped, so that this node stops offering them and gets them again.
      if (e.status == 400 && local_.drop_if_damaged(desc.dig))
        throw local_copy_damaged(std::string(e.what()) + "; the local copy of " + desc.dig.str() +
                                 " was damaged on disk: dropped");
      throw;
    }
    // Sent: its pages are not needed in memory any more. Kept, they make the
    // page cache grow with every push, and on this project's VMs new page
    // cache costs ~2.4 ms of CPU per MiB while just-freed pages are reused
    // almost for free (docs/ARCHITECTURE.md, "How a blob is written and read").
    // Off this thread; dirty pages (a cache on a file system that refused
    // O_DIRECT) are written out first.
    store::fileio::drop_from_page_cache_later(info->path);
  }

  std::atomic<std::uint64_t> bytes = 0;

private:
  registry_client& c_;
  store::registry_store& local_;
  const std::string& repo_;
  std::size_t width_;
  const arriving_blobs& arriving_;
};

} // namespace

struct http_image_transfer::impl {
  std::string self;
  std::shared_ptr<const config::directory> dir;
  config::identity id;
  std::shared_ptr<store::registry_store> local;
  arriving_blobs arriving;
  // Copies under way by the other end's name, so that give_up can cut them.
  std::mutex mtx;
  std::multimap<std::string, std::shared_ptr<cancel_token>> running;
  worker_pool pool; // last: its destructor waits for the copies, which use the members above

  impl(std::string s, std::shared_ptr<const config::directory> d, config::identity i,
       std::shared_ptr<store::registry_store> l, http_transfer_options opts)
      : self(std::move(s)), dir(std::move(d)), id(std::move(i)), local(std::move(l)),
        arriving(std::move(opts.arriving)), pool(opts.threads) {}

  std::string endpoint_of(const std::string& node) const {
    auto ep = dir->http_of(node);
    if (!ep) throw registry_error("unknown node " + node);
    return *ep;
  }

  actors::transfer_result run(const actors::transfer_order& o, const std::shared_ptr<cancel_token>& cancel) {
    auto d = oci::digest::parse(o.digest);
    if (!d) return {false, "invalid digest " + o.digest, 400, 0};
    if (o.to == self) {
      registry_client c(endpoint_of(o.from));
      c.set_cancel(cancel);
      puller p(c, *local, o.repository);
      if (o.blob) {
        oci::descriptor desc;
        desc.dig = *d;
        desc.size = o.blob_size;
        p.blob(desc);
        return {true, {}, 0, p.bytes};
      }
      std::optional<std::string_view> tag;
      if (!o.tag.empty()) tag = o.tag;
      p.manifest(*d, tag, tag ? o.seq : std::nullopt);
      return {true, {}, 0, p.bytes};
    }
    if (o.from == self) {
      registry_client c(endpoint_of(o.to));
      c.set_cancel(cancel);
      if (!o.proof.empty()) {
        c.set_authorizer([proof = "Stowage-Proof " + o.proof](std::string_view, std::string_view) { return proof; });
      } else {
        c.set_authorizer([this](std::string_view method, std::string_view target) {
          return config::node_authorization(id, self, method, target, config::unix_time_ms());
        });
      }
      // Node-signed tag writes keep the master's sequence number; proof
      // pushes get theirs from the proof on the receiving side. They name
      // their manifest too: the signature covers the target, not the body
      // (net/cluster_gate.hpp).
      std::string query;
      if (!o.tag.empty() && o.proof.empty()) {
        query = "digest=" + d->str();
        if (o.seq) query += "&seq=" + std::to_string(*o.seq);
      }
      // A runtime's gateway relays each blob to its client while it arrives
      // (net/blob_relay.hpp), and clients read the layers one after another,
      // in manifest order: sending them the same way gets each one there
      // soonest (skopeo, cold pull of 4 x 64 MiB through the gateway,
      // medians of 5, paired runs: one at a time 1.87 / 2.09 s, two at a
      // time 1.96 / 2.25 s, three 2.03 s).
      const auto* dest = dir->find(o.to);
      const bool to_runtime = dest && dest->role == config::role::runtime;
      pusher p(c, *local, o.repository, to_runtime ? 1 : blobs_at_once, arriving);
      if (o.blob) {
        oci::descriptor desc;
        desc.dig = *d;
        desc.size = o.blob_size;
        p.blob(desc, o.blob_size > 0);
      } else
        p.manifest(*d, o.tag, query);
      return {true, {}, 0, p.bytes};
    }
    return {false, "neither end of the transfer is " + self, 0, 0};
  }
};

http_image_transfer::http_image_transfer(std::string self, std::shared_ptr<const config::directory> dir,
                                         config::identity id, std::shared_ptr<store::registry_store> local,
                                         http_transfer_options opts)
    : impl_(std::make_unique<impl>(std::move(self), std::move(dir), std::move(id), std::move(local),
                                   std::move(opts))) {}

http_image_transfer::~http_image_transfer() = default;

actors::transfer_result http_image_transfer::copy_now(const actors::transfer_order& order,
                                                      std::shared_ptr<cancel_token> cancel) {
  actors::transfer_result r;
  try {
    r = impl_->run(order, cancel);
  } catch (const local_copy_damaged& e) {
    r = {false, e.what(), e.status, 0};
    r.dropped_damaged = true;
  } catch (const sent_mismatched_blob& e) {
    r = {false, e.what(), e.status, 0};
    r.mismatched_blob = e.dig.str();
  } catch (const registry_error& e) {
    r = {false, e.what(), e.status, 0};
  } catch (const std::exception& e) {
    r = {false, e.what(), 500, 0};
  }
  if (r.ok)
    spdlog::debug("{}: copied {}@{} {} -> {} ({} bytes)", impl_->self, order.repository, order.digest, order.from,
                  order.to, r.bytes);
  else
    spdlog::warn("{}: copy of {}@{} {} -> {} failed: {}", impl_->self, order.repository, order.digest, order.from,
                 order.to, r.error);
  return r;
}

void http_image_transfer::copy(actors::transfer_order order, done_fn done) {
  // Registered now, so that a give_up reaches a copy still in the queue too.
  const auto peer = order.to == impl_->self ? order.from : order.to;
  auto cancel = std::make_shared<cancel_token>();
  std::multimap<std::string, std::shared_ptr<cancel_token>>::iterator entry;
  {
    std::lock_guard lock(impl_->mtx);
    entry = impl_->running.emplace(peer, cancel);
  }
  auto forget = [this, entry] {
    std::lock_guard lock(impl_->mtx);
    impl_->running.erase(entry);
  };
  auto job = [this, order = std::move(order), done, cancel, forget]() {
    auto r = copy_now(order, cancel);
    forget();
    done(std::move(r));
  };
  if (!impl_->pool.post(job)) {
    forget();
    done({false, "the data plane is shutting down", 0, 0});
  }
}

void http_image_transfer::give_up(const std::string& node) {
  std::lock_guard lock(impl_->mtx);
  auto [from, to] = impl_->running.equal_range(node);
  for (auto i = from; i != to; ++i)
    i->second->cancel();
}

} // namespace stowage::net
