// Routing of /v2/… requests and the pieces every endpoint shares.
#include "net/api_internal.hpp"

#include <spdlog/spdlog.h>

#include <vector>

namespace stowage::net {

registry_api::registry_api(store::registry_store& store, std::shared_ptr<push_gate> gate,
                           after_manifest_put_hook hook, registry_api_options opts)
    : store_(store), gate_(std::move(gate)), hook_(std::move(hook)), opts_(opts) {}

std::optional<refusal> registry_api::gate(const request& req, std::string_view repo) const {
  if (!gate_) return std::nullopt;
  return gate_->check(write_attempt{req.method, repo, req.headers.get_or("Authorization"), req.target, req.from_this_host});
}

std::optional<refusal> registry_api::gate_tag(const write_attempt& w, std::string_view tag,
                                              const oci::digest& manifest, std::optional<std::uint64_t>& seq) const {
  if (!gate_) return std::nullopt;
  return gate_->check_tag(w, tag, manifest, seq);
}

void registry_api::tag_done(const write_attempt& w, bool stored) const {
  if (gate_) gate_->tag_done(w, stored);
}

void registry_api::after_manifest_put(const manifest_put_event& ev, manifest_put_done done) const {
  if (!hook_) {
    done(std::nullopt);
    return;
  }
  hook_(ev, std::move(done));
}

response error_response(oci::error_code code, std::string_view message, int status,
                        std::string_view detail_json) {
  response r;
  r.status = status ? status : oci::default_status(code);
  r.body = oci::error_body(code, message, detail_json);
  r.headers.set("Content-Type", "application/json");
  return r;
}

response refusal_response(const refusal& f) {
  response r = error_response(f.code, f.message, f.status);
  if (!f.www_authenticate.empty()) r.headers.set("WWW-Authenticate", f.www_authenticate);
  return r;
}

response registry_api::malformed(std::string_view why) const {
  return error_response(oci::error_code::unsupported, "malformed request: " + std::string(why), 400);
}

route_result registry_api::route(const request& req) {
  using api::endpoint;
  api::target t = api::parse_target(req.path);
  try {
    switch (t.ep) {
    case endpoint::base: {
      if (req.method != "GET" && req.method != "HEAD") return route_result::answer(api::method_not_allowed());
      response r = api::json_response(200, "{}");
      r.headers.set("Docker-Distribution-API-Version", "registry/2.0");
      return route_result::answer(std::move(r));
    }
    case endpoint::catalog:
      return api::catalog(*this, req);
    case endpoint::unknown: {
      response r = error_response(oci::error_code::unsupported, "no such endpoint", 404);
      return route_result::answer(std::move(r));
    }
    default:
      break;
    }
    if (!oci::valid_repository(t.repo))
      return route_result::answer(error_response(oci::error_code::name_invalid, "invalid repository name", 400));
    switch (t.ep) {
    case endpoint::blob: return api::blobs(*this, req, t);
    case endpoint::upload_start:
    case endpoint::upload_session: return api::uploads(*this, req, t);
    case endpoint::manifest: return api::manifests(*this, req, t);
    case endpoint::tags_list: return api::tags_list(*this, req, t);
    case endpoint::referrers: return api::referrers(*this, req, t);
    default: break;
    }
  } catch (const store::store_error& e) {
    spdlog::error("store error on {} {}: {}", req.method, req.target, e.what());
    return route_result::answer(error_response(oci::error_code::unsupported, "storage failure", 500));
  }
  return route_result::answer(error_response(oci::error_code::unsupported, "no such endpoint", 404));
}

} // namespace stowage::net

namespace stowage::net::api {

target parse_target(std::string_view path) {
  target t;
  constexpr std::string_view prefix = "/v2/";
  if (path == "/v2" || path == prefix) {
    t.ep = endpoint::base;
    return t;
  }
  if (path.substr(0, prefix.size()) != prefix) return t;
  std::string_view rest = path.substr(prefix.size());
  if (rest == "_catalog") {
    t.ep = endpoint::catalog;
    return t;
  }
  std::vector<std::string_view> seg;
  for (std::size_t start = 0;;) {
    auto slash = rest.find('/', start);
    seg.push_back(rest.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start));
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  const std::size_t n = seg.size();
  // The name is segments [0, k) re-joined exactly as sent.
  auto name_of = [&](std::size_t k) {
    std::string name;
    for (std::size_t i = 0; i < k; ++i) {
      if (i) name += '/';
      name += seg[i];
    }
    return name;
  };
  auto at = [&](std::size_t from_end) -> std::string_view { return seg[n - from_end]; };
  if (n >= 4 && at(3) == "blobs" && at(2) == "uploads") {
    t.ep = at(1).empty() ? endpoint::upload_start : endpoint::upload_session;
    t.repo = name_of(n - 3);
    t.arg = std::string(at(1));
  } else if (n >= 3 && at(2) == "blobs" && at(1) == "uploads") {
    t.ep = endpoint::upload_start;
    t.repo = name_of(n - 2);
  } else if (n >= 3 && at(2) == "tags" && at(1) == "list") {
    t.ep = endpoint::tags_list;
    t.repo = name_of(n - 2);
  } else if (n >= 3 && (at(2) == "blobs" || at(2) == "manifests" || at(2) == "referrers")) {
    t.ep = at(2) == "blobs" ? endpoint::blob : at(2) == "manifests" ? endpoint::manifest : endpoint::referrers;
    t.repo = name_of(n - 2);
    t.arg = std::string(at(1));
  }
  return t;
}

response empty_response(int status) {
  response r;
  r.status = status;
  return r;
}

response json_response(int status, std::string body, std::string_view content_type) {
  response r;
  r.status = status;
  r.body = std::move(body);
  r.headers.set("Content-Type", std::string(content_type));
  return r;
}

std::string upload_range(std::uint64_t size) {
  return "0-" + std::to_string(size == 0 ? 0 : size - 1);
}

std::string blob_location(std::string_view repo, const oci::digest& d) {
  return "/v2/" + std::string(repo) + "/blobs/" + d.str();
}

std::string upload_location(std::string_view repo, std::string_view id) {
  return "/v2/" + std::string(repo) + "/blobs/uploads/" + std::string(id);
}

std::string manifest_location(std::string_view repo, const oci::digest& d) {
  return "/v2/" + std::string(repo) + "/manifests/" + d.str();
}

bool plausible_upload_id(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  for (char c : id) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
    if (!ok) return false;
  }
  return true;
}

response method_not_allowed() {
  return error_response(oci::error_code::unsupported, "method not allowed", 405);
}

} // namespace stowage::net::api
