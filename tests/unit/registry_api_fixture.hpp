// A registry_api over a real store in a temporary directory, driven through
// the request/response model without sockets.
#pragma once

#include "net/registry_api.hpp"
#include "oci/digest.hpp"
#include "store/registry_store.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <unistd.h>

namespace stowage::test {

inline std::filesystem::path make_temp_dir() {
  std::random_device rd;
  auto p = std::filesystem::temp_directory_path() / ("stowage-api-" + std::to_string(rd()) + std::to_string(rd()));
  std::filesystem::create_directories(p);
  return p;
}

struct api_fixture {
  std::filesystem::path dir = make_temp_dir();
  std::unique_ptr<store::registry_store> st = store::registry_store::open(dir);
  std::shared_ptr<net::push_gate> gate;
  net::after_manifest_put_hook hook;
  std::unique_ptr<net::registry_api> api;

  api_fixture() {
    spdlog::set_level(spdlog::level::warn); // keep test output to failures
    rebuild();
  }
  ~api_fixture() {
    api.reset();
    st.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
  void rebuild() { api = std::make_unique<net::registry_api>(*st, gate, hook); }

  net::response call(std::string method, std::string target, std::string_view body = {},
                     std::vector<std::pair<std::string, std::string>> headers = {}, bool from_this_host = true) {
    return call_on(*api, std::move(method), std::move(target), body, std::move(headers), from_this_host);
  }
  /// A request to any handler (the registry API, or a gateway in front of
  /// it), by default from a client on the same host.
  static net::response call_on(net::http_handler& h, std::string method, std::string target,
                               std::string_view body = {},
                               std::vector<std::pair<std::string, std::string>> headers = {},
                               bool from_this_host = true) {
    net::request req;
    req.method = std::move(method);
    req.from_this_host = from_this_host;
    REQUIRE(req.set_target(target));
    for (auto& [k, v] : headers) req.headers.add(k, v);
    if (!body.empty()) req.content_length = body.size();
    return net::serve_in_memory(h, std::move(req), body, 7); // odd chunk size on purpose
  }

  /// The bytes a response carries (reads a file slice from disk: from the
  /// descriptor the handler opened, as the server does, else by path).
  static std::string body_of(const net::response& r) {
    if (!r.file) return r.body;
    if (r.file->fd) {
      std::string out(r.file->length, '\0');
      auto n = ::pread(r.file->fd->get(), out.data(), out.size(), off_t(r.file->offset));
      out.resize(n > 0 ? std::size_t(n) : 0);
      return out;
    }
    std::ifstream in(r.file->path, std::ios::binary);
    in.seekg(std::streamoff(r.file->offset));
    std::string out(r.file->length, '\0');
    in.read(out.data(), std::streamsize(out.size()));
    out.resize(std::size_t(in.gcount()));
    return out;
  }

  static std::string error_code_of(const net::response& r) {
    auto j = nlohmann::json::parse(r.body, nullptr, false);
    if (j.is_discarded() || !j.contains("errors") || j["errors"].empty()) return "";
    return j["errors"][0].value("code", "");
  }

  /// Pushes a blob monolithically; returns its digest.
  oci::digest push_blob(const std::string& repo, const std::string& data) {
    auto d = oci::sha256_of(data);
    auto r = call("POST", "/v2/" + repo + "/blobs/uploads/?digest=" + d.str(), data);
    REQUIRE(r.status == 201);
    return d;
  }

  static std::string image_manifest(const oci::digest& config, std::size_t config_size,
                                    const std::vector<std::pair<oci::digest, std::size_t>>& layers,
                                    const std::optional<oci::digest>& subject = {},
                                    std::string artifact_type = {}) {
    nlohmann::json m{{"schemaVersion", 2},
                     {"mediaType", "application/vnd.oci.image.manifest.v1+json"},
                     {"config",
                      {{"mediaType", "application/vnd.oci.image.config.v1+json"},
                       {"digest", config.str()},
                       {"size", config_size}}}};
    m["layers"] = nlohmann::json::array();
    for (auto& [d, s] : layers)
      m["layers"].push_back(
          {{"mediaType", "application/vnd.oci.image.layer.v1.tar+gzip"}, {"digest", d.str()}, {"size", s}});
    if (subject)
      m["subject"] = {{"mediaType", "application/vnd.oci.image.manifest.v1+json"},
                      {"digest", subject->str()},
                      {"size", 100}};
    if (!artifact_type.empty()) m["artifactType"] = artifact_type;
    return m.dump();
  }

  /// Pushes a config and one layer into `repo` and a manifest naming them under `tag`.
  std::pair<oci::digest, std::string> push_image(const std::string& repo, const std::string& tag,
                                                 const std::string& salt = "") {
    std::string config = "{\"architecture\":\"amd64\",\"os\":\"linux\",\"salt\":\"" + salt + "\"}";
    std::string layer = "layer bytes " + salt;
    auto c = push_blob(repo, config);
    auto l = push_blob(repo, layer);
    std::string m = image_manifest(c, config.size(), {{l, layer.size()}});
    auto r = call("PUT", "/v2/" + repo + "/manifests/" + tag, m,
                  {{"Content-Type", "application/vnd.oci.image.manifest.v1+json"}});
    REQUIRE(r.status == 201);
    return {oci::sha256_of(m), m};
  }
};

} // namespace stowage::test
