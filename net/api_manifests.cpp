// PUT/GET/HEAD/DELETE /v2/<name>/manifests/<reference>
#include "net/api_internal.hpp"
#include "oci/manifest.hpp"

#include <spdlog/spdlog.h>

namespace stowage::net::api {
namespace {

using oci::error_code;

/// Layers that clients never push (foreign / non-distributable) are not required to exist.
bool must_exist(const oci::descriptor& d) {
  return d.media_type.find("foreign") == std::string::npos &&
         d.media_type.find("nondistributable") == std::string::npos;
}

/// Collects the manifest body (at most the limit), then validates and stores it.
class manifest_sink final : public body_handler {
public:
  manifest_sink(registry_api& api, std::string repo, oci::reference ref, std::string content_type,
                std::string authorization, std::string target)
      : api_(api), repo_(std::move(repo)), ref_(std::move(ref)), content_type_(std::move(content_type)),
        authorization_(std::move(authorization)), target_(std::move(target)) {}

  bool on_data(const char* p, std::size_t n) override {
    if (body_.size() + n > api_.options().max_manifest_bytes) {
      too_large_ = true;
      return false;
    }
    body_.append(p, n);
    return true;
  }

  void on_end(bool complete, responder respond) override {
    if (too_large_) return respond(error_response(error_code::size_invalid, "manifest too large", 413));
    if (!complete) return respond(error_response(error_code::manifest_invalid, "request body incomplete", 400));
    try {
      store(respond);
    } catch (const std::exception& e) {
      spdlog::error("manifest put failed: {}", e.what());
      respond(error_response(error_code::unsupported, "storage failure", 500));
    }
  }

private:
  // `respond` stays the caller's: a failure thrown from here is answered
  // with it (a storage failure, e.g. a full disk, gets its OCI body).
  void store(const responder& respond) {
    auto& st = api_.store();
    auto parsed = oci::parse_manifest(body_, content_type_);
    if (!parsed.value) return respond(error_response(error_code::manifest_invalid, parsed.error.message, 400));
    const oci::manifest& m = *parsed.value;
    const oci::digest dig = oci::sha256_of(body_);
    if (ref_.is_digest() && ref_.dig() != dig)
      return respond(error_response(error_code::digest_invalid, "manifest does not match the digest", 400));

    manifest_put_event ev;
    ev.repository = repo_;
    ev.dig = dig;
    ev.media_type = m.media_type;
    ev.size = body_.size();
    ev.authorization = authorization_;
    if (m.subject) ev.subject = m.subject->dig;
    auto blob_unknown = [&](const oci::digest& d) {
      respond(error_response(error_code::manifest_blob_unknown, "blob unknown to registry", 400,
                             "{\"digest\":\"" + d.str() + "\"}"));
    };
    // A descriptor's size is what clients check the content against before
    // trusting it: one that disagrees with the registry's copy would make
    // every pull of the manifest fail.
    auto size_wrong = [&](const oci::descriptor& d, std::uint64_t held) {
      respond(error_response(error_code::manifest_invalid,
                             "descriptor of " + d.dig.str() + " says " + std::to_string(d.size) +
                               " bytes; the registry holds " + std::to_string(held),
                             400, "{\"digest\":\"" + d.dig.str() + "\"}"));
    };
    auto check_blob = [&](const oci::descriptor& d) {
      if (!must_exist(d)) return true;
      auto b = st.blob(repo_, d.dig);
      if (!b)
        blob_unknown(d.dig);
      else if (b->size != d.size)
        size_wrong(d, b->size);
      return b && b->size == d.size;
    };
    if (m.config) {
      if (!check_blob(*m.config)) return;
      ev.blobs.push_back(m.config->dig);
    }
    for (const auto& l : m.layers) {
      if (!check_blob(l)) return;
      ev.blobs.push_back(l.dig);
    }
    for (const auto& c : m.manifests) {
      auto child = st.manifest(repo_, oci::reference{c.dig});
      if (!child) return blob_unknown(c.dig);
      if (child->size != c.size) return size_wrong(c, child->size);
      ev.children.push_back(c.dig);
    }

    std::optional<std::string_view> tag;
    std::optional<std::uint64_t> seq;
    const write_attempt attempt{"PUT", repo_, authorization_, target_};
    if (!ref_.is_digest()) {
      tag = ref_.tag();
      ev.tag = ref_.tag();
      // Only now, the manifest known valid: a refusal before this point
      // leaves the push open for the client's corrected retry.
      if (auto no = api_.gate_tag(attempt, *tag, dig, seq)) return respond(refusal_response(*no));
    }
    store::tag_update update;
    try {
      update = st.put_manifest(repo_, dig, m, body_, tag, seq);
    } catch (...) {
      if (tag) api_.tag_done(attempt, false);
      throw;
    }
    if (tag) {
      ev.tag_seq = update.seq;
      api_.tag_done(attempt, true);
    }
    spdlog::info("stored manifest {}{}{} {} ({} bytes)", repo_, tag ? ":" : "", tag ? *tag : "", dig.str(),
                 body_.size());

    response ok = empty_response(201);
    ok.headers.set("Location", manifest_location(repo_, dig));
    ok.headers.set("Docker-Content-Digest", dig.str());
    if (m.subject) ok.headers.set("OCI-Subject", m.subject->dig.str());
    api_.after_manifest_put(ev, [ok = std::move(ok), respond](std::optional<refusal> no) mutable {
      respond(no ? refusal_response(*no) : std::move(ok));
    });
  }

