// Manifests, tags (with forward-only sequence numbers) and referrers.
#include "store_test_support.hpp"

#include <catch2/catch.hpp>

using namespace store_test;
using stowage::store::registry_store;

namespace {
const oci::digest config = oci::sha256_of("{}");
}

TEST_CASE("a manifest is stored as the client's exact bytes", "[store]") {
  temp_dir dir;
  auto s = registry_store::open(dir.path);
  // Unusual whitespace must survive: the digest is of these bytes.
  std::string body = "{ \"schemaVersion\":2,\n \"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
                     "\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"" +
                     config.str() + "\",\"size\":2},\"layers\":[]}   ";
  auto m = put_manifest(*s, "app", body, "v1");
  CHECK(m.update.moved);
  CHECK(m.update.seq == 1);
  CHECK(s->repository_exists("app"));

  auto by_tag = s->manifest("app", tag_ref("v1"));
  REQUIRE(by_tag);
  CHECK(by_tag->dig == m.dig);
  CHECK(by_tag->media_type == oci::media::oci_manifest);
  CHECK(by_tag->size == body.size());
  CHECK(s->read_manifest(*by_tag) == body);
  auto by_digest = s->manifest("app", digest_ref(m.dig));
  REQUIRE(by_digest);
  CHECK(by_digest->path == by_tag->path);
  CHECK(by_digest->path == dir.path / "blobs" / blob_rel(m.dig));

  CHECK_FALSE(s->manifest("other", digest_ref(m.dig)));
  CHECK_FALSE(s->manifest("app", tag_ref("v2")));
  CHECK(s->used_bytes() == body.size());
  CHECK(files_under(dir.path / "tmp").empty());
}

TEST_CASE("put_manifest refuses bytes that do not match the digest", "[store]") {
  temp_dir dir;
  auto s = registry_store::open(dir.path);
  auto body = image_manifest(config, 2);
  auto parsed = oci::parse_manifest(body, oci::media::oci_manifest);
  REQUIRE(parsed.value);
  CHECK_THROWS_AS(s->put_manifest("app", oci::sha256_of("other"), *parsed.value, body, {}),
                  std::invalid_argument);
  CHECK_THROWS_AS(s->put_manifest("app", oci::sha256_of(body), *parsed.value, body,
                                  std::string_view("../bad tag")),
                  std::invalid_argument);
  CHECK_FALSE(s->repository_exists("app"));
  CHECK(files_under(dir.path / "blobs").empty());
}

TEST_CASE("tags list in lexical order with n and last", "[store]") {
  temp_dir dir;
  auto s = registry_store::open(dir.path);
  auto body = image_manifest(config, 2);
  for (auto t : {"v2", "latest", "v10", "alpha", "v1"})
    put_manifest(*s, "app", body, t);
  using v = std::vector<std::string>;
  CHECK(s->tags("app", {}, "") == v{"alpha", "latest", "v1", "v10", "v2"});
  CHECK(s->tags("app", {}, std::string_view{}) == v{"alpha", "latest", "v1", "v10", "v2"});
  CHECK(s->tags("app", 2, "") == v{"alpha", "latest"});
  CHECK(s->tags("app", 2, "latest") == v{"v1", "v10"});
  CHECK(s->tags("app", {}, "v10") == v{"v2"});
  CHECK(s->tags("app", 10, "v2").empty());
  CHECK(s->tags("app", 0, "").empty());
  CHECK(s->tags("none", {}, "").empty());
}

