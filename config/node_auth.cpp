#include "config/node_auth.hpp"

#include <charconv>
#include <chrono>

namespace stowage::config {

namespace {

bool iequal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

} // namespace

std::string node_signed_text(std::string_view method, std::string_view target, std::int64_t ts_ms) {
  std::string out;
  out.reserve(method.size() + target.size() + 24);
  out.append(method).append("\n").append(target).append("\n").append(std::to_string(ts_ms));
  return out;
}

std::string node_authorization(const identity& id, std::string_view node, std::string_view method,
                               std::string_view target, std::int64_t now_ms) {
  auto sig = id.sign(node_signed_text(method, target, now_ms));
  std::string out(node_auth_scheme);
  out.append(" name=").append(node).append(",ts=").append(std::to_string(now_ms)).append(",sig=").append(to_hex(sig));
  return out;
}

bool is_node_authorization(std::string_view authorization) {
  authorization = trim(authorization);
  if (authorization.size() < node_auth_scheme.size()) return false;
  if (!iequal(authorization.substr(0, node_auth_scheme.size()), node_auth_scheme)) return false;
  return authorization.size() == node_auth_scheme.size() || authorization[node_auth_scheme.size()] == ' ';
}

std::optional<node_credentials> parse_node_authorization(std::string_view header) {
  header = trim(header);
  if (!is_node_authorization(header)) return std::nullopt;
  std::string_view rest = trim(header.substr(node_auth_scheme.size()));
  node_credentials c;
  bool have_name = false, have_ts = false, have_sig = false;
  while (!rest.empty()) {
    auto comma = rest.find(',');
    auto field = trim(rest.substr(0, comma));
    rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
    auto eq = field.find('=');
    if (eq == std::string_view::npos) return std::nullopt;
    auto key = trim(field.substr(0, eq));
    auto value = trim(field.substr(eq + 1));
    if (value.empty()) return std::nullopt;
    if (key == "name" && !have_name) {
      c.name = std::string(value);
      have_name = true;
    } else if (key == "ts" && !have_ts) {
      auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), c.ts_ms);
      if (ec != std::errc{} || p != value.data() + value.size()) return std::nullopt;
      have_ts = true;
    } else if (key == "sig" && !have_sig) {
      c.sig_hex = std::string(value);
      have_sig = true;
    } else {
      return std::nullopt; // unknown or repeated field
    }
  }
  if (!have_name || !have_ts || !have_sig) return std::nullopt;
  return c;
}

std::string_view node_auth_text(node_auth_status s) {
  switch (s) {
    case node_auth_status::ok: return "ok";
    case node_auth_status::missing: return "no node signature";
    case node_auth_status::malformed: return "malformed node signature";
    case node_auth_status::unknown_node: return "unknown node";
    case node_auth_status::expired: return "node signature outside the allowed time window";
    case node_auth_status::bad_signature: return "node signature does not verify";
  }
  return "?";
}

node_auth_result verify_node_authorization(const directory& dir, std::string_view authorization,
                                           std::string_view method, std::string_view target, std::int64_t now_ms,
                                           std::chrono::milliseconds max_skew) {
  node_auth_result r;
  if (!is_node_authorization(authorization)) return r; // missing
  auto c = parse_node_authorization(authorization);
  if (!c) {
    r.status = node_auth_status::malformed;
    return r;
  }
  const auto* entry = dir.find(c->name);
  auto key = dir.key_of(c->name);
  if (!entry || !key) {
    r.status = node_auth_status::unknown_node;
    return r;
  }
  const std::int64_t skew = now_ms > c->ts_ms ? now_ms - c->ts_ms : c->ts_ms - now_ms;
  if (skew > max_skew.count()) {
    r.status = node_auth_status::expired;
    return r;
  }
  auto sig = from_hex(c->sig_hex);
  if (!sig || !identity::verify(*key, node_signed_text(method, target, c->ts_ms), *sig)) {
    r.status = node_auth_status::bad_signature;
    return r;
  }
  r.status = node_auth_status::ok;
  r.node = entry;
  return r;
}

std::int64_t unix_time_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
    .count();
}

} // namespace stowage::config
