#include "net/blob_relay.hpp"

#include "store/file_io.hpp"
#include "store/range_reader.hpp"

#include <spdlog/spdlog.h>

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <mutex>
#include <vector>

namespace stowage::net {

namespace {

std::string key_of(const std::string& repo, const oci::digest& d) { return repo + '@' + d.str(); }

/// Readers are woken when this much more of an upload is in its file.
constexpr std::uint64_t wake_step = store::range_reader::piece_size;

/// Whether the first `n` bytes of two open files are the same.
bool same_prefix(int a, int b, std::uint64_t n) {
  std::vector<char> x(1 << 20), y(1 << 20);
  for (std::uint64_t off = 0; off < n;) {
    auto want = static_cast<std::size_t>(std::min<std::uint64_t>(x.size(), n - off));
    auto read_all = [&](int fd, char* buf) {
      for (std::size_t got = 0; got < want;) {
        auto r = ::pread(fd, buf + got, want - got, static_cast<off_t>(off + got));
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return false;
        got += static_cast<std::size_t>(r);
      }
      return true;
    };
    if (!read_all(a, x.data()) || !read_all(b, y.data()) || std::memcmp(x.data(), y.data(), want) != 0)
      return false;
    off += want;
  }
  return true;
}

} // namespace

/// How one upload ended, under the state's mutex. A reader keeps the outcome
/// of the upload its bytes came from; it may outlive the upload's entry.
struct blob_relay::outcome {
  enum { running, committed, failed } is = running;
};

// Everything the relay knows, under one mutex; uploads and readers hold it
// shared, so either may outlive the owner's relay object.
struct blob_relay::state {
  explicit state(std::shared_ptr<store::registry_store> s) : store(std::move(s)) {}

  struct entry {
    std::uint32_t expected = 0;         // expect() not yet settled
    std::uint64_t size = 0;             // as the expecting side says
    bool receiving = false;             // the current upload is still under way
    std::uint64_t received = 0;         // bytes the store took from it
    std::uint64_t in_file = 0;          // of those, surely in its file (told in wake_steps)
    std::filesystem::path file;         // its file; empty: readers wait for the commit
    std::shared_ptr<outcome> current;   // its outcome, which is also who it is
    std::vector<std::function<void()>> waiters; // readers waiting for a change
  };

  std::shared_ptr<store::registry_store> store;
  mutable std::mutex mu;
  std::map<std::string, entry> entries;

  /// Drops the entry once nothing refers to it any more.
  void tidy(const std::string& key) {
    auto i = entries.find(key);
    if (i != entries.end() && i->second.expected == 0 && !i->second.receiving && i->second.waiters.empty())
      entries.erase(i);
  }

  /// Takes the waiters of `key`; call them after unlocking.
  std::vector<std::function<void()>> wake(const std::string& key) {
    auto i = entries.find(key);
    if (i == entries.end()) return {};
    return std::exchange(i->second.waiters, {});
  }
};

static void run_all(std::vector<std::function<void()>> fns) {
  for (auto& f : fns) f();
}

// ---- the receiving side ---------------------------------------------------------

class blob_relay::upload final : public blob_relay::arrival {
public:
  upload(std::shared_ptr<state> st, std::string key, std::shared_ptr<outcome> out)
      : st_(std::move(st)), key_(std::move(key)), outcome_(std::move(out)) {}
  ~upload() override { end(false); }

  void data(std::size_t n) override {
    if (n == 0 || ended_) return;
    std::vector<std::function<void()>> woken;
    {
      std::lock_guard lock(st_->mu);
      auto i = st_->entries.find(key_);
      if (i == st_->entries.end() || i->second.current != outcome_) return; // replaced by a newer upload
      auto& e = i->second;
      e.received += n;
      const std::uint64_t in_file = e.received > store::upload_writer::max_unwritten
                                      ? e.received - store::upload_writer::max_unwritten
                                      : 0;
      if (in_file < e.in_file + wake_step) return;
      e.in_file = in_file;
      woken = st_->wake(key_);
    }
    run_all(std::move(woken));
  }

