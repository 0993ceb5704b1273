// Boost.Beast session code. Kept in this one file because it is the slow one
// to compile; everything protocol-specific lives behind http_handler.
//
// Measured on this machine (see the notes on Beast 1.74): a default
// flat_buffer reads 512 bytes per recv, so the buffer is reserved; and
// body_limit(none) does not lift the 1 MB default, so the limit is set to the
// largest uint64_t.
//
// The hot paths skip Beast's body machinery:
// - A body with a Content-Length is read straight from the socket into one
//   buffer that goes to the handler (which hashes it and write()s it from
//   there): no parser copy, few large pieces. Chunked bodies go through the
//   parser (buffer_body).
// - A handler's on_end (an upload's commit: fsync, rename, SQLite) runs on a
//   small worker pool, so an io thread never waits for an fsync while other
//   connections have bytes to receive.
// - File responses go out as buffer_body fed in 1 MiB pieces by
//   store::range_reader (page cache when cached, O_DIRECT otherwise): 1.6-2.3
//   GB/s here, against 0.5 GB/s for file_body; sendfile(2) lost on loopback
//   (0.36-0.62 s against 0.24-0.43 s for a 256 MiB blob).
// - Streamed bodies (a blob relayed while it arrives) go out the same way,
//   each piece asked of the handler's body_source once the last was written.
#include "net/http_server.hpp"

#include "net/receive_low_water.hpp"

#include "store/range_reader.hpp"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <spdlog/spdlog.h>

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <limits>
#include <mutex>
#include <thread>
#include <tuple>
#include <unordered_map>
#include <utility>

namespace stowage::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

/// One piece of a request body handed to the handler. Half a MiB: few
/// write()s per blob, and the piece is still in the CPU's cache when it is
/// hashed and copied on (to the appender's buffer or the page cache) right
/// after the recv.
constexpr std::size_t read_chunk_size = 512 * 1024;
constexpr std::size_t buffer_reserve = 256 * 1024;

/// A 500 after which the connection closes (its state is not trusted).
response closing_error(std::string text) {
  response r;
  r.status = 500;
  r.body = std::move(text);
  r.close = true;
  return r;
}
constexpr std::uint64_t no_limit = std::numeric_limits<std::uint64_t>::max();


/// Bodies up to this size are read and dropped when the answer came before
/// them; larger ones end the connection.
constexpr std::uint64_t discard_limit = 1024 * 1024;
/// At most this much is swallowed after answering when closing with a body unread.
constexpr std::uint64_t linger_limit = 64 * 1024 * 1024;

/// Reads a body nobody wants, then gives the answer decided before it.
class discard_then_answer final : public body_handler {
public:
  explicit discard_then_answer(response r) : r_(std::move(r)) {}
  bool on_data(const char*, std::size_t) override { return true; }
  void on_end(bool complete, responder respond) override {
    if (!complete) r_.close = true;
    respond(std::move(r_));
  }

private:
  response r_;
};

class session;

/// Callbacks a session hands outside the server (a responder, a body
/// source's `ready`) may run after the server is gone: the cluster can
/// answer a pull that was waiting when the node stopped. They hold the
/// session weakly and reach it through this, which the server closes when
/// it stops; meanwhile the server holds the session (server_state::parked).
struct way_back {
  std::mutex mu;
  bool open = true;
};

/// What sessions share with the server: the handler, options and the set of
/// live sessions (for a graceful stop).
struct server_state {
  http_handler& handler;
  http_server_options opts;
  std::atomic<bool> stopping{false};
  std::mutex mu;
  std::unordered_map<session*, std::weak_ptr<session>> sessions;
  /// Sessions waiting for a callback from outside (see way_back): nothing
  /// else holds them then. Dropped when the server stops, while what they
  /// use (this state, the io_context) still exists.
  std::unordered_map<session*, std::shared_ptr<session>> parked;
  std::shared_ptr<way_back> back = std::make_shared<way_back>();
  /// Where bodies end (on_end may fsync): off the io threads.
  asio::thread_pool blocking;

  server_state(http_handler& h, http_server_options o)
      : handler(h), opts(std::move(o)), blocking(std::max<std::size_t>(2, opts.threads)) {}
};

