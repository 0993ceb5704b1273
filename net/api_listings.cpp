// GET /v2/<name>/tags/list, /v2/<name>/referrers/<digest>, /v2/_catalog
#include "net/api_internal.hpp"
#include "oci/media_types.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <charconv>
#include <limits>
#include <variant>

namespace stowage::net::api {
namespace {

using oci::error_code;

/// Reads `n`: nullopt if absent, an error if not a number.
std::variant<std::optional<std::size_t>, response> page_size(const request& req) {
  auto n = req.param("n");
  if (!n) return std::optional<std::size_t>{};
  std::size_t v = 0;
  auto [p, ec] = std::from_chars(n->data(), n->data() + n->size(), v);
  if (ec != std::errc{} || p != n->data() + n->size() || n->empty())
    return error_response(error_code::unsupported, "n must be a non-negative integer", 400);
  // Callers fetch n + 1 to know whether a next page exists.
  return std::optional<std::size_t>{std::min(v, std::numeric_limits<std::size_t>::max() - 1)};
}

/// Takes at most n of `items` (fetched with one extra to know whether more
/// exist) and adds a Link header to the next page.
void paginate(std::vector<std::string>& items, std::optional<std::size_t> n, const std::string& base,
              response& r) {
  if (!n || items.size() <= *n) return;
  items.resize(*n);
  if (items.empty()) return;
  r.headers.set("Link", "<" + base + "?n=" + std::to_string(*n) + "&last=" + percent_encode(items.back()) +
                            ">; rel=\"next\"");
}

} // namespace

route_result tags_list(registry_api& api, const request& req, const target& t) {
  if (req.method != "GET" && req.method != "HEAD") return route_result::answer(method_not_allowed());
  auto n = page_size(req);
  if (auto* e = std::get_if<response>(&n)) return route_result::answer(std::move(*e));
  auto limit = std::get<std::optional<std::size_t>>(n);
  if (!api.store().repository_exists(t.repo))
    return route_result::answer(error_response(error_code::name_unknown, "repository name not known to registry", 404));
  std::optional<std::size_t> fetch;
  if (limit) fetch = *limit + 1;
  auto tags = api.store().tags(t.repo, fetch, req.param("last").value_or(""));
  response r = json_response(200, "");
  paginate(tags, limit, "/v2/" + t.repo + "/tags/list", r);
  r.body = nlohmann::json{{"name", t.repo}, {"tags", tags}}.dump();
  return route_result::answer(std::move(r));
}

response tags_list_of(const request& req, const std::string& repo, std::vector<std::string> tags) {
  auto n = page_size(req);
  if (auto* e = std::get_if<response>(&n)) return std::move(*e);
  auto limit = std::get<std::optional<std::size_t>>(n);
  std::string last(req.param("last").value_or(""));
  if (!last.empty()) std::erase_if(tags, [&](const std::string& t) { return t <= last; });
  response r = json_response(200, "");
  paginate(tags, limit, "/v2/" + repo + "/tags/list", r);
  r.body = nlohmann::json{{"name", repo}, {"tags", tags}}.dump();
  return r;
}

route_result referrers(registry_api& api, const request& req, const target& t) {
  if (req.method != "GET" && req.method != "HEAD") return route_result::answer(method_not_allowed());
  auto subject = oci::digest::parse(t.arg);
  if (!subject) return route_result::answer(error_response(error_code::digest_invalid, "invalid digest", 400));
  std::string type(req.param("artifactType").value_or(""));
  auto found = api.store().referrers(t.repo, *subject, type);
  nlohmann::json list = nlohmann::json::array();
  for (const auto& d : found) {
    nlohmann::json j{{"mediaType", d.media_type}, {"digest", d.dig.str()}, {"size", d.size}};
    if (!d.artifact_type.empty()) j["artifactType"] = d.artifact_type;
    if (!d.annotations.empty()) j["annotations"] = d.annotations;
    list.push_back(std::move(j));
  }
  nlohmann::json index{{"schemaVersion", 2}, {"mediaType", oci::media::oci_index}, {"manifests", list}};
  response r = json_response(200, index.dump(), oci::media::oci_index);
  if (!type.empty()) r.headers.set("OCI-Filters-Applied", "artifactType");
  return route_result::answer(std::move(r));
}

response catalog_of(const request& req, std::vector<std::string> repositories) {
  auto n = page_size(req);
  if (auto* e = std::get_if<response>(&n)) return std::move(*e);
  auto limit = std::get<std::optional<std::size_t>>(n);
  std::string last(req.param("last").value_or(""));
  if (!last.empty()) std::erase_if(repositories, [&](const std::string& r) { return r <= last; });
  std::sort(repositories.begin(), repositories.end());
  response r = json_response(200, "");
  paginate(repositories, limit, "/v2/_catalog", r);
  r.body = nlohmann::json{{"repositories", repositories}}.dump();
  return r;
}

route_result catalog(registry_api& api, const request& req) {
  if (req.method != "GET" && req.method != "HEAD") return route_result::answer(method_not_allowed());
  return route_result::answer(catalog_of(req, api.store().repositories()));
}

} // namespace stowage::net::api
