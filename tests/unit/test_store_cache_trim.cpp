// trim_cache: a runtime's cache kept within its bound, least recently used
// images first, never one used within min_idle, never a blob used lately.
#include "store/cache_trim.hpp"
#include "store_test_support.hpp"

#include <catch2/catch.hpp>

using namespace store_test;
using namespace std::chrono_literals;

namespace {

const std::string repo = "team/app";

struct cache_fixture {
  temp_dir dir;
  std::unique_ptr<store::registry_store> s =
      store::registry_store::open(dir.path, std::chrono::hours(24), store::store_kind::cache);
  oci::digest shared = put_blob(*s, repo, random_bytes(64 * 1024, 1));

  /// A tagged image: a config, the shared layer and a layer of its own.
  stored_manifest image(const std::string& tag, unsigned seed) {
    auto own = put_blob(*s, repo, random_bytes(64 * 1024, seed));
    const std::string config_json = R"({"image":")" + tag + R"("})";
    auto config = put_blob(*s, repo, config_json);
    auto j = nlohmann::json::parse(image_manifest(config, config_json.size()));
    for (const auto& l : {shared, own})
      j["layers"].push_back({{"mediaType", "application/vnd.oci.image.layer.v1.tar+gzip"},
                             {"digest", l.str()},
                             {"size", s->blob(repo, l)->size}});
    return put_manifest(*s, repo, j.dump(), tag);
  }
  /// Sets when a blob (a manifest is one) was last used.
  void used_ago(const oci::digest& d, std::chrono::minutes ago) {
    fs::last_write_time(s->blob_anywhere(d)->path, fs::file_time_type::clock::now() - ago);
  }
  /// Everything in the store last used `ago`.
  void all_used_ago(std::chrono::minutes ago) {
    for (const auto& m : s->manifests(repo)) {
      used_ago(m, ago);
      auto parsed = oci::parse_manifest(s->read_manifest(*s->manifest(repo, digest_ref(m))), oci::media::oci_manifest);
      used_ago(parsed.value->config->dig, ago);
      for (const auto& l : parsed.value->layers)
        used_ago(l.dig, ago);
    }
  }
  bool has(const stored_manifest& m) { return s->manifest(repo, digest_ref(m.dig)).has_value(); }
};

} // namespace

TEST_CASE_METHOD(cache_fixture, "a cache over its bound loses its least recently used images first",
                 "[store][cache]") {
  auto a = image("a", 2), b = image("b", 3), c = image("c", 4);
  all_used_ago(300min);
  used_ago(b.dig, 200min);
  used_ago(c.dig, 100min);
  used_ago(a.dig, 50min); // a was pulled again lately: b is the oldest now
  const auto used = s->used_bytes();

  // No bound, or within it: nothing goes.
  CHECK(store::trim_cache(*s, {0, 10min}).removed.empty());
  CHECK(store::trim_cache(*s, {used, 10min}).removed.empty());

  // Just over: one image frees enough (down to 90% of the bound).
  auto r = store::trim_cache(*s, {used - 1, 10min});
  CHECK(r.removed == std::vector<std::string>{repo + "@" + b.dig.str()});
  CHECK(r.used_before == used);
  CHECK(r.used_after == s->used_bytes());
  CHECK(r.used_after <= (used - 1) / 10 * 9);
  CHECK_FALSE(has(b));
  CHECK_FALSE(s->manifest(repo, tag_ref("b")));
  CHECK(has(a));
  CHECK(has(c));
  CHECK(s->blob(repo, shared)); // a and c still use it
}

