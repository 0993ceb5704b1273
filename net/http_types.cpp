#include "net/http_types.hpp"

#include <condition_variable>
#include <mutex>

namespace stowage::net {

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = char(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = char(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

std::optional<std::string_view> header_list::get(std::string_view name) const {
  for (const auto& [k, v] : fields_)
    if (iequals(k, name)) return std::string_view(v);
  return std::nullopt;
}

void header_list::set(std::string_view name, std::string value) {
  std::erase_if(fields_, [&](const auto& f) { return iequals(f.first, name); });
  fields_.emplace_back(std::string(name), std::move(value));
}

static int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::optional<std::string> percent_decode(std::string_view s, bool plus_is_space) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '%') {
      if (i + 2 >= s.size()) return std::nullopt;
      int hi = hex_value(s[i + 1]), lo = hex_value(s[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out.push_back(char(hi * 16 + lo));
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::string percent_encode(std::string_view s) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    bool unreserved = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '-' || c == '.' || c == '_' || c == '~';
    if (unreserved) {
      out.push_back(char(c));
    } else {
      out.push_back('%');
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 15]);
    }
  }
  return out;
}

std::optional<std::string_view> request::param(std::string_view key) const {
  for (const auto& [k, v] : query)
    if (k == key) return std::string_view(v);
  return std::nullopt;
}

bool request::set_target(std::string_view t) {
  target = std::string(t);
  query.clear();
  auto q = t.find('?');
  path = std::string(t.substr(0, q));
  if (q == std::string_view::npos) return true;
  std::string_view rest = t.substr(q + 1);
  while (!rest.empty()) {
    auto amp = rest.find('&');
    std::string_view pair = rest.substr(0, amp);
    rest = amp == std::string_view::npos ? std::string_view{} : rest.substr(amp + 1);
    if (pair.empty()) continue;
    auto eq = pair.find('=');
    auto k = percent_decode(pair.substr(0, eq), true);
    auto v = percent_decode(eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1), true);
    if (!k || !v) return false;
    query.emplace_back(std::move(*k), std::move(*v));
  }
  return true;
}

response http_handler::malformed(std::string_view why) const {
  response r;
  r.status = 400;
  r.headers.add("Content-Type", "text/plain");
  r.body = "malformed request: " + std::string(why) + "\n";
  return r;
}

response serve_in_memory(http_handler& h, request req, std::string_view body, std::size_t chunk,
                         std::chrono::milliseconds timeout) {
  struct waiter {
    std::mutex m;
    std::condition_variable cv;
    std::optional<response> r;
  };
  auto w = std::make_shared<waiter>();
  responder respond = [w](response r) {
    std::lock_guard lk(w->m);
    w->r = std::move(r);
    w->cv.notify_all();
  };
  if (!req.content_length && !req.chunked && !body.empty()) req.content_length = body.size();
  route_result rr = h.route(req);
  if (rr.reply) return std::move(*rr.reply);
  if (!rr.body) throw std::logic_error("handler returned neither reply nor body handler");
  bool complete = true;
  for (std::size_t off = 0; off < body.size(); off += chunk) {
    if (!rr.body->on_data(body.data() + off, std::min(chunk, body.size() - off))) {
      complete = false;
      break;
    }
  }
  rr.body->on_end(complete, respond);
  std::unique_lock lk(w->m);
  if (!w->cv.wait_for(lk, timeout, [&] { return w->r.has_value(); }))
    throw std::runtime_error("handler did not answer in time");
  response r = std::move(*w->r);
  if (!complete) r.close = true;
  return r;
}

std::optional<std::string> read_stream(const streamed_body& b, std::chrono::milliseconds timeout) {
  std::string out;
  while (out.size() < b.length) {
    struct slot { // shared: a late answer must not touch this frame
      std::mutex m;
      std::condition_variable cv;
      std::optional<bool> ok;
      std::string piece;
    };
    auto s = std::make_shared<slot>();
    b.source->next([s](bool ok, std::string_view piece) {
      std::lock_guard lk(s->m);
      s->piece.assign(piece);
      s->ok = ok && !piece.empty();
      s->cv.notify_all();
    });
    std::unique_lock lk(s->m);
    if (!s->cv.wait_for(lk, timeout, [&] { return s->ok.has_value(); }) || !*s->ok) return std::nullopt;
    out += s->piece;
  }
  if (out.size() != b.length) return std::nullopt;
  return out;
}

} // namespace stowage::net
