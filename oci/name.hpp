// Repository names and references, with the grammar of the OCI Distribution
// spec. Everything that reaches the store went through these first, so a name
// can never contain "..", an upper-case letter or a path separator trick.
#pragma once

#include "oci/digest.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace stowage::oci {

/// True if `name` matches
/// [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*
/// and is at most 255 characters.
bool valid_repository(std::string_view name);

/// True if `tag` matches [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}.
bool valid_tag(std::string_view tag);

/// A manifest reference: a tag or a digest.
struct reference {
  std::variant<std::string, digest> value;

  bool is_digest() const { return std::holds_alternative<digest>(value); }
  const std::string& tag() const { return std::get<std::string>(value); }
  const oci::digest& dig() const { return std::get<digest>(value); }
  std::string str() const { return is_digest() ? dig().str() : tag(); }

  /// A digest if it contains ':', else a tag; nullopt if neither is valid.
  static std::optional<reference> parse(std::string_view s);
};

/// "repo:tag", "repo@sha256:…" or "host[:port]/repo[:tag]" as typed by users.
struct image_ref {
  std::string registry;   // empty if none was given
  std::string repository;
  reference ref;          // tag "latest" when neither tag nor digest was given

  static std::optional<image_ref> parse(std::string_view s);
  std::string str() const;
};

} // namespace stowage::oci
