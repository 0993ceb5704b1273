// OCI Distribution error codes and the JSON error body every refusal carries.
#pragma once

#include <string>
#include <string_view>

namespace stowage::oci {

enum class error_code {
  blob_unknown,
  blob_upload_invalid,
  blob_upload_unknown,
  digest_invalid,
  manifest_blob_unknown,
  manifest_invalid,
  manifest_unknown,
  name_invalid,
  name_unknown,
  size_invalid,
  unauthorized,
  denied,
  unsupported,
  too_many_requests,
  range_invalid, // not in the spec's table; used with 416 ("RANGE_INVALID")
};

/// "BLOB_UNKNOWN", …
std::string_view code_string(error_code c);
/// The HTTP status the spec pairs with the code (e.g. 404 for *_UNKNOWN).
int default_status(error_code c);
/// {"errors":[{"code":"…","message":"…","detail":…}]}
std::string error_body(error_code c, std::string_view message, std::string_view detail_json = "null");

} // namespace stowage::oci
