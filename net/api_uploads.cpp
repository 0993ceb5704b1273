// Blob uploads: POST (start, monolithic, mount), PATCH, PUT, GET status, DELETE
// under /v2/<name>/blobs/uploads/. Bodies stream into the store's upload
// writer chunk by chunk, so memory stays flat whatever the blob size.
#include "net/api_internal.hpp"
#include "oci/range.hpp"

#include <spdlog/spdlog.h>

#include <variant>

namespace stowage::net::api {
namespace {

using oci::error_code;

response upload_accepted(int status, std::string_view repo, const store::upload_info& u) {
  response r = empty_response(status);
  r.headers.set("Location", upload_location(repo, u.id));
  r.headers.set("Docker-Upload-UUID", u.id);
  r.headers.set("Range", upload_range(u.size));
  return r;
}

response blob_created(std::string_view repo, const oci::digest& d) {
  response r = empty_response(201);
  r.headers.set("Location", blob_location(repo, d));
  r.headers.set("Docker-Content-Digest", d.str());
  return r;
}

response commit(registry_api& api, std::string_view repo, std::string_view id, const oci::digest& d) {
  switch (api.store().commit_upload(repo, id, d)) {
  case store::commit_status::ok: return blob_created(repo, d);
  case store::commit_status::upload_unknown:
    return error_response(error_code::blob_upload_unknown, "blob upload unknown to registry", 404);
  case store::commit_status::digest_mismatch:
    return error_response(error_code::digest_invalid, "content does not match digest", 400);
  case store::commit_status::size_mismatch:
    return error_response(error_code::size_invalid, "content does not match the expected size", 400);
  case store::commit_status::unsupported:
    return error_response(error_code::digest_invalid, "only sha256 digests are supported", 400);
  }
  return error_response(error_code::unsupported, "unexpected commit status", 500);
}

/// Streams a request body into an upload session, then runs `finish`.
class upload_sink final : public body_handler {
public:
  using finisher = std::function<response()>;
  upload_sink(std::unique_ptr<store::upload_writer> w, std::optional<std::uint64_t> expected,
              finisher done, std::function<void()> on_abort = {})
      : writer_(std::move(w)), expected_(expected), done_(std::move(done)), abort_(std::move(on_abort)) {}

  bool on_data(const char* p, std::size_t n) override {
    if (expected_ && received_ + n > *expected_) {
      too_long_ = true;
      return false;
    }
    try {
      writer_->write(p, n);
      received_ += n;
      return true;
    } catch (const std::exception& e) {
      spdlog::error("upload write failed: {}", e.what());
      failed_ = true;
      return false;
    }
  }

