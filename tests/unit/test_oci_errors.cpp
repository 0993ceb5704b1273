#include "oci/errors.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <set>
#include <string>

using namespace stowage::oci;
using nlohmann::json;

TEST_CASE("error codes and statuses", "[oci][errors]") {
  struct row {
    error_code c;
    const char* s;
    int status;
  };
  const row rows[] = {
      {error_code::blob_unknown, "BLOB_UNKNOWN", 404},
      {error_code::blob_upload_invalid, "BLOB_UPLOAD_INVALID", 400},
      {error_code::blob_upload_unknown, "BLOB_UPLOAD_UNKNOWN", 404},
      {error_code::digest_invalid, "DIGEST_INVALID", 400},
      {error_code::manifest_blob_unknown, "MANIFEST_BLOB_UNKNOWN", 400},
      {error_code::manifest_invalid, "MANIFEST_INVALID", 400},
      {error_code::manifest_unknown, "MANIFEST_UNKNOWN", 404},
      {error_code::name_invalid, "NAME_INVALID", 400},
      {error_code::name_unknown, "NAME_UNKNOWN", 404},
      {error_code::size_invalid, "SIZE_INVALID", 400},
      {error_code::unauthorized, "UNAUTHORIZED", 401},
      {error_code::denied, "DENIED", 403},
      {error_code::unsupported, "UNSUPPORTED", 415},
      {error_code::too_many_requests, "TOOMANYREQUESTS", 429}, // spelled as in the spec's table
      {error_code::range_invalid, "RANGE_INVALID", 416},
  };
  std::set<std::string> seen;
  for (const auto& r : rows) {
    CHECK(code_string(r.c) == r.s);
    CHECK(default_status(r.c) == r.status);
    seen.insert(std::string(code_string(r.c)));
  }
  CHECK(seen.size() == std::size(rows));
}

TEST_CASE("error body is valid JSON with the spec's shape", "[oci][errors]") {
  auto body = json::parse(error_body(error_code::blob_unknown, "blob unknown to registry"));
  REQUIRE(body["errors"].is_array());
  REQUIRE(body["errors"].size() == 1);
  CHECK(body["errors"][0]["code"] == "BLOB_UNKNOWN");
  CHECK(body["errors"][0]["message"] == "blob unknown to registry");
  CHECK(body["errors"][0]["detail"].is_null());
}

TEST_CASE("error body escapes hostile messages", "[oci][errors]") {
  std::string nasty = "quote\" backslash\\ newline\n tab\t nul";
  nasty.push_back('\0');
  nasty += "\"},{\"code\":\"DENIED\"";
  auto body = json::parse(error_body(error_code::name_invalid, nasty));
  CHECK(body["errors"].size() == 1);
  CHECK(body["errors"][0]["message"] == nasty);
  // Invalid UTF-8 does not throw; the body still parses.
  auto bad_utf8 = error_body(error_code::name_invalid, "\xff\xfe name");
  CHECK(json::accept(bad_utf8));
}

TEST_CASE("error body detail", "[oci][errors]") {
  auto body = json::parse(error_body(error_code::digest_invalid, "m", R"({"digest":"sha256:x"})"));
  CHECK(body["errors"][0]["detail"]["digest"] == "sha256:x");
  // Detail that is not JSON is carried as a string, never spliced in raw.
  auto raw = json::parse(error_body(error_code::digest_invalid, "m", "}] ,\"x\":1"));
  CHECK(raw["errors"][0]["detail"] == "}] ,\"x\":1");
  CHECK(raw["errors"].size() == 1);
}