/// See request::from_this_host. An IPv4 client on a dual-stack socket
/// shows as ::ffff:a.b.c.d, loopback too.
bool on_this_host(const tcp::socket& s) {
  beast::error_code ec1, ec2;
  const auto peer = s.remote_endpoint(ec1).address();
  const auto self = s.local_endpoint(ec2).address();
  if (ec1 || ec2) return false;
  auto v4 = [](const asio::ip::address& a) {
    if (a.is_v6() && a.to_v6().is_v4_mapped()) return asio::ip::address(asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6()));
    return a;
  };
  return v4(peer).is_loopback() || peer == self;
}

class session : public std::enable_shared_from_this<session> {
public:
  session(tcp::socket&& s, server_state& st)
      : from_this_host_(on_this_host(s)), stream_(std::move(s)), st_(st) {
    buf_.reserve(buffer_reserve);
  }
  ~session() {
    std::lock_guard lk(st_.mu);
    st_.sessions.erase(this);
  }

  void run() {
    {
      std::lock_guard lk(st_.mu);
      st_.sessions.emplace(this, weak_from_this());
    }
    asio::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->read_header(); });
  }

  /// A callback for outside the server that runs `f(session&, args…)` on
  /// this session's strand, if the server still runs then (see way_back).
  /// The session is parked until it is called; dropped uncalled (its holder
  /// went away), it unparks the session, which then closes.
  template <class F>
  auto from_outside(F f) {
    {
      std::lock_guard lk(st_.mu);
      st_.parked[this] = shared_from_this();
    }
    struct ticket { // one per callback, shared by its copies; never copied itself
      std::shared_ptr<way_back> back;
      std::weak_ptr<session> weak;
      bool used = false;
      ticket(std::shared_ptr<way_back> b, std::weak_ptr<session> w) : back(std::move(b)), weak(std::move(w)) {}
      ticket(const ticket&) = delete;
      ~ticket() {
        if (!used) come_back(back, weak, [](session&) {});
      }
    };
    auto t = std::make_shared<ticket>(st_.back, weak_from_this());
    return [t, f = std::move(f)](auto&&... args) mutable {
      t->used = true;
      come_back(t->back, t->weak,
                [f = std::move(f), args = std::make_tuple(std::forward<decltype(args)>(args)...)](session& s) mutable {
                  std::apply([&](auto&&... a) { f(s, std::forward<decltype(a)>(a)...); }, std::move(args));
                });
    };
  }

  /// Unparks the session and runs `g` on its strand, unless the server stopped.
  template <class G>
  static void come_back(const std::shared_ptr<way_back>& back, const std::weak_ptr<session>& weak, G g) {
    std::lock_guard lk(back->mu);
    if (!back->open) return;
    auto self = weak.lock();
    if (!self) return;
    asio::post(self->stream_.get_executor(), [self, g = std::move(g)]() mutable {
      {
        std::lock_guard lk(self->st_.mu);
        self->st_.parked.erase(self.get());
      }
      g(*self);
    });
  }

  /// Called on stop: an idle connection is closed now, a busy one after its response.
  void close_if_idle() {
    asio::post(stream_.get_executor(), [self = shared_from_this()] {
      if (self->idle_) self->close();
    });
  }