  void on_end(bool complete, responder respond) override {
    response r;
    try {
      if (failed_) {
        r = error_response(error_code::unsupported, "storage failure", 500);
      } else if (too_long_ || (complete && expected_ && received_ != *expected_)) {
        r = error_response(error_code::blob_upload_invalid, "body length does not match Content-Range", 400);
      } else if (!complete) {
        r = error_response(error_code::blob_upload_invalid, "request body incomplete", 400);
      } else {
        writer_->finish();
        writer_.reset(); // release the session before committing it
        r = done_();
      }
    } catch (const std::exception& e) {
      spdlog::error("upload failed: {}", e.what());
      r = error_response(error_code::unsupported, "storage failure", 500);
    }
    // A refused body's writer goes unfinished: the session keeps its
    // previous size and the bytes written are cut off at its next use.
    writer_.reset();
    if (r.status >= 400 && abort_) {
      try { abort_(); } catch (const std::exception&) {}
    }
    respond(std::move(r));
  }

private:
  std::unique_ptr<store::upload_writer> writer_;
  std::optional<std::uint64_t> expected_;
  finisher done_;
  std::function<void()> abort_;
  std::uint64_t received_ = 0;
  bool failed_ = false, too_long_ = false;
};

/// 416 for a chunk that does not start where session `u` ends, with the
/// upload's current range for the client to resume from.
response not_continuing(const store::upload_info& u) {
  response e = error_response(error_code::range_invalid, "chunk does not continue the upload", 416);
  e.headers.set("Location", upload_location(u.repository, u.id));
  e.headers.set("Range", upload_range(u.size));
  e.headers.set("Docker-Upload-UUID", u.id);
  return e;
}

/// Checks a chunk's Content-Range against the session: it must start where the
/// session ends. Returns the chunk's length, or an error response.
std::variant<std::optional<std::uint64_t>, response> check_content_range(const request& req,
                                                                          const store::upload_info& u) {
  auto cr = req.headers.get("Content-Range");
  if (!cr) return std::optional<std::uint64_t>{};
  auto br = oci::parse_content_range(*cr);
  if (!br || br->first != u.size || br->last < br->first) return not_continuing(u);
  if (req.content_length && *req.content_length != br->length())
    return error_response(error_code::blob_upload_invalid, "Content-Length does not match Content-Range", 400);
  return std::optional<std::uint64_t>{br->length()};
}

route_result start(registry_api& api, const request& req, const target& t) {
  auto& st = api.store();
  // Cross-repository mount: 201 when the blob is there, else a new session.
  if (auto mount = req.param("mount")) {
    auto d = oci::digest::parse(*mount);
    if (!d) return route_result::answer(error_response(error_code::digest_invalid, "invalid mount digest", 400));
    std::string from(req.param("from").value_or(""));
    bool can = !from.empty() ? oci::valid_repository(from) : api.options().automatic_cross_mount;
    if (can && st.mount_blob(t.repo, *d, from)) return route_result::answer(blob_created(t.repo, *d));
  }
  if (auto dig = req.param("digest")) {
    auto d = oci::digest::parse(*dig);
    if (!d) return route_result::answer(error_response(error_code::digest_invalid, "invalid digest", 400));
    // Monolithic upload: the body is the whole blob.
    auto u = st.begin_upload(t.repo);
    auto w = st.append(t.repo, u.id, api.options().uploads);
    if (!w) throw store::store_error("new upload session vanished");
    std::string repo = t.repo, id = u.id;
    auto* s = &st;
    return route_result::stream(std::make_unique<upload_sink>(
        std::move(w), req.content_length, [&api, repo, id, d = *d] { return commit(api, repo, id, d); },
        [s, repo, id] { s->cancel_upload(repo, id); }));
  }
  auto u = st.begin_upload(t.repo);
  return route_result::answer(upload_accepted(202, t.repo, u));
}

} // namespace

route_result uploads(registry_api& api, const request& req, const target& t) {
  auto& st = api.store();
  const bool write = req.method != "GET" && req.method != "HEAD";
  if (t.ep == endpoint::upload_start) {
    if (req.method != "POST") return route_result::answer(method_not_allowed());
    if (auto no = api.gate(req, t.repo)) return route_result::answer(refusal_response(*no));
    return start(api, req, t);
  }
  if (req.method != "GET" && req.method != "HEAD" && req.method != "PATCH" && req.method != "PUT" &&
      req.method != "DELETE")
    return route_result::answer(method_not_allowed());
  if (write)
    if (auto no = api.gate(req, t.repo)) return route_result::answer(refusal_response(*no));
  std::optional<store::upload_info> u;
  if (plausible_upload_id(t.arg)) u = st.find_upload(t.repo, t.arg);
  if (!u) return route_result::answer(error_response(error_code::blob_upload_unknown, "blob upload unknown", 404));

  if (req.method == "GET" || req.method == "HEAD") {
    response r = upload_accepted(204, t.repo, *u);
    return route_result::answer(std::move(r));
  }
  if (req.method == "DELETE") {
    if (!st.cancel_upload(t.repo, u->id))
      return route_result::answer(error_response(error_code::blob_upload_unknown, "blob upload unknown", 404));
    return route_result::answer(empty_response(204));
  }

  // PATCH appends a chunk; PUT appends an optional last chunk and commits.
  std::optional<oci::digest> dig;
  if (req.method == "PUT") {
    auto p = req.param("digest");
    if (!p) return route_result::answer(error_response(error_code::digest_invalid, "digest parameter missing", 400));
    dig = oci::digest::parse(*p);
    if (!dig) return route_result::answer(error_response(error_code::digest_invalid, "invalid digest", 400));
  }
  auto checked = check_content_range(req, *u);
  if (auto* e = std::get_if<response>(&checked)) return route_result::answer(std::move(*e));
  std::optional<std::uint64_t> expected = std::get<std::optional<std::uint64_t>>(checked);
  if (!expected && req.content_length && req.headers.get("Content-Range")) expected = req.content_length;

  // At the size checked above: a chunk sent twice (a client's retry racing
  // the first copy's end) would otherwise be appended after itself.
  auto w = st.append(t.repo, u->id, api.options().uploads, u->size);
  if (!w) {
    if (auto now = st.find_upload(t.repo, u->id)) return route_result::answer(not_continuing(*now));
    return route_result::answer(error_response(error_code::blob_upload_unknown, "blob upload unknown", 404));
  }
  std::string repo = t.repo, id = u->id;
  upload_sink::finisher done;
  if (dig) {
    done = [&api, repo, id, d = *dig] { return commit(api, repo, id, d); };
  } else {
    auto* s = &st;
    done = [s, repo, id] {
      auto now = s->find_upload(repo, id);
      if (!now) return error_response(error_code::blob_upload_unknown, "blob upload unknown", 404);
      return upload_accepted(202, repo, *now);
    };
  }
  return route_result::stream(std::make_unique<upload_sink>(std::move(w), expected, std::move(done)));
}

} // namespace stowage::net::api
