// Manifest, tag, referrers and catalog endpoints, without sockets.
#include "registry_api_fixture.hpp"

#include "store/disk_store.hpp"

#include <thread>

using stowage::test::api_fixture;
namespace oci = stowage::oci;
namespace net = stowage::net;

namespace {
const std::string oci_manifest_type = "application/vnd.oci.image.manifest.v1+json";
const std::string oci_index_type = "application/vnd.oci.image.index.v1+json";
std::vector<std::pair<std::string, std::string>> ct(const std::string& t) { return {{"Content-Type", t}}; }
} // namespace

TEST_CASE_METHOD(api_fixture, "PUT a manifest by tag, then GET and HEAD it by tag and digest", "[api][manifests]") {
  auto [d, body] = push_image("lib/app", "v1");
  for (std::string ref : {std::string("v1"), d.str()}) {
    INFO(ref);
    auto g = call("GET", "/v2/lib/app/manifests/" + ref);
    CHECK(g.status == 200);
    CHECK(body_of(g) == body);
    CHECK(g.headers.get_or("Content-Type") == oci_manifest_type);
    CHECK(g.headers.get_or("Docker-Content-Digest") == d.str());
    auto h = call("HEAD", "/v2/lib/app/manifests/" + ref);
    CHECK(h.status == 200);
    CHECK(h.content_length() == body.size());
  }
  auto missing = call("GET", "/v2/lib/app/manifests/v2");
  CHECK(missing.status == 404);
  CHECK(error_code_of(missing) == "MANIFEST_UNKNOWN");
  auto no_repo = call("GET", "/v2/lib/nothing/manifests/v1");
  CHECK(no_repo.status == 404);
  CHECK(error_code_of(no_repo) == "NAME_UNKNOWN");
}

TEST_CASE_METHOD(api_fixture, "the 201 of a manifest PUT carries Location and digest", "[api][manifests]") {
  std::string config = "{}";
  auto c = push_blob("repo", config);
  std::string m = image_manifest(c, config.size(), {});
  auto d = oci::sha256_of(m);
  auto r = call("PUT", "/v2/repo/manifests/" + d.str(), m, ct(oci_manifest_type));
  CHECK(r.status == 201);
  CHECK(r.headers.get_or("Location") == "/v2/repo/manifests/" + d.str());
  CHECK(r.headers.get_or("Docker-Content-Digest") == d.str());
  CHECK(!r.headers.get("OCI-Subject"));
}

TEST_CASE_METHOD(api_fixture, "refused manifests leave the repository unchanged", "[api][manifests]") {
  auto [d, body] = push_image("repo", "v1");
  auto before = st->tags("repo", std::nullopt, "");

  SECTION("garbage") {
    auto r = call("PUT", "/v2/repo/manifests/v2", "this is not json", ct(oci_manifest_type));
    CHECK(r.status == 400);
    CHECK(error_code_of(r) == "MANIFEST_INVALID");
  }
  SECTION("a missing layer") {
    std::string config = "{\"a\":1}";
    auto c = push_blob("repo", config);
    auto ghost = oci::sha256_of("never pushed");
    std::string m = image_manifest(c, config.size(), {{ghost, 12}});
    auto r = call("PUT", "/v2/repo/manifests/v2", m, ct(oci_manifest_type));
    CHECK(r.status == 400);
    CHECK(error_code_of(r) == "MANIFEST_BLOB_UNKNOWN");
    CHECK(call("GET", "/v2/repo/manifests/" + oci::sha256_of(m).str()).status == 404);
  }
  SECTION("a config blob that lives in another repository only") {
    std::string config = "{\"b\":2}";
    auto c = push_blob("elsewhere", config);
    auto r = call("PUT", "/v2/repo/manifests/v2", image_manifest(c, config.size(), {}), ct(oci_manifest_type));
    CHECK(r.status == 400);
    CHECK(error_code_of(r) == "MANIFEST_BLOB_UNKNOWN");
  }
  SECTION("PUT by a digest that does not match the body") {
    auto wrong = oci::sha256_of("something else");
    auto r = call("PUT", "/v2/repo/manifests/" + wrong.str(), body, ct(oci_manifest_type));
    CHECK(r.status == 400);
    CHECK(error_code_of(r) == "DIGEST_INVALID");
  }
  SECTION("too large") {
    std::string huge(4 * 1024 * 1024 + 1, ' ');
    auto r = call("PUT", "/v2/repo/manifests/v2", huge, ct(oci_manifest_type));
    CHECK(r.status == 413);
  }
  SECTION("an index naming a manifest that is not there") {
    nlohmann::json idx{{"schemaVersion", 2},
                       {"mediaType", oci_index_type},
                       {"manifests",
                        {{{"mediaType", oci_manifest_type}, {"digest", oci::sha256_of("nope").str()}, {"size", 10}}}}};
    auto r = call("PUT", "/v2/repo/manifests/v2", idx.dump(), ct(oci_index_type));
    CHECK(r.status == 400);
    CHECK(error_code_of(r) == "MANIFEST_BLOB_UNKNOWN");
  }
  SECTION("an invalid tag") {
    auto r = call("PUT", "/v2/repo/manifests/-bad-tag", body, ct(oci_manifest_type));
    CHECK(r.status == 400);
    CHECK(error_code_of(r) == "MANIFEST_INVALID");
  }
  CHECK(st->tags("repo", std::nullopt, "") == before);
  CHECK(call("GET", "/v2/repo/manifests/v2").status == 404);
  CHECK(body_of(call("GET", "/v2/repo/manifests/v1")) == body);
}

