#include "net/client_uploads.hpp"

#include "net/blob_relay.hpp"

#include <spdlog/spdlog.h>

#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <vector>

namespace stowage::net {

namespace {

/// A blob asked for this long ago is no longer taken as the next upload.
constexpr std::chrono::seconds ask_lifetime{60};
/// A followed upload whose session neither committed nor ended for this
/// long is given up (its reader gave up long before: http_image_transfer).
constexpr std::chrono::minutes follow_lifetime{10};

std::string session_key(const std::string& repo, const std::string& id) { return repo + '\n' + id; }

} // namespace

struct client_uploads::state {
  std::shared_ptr<store::registry_store> cache;
  std::shared_ptr<blob_relay> relay;
  std::shared_ptr<actors::runtime_port> runtime;
  std::function<clock::time_point()> now;

  struct asked {
    std::string digest;
    clock::time_point at;
  };
  struct followed {
    std::string repo;
    oci::digest dig;
    std::shared_ptr<blob_relay::arrival> arrival;
    clock::time_point at;
  };
  std::mutex mu;
  std::map<std::string, std::vector<asked>> asks; // by repository
  std::map<std::string, followed> follows;        // by session_key
  std::condition_variable stop_cv;                // the ticker's sleep, under mu
  bool stopping = false;

  /// Under mu: forgets asks and follows past their lifetime; returns the
  /// follows to end.
  std::vector<followed> expire(clock::time_point t) {
    for (auto it = asks.begin(); it != asks.end();) {
      std::erase_if(it->second, [&](const asked& a) { return t - a.at >= ask_lifetime; });
      it = it->second.empty() ? asks.erase(it) : std::next(it);
    }
    std::vector<followed> stale;
    for (auto it = follows.begin(); it != follows.end();) {
      if (t - it->second.at < follow_lifetime) {
        ++it;
        continue;
      }
      stale.push_back(std::move(it->second));
      it = follows.erase(it);
    }
    return stale;
  }

  /// Under mu: `digest` was uploaded (or is being followed): not asked any more.
  void uploaded(const std::string& repo, std::string_view digest) {
    auto it = asks.find(repo);
    if (it == asks.end()) return;
    std::erase_if(it->second, [&](const asked& a) { return a.digest == digest; });
    if (it->second.empty()) asks.erase(it);
  }

  /// Under mu: the follow of session `key`, taken out.
  std::optional<followed> take(const std::string& key) {
    auto it = follows.find(key);
    if (it == follows.end()) return std::nullopt;
    auto f = std::move(it->second);
    follows.erase(it);
    return f;
  }

  /// Outside mu.
  void end(std::optional<followed> f, bool committed) {
    if (!f) return;
    f->arrival->end(committed);
    relay->settle(f->repo, f->dig);
    if (!committed)
      spdlog::debug("gateway: {}@{} was not uploaded as followed", f->repo, f->dig.str());
  }
  void end_all(std::vector<followed> fs) {
    for (auto& f : fs) end(std::move(f), false);
  }