private:
  void read_header() {
    if (st_.stopping) return close();
    low_water_.set(stream_.socket().native_handle(), 1); // a header may be a few bytes
    idle_ = true;
    header_parser_.emplace();
    header_parser_->body_limit(no_limit);
    header_parser_->header_limit(64 * 1024);
    stream_.expires_after(st_.opts.idle_timeout);
    http::async_read_header(stream_, buf_, *header_parser_,
                            [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_header(ec); });
  }

  void on_header(beast::error_code ec) {
    idle_ = false;
    if (ec) {
      if (ec != http::error::end_of_stream && ec != asio::error::operation_aborted &&
          ec != beast::error::timeout && ec != asio::error::connection_reset && ec != asio::error::eof) {
        // A malformed request: say so and hang up.
        spdlog::debug("{}: unreadable request: {}", st_.opts.name, ec.message());
        started_ = std::chrono::steady_clock::now();
        req_ = request{};
        auto r = st_.handler.malformed(ec.message());
        r.close = true;
        version_ = 11;
        head_ = false;
        return send(std::move(r));
      }
      return close();
    }
    started_ = std::chrono::steady_clock::now();
    auto& m = header_parser_->get();
    req_ = request{};
    req_.method = std::string(m.method_string());
    req_.from_this_host = from_this_host_;
    for (const auto& f : m) req_.headers.add(std::string(f.name_string()), std::string(f.value()));
    req_.chunked = header_parser_->chunked();
    if (auto cl = header_parser_->content_length()) req_.content_length = *cl;
    head_ = m.method() == http::verb::head;
    version_ = m.version();
    keep_alive_ = m.keep_alive();
    if (!req_.set_target(m.target())) {
      auto r = st_.handler.malformed("bad query string");
      r.close = req_.has_body();
      return send(std::move(r));
    }

    route_result rr;
    try {
      rr = st_.handler.route(req_);
    } catch (const std::exception& e) {
      spdlog::error("{}: handler failed on {} {}: {}", st_.opts.name, req_.method, req_.target, e.what());
      rr = route_result::answer(closing_error("internal error\n"));
    }
    const bool expect_continue = iequals(m[http::field::expect], "100-continue");
    if (rr.reply) {
      if (!req_.has_body()) return send(std::move(*rr.reply));
      // Answered before the body. A small body that is on its way anyway is
      // read and dropped, so the connection stays usable; otherwise the
      // connection closes after the answer (and the client that waits for
      // 100 Continue never sends the body).
      if (!expect_continue && !req_.chunked && req_.content_length && *req_.content_length <= discard_limit) {
        body_handler_ = std::make_unique<discard_then_answer>(std::move(*rr.reply));
        return start_body();
      }
      rr.reply->close = true;
      unread_body_ = true;
      return send(std::move(*rr.reply));
    }
    body_handler_ = std::move(rr.body);
    if (!body_handler_) return send(closing_error("no handler\n"));
    if (!req_.has_body()) return finish_body(true);

    if (expect_continue) {
      continue_.emplace(http::status::continue_, version_);
      stream_.expires_after(st_.opts.io_timeout);
      return http::async_write(stream_, *continue_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
        self->continue_.reset();
        if (ec) return self->abort_body();
        self->start_body();
      });
    }
    start_body();
  }

  void start_body() {
    if (!chunk_) chunk_ = std::make_unique<char[]>(read_chunk_size);
    if (!req_.chunked && req_.content_length) return start_raw_body(*req_.content_length);
    body_parser_.emplace(std::move(*header_parser_));
    header_parser_.reset();
    body_parser_->body_limit(no_limit);
    read_chunk();
  }

  // ---- bodies with a Content-Length: straight from the socket -------------
  void start_raw_body(std::uint64_t length) {
    header_parser_.reset();
    body_left_ = length;
    chunk_fill_ = 0;
    // The header read may have pulled in the start of the body.
    auto have = static_cast<std::size_t>(std::min<std::uint64_t>(buf_.size(), body_left_));
    if (have > 0) {
      while (have > 0) {
        std::size_t n = std::min(have, read_chunk_size - chunk_fill_);
        asio::buffer_copy(asio::buffer(chunk_.get() + chunk_fill_, n), buf_.data(), n);
        buf_.consume(n);
        chunk_fill_ += n;
        body_left_ -= n;
        have -= n;
        if ((chunk_fill_ == read_chunk_size || body_left_ == 0) && !deliver_raw()) return;
      }
      if (body_left_ == 0) return finish_body(true);
    }
    read_raw();
  }

  void read_raw() {
    auto want = static_cast<std::size_t>(std::min<std::uint64_t>(read_chunk_size - chunk_fill_, body_left_));
    // One read at a time (not asio::async_read's loop): the low-water mark
    // must shrink with what the body still owes. (A body slower than a
    // quarter MiB per io_timeout is cut: under 1 KB/s.)
    low_water_.set(stream_.socket().native_handle(), want);
    stream_.expires_after(st_.opts.io_timeout);
    stream_.async_read_some(asio::buffer(chunk_.get() + chunk_fill_, want),
                            [self = shared_from_this()](beast::error_code ec, std::size_t n) { self->on_raw(ec, n); });
  }

  void on_raw(beast::error_code ec, std::size_t n) {
    chunk_fill_ += n;
    body_left_ -= n;
    if (ec) {
      spdlog::debug("{}: body of {} {} cut short: {}", st_.opts.name, req_.method, req_.target, ec.message());
      return abort_body();
    }
    if ((chunk_fill_ == read_chunk_size || body_left_ == 0) && !deliver_raw()) return;
    if (body_left_ == 0) return finish_body(true);
    read_raw();
  }

  /// Hands the filled buffer to the handler; false when it refused (and the
  /// request has been ended).
  bool deliver_raw() {
    std::size_t n = std::exchange(chunk_fill_, 0);
    if (n == 0 || body_handler_->on_data(chunk_.get(), n)) return true;
    keep_alive_ = false; // the rest of the body stays unread
    unread_body_ = true;
    finish_body(false);
    return false;
  }

  void read_chunk() {
    auto& b = body_parser_->get().body();
    b.data = chunk_.get();
    b.size = read_chunk_size;
    stream_.expires_after(st_.opts.io_timeout);
    http::async_read(stream_, buf_, *body_parser_,
                     [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_chunk(ec); });
  }

  void on_chunk(beast::error_code ec) {
    if (ec == http::error::need_buffer) ec = {};
    if (ec) {
      spdlog::debug("{}: body of {} {} cut short: {}", st_.opts.name, req_.method, req_.target, ec.message());
      return abort_body();
    }
    std::size_t got = read_chunk_size - body_parser_->get().body().size;
    if (got > 0 && !body_handler_->on_data(chunk_.get(), got)) {
      keep_alive_ = false; // the rest of the body stays unread
      unread_body_ = true;
      return finish_body(false);
    }
    if (body_parser_->is_done()) return finish_body(true);
    read_chunk();
  }

  /// The client went away (or sent garbage) mid-body: let the handler clean
  /// up, answer nothing. On the pool like finish_body: the cleanup may wait
  /// for a write and an fdatasync in flight, or commit to SQLite.
  void abort_body() {
    auto cleanup = [h = std::move(body_handler_), &st = st_] {
      if (!h) return;
      try {
        h->on_end(false, [](response) {});
      } catch (const std::exception& e) {
        spdlog::error("{}: handler cleanup failed: {}", st.opts.name, e.what());
      }
    };
    // Once the server stops, its pool may be joined already: inline then.
    if (st_.stopping) cleanup();
    else asio::post(st_.blocking, std::move(cleanup));
    close();
  }

  void finish_body(bool complete) {
    // The handler goes to the pool with the task, so it is destroyed there
    // after on_end returned, never under it.
    asio::post(st_.blocking, [self = shared_from_this(), h = std::move(body_handler_), complete]() mutable {
      responder respond = self->from_outside([](session& s, response r) { s.send(std::move(r)); });
      try {
        h->on_end(complete, std::move(respond));
      } catch (const std::exception& e) {
        spdlog::error("{}: handler failed on {} {}: {}", self->st_.opts.name, self->req_.method, self->req_.target,
                      e.what());
        asio::post(self->stream_.get_executor(), [self] { self->send(closing_error("internal error\n")); });
      }
    });
  }

  template <class Body>
  void fill_header(http::response<Body>& res, const response& r, bool keep) {
    for (const auto& [k, v] : r.headers.fields()) res.set(k, v);
    res.set("Docker-Distribution-API-Version", "registry/2.0");
    if (r.status != 204 && r.status != 304 && !(r.status >= 100 && r.status < 200))
      res.content_length(r.content_length());
    res.keep_alive(keep);
  }

  void send(response r) {
    body_handler_.reset();
    const bool keep = keep_alive_ && !r.close && !st_.stopping;
    const bool ok = r.status >= 200 && r.status < 300;
    spdlog::debug("{}: {} {} -> {} ({} bytes, {} us)", st_.opts.name, req_.method, req_.target, r.status,
                  r.content_length(),
                  std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - started_)
                      .count());
    if (r.file && ok && !head_) return send_file(std::move(r), keep);
    if (r.stream && ok && !head_) return send_stream(std::move(r), keep);

    auto res = std::make_shared<http::response<http::string_body>>(static_cast<http::status>(r.status), version_);
    fill_header(*res, r, keep);
    if (!head_ && !r.file && !r.stream) res->body() = std::move(r.body);
    stream_.expires_after(st_.opts.io_timeout);
    http::async_write(stream_, *res, [self = shared_from_this(), res, keep](beast::error_code ec, std::size_t) {
      self->after_write(ec, keep);
    });
  }

  void send_file(response r, bool keep) {
    try {
      if (r.file->fd)
        file_.emplace(store::fileio::duplicate(r.file->fd->get(), r.file->path), r.file->path, r.file->offset,
                      r.file->length);
      else
        file_.emplace(r.file->path, r.file->offset, r.file->length);
    } catch (const std::exception& e) {
      spdlog::error("{}: cannot read {}: {}", st_.opts.name, r.file->path.string(), e.what());
      return send(closing_error("cannot read blob\n"));
    }
    write_piecewise_header(r, keep, &session::write_file_chunk);
  }

  void send_stream(response r, bool keep) {
    source_ = std::move(r.stream->source);
    source_left_ = r.stream->length;
    write_piecewise_header(r, keep, &session::write_stream_piece);
  }

  // A file or streamed body goes out as a header, then pieces, each asked
  // for once the previous one was written.
  using piece_step = void (session::*)(bool keep);

  void write_piecewise_header(const response& r, bool keep, piece_step next) {
    piece_res_.emplace(static_cast<http::status>(r.status), version_);
    fill_header(*piece_res_, r, keep);
    piece_res_->body().data = nullptr;
    piece_res_->body().more = true;
    piece_sr_.emplace(*piece_res_);
    stream_.expires_after(st_.opts.io_timeout);
    http::async_write_header(stream_, *piece_sr_, [self = shared_from_this(), keep, next](beast::error_code ec, std::size_t) {
      if (ec) return self->end_pieces(ec, keep);
      ((*self).*next)(keep);
    });
  }

  void write_piece(std::string_view piece, bool more, bool keep, piece_step next) {
    auto& body = piece_res_->body();
    body.data = piece.empty() ? nullptr : const_cast<char*>(piece.data());
    body.size = piece.size();
    body.more = more;
    stream_.expires_after(st_.opts.io_timeout);
    http::async_write(stream_, *piece_sr_, [self = shared_from_this(), keep, next](beast::error_code ec, std::size_t) {
      if (ec == http::error::need_buffer) ec = {};
      if (ec) return self->end_pieces(ec, keep);
      if (self->piece_sr_->is_done()) return self->end_pieces(ec, keep);
      ((*self).*next)(keep);
    });
  }

  void write_file_chunk(bool keep) {
    std::string_view piece;
    try {
      piece = file_->next();
    } catch (const std::exception& e) {
      // The file shrank or vanished under us: the length promised cannot be kept.
      spdlog::error("{}: serving {}: {}", st_.opts.name, req_.target, e.what());
      return end_pieces(asio::error::broken_pipe, false);
    }
    write_piece(piece, file_->left() > 0, keep, &session::write_file_chunk);
  }

  void write_stream_piece(bool keep) {
    if (source_left_ == 0) return write_piece({}, false, keep, &session::write_stream_piece);
    source_->next(from_outside([keep](session& s, bool ok, std::string_view piece) {
      if (!ok || piece.empty() || piece.size() > s.source_left_) {
        // The promised body cannot be completed: cut the connection.
        spdlog::warn("{}: {} {}: body cut short with {} bytes unsent", s.st_.opts.name, s.req_.method, s.req_.target,
                     s.source_left_);
        return s.end_pieces(asio::error::broken_pipe, false);
      }
      s.source_left_ -= piece.size();
      s.write_piece(piece, s.source_left_ > 0, keep, &session::write_stream_piece);
    }));
  }

  void end_pieces(beast::error_code ec, bool keep) {
    piece_sr_.reset();
    piece_res_.reset();
    file_.reset();
    source_.reset();
    after_write(ec, keep);
  }

  void after_write(beast::error_code ec, bool keep) {
    if (ec || !keep) return close();
    read_header();
  }

  void close() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    if (unread_body_ && !ec) {
      // Closing with unread bytes in the receive queue makes the kernel send
      // a reset, which can destroy our answer before the client reads it.
      // Swallow what the client still sends, for a moment.
      unread_body_ = false;
      return linger(0);
    }
    stream_.close();
  }

  void linger(std::uint64_t drained) {
    if (!chunk_) chunk_ = std::make_unique<char[]>(read_chunk_size);
    stream_.expires_after(std::chrono::seconds(2));
    stream_.async_read_some(asio::buffer(chunk_.get(), read_chunk_size),
                            [self = shared_from_this(), drained](beast::error_code ec, std::size_t n) {
                              if (ec || drained + n > linger_limit) return self->stream_.close();
                              self->linger(drained + n);
                            });
  }

  const bool from_this_host_; // before stream_: computed from the socket before it moves there
  beast::tcp_stream stream_;
  server_state& st_;
  beast::flat_buffer buf_;
  std::optional<http::request_parser<http::empty_body>> header_parser_;
  std::optional<http::request_parser<http::buffer_body>> body_parser_;
  std::optional<http::response<http::empty_body>> continue_;
  std::unique_ptr<char[]> chunk_;
  std::unique_ptr<body_handler> body_handler_;
  std::uint64_t body_left_ = 0; // bytes of a Content-Length body still to read
  std::size_t chunk_fill_ = 0;  // bytes waiting in chunk_ for the handler
  receive_low_water low_water_;
  request req_;
  bool head_ = false, keep_alive_ = true, idle_ = false, unread_body_ = false;
  unsigned version_ = 11;
  std::chrono::steady_clock::time_point started_;
  // file responses
  std::optional<store::range_reader> file_;
  std::shared_ptr<body_source> source_;
  std::uint64_t source_left_ = 0;
  std::optional<http::response<http::buffer_body>> piece_res_;
  std::optional<http::response_serializer<http::buffer_body>> piece_sr_;
};

} // namespace