  registry_api& api_;
  std::string repo_;
  oci::reference ref_;
  std::string content_type_, authorization_, target_;
  std::string body_;
  bool too_large_ = false;
};

/// The manifest `ref` names with its bytes (none for HEAD); nullopt if there
/// is none, also when a delete removed it between the lookup and the read.
std::optional<std::pair<store::manifest_info, std::string>> find_manifest(const store::registry_store& st,
                                                                          const std::string& repo,
                                                                          const oci::reference& ref, bool read) {
  for (int attempt = 0;; ++attempt) {
    auto info = st.manifest(repo, ref);
    if (!info) return std::nullopt;
    try {
      auto body = read ? st.read_manifest(*info) : std::string();
      return std::pair{std::move(*info), std::move(body)};
    } catch (const store::store_error&) {
      if (attempt == 2) throw; // not a race: the manifest is recorded but cannot be read
    }
  }
}

} // namespace

route_result manifests(registry_api& api, const request& req, const target& t) {
  auto& st = api.store();
  auto ref = oci::reference::parse(t.arg);
  if (!ref) {
    if (t.arg.find(':') != std::string::npos)
      return route_result::answer(error_response(error_code::digest_invalid, "invalid digest", 400));
    // A tag that cannot exist: a read or delete finds nothing, a PUT is refused.
    if (req.method == "PUT")
      return route_result::answer(error_response(error_code::manifest_invalid, "invalid tag", 400));
    return route_result::answer(error_response(error_code::manifest_unknown, "manifest unknown", 404));
  }

  if (req.method == "PUT") {
    if (auto no = api.gate(req, t.repo)) return route_result::answer(refusal_response(*no));
    if (req.content_length && *req.content_length > api.options().max_manifest_bytes) {
      response r = error_response(error_code::size_invalid, "manifest too large", 413);
      r.close = true;
      return route_result::answer(std::move(r));
    }
    return route_result::stream(std::make_unique<manifest_sink>(api, t.repo, *ref,
                                                                std::string(req.headers.get_or("Content-Type")),
                                                                std::string(req.headers.get_or("Authorization")),
                                                                req.target));
  }

  if (req.method == "DELETE") {
    if (auto no = api.gate(req, t.repo)) return route_result::answer(refusal_response(*no));
    bool gone = ref->is_digest() ? st.delete_manifest(t.repo, ref->dig()) : st.delete_tag(t.repo, ref->tag());
    if (!gone) return route_result::answer(error_response(error_code::manifest_unknown, "manifest unknown", 404));
    spdlog::info("deleted {} {}{}", ref->is_digest() ? "manifest" : "tag", t.repo + (ref->is_digest() ? "@" : ":"),
                 ref->str());
    return route_result::answer(empty_response(202));
  }

  if (req.method != "GET" && req.method != "HEAD") return route_result::answer(method_not_allowed());
  auto found = find_manifest(st, t.repo, *ref, req.method == "GET");
  if (!found) {
    if (!st.repository_exists(t.repo))
      return route_result::answer(error_response(error_code::name_unknown, "repository name not known to registry", 404));
    return route_result::answer(error_response(error_code::manifest_unknown, "manifest unknown", 404));
  }
  auto& [info, body] = *found;
  response r;
  r.headers.set("Content-Type", info.media_type);
  r.headers.set("Docker-Content-Digest", info.dig.str());
  r.headers.set("ETag", "\"" + info.dig.str() + "\"");
  if (req.method == "GET") {
    r.body = std::move(body);
  } else {
    r.file = file_slice{info.path, 0, info.size, {}}; // HEAD: the length without reading the bytes
  }
  return route_result::answer(std::move(r));
}

} // namespace stowage::net::api