  void end(bool committed) override {
    if (ended_) return;
    ended_ = true;
    std::vector<std::function<void()>> woken;
    {
      std::lock_guard lock(st_->mu);
      outcome_->is = committed ? outcome::committed : outcome::failed;
      auto i = st_->entries.find(key_);
      if (i == st_->entries.end()) return;
      if (i->second.current != outcome_) {
        // Replaced by a newer upload: a reader still on this one goes on
        // from the stored blob, now that there is one.
        if (committed) woken = st_->wake(key_);
      } else {
        // Committed: readers continue from the stored blob. Failed: they wait
        // for another upload (a retried pull) or the end of the wait.
        auto& e = i->second;
        e.receiving = false;
        e.received = e.in_file = 0;
        e.file.clear();
        e.current.reset();
        if (!committed) spdlog::debug("relay: upload of {} ended without a commit", key_);
        woken = st_->wake(key_);
        st_->tidy(key_);
      }
    }
    run_all(std::move(woken));
  }

private:
  std::shared_ptr<state> st_;
  std::string key_;
  std::shared_ptr<outcome> outcome_;
  bool ended_ = false;
};

/// An upload's body handler that reports to an arrival what the store took.
class relayed_upload final : public body_handler {
public:
  relayed_upload(std::unique_ptr<body_handler> inner, std::shared_ptr<blob_relay::arrival> arrival,
                 std::function<void()> after)
      : inner_(std::move(inner)), arrival_(std::move(arrival)), after_(std::make_shared<run_once>(std::move(after))) {}
  bool on_data(const char* p, std::size_t n) override {
    if (!inner_->on_data(p, n)) return false;
    arrival_->data(n); // after the store took it
    return true;
  }
  void on_end(bool complete, responder respond) override {
    inner_->on_end(complete, [arrival = arrival_, after = after_, respond](response r) {
      arrival->end(r.status == 201); // 201: committed to the store
      after->run();
      respond(std::move(r));
    });
  }

private:
  /// `after` runs once: after the end, or when the last holder lets go if
  /// the answer never came.
  struct run_once {
    explicit run_once(std::function<void()> f) : fn(std::move(f)) {}
    ~run_once() { run(); }
    void run() {
      if (fn) std::exchange(fn, {})();
    }
    std::function<void()> fn;
  };
  std::unique_ptr<body_handler> inner_;
  std::shared_ptr<blob_relay::arrival> arrival_;
  std::shared_ptr<run_once> after_;
};

// ---- the serving side -------------------------------------------------------------

class blob_relay::reader final : public body_source, public std::enable_shared_from_this<reader> {
public:
  reader(std::shared_ptr<state> st, std::string repo, oci::digest d, std::uint64_t size)
      : st_(std::move(st)), repo_(std::move(repo)), dig_(std::move(d)), key_(key_of(repo_, dig_)), size_(size) {}

