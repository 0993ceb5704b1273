#include "actors/sample_image.hpp"

#include "oci/manifest.hpp"

#include <random>
#include <stdexcept>

namespace stowage::actors {

std::string store_sample_image(store::registry_store& s, const std::string& repo, const std::string& tag,
                               std::size_t layer_bytes, unsigned seed, std::optional<std::uint64_t> seq) {
  std::mt19937 rng(seed);
  std::string layer(layer_bytes, '\0');
  for (auto& c : layer)
    c = static_cast<char>(rng());
  std::string cfg = R"({"architecture":"amd64","os":"linux","seed":)" + std::to_string(seed) + "}";
  auto put_blob = [&](const std::string& data) {
    auto d = oci::sha256_of(data);
    if (s.blob(repo, d))
      return d;
    auto up = s.begin_upload(repo);
    auto w = s.append(repo, up.id);
    w->write(data.data(), data.size());
    w->finish();
    w.reset();
    if (s.commit_upload(repo, up.id, d, data.size()) != store::commit_status::ok)
      throw std::runtime_error("sample image: blob " + d.str() + " was not stored");
    return d;
  };
  auto cd = put_blob(cfg);
  auto ld = put_blob(layer);
  std::string body = std::string(R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",)")
                     + R"("config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":")" + cd.str()
                     + R"(","size":)" + std::to_string(cfg.size()) + "},"
                     + R"("layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":")" + ld.str()
                     + R"(","size":)" + std::to_string(layer.size()) + "}]}";
  auto parsed = oci::parse_manifest(body, "application/vnd.oci.image.manifest.v1+json");
  if (!parsed.value)
    throw std::runtime_error("sample image: " + parsed.error.message);
  auto md = oci::sha256_of(body);
  std::optional<std::string_view> t;
  if (!tag.empty())
    t = tag;
  s.put_manifest(repo, md, *parsed.value, body, t, seq);
  return md.str();
}

} // namespace stowage::actors