TEST_CASE("tags move forward only", "[store]") {
  temp_dir dir;
  auto s = registry_store::open(dir.path);
  auto a = image_manifest(config, 2, "", nullptr, {{"n", "a"}});
  auto b = image_manifest(config, 2, "", nullptr, {{"n", "b"}});
  auto c = image_manifest(config, 2, "", nullptr, {{"n", "c"}});

  auto ma = put_manifest(*s, "app", a, "t", 5);
  CHECK(ma.update.moved);
  CHECK(ma.update.seq == 5);
  CHECK(s->tag_seq("app", "t") == 5u);

  // A late delivery with an older or equal number keeps the tag, but the
  // manifest itself is stored (reachable by digest).
  auto mb = put_manifest(*s, "app", b, "t", 4);
  CHECK_FALSE(mb.update.moved);
  CHECK(mb.update.seq == 5);
  CHECK(s->manifest("app", tag_ref("t"))->dig == ma.dig);
  CHECK(s->manifest("app", digest_ref(mb.dig)));
  CHECK_FALSE(put_manifest(*s, "app", b, "t", 5).update.moved);
  CHECK(s->manifest("app", tag_ref("t"))->dig == ma.dig);

  auto mc = put_manifest(*s, "app", c, "t", 9);
  CHECK(mc.update.moved);
  CHECK(s->manifest("app", tag_ref("t"))->dig == mc.dig);

  // Without a number the stored one + 1 is used.
  auto again = put_manifest(*s, "app", b, "t");
  CHECK(again.update.moved);
  CHECK(again.update.seq == 10);
  CHECK(s->manifest("app", tag_ref("t"))->dig == mb.dig);

  // A deleted tag still remembers its number: no roll-back through deletion.
  CHECK(s->delete_tag("app", "t"));
  CHECK_FALSE(s->delete_tag("app", "t"));
  CHECK_FALSE(s->manifest("app", tag_ref("t")));
  CHECK(s->tags("app", {}, "").empty());
  CHECK_FALSE(put_manifest(*s, "app", a, "t", 7).update.moved);
  CHECK_FALSE(s->manifest("app", tag_ref("t")));
  CHECK(put_manifest(*s, "app", a, "t", 11).update.moved);
  CHECK(s->manifest("app", tag_ref("t"))->dig == ma.dig);

  // Sequence numbers are per repository and tag.
  CHECK(put_manifest(*s, "app", a, "u", 1).update.moved);
  CHECK(put_manifest(*s, "other", a, "t", 1).update.moved);
  CHECK_FALSE(s->tag_seq("app", "nothing"));
}

TEST_CASE("a cluster's tag delete is ordered by sequence numbers", "[store]") {
  temp_dir dir;
  auto s = registry_store::open(dir.path);
  auto a = put_manifest(*s, "app", image_manifest(config, 2, "", nullptr, {{"n", "a"}}), "t", 5);
  CHECK_FALSE(s->delete_tag("app", "t", 5)); // not newer: the tag stays
  CHECK(s->manifest("app", tag_ref("t")));
  CHECK(s->delete_tag("app", "t", 6));
  CHECK_FALSE(s->manifest("app", tag_ref("t")));
  CHECK(s->manifest("app", digest_ref(a.dig))); // the manifest stays
  CHECK(s->tag_seq("app", "t") == 6u);
  CHECK_FALSE(s->delete_tag("app", "t", 7)); // nothing named: false, but the number moves
  CHECK(s->tag_seq("app", "t") == 7u);
  // A delete of a tag the store never had still guards against an older delivery.
  CHECK_FALSE(s->delete_tag("app", "u", 3));
  CHECK(s->tag_seq("app", "u") == 3u);
  CHECK_FALSE(put_manifest(*s, "app", image_manifest(config, 2, "", nullptr, {{"n", "a"}}), "u", 2).update.moved);
  CHECK_FALSE(s->manifest("app", tag_ref("u")));
  CHECK(put_manifest(*s, "app", image_manifest(config, 2, "", nullptr, {{"n", "a"}}), "u", 4).update.moved);
}