  void next(ready_fn ready) override {
    try {
      next_piece(ready);
    } catch (const std::exception& e) { // the store's database, or out of file descriptors
      spdlog::error("relay: {} cannot be read: {}; response cut", key_, e.what());
      ready(false, {});
    }
  }

private:
  /// Calls `ready` once, now or from a wake-up, or stores it to be woken and
  /// throws nothing after that.
  void next_piece(const ready_fn& ready) {
    for (;;) {
      if (range_ && range_->left() > 0) return from_range(ready);
      range_.reset();
      std::unique_lock lock(st_->mu);
      auto it = st_->entries.find(key_);
      static const state::entry none;
      const auto& e = it != st_->entries.end() ? it->second : none;

      // What was sent is verified (or nothing was): the stored blob, if there.
      const bool verified = !from_ || from_->is == outcome::committed;
      if (verified && (!e.receiving || from_)) {
        if (auto b = st_->store->blob(repo_, dig_)) {
          lock.unlock();
          if (from_blob(b->path)) continue;
          spdlog::error("relay: cannot read {} from the store", key_);
          return ready(false, {});
        }
        if (from_) { // committed, then gone again
          lock.unlock();
          spdlog::warn("relay: {} left the store while being read; response cut", key_);
          return ready(false, {});
        }
      }

      if (e.receiving && !e.file.empty()) {
        if (from_ == e.current) {
          // Our upload's file, up to what is surely in it; the last byte
          // comes from the committed blob.
          const std::uint64_t until = std::min(e.in_file, size_ > 0 ? size_ - 1 : 0);
          if (offset_ < until) {
            auto path = e.file;
            auto current = e.current;
            lock.unlock();
            if (open_range(path, until - offset_) || !wait_for_end_of(current, ready)) continue;
            return;
          }
          return wait(it->second, ready);
        }
        // A new source: from the start, or once its file holds what we sent
        // and that compares equal.
        if (offset_ > e.in_file) return wait(it->second, ready);
        auto path = e.file;
        auto current = e.current;
        lock.unlock();
        switch (switch_to(path)) {
        case switched::yes:
          if (offset_ > 0) spdlog::info("relay: {} goes on from another upload (the {} bytes sent compared equal)", key_, offset_);
          from_ = std::move(current);
          continue;
        case switched::gone:
          if (wait_for_end_of(current, ready)) return;
          continue;
        case switched::differs:
          spdlog::error("relay: {} arrived again with other bytes than those sent; response cut", key_);
          return ready(false, {});
        }
      }

      // Sent from an upload that did not commit: the stored blob, once its
      // bytes compare equal to what we sent.
      if (!verified && !e.receiving) {
        if (auto b = st_->store->blob(repo_, dig_)) {
          lock.unlock();
          if (switch_to(b->path) == switched::yes && from_blob(b->path)) continue;
          spdlog::error("relay: {} was stored with other bytes than those sent; response cut", key_);
          return ready(false, {});
        }
      }

      // Not yet: wait, as long as something may still bring the blob.
      if (e.receiving || e.expected > 0) return wait(it->second, ready);
      lock.unlock();
      spdlog::warn("relay: {} stopped arriving at {} of {} bytes", key_, offset_, size_);
      return ready(false, {});
    }
  }

  enum class switched { yes, gone, differs };

  /// Under the state's mutex: `next` runs again at the entry's next change.
  void wait(state::entry& e, const ready_fn& ready) {
    e.waiters.push_back([self = shared_from_this(), ready] { self->next(ready); });
  }

  /// The file of upload `current` is gone: it is ending (its commit moved
  /// the file, or it failed). Waits for that end, unless it came already
  /// (false: look again now).
  bool wait_for_end_of(const std::shared_ptr<outcome>& current, const ready_fn& ready) {
    std::lock_guard lock(st_->mu);
    auto i = st_->entries.find(key_);
    if (i == st_->entries.end() || i->second.current != current) return false;
    wait(i->second, ready);
    return true;
  }

  /// Makes `path` the source of what comes next, once its first offset_
  /// bytes are what we sent.
  switched switch_to(const std::filesystem::path& path) {
    auto fd = store::fileio::open_if_exists(path, O_RDONLY);
    if (!fd) return switched::gone;
    if (offset_ > 0 && !(sent_from_ && same_prefix(sent_from_.get(), fd.get(), offset_))) return switched::differs;
    sent_from_ = std::move(fd);
    return switched::yes;
  }

  /// The stored (committed, verified) blob from here on.
  bool from_blob(const std::filesystem::path& path) {
    static const auto stored = std::make_shared<outcome>(outcome{outcome::committed});
    from_ = stored;
    return open_range(path, size_ - offset_);
  }

  /// Reads `length` bytes from our offset in `path` next; false if it cannot.
  bool open_range(const std::filesystem::path& path, std::uint64_t length) {
    try {
      range_.emplace(path, offset_, length);
      return true;
    } catch (const std::exception& e) {
      spdlog::debug("relay: {}: {}", key_, e.what());
      return false;
    }
  }