struct http_server::impl {
  server_state st;
  asio::io_context ioc;
  tcp::acceptor acceptor{asio::make_strand(ioc)};
  std::vector<std::thread> threads;
  std::uint16_t port = 0;
  bool stopped = false;

  impl(http_handler& h, http_server_options o) : st(h, std::move(o)), ioc(int(std::max(1u, st.opts.threads))) {}

  void accept() {
    acceptor.async_accept(asio::make_strand(ioc), [this](beast::error_code ec, tcp::socket s) {
      if (ec) {
        if (!acceptor.is_open()) return;
        spdlog::warn("{}: accept failed: {}", st.opts.name, ec.message());
      } else {
        beast::error_code ig;
        s.set_option(tcp::no_delay(true), ig);
        std::make_shared<session>(std::move(s), st)->run();
      }
      accept();
    });
  }
};

http_server::http_server(http_handler& handler, http_server_options opts)
    : impl_(std::make_unique<impl>(handler, std::move(opts))) {}

http_server::~http_server() { stop(std::chrono::milliseconds(0)); }

void http_server::start() {
  auto& o = impl_->st.opts;
  beast::error_code ec;
  auto addr = asio::ip::make_address(o.host, ec);
  if (ec) {
    // A host name: resolve it once.
    asio::ip::tcp::resolver res(impl_->ioc);
    auto r = res.resolve(o.host, std::to_string(o.port), ec);
    if (ec || r.empty()) throw std::runtime_error("cannot resolve " + o.host + ": " + ec.message());
    addr = r.begin()->endpoint().address();
  }
  tcp::endpoint ep(addr, o.port);
  auto& a = impl_->acceptor;
  a.open(ep.protocol(), ec);
  if (!ec) a.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) a.bind(ep, ec);
  if (!ec) a.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) throw std::runtime_error("cannot listen on " + o.host + ":" + std::to_string(o.port) + ": " + ec.message());
  impl_->port = a.local_endpoint().port();
  impl_->accept();
  for (unsigned i = 0; i < std::max(1u, o.threads); ++i)
    impl_->threads.emplace_back([this] {
      for (;;) {
        try {
          impl_->ioc.run();
          return;
        } catch (const std::exception& e) {
          spdlog::error("{}: io thread: {}", impl_->st.opts.name, e.what());
        }
      }
    });
}

