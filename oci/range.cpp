// Range (RFC 9110 §14.2) for blob GETs and Content-Range for chunked PATCH
// uploads. Only single ranges: that is all registries and clients use.
#include "oci/range.hpp"

#include <limits>

namespace stowage::oci {
namespace {

constexpr auto u64_max = std::numeric_limits<std::uint64_t>::max();

bool is_digit(char c) { return c >= '0' && c <= '9'; }

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

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// A non-empty run of decimal digits. `saturate` maps values beyond uint64 to
// its maximum (a Range end past the object just means "to the end"); without
// it an overflow is a parse failure.
std::optional<std::uint64_t> parse_uint(std::string_view s, bool saturate) {
  if (s.empty()) return std::nullopt;
  std::uint64_t v = 0;
  bool overflow = false;
  for (char c : s) {
    if (!is_digit(c)) return std::nullopt;
    auto d = std::uint64_t(c - '0');
    if (!overflow && v > (u64_max - d) / 10) overflow = true;
    if (!overflow) v = v * 10 + d;
  }
  if (overflow) {
    if (!saturate) return std::nullopt;
    return u64_max;
  }
  return v;
}

} // namespace

std::optional<byte_range> parse_range_header(std::string_view v, std::uint64_t size) {
  v = trim(v);
  auto eq = v.find('=');
  if (eq == std::string_view::npos || !iequals(trim(v.substr(0, eq)), "bytes")) return std::nullopt;
  auto spec = trim(v.substr(eq + 1));
  if (spec.find(',') != std::string_view::npos) return std::nullopt; // several ranges
  auto dash = spec.find('-');
  if (dash == std::string_view::npos) return std::nullopt;
  auto first_s = spec.substr(0, dash), last_s = spec.substr(dash + 1);

  if (first_s.empty()) { // "-n": the last n bytes
    auto n = parse_uint(last_s, true);
    if (!n || *n == 0 || size == 0) return std::nullopt;
    auto count = *n < size ? *n : size;
    return byte_range{size - count, size - 1};
  }
  auto first = parse_uint(first_s, true);
  if (!first || *first >= size) return std::nullopt;
  if (last_s.empty()) return byte_range{*first, size - 1};
  auto last = parse_uint(last_s, true);
  if (!last || *last < *first) return std::nullopt;
  return byte_range{*first, *last < size ? *last : size - 1};
}

std::optional<byte_range> parse_content_range(std::string_view v) {
  v = trim(v);
  if (v.size() >= 6 && iequals(v.substr(0, 5), "bytes") && (v[5] == ' ' || v[5] == '='))
    v = trim(v.substr(6));
  std::optional<std::uint64_t> total;
  if (auto slash = v.find('/'); slash != std::string_view::npos) {
    auto t = v.substr(slash + 1);
    if (t != "*") {
      total = parse_uint(t, false);
      if (!total) return std::nullopt;
    }
    v = v.substr(0, slash);
  }
  auto dash = v.find('-');
  if (dash == std::string_view::npos) return std::nullopt;
  auto first = parse_uint(v.substr(0, dash), false);
  auto last = parse_uint(v.substr(dash + 1), false);
  if (!first || !last || *last < *first) return std::nullopt;
  if (*last == u64_max) return std::nullopt; // length() would wrap to 0
  if (total && *last >= *total) return std::nullopt;
  return byte_range{*first, *last};
}

} // namespace stowage::oci
