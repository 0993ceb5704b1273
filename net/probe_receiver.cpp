#include "net/probe_receiver.hpp"

#include "config/node_auth.hpp"

#include <charconv>
#include <chrono>

namespace stowage::net {

namespace {

response plain(int status, std::string body) {
  response r;
  r.status = status;
  r.headers.set("Content-Type", "text/plain");
  r.body = std::move(body);
  return r;
}

std::optional<std::uint64_t> number(std::optional<std::string_view> v) {
  if (!v) return std::nullopt;
  std::uint64_t x = 0;
  auto [p, ec] = std::from_chars(v->data(), v->data() + v->size(), x);
  if (ec != std::errc{} || p != v->data() + v->size()) return std::nullopt;
  return x;
}

/// Counts the packet's bytes as they stream in and stamps the last one.
class packet_body final : public body_handler {
public:
  packet_body(actors::probe_arrival a, actors::packet_sink sink, std::uint64_t max_bytes)
      : arrival_(std::move(a)), sink_(std::move(sink)), max_(max_bytes), start_(std::chrono::steady_clock::now()) {}

  bool on_data(const char*, std::size_t len) override {
    arrival_.bytes += len;
    return arrival_.bytes <= max_;
  }

  void on_end(bool complete, responder respond) override {
    if (arrival_.bytes > max_) return respond(plain(413, "test packet too large\n"));
    if (!complete) return respond(plain(400, "test packet cut short\n"));
    arrival_.transfer_us = static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - start_).count());
    if (sink_) sink_(arrival_);
    respond(plain(204, {}));
  }

private:
  actors::probe_arrival arrival_;
  actors::packet_sink sink_;
  std::uint64_t max_;
  std::chrono::steady_clock::time_point start_;
};

} // namespace

route_result route_probe(const request& req, const config::directory& dir, const actors::packet_sink& sink,
                         probe_receiver_options opts) {
  if (req.method != "POST") {
    auto r = plain(405, "method not allowed\n");
    r.headers.set("Allow", "POST");
    return route_result::answer(std::move(r));
  }
  auto round = number(req.param("round"));
  auto from = req.param("from");
  if (!round || !from || from->empty()) return route_result::answer(plain(400, "round and from are required\n"));
  auto auth = config::verify_node_authorization(dir, req.headers.get_or("Authorization"), req.method, req.target,
                                                config::unix_time_ms());
  if (!auth.ok()) {
    auto r = plain(401, std::string(config::node_auth_text(auth.status)) + "\n");
    r.headers.set("WWW-Authenticate", "Stowage-Node realm=\"stowage\"");
    return route_result::answer(std::move(r));
  }
  if (auth.node->name != *from || auth.node->role != config::role::data)
    return route_result::answer(plain(403, "test packets come only from the data manager that signs them\n"));
  if (req.content_length && *req.content_length > opts.max_bytes)
    return route_result::answer(plain(413, "test packet too large\n"));
  actors::probe_arrival a;
  a.round = *round;
  a.node = std::string(*from);
  return route_result::stream(std::make_unique<packet_body>(std::move(a), sink, opts.max_bytes));
}

} // namespace stowage::net
