#include "net/registry_client.hpp"

#include "net/http_types.hpp"
#include "net/receive_low_water.hpp"
#include "oci/media_types.hpp"
#include "store/range_reader.hpp"
#include "store/registry_store.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <sys/socket.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <limits>
#include <optional>
#include <vector>

namespace stowage::net {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace fs = std::filesystem;
using tcp = asio::ip::tcp;

namespace {


struct url {
  std::string host, port, target;
};

std::pair<std::string, std::string> split_endpoint(std::string_view ep) {
  if (!ep.empty() && ep.front() == '[') { // [v6]:port
    auto close = ep.find(']');
    if (close == std::string_view::npos) throw registry_error("bad endpoint: " + std::string(ep));
    std::string host(ep.substr(1, close - 1));
    std::string port = close + 2 <= ep.size() && ep[close + 1] == ':' ? std::string(ep.substr(close + 2)) : "80";
    return {host, port};
  }
  auto colon = ep.rfind(':');
  if (colon == std::string_view::npos) return {std::string(ep), "80"};
  return {std::string(ep.substr(0, colon)), std::string(ep.substr(colon + 1))};
}

// Resolves a Location header against the server that sent it.
url follow(const url& from, std::string_view location) {
  if (location.starts_with("/")) return {from.host, from.port, std::string(location)};
  if (location.starts_with("http://")) {
    auto rest = location.substr(7);
    auto slash = rest.find('/');
    auto [h, p] = split_endpoint(rest.substr(0, slash));
    return {h, p, slash == std::string_view::npos ? "/" : std::string(rest.substr(slash))};
  }
  throw registry_error("cannot follow redirect to " + std::string(location) + " (plain HTTP only)");
}

std::string essence(std::string_view ct) {
  auto semi = ct.find(';');
  auto s = ct.substr(0, semi);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  return std::string(s);
}

// One HTTP/1.1 connection driven step by step: each step is an async
// operation with a deadline, run to completion on a private io_context.
class connection {
public:
  connection(const url& u, std::chrono::milliseconds step_timeout, cancel_token* cancel,
             std::optional<std::chrono::steady_clock::time_point> deadline)
      : step_timeout_(step_timeout), deadline_(deadline),
        host_header_(u.port == "80" ? u.host : u.host + ":" + u.port), cancel_(cancel) {
    if (cancel_ && cancel_->cancelled()) throw registry_error("cancelled: " + host_header_ + " was given up");
    buffer_.reserve(64 * 1024);
    tcp::resolver resolver(ioc_);
    beast::error_code ec;
    auto endpoints = resolver.resolve(u.host, u.port, ec);
    if (ec) throw registry_error("cannot resolve " + u.host + ": " + ec.message());
    arm();
    ec = wait([&](auto h) { stream_.async_connect(endpoints, h); });
    if (ec) throw registry_error("cannot connect to " + host_header_ + ": " + ec.message());
    if (cancel_) watch_id_ = cancel_->add(stream_.socket().native_handle());
  }
  ~connection() {
    if (cancel_ && watch_id_) cancel_->remove(watch_id_);
  }
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;

  template <class Body>
  void send(http::request<Body>& req) {
    req.set(http::field::host, host_header_);
    req.set(http::field::user_agent, "stowage");
    req.prepare_payload();
    // Small bodies (manifests, test packets): the whole write within one
    // step. A peer that accepts and never reads (stopped, its host gone)
    // would otherwise hold a probe thread for as long as any deadline here.
    arm();
    http::request_serializer<Body> sr(req);
    auto ec = wait([&](auto h) { http::async_write(stream_, sr, h); });
    if (ec) throw registry_error("cannot send to " + host_header_ + ": " + ec.message());
  }