  void from_range(const ready_fn& ready) {
    std::string_view p;
    try {
      p = range_->next();
    } catch (const std::exception& e) {
      spdlog::error("relay: reading {}: {}", key_, e.what());
      return ready(false, {});
    }
    if (p.empty()) return ready(false, {});
    offset_ += p.size();
    ready(true, p);
  }

  std::shared_ptr<state> st_;
  std::string repo_;
  oci::digest dig_;
  std::string key_;
  std::uint64_t size_;
  std::uint64_t offset_ = 0;
  std::shared_ptr<outcome> from_;            // the upload what we sent came from; null: nothing sent
  store::fileio::unique_fd sent_from_;       // its file, kept open to compare with another source
  std::optional<store::range_reader> range_; // the next bytes to send
};

// ---- blob_relay -------------------------------------------------------------------

blob_relay::blob_relay(std::shared_ptr<store::registry_store> store)
    : st_(std::make_shared<state>(std::move(store))) {}

blob_relay::~blob_relay() = default;

std::shared_ptr<blob_relay::arrival> blob_relay::arriving(const std::string& repo, const oci::digest& d,
                                                          std::filesystem::path file) {
  auto key = key_of(repo, d);
  auto out = std::make_shared<outcome>();
  std::vector<std::function<void()>> woken;
  {
    std::lock_guard lock(st_->mu);
    auto& e = st_->entries[key];
    e.receiving = true;
    e.received = e.in_file = 0;
    e.file = std::move(file);
    e.current = out;
    woken = st_->wake(key);
  }
  run_all(std::move(woken));
  return std::make_shared<upload>(st_, std::move(key), std::move(out));
}

std::unique_ptr<body_handler> blob_relay::relayed(std::unique_ptr<body_handler> upload,
                                                 std::shared_ptr<arrival> arrival, std::function<void()> after) {
  return std::make_unique<relayed_upload>(std::move(upload), std::move(arrival), std::move(after));
}

void blob_relay::expect(const std::string& repo, const oci::digest& d, std::uint64_t size) {
  std::lock_guard lock(st_->mu);
  auto& e = st_->entries[key_of(repo, d)];
  ++e.expected;
  e.size = size;
}

void blob_relay::settle(const std::string& repo, const oci::digest& d) {
  auto key = key_of(repo, d);
  std::vector<std::function<void()>> woken;
  {
    std::lock_guard lock(st_->mu);
    auto i = st_->entries.find(key);
    if (i == st_->entries.end()) return;
    if (i->second.expected > 0) --i->second.expected;
    woken = st_->wake(key);
    st_->tidy(key);
  }
  run_all(std::move(woken));
}

void blob_relay::when_settled(const std::string& repo, const oci::digest& d, std::function<void()> then) {
  wait_settled(st_, repo, d, std::move(then));
}

void blob_relay::wait_settled(std::shared_ptr<state> st, std::string repo, oci::digest d,
                              std::function<void()> then) {
  {
    std::lock_guard lock(st->mu);
    auto i = st->entries.find(key_of(repo, d));
    // A running upload is not settled (its end wakes us); otherwise the
    // store is asked only while the blob is still expected.
    if (i != st->entries.end() &&
        (i->second.receiving || (i->second.expected > 0 && !st->store->blob(repo, d)))) {
      // Woken by every change of the entry; looks again then.
      i->second.waiters.push_back([st, repo, d, then = std::move(then)]() mutable {
        wait_settled(std::move(st), std::move(repo), std::move(d), std::move(then));
      });
      return;
    }
  }
  then();
}

std::optional<streamed_body> blob_relay::open(const std::string& repo, const oci::digest& d) {
  std::uint64_t size;
  {
    std::lock_guard lock(st_->mu);
    auto i = st_->entries.find(key_of(repo, d));
    if (i == st_->entries.end() || i->second.expected == 0) return std::nullopt;
    size = i->second.size;
  }
  return streamed_body{std::make_shared<reader>(st_, repo, d, size), size};
}

} // namespace stowage::net
