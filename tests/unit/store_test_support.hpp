// Shared helpers of the store tests: a temporary directory that removes
// itself, uploading bytes in one call, and small manifests to store.
#pragma once

#include "oci/manifest.hpp"
#include "oci/media_types.hpp"
#include "store/registry_store.hpp"

#include <nlohmann/json.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <stdexcept>
#include <string>

namespace store_test {

namespace fs = std::filesystem;
using namespace stowage;

struct temp_dir {
  fs::path path;
  temp_dir() {
    std::string tmpl = (fs::temp_directory_path() / "stowage-store-XXXXXX").string();
    if (!::mkdtemp(tmpl.data()))
      throw std::runtime_error("mkdtemp failed");
    path = tmpl;
  }
  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
};

/// `n` pseudo-random bytes, the same for the same seed.
inline std::string random_bytes(std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng());
  return s;
}

inline std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

inline void spit(const fs::path& p, const std::string& bytes) {
  fs::create_directories(p.parent_path());
  std::ofstream out(p, std::ios::binary);
  out << bytes;
}

/// Uploads `bytes` in one session and commits it under its own digest.
inline oci::digest put_blob(store::registry_store& s, std::string_view repo, const std::string& bytes,
                            store::upload_use use = store::upload_use::kept) {
  auto u = s.begin_upload(repo);
  auto w = s.append(repo, u.id, use);
  if (!w)
    throw std::runtime_error("append refused");
  w->write(bytes.data(), bytes.size());
  w->finish();
  w.reset();
  auto d = oci::sha256_of(bytes);
  if (s.commit_upload(repo, u.id, d, bytes.size()) != store::commit_status::ok)
    throw std::runtime_error("commit failed");
  return d;
}

/// Every regular file under `dir`, as paths relative to it.
inline std::set<std::string> files_under(const fs::path& dir) {
  std::set<std::string> out;
  if (!fs::exists(dir))
    return out;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file())
      out.insert(fs::relative(e.path(), dir).string());
  return out;
}

inline std::string blob_rel(const oci::digest& d) {
  return "sha256/" + d.hex.substr(0, 2) + "/" + d.hex;
}

/// An OCI image manifest body; with a subject it is a referrer.
inline std::string image_manifest(const oci::digest& config, std::uint64_t config_size,
                                  std::string_view artifact_type = "",
                                  const oci::digest* subject = nullptr,
                                  std::map<std::string, std::string> annotations = {}) {
  nlohmann::json j = {{"schemaVersion", 2},
                      {"mediaType", oci::media::oci_manifest},
                      {"config", {{"mediaType", oci::media::oci_config},
                                  {"digest", config.str()},
                                  {"size", config_size}}},
                      {"layers", nlohmann::json::array()}};
  if (!artifact_type.empty())
    j["artifactType"] = artifact_type;
  if (subject)
    j["subject"] = {{"mediaType", oci::media::oci_manifest}, {"digest", subject->str()}, {"size", 1}};
  if (!annotations.empty())
    j["annotations"] = annotations;
  return j.dump();
}

struct stored_manifest {
  oci::digest dig;
  std::string body;
  store::tag_update update;
};

inline stored_manifest put_manifest(store::registry_store& s, std::string_view repo, const std::string& body,
                                    std::optional<std::string_view> tag = {},
                                    std::optional<std::uint64_t> seq = {}) {
  auto parsed = oci::parse_manifest(body, oci::media::oci_manifest);
  if (!parsed.value)
    throw std::runtime_error("test manifest invalid: " + parsed.error.message);
  auto d = oci::sha256_of(body);
  auto up = s.put_manifest(repo, d, *parsed.value, body, tag, seq);
  return {d, body, up};
}

inline oci::reference tag_ref(std::string t) { return oci::reference{std::move(t)}; }
inline oci::reference digest_ref(const oci::digest& d) { return oci::reference{d}; }

} // namespace store_test
