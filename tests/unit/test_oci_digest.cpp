#include "oci/digest.hpp"

#include <catch2/catch.hpp>

#include <string>

using stowage::oci::digest;
using stowage::oci::sha256_hasher;
using stowage::oci::sha256_of;

namespace {
const std::string empty_sha = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
const std::string abc_sha = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
} // namespace

TEST_CASE("sha256 known vectors", "[oci][digest]") {
  CHECK(sha256_of("").str() == "sha256:" + empty_sha);
  CHECK(sha256_of("abc").str() == "sha256:" + abc_sha);
  // FIPS 180-2 two-block vector.
  CHECK(sha256_of("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq").hex ==
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  // One million 'a'.
  CHECK(sha256_of(std::string(1000000, 'a')).hex == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST_CASE("sha256 incremental equals one-shot", "[oci][digest]") {
  std::string data;
  for (int i = 0; i < 100000; ++i) data.push_back(char(i * 31 + 7));
  sha256_hasher h;
  std::size_t pos = 0, step = 1;
  while (pos < data.size()) {
    auto n = std::min(step, data.size() - pos);
    h.update(data.data() + pos, n);
    pos += n;
    step = step * 3 + 1;
  }
  h.update(nullptr, 0); // empty updates are harmless
  CHECK(h.finish() == sha256_of(data));
}

TEST_CASE("sha256 hasher refuses use after finish and survives moves", "[oci][digest]") {
  sha256_hasher h;
  h.update("a");
  sha256_hasher moved(std::move(h));
  moved.update("bc");
  CHECK(moved.finish().hex == abc_sha);
  CHECK_THROWS(moved.update("x"));
  CHECK_THROWS(moved.finish());
  sha256_hasher other;
  other = std::move(moved);
  CHECK_THROWS(other.finish());
}

TEST_CASE("digest parse accepts valid digests", "[oci][digest]") {
  auto d = digest::parse("sha256:" + abc_sha);
  REQUIRE(d);
  CHECK(d->algorithm == "sha256");
  CHECK(d->hex == abc_sha);
  CHECK(d->str() == "sha256:" + abc_sha);
  CHECK(digest::parse("sha512:" + std::string(128, 'a')));
  // Unregistered algorithms follow the general grammar.
  CHECK(digest::parse("multihash+base58:QmRZxt2b1FVZPNqd8hsiykDL3TdBDeTSPX9Kv46HmX4Gx8"));
  CHECK(digest::parse("sha256+b64u:LCa0a2j_xo_5m0U8HTBBNBNCLXBkg7-g-YpeiGJm564"));
}

TEST_CASE("digest parse rejects malformed digests", "[oci][digest]") {
  CHECK_FALSE(digest::parse(""));
  CHECK_FALSE(digest::parse(":"));
  CHECK_FALSE(digest::parse("sha256"));
  CHECK_FALSE(digest::parse("sha256:"));
  CHECK_FALSE(digest::parse(":" + abc_sha));
  CHECK_FALSE(digest::parse("sha256:" + abc_sha.substr(0, 63)));   // 63 hex
  CHECK_FALSE(digest::parse("sha256:" + abc_sha + "0"));           // 65 hex
  std::string upper = abc_sha;
  upper[0] = 'B';
  CHECK_FALSE(digest::parse("sha256:" + upper));                   // upper case
  CHECK_FALSE(digest::parse("sha256:" + std::string(63, 'a') + "g")); // not hex
  CHECK_FALSE(digest::parse("SHA256:" + abc_sha));                 // upper-case algorithm
  CHECK_FALSE(digest::parse("sha256:" + abc_sha + "\n"));
  CHECK_FALSE(digest::parse(" sha256:" + abc_sha));
  CHECK_FALSE(digest::parse("sha256:../../etc/passwd"));
  CHECK_FALSE(digest::parse("sha256:" + abc_sha.substr(0, 32) + "/" + abc_sha.substr(33)));
  CHECK_FALSE(digest::parse("sha256::" + abc_sha));
  CHECK_FALSE(digest::parse("sha512:" + std::string(127, 'a')));
  CHECK_FALSE(digest::parse("-sha:abc"));
  CHECK_FALSE(digest::parse("sha-:abc"));
  CHECK_FALSE(digest::parse("sha..x:abc"));
  CHECK_FALSE(digest::parse("foo:bar/baz"));
  CHECK_FALSE(digest::parse("foo:bar.baz"));
  CHECK_FALSE(digest::parse(std::string("sha256:") + std::string(63, 'a') + '\0'));
  CHECK_FALSE(digest::parse("foo:" + std::string(5000, 'a'))); // bounded length
  CHECK_FALSE(digest::parse(std::string(100, 'a') + ":abc"));
}

TEST_CASE("digests order and compare by value", "[oci][digest]") {
  auto a = *digest::parse("sha256:" + empty_sha);
  auto b = *digest::parse("sha256:" + abc_sha);
  CHECK(a != b);
  CHECK(b < a);
  CHECK(a == sha256_of(""));
}
