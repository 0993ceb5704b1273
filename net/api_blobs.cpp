// GET/HEAD/DELETE /v2/<name>/blobs/<digest>
#include "net/api_internal.hpp"
#include "oci/range.hpp"
#include "store/range_reader.hpp"

namespace stowage::net::api {

route_result blobs(registry_api& api, const request& req, const target& t) {
  using oci::error_code;
  auto dig = oci::digest::parse(t.arg);
  const bool read = req.method == "GET" || req.method == "HEAD";
  if (!read && req.method != "DELETE") return route_result::answer(method_not_allowed());
  if (!dig) return route_result::answer(error_response(error_code::digest_invalid, "invalid digest", 400));

  if (req.method == "DELETE") {
    if (auto no = api.gate(req, t.repo)) return route_result::answer(refusal_response(*no));
    if (!api.store().delete_blob(t.repo, *dig))
      return route_result::answer(error_response(error_code::blob_unknown, "blob unknown to registry", 404));
    response r = empty_response(202);
    r.headers.set("Docker-Content-Digest", dig->str());
    return route_result::answer(std::move(r));
  }

  // Opened now: a delete racing this read makes it a 404 or lets it finish.
  auto blob = store::open_linked_blob(api.store(), t.repo, *dig);
  if (!blob) return route_result::answer(error_response(error_code::blob_unknown, "blob unknown to registry", 404));
  const auto size = blob->info.size;

  response r;
  const std::string digest = dig->str();
  r.headers.set("Docker-Content-Digest", digest);
  r.headers.set("Content-Type", "application/octet-stream");
  r.headers.set("Accept-Ranges", "bytes");
  r.headers.set("Cache-Control", "max-age=31536000");
  r.headers.set("ETag", "\"" + digest + "\"");
  file_slice slice{blob->info.path, 0, size,
                   std::make_shared<const store::fileio::unique_fd>(std::move(blob->fd))};
  if (auto range = req.headers.get("Range"); range && req.method == "GET") {
    auto br = oci::parse_range_header(*range, size);
    if (!br) {
      response e = error_response(error_code::range_invalid, "requested range not satisfiable", 416);
      e.headers.set("Content-Range", "bytes */" + std::to_string(size));
      return route_result::answer(std::move(e));
    }
    r.status = 206;
    slice.offset = br->first;
    slice.length = br->length();
    r.headers.set("Content-Range", "bytes " + std::to_string(br->first) + "-" + std::to_string(br->last) + "/" +
                                       std::to_string(size));
  }
  r.file = std::move(slice);
  return route_result::answer(std::move(r));
}

} // namespace stowage::net::api