TEST_CASE_METHOD(api_fixture, "an index whose children exist is accepted", "[api][manifests]") {
  auto [child, body] = push_image("repo", "amd64");
  nlohmann::json idx{{"schemaVersion", 2},
                     {"mediaType", oci_index_type},
                     {"manifests", {{{"mediaType", oci_manifest_type}, {"digest", child.str()}, {"size", body.size()}}}}};
  auto r = call("PUT", "/v2/repo/manifests/multi", idx.dump(), ct(oci_index_type));
  CHECK(r.status == 201);
  auto g = call("GET", "/v2/repo/manifests/multi");
  CHECK(g.headers.get_or("Content-Type") == oci_index_type);
}

TEST_CASE_METHOD(api_fixture, "DELETE manifests by digest and tags by name", "[api][manifests]") {
  auto [d1, b1] = push_image("repo", "one", "1");
  auto [d2, b2] = push_image("repo", "two", "2");
  CHECK(call("DELETE", "/v2/repo/manifests/" + d1.str()).status == 202);
  CHECK(call("GET", "/v2/repo/manifests/one").status == 404);
  CHECK(call("GET", "/v2/repo/manifests/" + d1.str()).status == 404);
  CHECK(call("DELETE", "/v2/repo/manifests/two").status == 202);
  CHECK(call("GET", "/v2/repo/manifests/two").status == 404);
  CHECK(call("GET", "/v2/repo/manifests/" + d2.str()).status == 200); // the manifest stays
  auto again = call("DELETE", "/v2/repo/manifests/" + d1.str());
  CHECK(again.status == 404);
  CHECK(error_code_of(again) == "MANIFEST_UNKNOWN");
}

TEST_CASE_METHOD(api_fixture, "tags list with n, last and a Link to the next page", "[api][tags]") {
  for (std::string t : {"c", "a", "b", "d"}) push_image("repo", t, t);
  auto all = call("GET", "/v2/repo/tags/list");
  CHECK(all.status == 200);
  auto j = nlohmann::json::parse(all.body);
  CHECK(j["name"] == "repo");
  CHECK(j["tags"] == nlohmann::json({"a", "b", "c", "d"}));
  CHECK(!all.headers.get("Link"));

  auto page = call("GET", "/v2/repo/tags/list?n=2");
  CHECK(nlohmann::json::parse(page.body)["tags"] == nlohmann::json({"a", "b"}));
  CHECK(page.headers.get_or("Link") == "</v2/repo/tags/list?n=2&last=b>; rel=\"next\"");
  auto next = call("GET", "/v2/repo/tags/list?n=2&last=b");
  CHECK(nlohmann::json::parse(next.body)["tags"] == nlohmann::json({"c", "d"}));
  CHECK(!next.headers.get("Link"));

  auto unknown = call("GET", "/v2/nothing/tags/list");
  CHECK(unknown.status == 404);
  CHECK(error_code_of(unknown) == "NAME_UNKNOWN");
  CHECK(call("GET", "/v2/repo/tags/list?n=abc").status == 400);
  auto largest = call("GET", "/v2/repo/tags/list?n=18446744073709551615"); // n + 1 must not wrap to 0
  CHECK(nlohmann::json::parse(largest.body)["tags"] == nlohmann::json({"a", "b", "c", "d"}));
}

TEST_CASE_METHOD(api_fixture, "referrers: OCI-Subject on PUT, listing, artifactType filter", "[api][referrers]") {
  auto [subject, body] = push_image("repo", "v1");
  std::string empty = "{}";
  auto e = push_blob("repo", empty);
  std::string sig = image_manifest(e, empty.size(), {}, subject, "application/vnd.example.signature");
  std::string sbom = image_manifest(e, empty.size(), {}, subject, "application/vnd.example.sbom");
  auto r1 = call("PUT", "/v2/repo/manifests/" + oci::sha256_of(sig).str(), sig, ct(oci_manifest_type));
  CHECK(r1.status == 201);
  CHECK(r1.headers.get_or("OCI-Subject") == subject.str());
  REQUIRE(call("PUT", "/v2/repo/manifests/" + oci::sha256_of(sbom).str(), sbom, ct(oci_manifest_type)).status == 201);

  auto all = call("GET", "/v2/repo/referrers/" + subject.str());
  CHECK(all.status == 200);
  CHECK(all.headers.get_or("Content-Type") == oci_index_type);
  auto j = nlohmann::json::parse(all.body);
  CHECK(j["mediaType"] == oci_index_type);
  CHECK(j["manifests"].size() == 2);
  CHECK(!all.headers.get("OCI-Filters-Applied"));

  auto only = call("GET", "/v2/repo/referrers/" + subject.str() + "?artifactType=application%2Fvnd.example.sbom");
  CHECK(only.headers.get_or("OCI-Filters-Applied") == "artifactType");
  auto k = nlohmann::json::parse(only.body);
  REQUIRE(k["manifests"].size() == 1);
  CHECK(k["manifests"][0]["digest"] == oci::sha256_of(sbom).str());
  CHECK(k["manifests"][0]["artifactType"] == "application/vnd.example.sbom");

  auto none = call("GET", "/v2/repo/referrers/" + oci::sha256_of("no such subject").str());
  CHECK(none.status == 200);
  CHECK(nlohmann::json::parse(none.body)["manifests"].empty());
  CHECK(call("GET", "/v2/repo/referrers/sha256:bad").status == 400);
}

