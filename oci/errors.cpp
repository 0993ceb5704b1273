// OCI Distribution error codes (spec "Error Codes") and their JSON body.
#include "oci/errors.hpp"

#include <nlohmann/json.hpp>

namespace stowage::oci {

std::string_view code_string(error_code c) {
  switch (c) {
  case error_code::blob_unknown: return "BLOB_UNKNOWN";
  case error_code::blob_upload_invalid: return "BLOB_UPLOAD_INVALID";
  case error_code::blob_upload_unknown: return "BLOB_UPLOAD_UNKNOWN";
  case error_code::digest_invalid: return "DIGEST_INVALID";
  case error_code::manifest_blob_unknown: return "MANIFEST_BLOB_UNKNOWN";
  case error_code::manifest_invalid: return "MANIFEST_INVALID";
  case error_code::manifest_unknown: return "MANIFEST_UNKNOWN";
  case error_code::name_invalid: return "NAME_INVALID";
  case error_code::name_unknown: return "NAME_UNKNOWN";
  case error_code::size_invalid: return "SIZE_INVALID";
  case error_code::unauthorized: return "UNAUTHORIZED";
  case error_code::denied: return "DENIED";
  case error_code::unsupported: return "UNSUPPORTED";
  case error_code::too_many_requests: return "TOOMANYREQUESTS";
  case error_code::range_invalid: return "RANGE_INVALID";
  }
  return "UNKNOWN";
}

int default_status(error_code c) {
  switch (c) {
  case error_code::blob_unknown: return 404;
  case error_code::blob_upload_invalid: return 400;
  case error_code::blob_upload_unknown: return 404;
  case error_code::digest_invalid: return 400;
  case error_code::manifest_blob_unknown: return 400;
  case error_code::manifest_invalid: return 400;
  case error_code::manifest_unknown: return 404;
  case error_code::name_invalid: return 400;
  case error_code::name_unknown: return 404;
  case error_code::size_invalid: return 400;
  case error_code::unauthorized: return 401;
  case error_code::denied: return 403;
  case error_code::unsupported: return 415;
  case error_code::too_many_requests: return 429;
  case error_code::range_invalid: return 416;
  }
  return 500;
}

std::string error_body(error_code c, std::string_view message, std::string_view detail_json) {
  // The detail is meant to be JSON already; anything that does not parse is
  // carried as a string rather than spliced in raw.
  nlohmann::json detail = nlohmann::json::parse(detail_json, nullptr, false);
  if (detail.is_discarded()) detail = std::string(detail_json);
  nlohmann::json entry = {{"code", std::string(code_string(c))}, {"message", std::string(message)}, {"detail", detail}};
  nlohmann::json body = {{"errors", nlohmann::json::array({entry})}};
  // Invalid UTF-8 in a message (e.g. echoed from a request) is replaced, not thrown on.
  return body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

} // namespace stowage::oci
