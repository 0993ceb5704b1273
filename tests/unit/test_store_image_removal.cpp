// remove_image: one image leaves a repository with exactly what only it
// needed; the images left behind stay whole.
#include "store/image_removal.hpp"
#include "store_test_support.hpp"

#include <catch2/catch.hpp>

using namespace store_test;

namespace {

/// An image manifest with a config and the given layers.
std::string image_with_layers(store::registry_store& s, const std::string& repo, const std::string& config_json,
                              const std::vector<oci::digest>& layers) {
  auto config = put_blob(s, repo, config_json);
  auto j = nlohmann::json::parse(image_manifest(config, config_json.size()));
  for (const auto& l : layers)
    j["layers"].push_back({{"mediaType", "application/vnd.oci.image.layer.v1.tar+gzip"},
                           {"digest", l.str()},
                           {"size", s.blob(repo, l)->size}});
  return j.dump();
}

bool whole(store::registry_store& s, const std::string& repo, const oci::digest& m) {
  auto info = s.manifest(repo, digest_ref(m));
  if (!info) return false;
  auto parsed = oci::parse_manifest(s.read_manifest(*info), info->media_type);
  if (!parsed.value) return false;
  if (parsed.value->config && !s.blob(repo, parsed.value->config->dig)) return false;
  for (const auto& l : parsed.value->layers)
    if (!s.blob(repo, l.dig)) return false;
  return true;
}

} // namespace

TEST_CASE("removing an image keeps what other images share", "[store][removal]") {
  temp_dir dir;
  auto s = store::registry_store::open(dir.path);
  const std::string repo = "team/app";
  auto shared = put_blob(*s, repo, "shared layer");
  auto only_a = put_blob(*s, repo, "layer of a");
  auto only_b = put_blob(*s, repo, "layer of b");
  auto a = put_manifest(*s, repo, image_with_layers(*s, repo, R"({"a":1})", {shared, only_a}), "a");
  auto b = put_manifest(*s, repo, image_with_layers(*s, repo, R"({"b":1})", {shared, only_b}), "b");

  REQUIRE(s->manifests(repo).size() == 2);
  REQUIRE(store::remove_image(*s, repo, a.dig));
  CHECK_FALSE(s->manifest(repo, digest_ref(a.dig)));
  CHECK_FALSE(s->manifest(repo, tag_ref("a")));
  CHECK_FALSE(s->blob(repo, only_a));
  CHECK(s->blob(repo, shared));
  CHECK(whole(*s, repo, b.dig));
  CHECK(s->manifests(repo) == std::vector<oci::digest>{b.dig});

  CHECK_FALSE(store::remove_image(*s, repo, a.dig)); // gone already
  REQUIRE(store::remove_image(*s, repo, b.dig));
  CHECK_FALSE(s->blob(repo, shared));
  CHECK(s->manifests(repo).empty());
}

TEST_CASE("removing an image leaves other repositories alone", "[store][removal]") {
  temp_dir dir;
  auto s = store::registry_store::open(dir.path);
  auto layer = put_blob(*s, "one", "same bytes in two repositories");
  REQUIRE(s->mount_blob("two", layer));
  auto m1 = put_manifest(*s, "one", image_with_layers(*s, "one", R"({"n":1})", {layer}), "v1");
  auto m2 = put_manifest(*s, "two", image_with_layers(*s, "two", R"({"n":1})", {layer}), "v1");
  REQUIRE(store::remove_image(*s, "one", m1.dig));
  CHECK_FALSE(s->blob("one", layer));
  CHECK(whole(*s, "two", m2.dig));
  CHECK(s->blob_anywhere(layer));
}

TEST_CASE("a cluster's delete of a manifest spares it when a newer tag names it", "[store][removal]") {
  temp_dir dir;
  auto s = store::registry_store::open(dir.path);
  const std::string repo = "team/app";
  auto layer = put_blob(*s, repo, "layer");
  auto m = put_manifest(*s, repo, image_with_layers(*s, repo, R"({"a":1})", {layer}), "v1", 3);
  CHECK_FALSE(store::remove_image_at(*s, repo, m.dig, 2)); // pushed again (seq 3) after the delete (2)
  CHECK(whole(*s, repo, m.dig));
  REQUIRE(store::remove_image_at(*s, repo, m.dig, 3));
  CHECK_FALSE(s->manifest(repo, digest_ref(m.dig)));
  CHECK_FALSE(s->manifest(repo, tag_ref("v1")));
  CHECK_FALSE(s->blob(repo, layer));
  CHECK_FALSE(store::remove_image_at(*s, repo, m.dig, 3));
}

TEST_CASE("removing an index keeps a platform manifest a tag names", "[store][removal]") {
  temp_dir dir;
  auto s = store::registry_store::open(dir.path);
  const std::string repo = "team/app";
  auto own = put_manifest(*s, repo, image_with_layers(*s, repo, R"({"own":1})", {put_blob(*s, repo, "own layer")}),
                          "solo"); // pushed and tagged on its own
  auto child = put_manifest(*s, repo, image_with_layers(*s, repo, R"({"c":1})", {put_blob(*s, repo, "child layer")}));
  nlohmann::json index = {{"schemaVersion", 2}, {"mediaType", oci::media::oci_index}, {"manifests", nlohmann::json::array()}};
  for (const auto& m : {own, child})
    index["manifests"].push_back({{"mediaType", oci::media::oci_manifest},
                                  {"digest", m.dig.str()},
                                  {"size", m.body.size()},
                                  {"platform", {{"architecture", "amd64"}, {"os", "linux"}}}});
  const auto body = index.dump();
  auto parsed = oci::parse_manifest(body, oci::media::oci_index);
  REQUIRE(parsed.value);
  const auto index_digest = oci::sha256_of(body);
  s->put_manifest(repo, index_digest, *parsed.value, body, std::string_view("multi"), std::nullopt);

  REQUIRE(store::remove_image(*s, repo, index_digest));
  CHECK_FALSE(s->manifest(repo, digest_ref(index_digest)));
  CHECK_FALSE(s->manifest(repo, tag_ref("multi")));
  CHECK_FALSE(s->manifest(repo, digest_ref(child.dig))); // only the index named it
  CHECK(whole(*s, repo, own.dig));
  CHECK(s->manifest(repo, tag_ref("solo"))->dig == own.dig);
  CHECK(s->manifests(repo) == std::vector<oci::digest>{own.dig});
}