TEST_CASE_METHOD(api_fixture, "catalog lists repositories", "[api][catalog]") {
  push_image("b/x", "1");
  push_image("a", "1");
  auto r = call("GET", "/v2/_catalog");
  CHECK(r.status == 200);
  CHECK(nlohmann::json::parse(r.body)["repositories"] == nlohmann::json({"a", "b/x"}));
  auto p = call("GET", "/v2/_catalog?n=1");
  CHECK(nlohmann::json::parse(p.body)["repositories"] == nlohmann::json({"a"}));
  CHECK(p.headers.get_or("Link") == "</v2/_catalog?n=1&last=a>; rel=\"next\"");

  // Refused or unfinished uploads add no repository.
  CHECK(call("POST", "/v2/refused/blobs/uploads/?digest=" + oci::sha256_of("other").str(), "bytes").status == 400);
  auto open = call("POST", "/v2/open/blobs/uploads/");
  REQUIRE(open.status == 202);
  auto cancelled = call("POST", "/v2/cancelled/blobs/uploads/");
  REQUIRE(cancelled.status == 202);
  REQUIRE(call("DELETE", std::string(cancelled.headers.get_or("Location"))).status == 204);
  CHECK(nlohmann::json::parse(call("GET", "/v2/_catalog").body)["repositories"] == nlohmann::json({"a", "b/x"}));
  // A blob alone does.
  REQUIRE(call("POST", "/v2/blob/only/blobs/uploads/?digest=" + oci::sha256_of("x").str(), "x").status == 201);
  CHECK(nlohmann::json::parse(call("GET", "/v2/_catalog").body)["repositories"] == nlohmann::json({"a", "b/x", "blob/only"}));
}

TEST_CASE_METHOD(api_fixture, "after_manifest_put holds the 201 and may refuse it", "[api][hook]") {
  std::vector<net::manifest_put_event> seen;
  bool refuse = false;
  hook = [&](const net::manifest_put_event& ev, net::manifest_put_done done) {
    seen.push_back(ev);
    // Complete from another thread, as the cluster does.
    std::thread([done, refuse] {
      if (refuse)
        done(net::refusal{503, oci::error_code::unsupported, "not durable on enough nodes", ""});
      else
        done(std::nullopt);
    }).detach();
  };
  rebuild();
  auto [d, body] = push_image("repo", "v1");
  REQUIRE(seen.size() == 1);
  CHECK(seen[0].repository == "repo");
  CHECK(seen[0].dig == d);
  CHECK(seen[0].tag == std::optional<std::string>("v1"));
  CHECK(seen[0].blobs.size() == 2);

  refuse = true;
  rebuild();
  std::string config = "{\"c\":3}";
  auto c = push_blob("repo", config);
  auto r = call("PUT", "/v2/repo/manifests/v2", image_manifest(c, config.size(), {}), ct(oci_manifest_type));
  CHECK(r.status == 503);
  CHECK(error_code_of(r) == "UNSUPPORTED");
}

TEST_CASE_METHOD(api_fixture, "a manifest the store fails to keep (a full disk) gets an OCI error and leaves no tag",
                 "[api][manifests]") {
  bool full = false;
  st = stowage::store::open_disk_store(dir / "faulty", std::chrono::hours(24), [&](std::string_view step) {
    if (full && step == "manifest:temp_written") throw stowage::store::store_error("write: No space left on device");
  });
  rebuild();
  auto [d, body] = push_image("lib/app", "v1");
  auto changed = nlohmann::json::parse(body);
  changed["annotations"] = {{"note", "another manifest over the same blobs"}};
  full = true;
  auto r = call("PUT", "/v2/lib/app/manifests/v2", changed.dump(), ct(oci_manifest_type));
  CHECK(r.status == 500);
  CHECK(nlohmann::json::parse(r.body)["errors"][0]["code"] == "UNSUPPORTED");
  CHECK(call("GET", "/v2/lib/app/manifests/v2").status == 404);
  CHECK(call("GET", "/v2/lib/app/manifests/v1").status == 200);
}