  /// Sends `req`'s header with Content-Length `size`, then `size` bytes as
  /// `next` yields them, straight to the socket (Beast's file_body writes
  /// 4 KiB pieces).
  template <class Next>
  void send_body(http::request<http::empty_body>& req, Next&& next, std::uint64_t size) {
    req.set(http::field::host, host_header_);
    req.set(http::field::user_agent, "stowage");
    req.content_length(size);
    arm();
    http::request_serializer<http::empty_body> sr(req);
    auto ec = wait([&](auto h) { http::async_write_header(stream_, sr, h); });
    for (std::uint64_t sent = 0; !ec && sent < size;) {
      auto piece = next();
      if (piece.empty())
        throw registry_error("the body ended after " + std::to_string(sent) + " of " + std::to_string(size) + " bytes");
      if (piece.size() > size - sent)
        throw registry_error("the body is longer than its " + std::to_string(size) + " bytes");
      sent += piece.size();
      arm();
      ec = wait([&](auto h) { asio::async_write(stream_, asio::buffer(piece.data(), piece.size()), h); });
    }
    if (ec) throw registry_error("cannot send to " + host_header_ + ": " + ec.message());
  }

  template <class Parser>
  void read_header(Parser& p) {
    arm();
    auto ec = wait([&](auto h) { http::async_read_header(stream_, buffer_, p, h); });
    if (ec) throw registry_error("no answer from " + host_header_ + ": " + ec.message());
  }

  template <class Parser>
  beast::error_code read_some(Parser& p) {
    arm();
    return wait([&](auto h) { http::async_read(stream_, buffer_, p, h); });
  }

  /// Reads a body of `length` bytes straight from the socket into `chunk`
  /// (after the bytes the header read already buffered), handing each piece
  /// to `sink`; bypasses the parser's copy and its 64 KiB reads. The
  /// connection is not reusable afterwards (it never is: one per request).
  /// Returns the transport error that cut the body short, if any.
  template <class Sink>
  beast::error_code read_raw_body(std::uint64_t length, std::vector<char>& chunk, Sink&& sink) {
    while (length > 0 && buffer_.size() > 0) {
      auto n = static_cast<std::size_t>(std::min<std::uint64_t>({length, buffer_.size(), chunk.size()}));
      asio::buffer_copy(asio::buffer(chunk.data(), n), buffer_.data(), n);
      buffer_.consume(n);
      length -= n;
      sink(chunk.data(), n);
    }
    // Woken once a quarter MiB waits (or the rest of the body), not for
    // every ~64 KiB segment (receive_low_water.hpp).
    const int fd = stream_.socket().native_handle();
    beast::error_code ec;
    while (length > 0 && !ec) {
      auto want = static_cast<std::size_t>(std::min<std::uint64_t>(length, chunk.size()));
      low_water_.set(fd, want);
      std::size_t got = 0;
      arm();
      stream_.async_read_some(asio::buffer(chunk.data(), want), [&](beast::error_code e, std::size_t n) {
        ec = e;
        got = n;
      });
      ioc_.restart();
      ioc_.run();
      length -= got;
      if (got) sink(chunk.data(), got);
    }
    low_water_.set(fd, 1); // the connection may read a small response next
    return ec;
  }

  http::response<http::string_body> read_small(std::uint64_t limit = 16 << 20) {
    http::response_parser<http::string_body> p;
    p.body_limit(limit);
    arm();
    auto ec = wait([&](auto h) { http::async_read(stream_, buffer_, p, h); });
    if (ec) throw registry_error("bad answer from " + host_header_ + ": " + ec.message());
    return p.release();
  }

private:
  /// The next step's timeout: step_timeout_, or less where the deadline
  /// comes first.
  void arm() {
    auto at = std::chrono::steady_clock::now() + step_timeout_;
    stream_.expires_at(deadline_ ? std::min(at, *deadline_) : at);
  }

  template <class Start>
  beast::error_code wait(Start&& start) {
    beast::error_code result;
    start([&result](beast::error_code ec, auto&&...) { result = ec; });
    ioc_.restart();
    ioc_.run();
    return result;
  }

