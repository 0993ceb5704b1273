#include "net/blob_relay.hpp"

#include "store/range_reader.hpp"

#include <spdlog/spdlog.h>

#include <deque>
#include <map>
#include <mutex>
#include <vector>

namespace stowage::net {

namespace {

std::string key_of(const std::string& repo, const oci::digest& d) { return repo + '@' + d.str(); }

struct piece {
  std::uint64_t offset = 0;
  std::shared_ptr<const std::string> bytes;
};

} // namespace

/// Buffers for arrived pieces, reused: a fresh half-MiB allocation per piece
/// costs more in page faults than copying the bytes (measured: half of the
/// copy's time went to faulting in new pages).
class piece_pool : public std::enable_shared_from_this<piece_pool> {
public:
  std::shared_ptr<const std::string> copy(const char* p, std::size_t n) {
    if (n < min_capacity / 2) return std::make_shared<const std::string>(p, n); // small: not worth a big buffer
    std::unique_ptr<std::string> buf;
    {
      std::lock_guard lock(mu_);
      if (!free_.empty()) {
        buf = std::move(free_.back());
        free_.pop_back();
      }
    }
    if (!buf) {
      buf = std::make_unique<std::string>();
      buf->reserve(std::max(n, min_capacity)); // one size fits every piece the server hands over
    }
    buf->assign(p, n);
    return {buf.release(), [pool = shared_from_this()](const std::string* s) { pool->give_back(s); }};
  }

private:
  static constexpr std::size_t keep = 24;                 // a window of half-MiB pieces, and what readers hold
  static constexpr std::size_t min_capacity = 512 * 1024; // the server's largest body piece

  void give_back(const std::string* s) {
    std::unique_ptr<std::string> buf(const_cast<std::string*>(s));
    std::lock_guard lock(mu_);
    if (free_.size() < keep) free_.push_back(std::move(buf));
  }

  std::mutex mu_;
  std::vector<std::unique_ptr<std::string>> free_;
};

/// How one upload ended, under the state's mutex. Readers that check by
/// commit keep the outcome of the upload they read from, which may outlive
/// its entry.
struct blob_relay::outcome {
  enum { running, committed, failed } is = running;
};

// Everything the relay knows, under one mutex; uploads and readers hold it
// shared, so either may outlive the owner's relay object.
struct blob_relay::state {
  state(std::shared_ptr<store::registry_store> c, check h) : cache(std::move(c)), how(h) {}

  std::shared_ptr<piece_pool> pool = std::make_shared<piece_pool>();

  struct entry {
    std::uint32_t expected = 0;   // pulls in flight that bring it
    std::uint64_t size = 0;       // as the expecting pulls' manifest says
    std::uint64_t generation = 0; // of the current upload; 0: none yet
    bool receiving = false;       // the current upload is still under way
    std::deque<piece> pieces;     // its bytes [base, received), at most `window` (+1 piece)
    std::uint64_t base = 0, received = 0;
    std::filesystem::path file;   // the current upload's file: bytes [0, base) are in it
    std::shared_ptr<outcome> current; // of the current upload
    std::vector<std::function<void()>> waiters; // readers waiting for a change
  };

  std::shared_ptr<store::registry_store> cache;
  const check how;
  mutable std::mutex mu;
  std::map<std::string, entry> entries;
  std::uint64_t next_generation = 1;

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
  upload(std::shared_ptr<state> st, std::string key, std::uint64_t generation, std::shared_ptr<outcome> out,
         bool from_file)
      : st_(std::move(st)), key_(std::move(key)), generation_(generation), outcome_(std::move(out)),
        from_file_(from_file) {}
  ~upload() override { end(false); }