  /// Ends the follows past their lifetime (the ticker's job).
  void tidy() {
    std::vector<followed> stale;
    {
      std::lock_guard lock(mu);
      stale = expire(now());
    }
    end_all(std::move(stale));
  }
};

namespace {

/// The client's upload, its bytes reported to the relay once the store took them.
class followed_upload final : public body_handler {
public:
  followed_upload(std::unique_ptr<body_handler> inner, std::shared_ptr<blob_relay::arrival> arrival,
                  std::function<void()> cut)
      : inner_(std::move(inner)), arrival_(std::move(arrival)), cut_(std::move(cut)) {}
  bool on_data(const char* p, std::size_t n) override {
    if (!inner_->on_data(p, n)) return false;
    arrival_->data(n);
    return true;
  }
  void on_end(bool complete, responder respond) override {
    if (!complete) cut_(); // the commit cannot follow a body cut short
    inner_->on_end(complete, std::move(respond));
  }

private:
  std::unique_ptr<body_handler> inner_;
  std::shared_ptr<blob_relay::arrival> arrival_;
  std::function<void()> cut_;
};

} // namespace

client_uploads::client_uploads(std::shared_ptr<store::registry_store> cache, std::shared_ptr<blob_relay> relay,
                               std::shared_ptr<actors::runtime_port> runtime, std::function<clock::time_point()> now,
                               std::chrono::milliseconds tidy_every)
    : st_(std::make_shared<state>()) {
  st_->cache = std::move(cache);
  st_->relay = std::move(relay);
  st_->runtime = std::move(runtime);
  st_->now = std::move(now);
  // The thread holds the state, not this: ending a follow can drop the last
  // hold on the gateway (a reader's callback), and so destroy this object
  // on the thread itself, which then goes on alone until it sees stopping.
  ticker_ = std::thread([st = st_, tidy_every] {
    std::unique_lock lock(st->mu);
    while (!st->stop_cv.wait_for(lock, tidy_every, [&] { return st->stopping; })) {
      lock.unlock();
      st->tidy();
      lock.lock();
    }
  });
}

client_uploads::~client_uploads() {
  {
    std::lock_guard lock(st_->mu);
    st_->stopping = true;
  }
  st_->stop_cv.notify_all();
  if (ticker_.get_id() == std::this_thread::get_id())
    ticker_.detach(); // destroyed by its own tidy(): it ends by itself
  else
    ticker_.join();
  std::vector<state::followed> left;
  {
    std::lock_guard lock(st_->mu);
    for (auto& [key, f] : st_->follows) left.push_back(std::move(f));
    st_->follows.clear();
  }
  st_->end_all(std::move(left));
}

void client_uploads::missing(const std::string& repo, const oci::digest& d) {
  std::vector<state::followed> stale;
  {
    std::lock_guard lock(st_->mu);
    auto t = st_->now();
    stale = st_->expire(t);
    auto& list = st_->asks[repo];
    std::erase_if(list, [&](const state::asked& a) { return a.digest == d.str(); });
    list.push_back({d.str(), t});
  }
  st_->end_all(std::move(stale));
}

void client_uploads::delivered(const std::string& repo, const oci::digest& d) {
  std::lock_guard lock(st_->mu);
  st_->uploaded(repo, d.str());
}

std::unique_ptr<body_handler> client_uploads::follow(const request& req, const std::string& repo,
                                                     const std::string& id, std::unique_ptr<body_handler> upload) {
  if (!upload) return upload; // answered at once (refused, or a commit without a body)
  const auto key = session_key(repo, id);
  std::optional<state::followed> earlier; // a followed PATCH that was not the whole blob after all
  std::vector<state::followed> stale;
  std::optional<oci::digest> dig;
  const std::uint64_t size = req.content_length.value_or(0);
  {
    std::lock_guard lock(st_->mu);
    stale = st_->expire(st_->now());
    if (req.has_body()) earlier = st_->take(key); // more bytes: the followed request was not the whole blob
    if (!earlier && size >= min_size) {
      if (req.method == "PUT") {
        dig = oci::digest::parse(std::string(req.param("digest").value_or("")));
      } else if (req.method == "PATCH") {
        auto it = st_->asks.find(repo);
        if (it != st_->asks.end() && it->second.size() == 1) dig = oci::digest::parse(it->second.front().digest);
      }
      if (dig) st_->uploaded(repo, dig->str());
    }
  }
  st_->end(std::move(earlier), false);
  st_->end_all(std::move(stale));
  if (!dig) return upload;
  auto u = st_->cache->find_upload(repo, id);
  if (!u || u->size != 0 || u->file.empty()) return upload; // not the whole blob from its first byte
  st_->relay->expect(repo, *dig, size);
  auto arrival = st_->relay->arriving(repo, *dig, u->file);
  {
    std::lock_guard lock(st_->mu);
    st_->follows[key] = {repo, *dig, arrival, st_->now()};
  }
  st_->runtime->blob_arriving(repo, dig->str(), size);
  std::weak_ptr<state> weak = st_;
  return std::make_unique<followed_upload>(std::move(upload), std::move(arrival), [weak, key] {
    if (auto st = weak.lock()) {
      std::unique_lock lock(st->mu);
      auto f = st->take(key);
      lock.unlock();
      st->end(std::move(f), false);
    }
  });
}

void client_uploads::answered(const request& req, const std::string& repo, const std::string& id,
                              const response& r) {
  const auto key = session_key(repo, id);
  std::optional<state::followed> done;
  bool committed = false;
  {
    std::lock_guard lock(st_->mu);
    if (r.status == 201) {
      // Whatever the session committed (or mounted) is not asked for any more.
      for (auto name : {"digest", "mount"})
        if (auto d = req.param(name)) st_->uploaded(repo, *d);
    }
    auto it = st_->follows.find(key);
    if (it == st_->follows.end()) return;
    if (r.status == 202 && req.method == "PATCH") return; // the followed bytes; the commit follows
    if (r.status < 400 && (req.method == "GET" || req.method == "HEAD")) return; // a status query
    committed = r.status == 201 && req.param("digest") == it->second.dig.str();
    done = st_->take(key);
  }
  st_->end(std::move(done), committed);
}

} // namespace stowage::net
