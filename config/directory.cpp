#include "config/directory.hpp"

namespace stowage::config {

std::string http_endpoint(std::string_view host, std::uint16_t port) {
  std::string h(host);
  if (h.find(':') != std::string::npos && !h.starts_with("[")) h = "[" + h + "]";
  return h + ":" + std::to_string(port);
}

directory directory::from_cluster(const cluster& c, const std::map<std::string, std::string>& public_keys) {
  directory d;
  for (const auto& n : c.nodes) {
    auto key = public_keys.find(n.name);
    d.add({n.name, n.role, http_endpoint(n.host, n.http_port), key == public_keys.end() ? std::string() : key->second});
  }
  return d;
}

void directory::add(directory_entry e) {
  auto name = e.name;
  entries_.insert_or_assign(std::move(name), std::move(e));
}

const directory_entry* directory::find(std::string_view name) const {
  auto i = entries_.find(name);
  return i == entries_.end() ? nullptr : &i->second;
}

std::optional<ed25519_public_key> directory::key_of(std::string_view name) const {
  const auto* e = find(name);
  if (!e) return std::nullopt;
  return public_key_from_hex(e->public_key);
}

std::optional<std::string> directory::http_of(std::string_view name) const {
  const auto* e = find(name);
  if (!e) return std::nullopt;
  return e->http;
}

std::vector<const directory_entry*> directory::with_role(config::role r) const {
  std::vector<const directory_entry*> out;
  for (const auto& [name, e] : entries_)
    if (e.role == r) out.push_back(&e);
  return out;
}

} // namespace stowage::config