TEST_CASE("deleting a manifest deletes its tags", "[store]") {
  temp_dir dir;
  auto s = registry_store::open(dir.path);
  auto a = put_manifest(*s, "app", image_manifest(config, 2, "", nullptr, {{"n", "a"}}), "one");
  put_manifest(*s, "app", a.body, "two");
  auto b = put_manifest(*s, "app", image_manifest(config, 2, "", nullptr, {{"n", "b"}}), "three");
  put_manifest(*s, "mirror", a.body, "one");
  auto path = s->manifest("app", digest_ref(a.dig))->path;

  CHECK(s->delete_manifest("app", a.dig));
  CHECK_FALSE(s->delete_manifest("app", a.dig));
  CHECK_FALSE(s->manifest("app", digest_ref(a.dig)));
  CHECK_FALSE(s->manifest("app", tag_ref("one")));
  CHECK(s->tags("app", {}, "") == std::vector<std::string>{"three"});
  CHECK(s->manifest("app", tag_ref("three"))->dig == b.dig);
  // Still stored for the other repository.
  CHECK(s->manifest("mirror", tag_ref("one")));
  CHECK(fs::exists(path));
  CHECK(s->delete_manifest("mirror", a.dig));
  CHECK_FALSE(fs::exists(path));
  CHECK_FALSE(s->blob_anywhere(a.dig));
  // The tag's number survives the deletion.
  CHECK(s->tag_seq("app", "one") == 1u);
  CHECK(put_manifest(*s, "app", a.body, "one").update.seq == 2);
}

TEST_CASE("referrers with an artifactType filter", "[store]") {
  temp_dir dir;
  auto s = registry_store::open(dir.path);
  auto subject = put_manifest(*s, "app", image_manifest(config, 2), "v1");
  auto sig = put_manifest(*s, "app", image_manifest(config, 2, "application/vnd.example.sig", &subject.dig,
                                                    {{"org.opencontainers.image.created", "2026-01-01"}}));
  auto sbom = put_manifest(*s, "app", image_manifest(config, 2, "application/vnd.example.sbom", &subject.dig));
  // No artifactType: the config's media type is the effective one.
  auto plain = put_manifest(*s, "app", image_manifest(config, 2, "", &subject.dig, {{"k", "v"}}));
  // Same subject, other repository: not listed for "app".
  put_manifest(*s, "else", image_manifest(config, 2, "application/vnd.example.sig", &subject.dig, {{"x", "y"}}));

  auto all = s->referrers("app", subject.dig, "");
  REQUIRE(all.size() == 3);
  std::set<std::string> digests;
  for (const auto& d : all) {
    digests.insert(d.dig.str());
    CHECK(d.media_type == oci::media::oci_manifest);
    CHECK(d.size == s->manifest("app", digest_ref(d.dig))->size);
  }
  CHECK(digests == std::set<std::string>{sig.dig.str(), sbom.dig.str(), plain.dig.str()});

  auto sigs = s->referrers("app", subject.dig, "application/vnd.example.sig");
  REQUIRE(sigs.size() == 1);
  CHECK(sigs[0].dig == sig.dig);
  CHECK(sigs[0].artifact_type == "application/vnd.example.sig");
  CHECK(sigs[0].annotations == std::map<std::string, std::string>{{"org.opencontainers.image.created", "2026-01-01"}});

  auto configs = s->referrers("app", subject.dig, oci::media::oci_config);
  REQUIRE(configs.size() == 1);
  CHECK(configs[0].dig == plain.dig);
  CHECK(configs[0].annotations.at("k") == "v");

  CHECK(s->referrers("app", subject.dig, "application/none").empty());
  CHECK(s->referrers("app", sig.dig, "").empty());
  // A referrer's subject need not exist.
  CHECK(s->referrers("app", oci::sha256_of("absent"), "").empty());

  CHECK(s->delete_manifest("app", sbom.dig));
  CHECK(s->referrers("app", subject.dig, "").size() == 2);
}

TEST_CASE("a manifest stored as a blob too shares the file", "[store]") {
  temp_dir dir;
  auto s = registry_store::open(dir.path);
  auto body = image_manifest(config, 2);
  auto d = put_blob(*s, "app", body); // e.g. pushed through the blob API first
  auto m = put_manifest(*s, "app", body, "t");
  CHECK(m.dig == d);
  CHECK(files_under(dir.path / "blobs") == std::set<std::string>{blob_rel(d)});
  CHECK(s->delete_blob("app", d));
  CHECK(s->manifest("app", tag_ref("t"))); // the manifest still needs the file
  CHECK(fs::exists(dir.path / "blobs" / blob_rel(d)));
  CHECK(s->read_manifest(*s->manifest("app", tag_ref("t"))) == body);
}
