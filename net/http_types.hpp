// The small HTTP model the handlers see. No Beast or Asio here: handler files
// compile in seconds and unit tests drive them without sockets.
//
// A request arrives in two steps. The server reads the header and asks the
// handler to route it; the handler either answers at once (`route_result::reply`)
// or returns a `body_handler` that receives the body in chunks as it streams
// off the socket and answers when it has all of it. Answers go through a
// `responder`, which may be called from any thread (the cluster holds a
// manifest PUT's 201 until the image is durable elsewhere).
#pragma once

#include "store/file_io.hpp"

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace stowage::net {

/// Header fields in arrival order; names compare case-insensitively.
class header_list {
public:
  /// The first value of `name`, or nullopt.
  std::optional<std::string_view> get(std::string_view name) const;
  std::string_view get_or(std::string_view name, std::string_view fallback = {}) const {
    return get(name).value_or(fallback);
  }
  /// Replaces every field named `name` with one field.
  void set(std::string_view name, std::string value);
  void add(std::string name, std::string value) { fields_.emplace_back(std::move(name), std::move(value)); }
  const std::vector<std::pair<std::string, std::string>>& fields() const { return fields_; }

private:
  std::vector<std::pair<std::string, std::string>> fields_;
};

bool iequals(std::string_view a, std::string_view b);
/// Decodes %XX escapes (and '+' as space when `plus_is_space`); nullopt on a bad escape.
std::optional<std::string> percent_decode(std::string_view s, bool plus_is_space = false);
/// Encodes everything but unreserved characters (RFC 3986), for Link headers.
std::string percent_encode(std::string_view s);

struct request {
  std::string method;  // "GET", "HEAD", "PUT", …
  std::string target;  // as sent: path and query
  std::string path;    // the path part, not decoded (names are validated as sent)
  std::vector<std::pair<std::string, std::string>> query; // decoded
  header_list headers;
  /// Content-Length if given; nullopt with chunked transfer-encoding or no body.
  std::optional<std::uint64_t> content_length;
  bool chunked = false;
  /// The client connects from this host: from a loopback address, or from
  /// the address it reached (a local connection to one of the host's own
  /// addresses has that as its source). Unsigned writes to a runtime's
  /// gateway are taken only from such clients, its container engines.
  bool from_this_host = false;

  bool has_body() const { return chunked || content_length.value_or(0) > 0; }
  /// The first value of query parameter `key`.
  std::optional<std::string_view> param(std::string_view key) const;

  /// Splits `target` into path and decoded query. False if the query has a bad escape.
  bool set_target(std::string_view target);
};

/// A byte range of a file on disk sent as the response body.
struct file_slice {
  std::filesystem::path path;
  std::uint64_t offset = 0;
  std::uint64_t length = 0;
  /// The file, when the handler opened it already: a delete after the answer
  /// was chosen then cannot fail its body. Without it the server opens `path`.
  std::shared_ptr<const store::fileio::unique_fd> fd;
};

/// A response body produced piece by piece while it is still arriving (a
/// blob relayed to the client as it reaches the runtime's cache).
class body_source {
public:
  /// ok with a non-empty piece, valid until the next call to next(); or not
  /// ok: the body cannot be completed and the connection is cut, so the
  /// client sees a short body and never a wrong one.
  using ready_fn = std::function<void(bool ok, std::string_view piece)>;
  virtual ~body_source() = default;
  /// Asks for the next piece; `ready` runs exactly once, on any thread,
  /// possibly before next() returns. Not called again once `length` bytes
  /// went out.
  virtual void next(ready_fn ready) = 0;
};

struct streamed_body {
  std::shared_ptr<body_source> source;
  std::uint64_t length = 0; // promised in Content-Length
};

struct response {
  int status = 200;
  header_list headers;
  std::string body;                 // used when `file` and `stream` are empty
  std::optional<file_slice> file;   // streamed from disk
  std::optional<streamed_body> stream;
  /// Close the connection after this response (e.g. an unread request body).
  bool close = false;

  std::uint64_t content_length() const { return file ? file->length : stream ? stream->length : body.size(); }
};

/// Delivers the answer to a request. Call exactly once, from any thread.
using responder = std::function<void(response)>;

/// Receives a request body as it streams in.
class body_handler {
public:
  virtual ~body_handler() = default;
  /// A chunk of the body. Return false to stop reading: on_end(false, …)
  /// follows and the connection is closed after its answer.
  virtual bool on_data(const char* data, std::size_t len) = 0;
  /// The body is complete (`complete`), or reading stopped early: on_data
  /// returned false, or the client went away (then the answer goes nowhere).
  virtual void on_end(bool complete, responder respond) = 0;
};

/// For requests without a body whose answer comes later (from an actor):
/// on_end runs at once and hands the responder to `start`.
class deferred_answer final : public body_handler {
public:
  explicit deferred_answer(std::function<void(responder)> start) : start_(std::move(start)) {}
  bool on_data(const char*, std::size_t) override { return true; }
  void on_end(bool complete, responder respond) override {
    if (complete) start_(std::move(respond));
  }

private:
  std::function<void(responder)> start_;
};

struct route_result {
  std::optional<response> reply;        // answer now, without reading a body
  std::unique_ptr<body_handler> body;   // or read the body into this

  static route_result answer(response r) { route_result x; x.reply = std::move(r); return x; }
  static route_result stream(std::unique_ptr<body_handler> h) { route_result x; x.body = std::move(h); return x; }
};

/// What the server calls for every request.
class http_handler {
public:
  virtual ~http_handler() = default;
  virtual route_result route(const request& req) = 0;
  /// The 400 for a request the server could not parse (its header, a
  /// Content-Length, the query string): `why` says what. Plain text unless
  /// the handler speaks an API with its own error bodies (OCI).
  virtual response malformed(std::string_view why) const;
};

/// Runs a request through a handler without a network: feeds `body` in
/// chunks of `chunk` bytes and returns the answer once the responder fired
/// (an asynchronous answer is waited for, up to `timeout`). For tests and
/// in-process callers.
response serve_in_memory(http_handler& h, request req, std::string_view body = {},
                         std::size_t chunk = 64 * 1024,
                         std::chrono::milliseconds timeout = std::chrono::seconds(10));

/// Reads a streamed body to its end, as the server would send it: the bytes,
/// or nullopt if the source cut it short (or stalled longer than `timeout`).
/// For tests and in-process callers.
std::optional<std::string> read_stream(const streamed_body& b,
                                       std::chrono::milliseconds timeout = std::chrono::seconds(10));

} // namespace stowage::net