std::uint16_t http_server::port() const { return impl_->port; }

void http_server::stop(std::chrono::milliseconds grace) {
  auto& im = *impl_;
  if (im.stopped) return;
  im.stopped = true;
  im.st.stopping = true;
  asio::post(im.acceptor.get_executor(), [&im] {
    beast::error_code ec;
    im.acceptor.close(ec);
  });
  auto live = [&im] {
    std::vector<std::shared_ptr<session>> out;
    std::lock_guard lk(im.st.mu);
    for (auto& [p, w] : im.st.sessions)
      if (auto s = w.lock()) out.push_back(std::move(s));
    return out;
  };
  if (!im.threads.empty()) {
    for (auto& s : live()) s->close_if_idle();
    auto deadline = std::chrono::steady_clock::now() + grace;
    while (std::chrono::steady_clock::now() < deadline && !live().empty())
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  // Bodies being committed finish (their answers may still go out), then io stops.
  im.st.blocking.join();
  im.ioc.stop();
  for (auto& t : im.threads) t.join();
  im.threads.clear();
  // Callbacks still held outside go nowhere from now on, and the sessions
  // waiting for them close (destroyed here, outside the lock they take).
  {
    std::lock_guard lk(im.st.back->mu);
    im.st.back->open = false;
  }
  std::unordered_map<session*, std::shared_ptr<session>> parked;
  {
    std::lock_guard lk(im.st.mu);
    parked.swap(im.st.parked);
  }
}

} // namespace stowage::net
