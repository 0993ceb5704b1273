// Byte ranges: the `Range` header of blob GETs and the `Content-Range` header
// of chunked uploads (PATCH). Both are inclusive [first, last].
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace stowage::oci {

struct byte_range {
  std::uint64_t first = 0;
  std::uint64_t last = 0; // inclusive
  std::uint64_t length() const { return last - first + 1; }
};

/// Parses "bytes=a-b", "bytes=a-" and "bytes=-n" against an object of `size`
/// bytes. nullopt if malformed or unsatisfiable (the caller answers 416).
/// Multiple ranges are refused (nullopt).
std::optional<byte_range> parse_range_header(std::string_view v, std::uint64_t size);

/// Parses an upload chunk's Content-Range: "a-b" or "bytes a-b/*" or "bytes=a-b".
std::optional<byte_range> parse_content_range(std::string_view v);

} // namespace stowage::oci
