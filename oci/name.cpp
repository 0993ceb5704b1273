// Repository, tag and reference grammar of the OCI Distribution spec, written
// by hand (no std::regex: it recurses per character and is slow).
#include "oci/name.hpp"

#include <cctype>

namespace stowage::oci {
namespace {

constexpr std::size_t max_repository_len = 255;

bool lower_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
bool tag_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
         c == '-';
}

// One path component: [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*
bool valid_component(std::string_view c) {
  std::size_t i = 0, n = c.size();
  auto alnum_run = [&] {
    std::size_t start = i;
    while (i < n && lower_alnum(c[i])) ++i;
    return i > start;
  };
  if (!alnum_run()) return false;
  while (i < n) {
    if (c[i] == '.') {
      ++i;
    } else if (c[i] == '_') {
      ++i;
      if (i < n && c[i] == '_') ++i; // "__" is one separator, "___" is not
    } else if (c[i] == '-') {
      while (i < n && c[i] == '-') ++i;
    } else {
      return false;
    }
    if (!alnum_run()) return false;
  }
  return true;
}

// host[:port] as Docker accepts it: a DNS name or IPv4 address, or a
// bracketed IPv6 address, with an optional decimal port.
bool valid_registry(std::string_view r) {
  if (r.empty() || r.size() > 255) return false;
  std::string_view host = r, port;
  if (r.front() == '[') {
    auto close = r.find(']');
    if (close == std::string_view::npos || close == 1) return false;
    for (char c : r.substr(1, close - 1))
      if (!(std::isxdigit(static_cast<unsigned char>(c)) || c == ':' || c == '.')) return false;
    auto rest = r.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return false;
      port = rest.substr(1);
      if (port.empty()) return false;
    }
    host = {};
  } else {
    auto colon = r.find(':');
    if (colon != std::string_view::npos) {
      host = r.substr(0, colon);
      port = r.substr(colon + 1);
      if (port.empty()) return false;
    }
    if (host.empty() || host.front() == '.' || host.back() == '.' || host.front() == '-' || host.back() == '-')
      return false;
    char prev = 0;
    for (char c : host) {
      bool ok = std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-';
      if (!ok || (c == '.' && prev == '.')) return false;
      prev = c;
    }
  }
  if (!port.empty()) {
    if (port.size() > 5) return false;
    unsigned value = 0;
    for (char c : port) {
      if (c < '0' || c > '9') return false;
      value = value * 10 + unsigned(c - '0');
    }
    if (value == 0 || value > 65535) return false;
  }
  return true;
}

} // namespace

bool valid_repository(std::string_view name) {
  if (name.empty() || name.size() > max_repository_len) return false;
  std::size_t start = 0;
  while (true) {
    auto slash = name.find('/', start);
    auto comp = name.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
    if (!valid_component(comp)) return false;
    if (slash == std::string_view::npos) return true;
    start = slash + 1;
  }
}

bool valid_tag(std::string_view tag) {
  if (tag.empty() || tag.size() > 128) return false;
  if (tag.front() == '.' || tag.front() == '-') return false;
  for (char c : tag)
    if (!tag_char(c)) return false;
  return true;
}

std::optional<reference> reference::parse(std::string_view s) {
  if (s.find(':') != std::string_view::npos) {
    if (auto d = digest::parse(s)) return reference{*d};
    return std::nullopt;
  }
  if (valid_tag(s)) return reference{std::string(s)};
  return std::nullopt;
}

std::optional<image_ref> image_ref::parse(std::string_view s) {
  image_ref out{{}, {}, reference{std::string("latest")}};
  std::string_view name = s;

  // "@digest" ends the reference; a tag may precede it ("repo:tag@sha256:…"),
  // in which case the digest is what gets pulled, as Docker does.
  std::optional<digest> by_digest;
  if (auto at = s.find('@'); at != std::string_view::npos) {
    by_digest = digest::parse(s.substr(at + 1));
    if (!by_digest) return std::nullopt;
    name = s.substr(0, at);
  }

  // The first component names a registry when it looks like a host.
  if (auto slash = name.find('/'); slash != std::string_view::npos) {
    auto first = name.substr(0, slash);
    if (first.find('.') != std::string_view::npos || first.find(':') != std::string_view::npos ||
        first == "localhost" || (!first.empty() && first.front() == '[')) {
      if (!valid_registry(first)) return std::nullopt;
      out.registry = std::string(first);
      name = name.substr(slash + 1);
    }
  }

  // A ':' after the last '/' introduces the tag.
  std::optional<std::string> tag;
  auto last_slash = name.rfind('/');
  auto colon = name.find(':', last_slash == std::string_view::npos ? 0 : last_slash + 1);
  if (colon != std::string_view::npos) {
    auto t = name.substr(colon + 1);
    if (!valid_tag(t)) return std::nullopt;
    tag = std::string(t);
    name = name.substr(0, colon);
  }

  if (!valid_repository(name)) return std::nullopt;
  out.repository = std::string(name);
  if (by_digest)
    out.ref = reference{*by_digest};
  else if (tag)
    out.ref = reference{*tag};
  return out;
}

std::string image_ref::str() const {
  std::string s;
  if (!registry.empty()) s += registry + "/";
  s += repository;
  s += ref.is_digest() ? "@" : ":";
  s += ref.str();
  return s;
}

} // namespace stowage::oci
