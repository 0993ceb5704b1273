#include "oci/range.hpp"

#include <catch2/catch.hpp>

#include <limits>

using namespace stowage::oci;

namespace {
constexpr auto u64_max = std::numeric_limits<std::uint64_t>::max();

bool is(const std::optional<byte_range>& r, std::uint64_t first, std::uint64_t last) {
  return r && r->first == first && r->last == last;
}
} // namespace

TEST_CASE("Range header: the three forms", "[oci][range]") {
  CHECK(is(parse_range_header("bytes=0-99", 1000), 0, 99));
  CHECK(parse_range_header("bytes=0-99", 1000)->length() == 100);
  CHECK(is(parse_range_header("bytes=10-10", 1000), 10, 10));
  CHECK(is(parse_range_header("bytes=500-", 1000), 500, 999));
  CHECK(is(parse_range_header("bytes=-100", 1000), 900, 999));
  CHECK(is(parse_range_header("bytes=999-", 1000), 999, 999));
  CHECK(is(parse_range_header("Bytes=0-0", 1), 0, 0));       // unit is case-insensitive
  CHECK(is(parse_range_header(" bytes=1-2 ", 10), 1, 2));
}

TEST_CASE("Range header: clamping", "[oci][range]") {
  CHECK(is(parse_range_header("bytes=0-5000", 1000), 0, 999));
  CHECK(is(parse_range_header("bytes=-5000", 1000), 0, 999));
  CHECK(is(parse_range_header("bytes=0-99999999999999999999", 1000), 0, 999)); // overflow saturates
  CHECK(is(parse_range_header("bytes=-99999999999999999999", 10), 0, 9));
  CHECK(is(parse_range_header("bytes=0-18446744073709551615", 10), 0, 9));
}

TEST_CASE("Range header: unsatisfiable or malformed", "[oci][range]") {
  CHECK_FALSE(parse_range_header("bytes=1000-", 1000));
  CHECK_FALSE(parse_range_header("bytes=1000-2000", 1000));
  CHECK_FALSE(parse_range_header("bytes=99999999999999999999-", 1000));
  CHECK_FALSE(parse_range_header("bytes=5-4", 1000));
  CHECK_FALSE(parse_range_header("bytes=-0", 1000));
  CHECK_FALSE(parse_range_header("bytes=0-0", 0));
  CHECK_FALSE(parse_range_header("bytes=-1", 0));
  CHECK_FALSE(parse_range_header("bytes=0-", 0));
  for (const char* bad : {"", "bytes", "bytes=", "bytes=-", "bytes=a-b", "bytes=1-2a", "bytes=+1-2", "bytes=1--2",
                          "bytes=--1", "bytes=0x10-20", "items=0-1", "bytes 0-1", "bytes=0-1,2-3", "bytes=0-1,",
                          "bytes=1 -2", "bytes=-1-2", "=0-1"})
    CHECK_FALSE(parse_range_header(bad, 1000));
}

TEST_CASE("Content-Range of upload chunks", "[oci][range]") {
  CHECK(is(parse_content_range("0-99"), 0, 99));
  CHECK(is(parse_content_range("100-199"), 100, 199));
  CHECK(is(parse_content_range("bytes 0-99/*"), 0, 99));
  CHECK(is(parse_content_range("bytes 0-99/100"), 0, 99));
  CHECK(is(parse_content_range("bytes=5-9"), 5, 9));
  CHECK(is(parse_content_range("5-5"), 5, 5));
  CHECK(is(parse_content_range("0-18446744073709551614"), 0, u64_max - 1));
}

TEST_CASE("Content-Range: hostile and malformed", "[oci][range]") {
  for (const char* bad : {"", "-", "0-", "-9", "9-0", "a-b", "0-1-2", "bytes 0-99/50", "bytes 0-99/", "bytes 0-99/x",
                          "bytes */100", "0-99999999999999999999", "99999999999999999999-99999999999999999999",
                          "0-18446744073709551615", "bytes 0-1,2-3", "bytes:0-1", "0 - 1", "+0-1", "0-+1"})
    CHECK_FALSE(parse_content_range(bad));
}