  void data(const char* p, std::size_t n) override {
    if (n == 0 || ended_) return;
    if (from_file_) return follow(n);
    auto bytes = st_->pool->copy(p, n); // shared with readers still sending it
    std::vector<std::function<void()>> woken;
    {
      std::lock_guard lock(st_->mu);
      auto i = st_->entries.find(key_);
      if (i == st_->entries.end() || i->second.generation != generation_) return; // replaced by a newer upload
      auto& e = i->second;
      e.pieces.push_back({e.received, std::move(bytes)});
      e.received += n;
      while (e.pieces.size() > 1 && e.received - e.base > window) {
        e.base += e.pieces.front().bytes->size();
        e.pieces.pop_front();
      }
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
      auto& e = i->second;
      if (e.generation != generation_) return;
      // Committed: readers continue from the cache file. Failed: they wait
      // for another upload (a retried pull) or the end of the pulls.
      e.receiving = false;
      e.pieces.clear();
      e.base = e.received = 0;
      e.file.clear();
      e.current.reset();
      if (!committed) spdlog::debug("relay: upload of {} ended without a commit", key_);
      woken = st_->wake(key_);
      st_->tidy(key_);
    }
    run_all(std::move(woken));
  }

private:
  /// Checked by commit, readers take every byte from the upload's file: all
  /// but the last upload_writer::max_unwritten bytes taken are in it, and
  /// nothing is copied. They are woken once a piece's worth more is there.
  void follow(std::size_t n) {
    std::vector<std::function<void()>> woken;
    {
      std::lock_guard lock(st_->mu);
      auto i = st_->entries.find(key_);
      if (i == st_->entries.end() || i->second.generation != generation_) return;
      auto& e = i->second;
      e.received += n;
      const std::uint64_t in_file =
        e.received > store::upload_writer::max_unwritten ? e.received - store::upload_writer::max_unwritten : 0;
      if (in_file < e.base + store::range_reader::piece_size) return;
      e.base = in_file;
      woken = st_->wake(key_);
    }
    run_all(std::move(woken));
  }

  std::shared_ptr<state> st_;
  std::string key_;
  std::uint64_t generation_;
  std::shared_ptr<outcome> outcome_;
  bool from_file_ = false;
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
    arrival_->data(p, n); // after the store took it
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
    for (;;) {
      if (file_ && file_->left() > 0) return from_file(ready);
      file_.reset();
      std::unique_lock lock(st_->mu);
      auto it = st_->entries.find(key_);
      static const state::entry none;
      const auto& e = it != st_->entries.end() ? it->second : none;
      if (by_commit() && from_ && (from_->is == outcome::failed || (e.receiving && e.current != from_))) {
        lock.unlock();
        spdlog::debug("relay: the upload {} was read from did not commit; response cut", key_);
        return ready(false, {});
      }
      // Checked by commit, the last byte comes from the committed blob only.
      const std::uint64_t end_of_running = by_commit() && size_ > 0 ? size_ - 1 : size_;
      if (e.receiving && offset_ >= end_of_running && offset_ < e.received) {
        it->second.waiters.push_back([self = shared_from_this(), ready] { self->next(ready); });
        return;
      }
      if (e.receiving && offset_ >= e.base && offset_ < e.received) {
        // The piece holding our offset (pieces are contiguous from base).
        for (const auto& p : e.pieces) {
          if (offset_ < p.offset + p.bytes->size()) {
            held_ = p.bytes;
            from_ = e.current;
            auto skip = static_cast<std::size_t>(offset_ - p.offset);
            lock.unlock();
            return hand_out(std::string_view(*held_).substr(skip, end_of_running - offset_), ready);
          }
        }
      }
      // Ahead of a running upload: its next bytes (or its end) wake us.
      if (e.receiving && offset_ >= e.received) {
        it->second.waiters.push_back([self = shared_from_this(), ready] { self->next(ready); });
        return;
      }
      // Behind the window of a running upload: those bytes are in its file
      // (read up to where the window starts, then look again).
      if (e.receiving && offset_ < e.base && !e.file.empty()) {
        auto path = e.file;
        auto length = std::min(e.base, end_of_running) - offset_;
        auto generation = e.generation;
        from_ = e.current;
        lock.unlock();
        if (open_file(path, length).empty()) continue;
        // Gone: the upload is ending (its commit moved the file, or it
        // failed). Its end wakes us; look again then.
        lock.lock();
        auto i = st_->entries.find(key_);
        if (i != st_->entries.end() && i->second.receiving && i->second.generation == generation) {
          i->second.waiters.push_back([self = shared_from_this(), ready] { self->next(ready); });
          return;
        }
        continue;
      }
      // Between uploads, or the last one ended: the cache may have the blob.
      if (auto b = st_->cache->blob(repo_, dig_)) {
        if (by_commit() && from_ && from_->is != outcome::committed) {
          lock.unlock();
          spdlog::debug("relay: {} was committed by another upload than the one read from; response cut", key_);
          return ready(false, {});
        }
        lock.unlock();
        auto error = open_file(b->path, size_ - offset_);
        if (error.empty()) continue;
        spdlog::error("relay: cannot read {} from the cache: {}", key_, error);
        return ready(false, {});
      }
      // Not yet: wait, as long as something may still bring the blob.
      if (e.receiving || e.expected > 0) {
        it->second.waiters.push_back([self = shared_from_this(), ready] { self->next(ready); });
        return;
      }
      lock.unlock();
      spdlog::warn("relay: {} stopped arriving at {} of {} bytes", key_, offset_, size_);
      return ready(false, {});
    }
  }

private:
  /// Reads `length` bytes from our offset in `path` next; the error if it cannot.
  std::string open_file(const std::filesystem::path& path, std::uint64_t length) {
    try {
      file_.emplace(path, offset_, length);
      return {};
    } catch (const std::exception& e) {
      return e.what();
    }
  }