  std::chrono::milliseconds step_timeout_;
  std::optional<std::chrono::steady_clock::time_point> deadline_;
  receive_low_water low_water_;
  asio::io_context ioc_;
  beast::tcp_stream stream_{ioc_};
  beast::flat_buffer buffer_;
  std::string host_header_;
  cancel_token* cancel_ = nullptr; // may cut this connection short from another thread
  std::uint64_t watch_id_ = 0;
};

std::string error_text(const http::response<http::string_body>& res) {
  std::string body = res.body().substr(0, 300);
  for (auto& c : body)
    if (c == '\n' || c == '\r') c = ' ';
  return std::to_string(res.result_int()) + " " + body;
}

bool is_redirect(unsigned status) {
  return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

} // namespace

std::string registry_client::authorization_for(std::string_view method, std::string_view target) const {
  return authorizer_ ? authorizer_(method, target) : std::string();
}

void cancel_token::cancel() {
  std::lock_guard lock(mtx_);
  cancelled_ = true;
  for (const auto& [id, fd] : fds_) ::shutdown(fd, SHUT_RDWR); // wakes the blocked step; the owner closes
}

bool cancel_token::cancelled() const {
  std::lock_guard lock(mtx_);
  return cancelled_;
}

std::uint64_t cancel_token::add(int fd) {
  std::lock_guard lock(mtx_);
  if (cancelled_) ::shutdown(fd, SHUT_RDWR);
  fds_[next_] = fd;
  return next_++;
}

void cancel_token::remove(std::uint64_t id) {
  std::lock_guard lock(mtx_);
  fds_.erase(id);
}

registry_client::registry_client(std::string endpoint) {
  std::tie(host_, port_) = split_endpoint(endpoint);
  if (host_.empty() || port_.empty()) throw registry_error("bad endpoint: " + endpoint);
}

fetched_manifest registry_client::get_manifest(std::string_view repo, std::string_view reference) {
  url u{host_, port_, "/v2/" + std::string(repo) + "/manifests/" + std::string(reference)};
  for (int hops = 0; hops < 5; ++hops) {
    connection c(u, timeout_, cancel_.get(), deadline_);
    http::request<http::empty_body> req{http::verb::get, u.target, 11};
    req.set(http::field::accept, std::string(oci::media::oci_manifest) + ", " + std::string(oci::media::oci_index) +
                                     ", " + std::string(oci::media::docker_manifest) + ", " +
                                     std::string(oci::media::docker_manifest_list));
    c.send(req);
    auto res = c.read_small();
    if (is_redirect(res.result_int())) {
      u = follow(u, res[http::field::location]);
      continue;
    }
    if (res.result() != http::status::ok)
      throw registry_error("manifest " + std::string(repo) + (reference.find(':') == std::string_view::npos ? ":" : "@") +
                               std::string(reference) + ": " + error_text(res),
                           static_cast<int>(res.result_int()));
    fetched_manifest out{res.body(), essence(res[http::field::content_type]), oci::sha256_of(res.body())};
    if (auto want = oci::digest::parse(reference); want && *want != out.dig)
      throw registry_error("manifest " + std::string(reference) + " arrived with digest " + out.dig.str());
    return out;
  }
  throw registry_error("too many redirects for manifest " + std::string(reference));
}

image_manifest registry_client::get_image_manifest(std::string_view repo, std::string_view reference,
                                                   std::string_view os, std::string_view arch) {
  auto parse = [](fetched_manifest m) {
    auto r = oci::parse_manifest(m.body, m.media_type);
    if (!r.value) throw registry_error("manifest " + m.dig.str() + " is invalid: " + r.error.message);
    return image_manifest{std::move(m), std::move(*r.value)};
  };
  auto top = parse(get_manifest(repo, reference));
  if (!top.parsed.is_index) return top;
  for (const auto& d : top.parsed.manifests) {
    if (d.platform_os != os || d.platform_arch != arch) continue;
    auto child = parse(get_manifest(repo, d.dig.str()));
    if (child.parsed.is_index) throw registry_error("index " + d.dig.str() + " nests another index");
    return child;
  }
  throw registry_error("image index " + top.raw.dig.str() + " has no " + std::string(os) + "/" + std::string(arch) +
                       " manifest");
}

std::string registry_client::get_referrers(std::string_view repo, const oci::digest& subject,
                                           std::string_view artifact_type) {
  auto target = "/v2/" + std::string(repo) + "/referrers/" + subject.str();
  if (!artifact_type.empty()) target += "?artifactType=" + percent_encode(artifact_type);
  connection c(url{host_, port_, ""}, timeout_, cancel_.get(), deadline_);
  http::request<http::empty_body> req{http::verb::get, target, 11};
  req.set(http::field::accept, oci::media::oci_index);
  c.send(req);
  auto res = c.read_small();
  if (res.result() == http::status::not_found) return R"({"schemaVersion":2,"manifests":[]})";
  if (res.result() != http::status::ok)
    throw registry_error("referrers of " + subject.str() + ": " + error_text(res), static_cast<int>(res.result_int()));
  return res.body();
}

bool registry_client::has_blob(std::string_view repo, const oci::digest& dig) {
  connection c(url{host_, port_, ""}, timeout_, cancel_.get(), deadline_);
  http::request<http::empty_body> req{http::verb::head, "/v2/" + std::string(repo) + "/blobs/" + dig.str(), 11};
  c.send(req);
  http::response_parser<http::empty_body> p;
  p.skip(true); // a HEAD answer has a Content-Length but no body
  c.read_header(p);
  return p.get().result() == http::status::ok;
}

std::uint64_t registry_client::get_blob(std::string_view repo, const oci::digest& dig, const blob_sink& sink,
                                       std::uint64_t max_bytes, bool sink_verifies) {
  url u{host_, port_, "/v2/" + std::string(repo) + "/blobs/" + dig.str()};
  for (int hops = 0; hops < 5; ++hops) {
    connection c(u, timeout_, cancel_.get(), deadline_);
    http::request<http::empty_body> req{http::verb::get, u.target, 11};
    c.send(req);
    http::response_parser<http::buffer_body> p;
    p.body_limit(std::numeric_limits<std::uint64_t>::max());
    c.read_header(p);
    const unsigned status = p.get().result_int();
    if (is_redirect(status)) {
      u = follow(u, p.get()[http::field::location]);
      continue;
    }
    if (status != 200)
      throw registry_error("blob " + dig.str() + ": HTTP " + std::to_string(status), static_cast<int>(status));
    if (auto len = p.content_length(); len && *len > max_bytes)
      throw registry_error("blob " + dig.str() + " is " + std::to_string(*len) + " bytes, its descriptor says " +
                           std::to_string(max_bytes));

    oci::sha256_hasher hasher;
    std::uint64_t total = 0;
    std::vector<char> chunk(1 << 20);
    auto take = [&](const char* data, std::size_t n) {
      if (!sink_verifies) hasher.update(data, n);
      total += n;
      if (total > max_bytes)
        throw registry_error("blob " + dig.str() + " runs past the " + std::to_string(max_bytes) +
                             " bytes its descriptor says");
      if (n) sink(data, n);
    };
    if (auto len = p.content_length(); len && !p.chunked()) {
      if (auto ec = c.read_raw_body(*len, chunk, take))
        throw registry_error("blob " + dig.str() + " cut off after " + std::to_string(total) + " bytes: " + ec.message());
    } else {
      while (!p.is_done()) {
        p.get().body().data = chunk.data();
        p.get().body().size = chunk.size();
        auto ec = c.read_some(p);
        if (ec == http::error::need_buffer) ec = {};
        if (ec)
          throw registry_error("blob " + dig.str() + " cut off after " + std::to_string(total) + " bytes: " +
                               ec.message());
        take(chunk.data(), chunk.size() - p.get().body().size);
      }
    }
    if (sink_verifies) return total;
    auto got = hasher.finish();
    if (got != dig) throw registry_error("blob " + dig.str() + " arrived with digest " + got.str());
    return total;
  }
  throw registry_error("too many redirects for blob " + dig.str());
}

std::uint64_t registry_client::get_blob(std::string_view repo, const oci::digest& dig, const fs::path& dest,
                                       std::uint64_t max_bytes) {
  const fs::path part = dest.string() + ".part";
  std::FILE* out = std::fopen(part.c_str(), "wb");
  if (!out) throw registry_error("cannot write " + part.string());
  std::uint64_t total = 0;
  std::string failure;
  int status = 0;
  try {
    total = get_blob(repo, dig, [&](const char* data, std::size_t n) {
      if (std::fwrite(data, 1, n, out) != n) throw registry_error("cannot write " + part.string());
    }, max_bytes);
  } catch (const registry_error& e) {
    failure = e.what();
    status = e.status;
  } catch (const std::exception& e) {
    failure = e.what();
  }
  if (std::fclose(out) != 0 && failure.empty()) failure = "cannot write " + part.string();
  std::error_code ec;
  if (!failure.empty()) {
    fs::remove(part, ec);
    throw registry_error(failure, status);
  }
  fs::rename(part, dest, ec);
  if (ec) throw registry_error("cannot move blob into " + dest.string() + ": " + ec.message());
  return total;
}

oci::digest registry_client::push_blob(std::string_view repo, const fs::path& file) {
  // The digest first: the PUT names it.
  oci::sha256_hasher hasher;
  {
    std::ifstream in(file, std::ios::binary);
    if (!in) throw registry_error("cannot read " + file.string());
    std::vector<char> buf(1 << 20);
    while (in) {
      in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
      hasher.update(buf.data(), static_cast<std::size_t>(in.gcount()));
    }
  }
  const oci::digest dig = hasher.finish();
  if (has_blob(repo, dig)) return dig;
  push_blob(repo, dig, file);
  return dig;
}

std::uint64_t registry_client::push_blob(std::string_view repo, const oci::digest& dig, std::uint64_t size,
                                         const piece_source& next) {
  url u{host_, port_, "/v2/" + std::string(repo) + "/blobs/uploads/"};
  std::string location;
  {
    connection c(u, timeout_, cancel_.get(), deadline_);
    http::request<http::empty_body> post{http::verb::post, u.target, 11};
    if (auto a = authorization_for("POST", u.target); !a.empty()) post.set(http::field::authorization, a);
    c.send(post);
    auto res = c.read_small();
    if (res.result() != http::status::accepted)
      throw registry_error("upload start: " + error_text(res), static_cast<int>(res.result_int()));
    location = std::string(res[http::field::location]);
  }
  url put_url = follow(u, location);
  put_url.target += (put_url.target.find('?') == std::string::npos ? "?digest=" : "&digest=") + dig.str();
  connection c(put_url, timeout_, cancel_.get(), deadline_);
  http::request<http::empty_body> put{http::verb::put, put_url.target, 11};
  put.set(http::field::content_type, "application/octet-stream");
  if (auto a = authorization_for("PUT", put_url.target); !a.empty()) put.set(http::field::authorization, a);
  c.send_body(put, next, size);
  auto res = c.read_small();
  if (res.result() != http::status::created)
    throw registry_error("upload " + dig.str() + ": " + error_text(res), static_cast<int>(res.result_int()));
  return size;
}

std::uint64_t registry_client::push_blob(std::string_view repo, const oci::digest& dig, const fs::path& file) {
  std::error_code fec;
  const std::uint64_t size = fs::file_size(file, fec);
  if (fec) throw registry_error("cannot read " + file.string() + ": " + fec.message());
  std::optional<store::range_reader> body;
  try {
    body.emplace(file, 0, size);
  } catch (const std::exception& e) {
    throw registry_error(std::string("cannot read ") + e.what());
  }
  return push_blob(repo, dig, size, [&] {
    try {
      return body->next();
    } catch (const store::store_error& e) {
      throw registry_error(std::string("cannot read ") + e.what());
    }
  });
}

int registry_client::post(std::string_view target, std::string body, std::string_view content_type) {
  url u{host_, port_, std::string(target)};
  connection c(u, timeout_, cancel_.get(), deadline_);
  http::request<http::string_body> req{http::verb::post, u.target, 11};
  req.set(http::field::content_type, content_type);
  if (auto a = authorization_for("POST", u.target); !a.empty()) req.set(http::field::authorization, a);
  req.body() = std::move(body);
  c.send(req);
  auto res = c.read_small(64 * 1024);
  return static_cast<int>(res.result_int());
}

oci::digest registry_client::push_manifest(std::string_view repo, std::string_view reference, std::string_view body,
                                           std::string_view media_type, std::string_view query) {
  url u{host_, port_, "/v2/" + std::string(repo) + "/manifests/" + std::string(reference)};
  if (!query.empty()) u.target += "?" + std::string(query);
  connection c(u, timeout_, cancel_.get(), deadline_);
  http::request<http::string_body> put{http::verb::put, u.target, 11};
  put.set(http::field::content_type, media_type);
  if (auto a = authorization_for("PUT", u.target); !a.empty()) put.set(http::field::authorization, a);
  put.body() = std::string(body);
  c.send(put);
  auto res = c.read_small();
  if (res.result() != http::status::created)
    throw registry_error("manifest " + std::string(reference) + ": " + error_text(res),
                         static_cast<int>(res.result_int()));
  if (auto d = oci::digest::parse(std::string(res["Docker-Content-Digest"]))) return *d;
  return oci::sha256_of(body);
}

} // namespace stowage::net