TEST_CASE_METHOD(cache_fixture, "an image or blob used within min_idle stays, even over the bound",
                 "[store][cache]") {
  auto a = image("a", 2), b = image("b", 3), c = image("c", 4);
  all_used_ago(300min);
  used_ago(c.dig, 1min); // being pulled
  // A client pushing a new image just found b's own layer here (HEAD) and
  // will reference it.
  auto b_layer = oci::parse_manifest(b.body, oci::media::oci_manifest).value->layers[1].dig;
  store::touch_blob(*s, b_layer);

  auto r = store::trim_cache(*s, {1, 10min});
  CHECK(r.removed.size() == 2);
  CHECK_FALSE(has(a));
  CHECK_FALSE(has(b));
  CHECK(has(c));
  CHECK(s->blob(repo, b_layer)); // kept linked
  CHECK(r.used_after > 1);        // the rest is in use

  // Once idle, the blob no manifest names any more goes at the next trim.
  used_ago(b_layer, 300min);
  CHECK(store::trim_cache(*s, {1, 10min}).removed.empty());
  CHECK_FALSE(s->blob(repo, b_layer));
  CHECK(has(c));
}

TEST_CASE_METHOD(cache_fixture, "blobs no manifest names go first, unless used lately", "[store][cache]") {
  auto a = image("a", 2);
  auto abandoned = put_blob(*s, repo, random_bytes(256 * 1024, 9)); // an upload whose manifest never came
  auto arriving = put_blob(*s, repo, random_bytes(16 * 1024, 10));  // a push or delivery under way
  all_used_ago(300min);
  used_ago(abandoned, 300min);
  const auto used = s->used_bytes();

  auto r = store::trim_cache(*s, {used - 1, 10min});
  CHECK(r.removed.empty()); // dropping the loose blob was enough
  CHECK_FALSE(s->blob(repo, abandoned));
  CHECK(s->blob(repo, arriving));
  CHECK(has(a));
  CHECK(r.used_after == s->used_bytes());
  CHECK(r.used_after <= used - 256 * 1024);
}

TEST_CASE_METHOD(cache_fixture, "an index is in use while one of its platform manifests is", "[store][cache]") {
  auto amd64 = image("amd64", 2), arm64 = image("arm64", 3), other = image("other", 4);
  all_used_ago(300min);
  nlohmann::json index{{"schemaVersion", 2}, {"mediaType", "application/vnd.oci.image.index.v1+json"}};
  for (const auto* m : {&amd64, &arm64})
    index["manifests"].push_back(
        {{"mediaType", "application/vnd.oci.image.manifest.v1+json"}, {"digest", m->dig.str()}, {"size", m->body.size()}});
  const std::string body = index.dump();
  auto parsed = oci::parse_manifest(body, oci::media::oci_index);
  REQUIRE(parsed.value);
  stored_manifest multi{oci::sha256_of(body), body, s->put_manifest(repo, oci::sha256_of(body), *parsed.value, body, "multi", {})};
  used_ago(multi.dig, 300min);
  // A client pulls the amd64 platform by digest (as engines do after reading
  // the index once): only that manifest is touched.
  used_ago(amd64.dig, 1min);

  auto r = store::trim_cache(*s, {1, 10min});
  REQUIRE(r.removed.size() == 1);
  CHECK(r.removed[0] == repo + "@" + other.dig.str());
  CHECK(has(multi));
  CHECK(has(amd64));
  CHECK(has(arm64)); // part of the index in use
}

TEST_CASE_METHOD(cache_fixture, "a blob linked again is in use: the trimmer leaves it for the manifest on its way",
                 "[store][cache]") {
  // A delivery into another repository mounts a layer the cache has had for
  // hours, and the manifest naming it there comes after its other blobs.
  auto a = image("a", 2);
  all_used_ago(300min);
  REQUIRE(s->mount_blob("team/other", shared));
  // An upload of content the cache already has links it the same way.
  auto again = random_bytes(64 * 1024, 2); // a's own layer
  put_blob(*s, "team/third", again);
  store::trim_cache(*s, {1, 10min});
  CHECK(s->blob("team/other", shared)); // not taken as loose
  CHECK(s->blob("team/third", oci::sha256_of(again)));
  CHECK_FALSE(has(a)); // the image itself was idle: it went, its layers stayed where linked
}