  void from_file(const ready_fn& ready) {
    std::string_view p;
    try {
      p = file_->next();
    } catch (const std::exception& e) {
      spdlog::error("relay: reading {} from the cache: {}", key_, e.what());
      return ready(false, {});
    }
    if (p.empty()) return ready(false, {});
    hand_out(p, ready);
  }

  bool by_commit() const { return st_->how == check::commit; }

  // Checked by digest, every byte handed out is hashed, and the piece that
  // completes the blob goes out only if the whole matches the digest.
  void hand_out(std::string_view p, const ready_fn& ready) {
    p = p.substr(0, static_cast<std::size_t>(size_ - offset_));
    offset_ += p.size();
    if (by_commit()) return ready(true, p);
    hasher_.update(p);
    if (offset_ == size_ && hasher_.finish() != dig_) {
      spdlog::error("relay: {} did not match its digest; response cut", key_);
      return ready(false, {});
    }
    ready(true, p);
  }

  std::shared_ptr<state> st_;
  std::string repo_;
  oci::digest dig_;
  std::string key_;
  std::uint64_t size_;
  std::uint64_t offset_ = 0;
  oci::sha256_hasher hasher_;
  std::shared_ptr<const std::string> held_; // the live piece last handed out
  std::shared_ptr<outcome> from_;           // checked by commit: the upload read from, once one was
  std::optional<store::range_reader> file_; // the upload's file or the committed blob, a range of it
};

// ---- blob_relay -------------------------------------------------------------------

blob_relay::blob_relay(std::shared_ptr<store::registry_store> cache, check how)
    : st_(std::make_shared<state>(std::move(cache), how)) {}

blob_relay::~blob_relay() = default;

std::shared_ptr<blob_relay::arrival> blob_relay::arriving(const std::string& repo, const oci::digest& d,
                                                          std::filesystem::path file) {
  auto key = key_of(repo, d);
  std::uint64_t generation;
  auto out = std::make_shared<outcome>();
  const bool from_file = st_->how == check::commit && !file.empty();
  std::vector<std::function<void()>> woken;
  {
    std::lock_guard lock(st_->mu);
    auto& e = st_->entries[key];
    generation = e.generation = st_->next_generation++;
    e.receiving = true;
    e.pieces.clear();
    e.base = e.received = 0;
    e.file = std::move(file);
    e.current = out;
    woken = st_->wake(key);
  }
  run_all(std::move(woken));
  return std::make_shared<upload>(st_, std::move(key), generation, std::move(out), from_file);
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
    // cache is asked only while a pull still expects the blob.
    if (i != st->entries.end() &&
        (i->second.receiving || (i->second.expected > 0 && !st->cache->blob(repo, d)))) {
      // Woken by every change of the entry; looks again then.
      i->second.waiters.push_back([st, repo, d, then = std::move(then)]() mutable {
        wait_settled(std::move(st), std::move(repo), std::move(d), std::move(then));
      });
      return;
    }
  }
  then();
}

std::unique_ptr<body_handler> blob_relay::relayed(std::unique_ptr<body_handler> upload,
                                                 std::shared_ptr<arrival> arrival, std::function<void()> after) {
  return std::make_unique<relayed_upload>(std::move(upload), std::move(arrival), std::move(after));
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
