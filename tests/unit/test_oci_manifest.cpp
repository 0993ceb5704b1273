#include "oci/manifest.hpp"
#include "oci/media_types.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <string>

using namespace stowage::oci;
using nlohmann::json;

namespace {
const std::string d1 = "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
const std::string d2 = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
const std::string d3 = "sha256:248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1";

json desc(std::string_view mt, const std::string& dig, std::int64_t size) {
  return {{"mediaType", mt}, {"digest", dig}, {"size", size}};
}

json oci_image() {
  return {{"schemaVersion", 2},
          {"mediaType", media::oci_manifest},
          {"config", desc(media::oci_config, d1, 7023)},
          {"layers", json::array({desc("application/vnd.oci.image.layer.v1.tar+gzip", d2, 32654),
                                  desc("application/vnd.oci.image.layer.v1.tar+gzip", d3, 16724)})},
          {"annotations", {{"com.example.key", "value"}}}};
}

json oci_index() {
  json m1 = desc(media::oci_manifest, d1, 7143);
  m1["platform"] = {{"architecture", "amd64"}, {"os", "linux"}};
  json m2 = desc(media::oci_manifest, d2, 7682);
  m2["platform"] = {{"architecture", "arm64"}, {"os", "linux"}, {"variant", "v8"}};
  return {{"schemaVersion", 2}, {"mediaType", media::oci_index}, {"manifests", json::array({m1, m2})}};
}

manifest_parse_result parse(const json& j, std::string_view ct = "") { return parse_manifest(j.dump(), ct); }

void check_invalid(const json& j, std::string_view ct = "") {
  INFO(j.dump() << " / Content-Type " << ct);
  auto r = parse(j, ct);
  CHECK_FALSE(r.value);
  CHECK_FALSE(r.error.message.empty());
}
} // namespace

TEST_CASE("OCI image manifest", "[oci][manifest]") {
  auto r = parse(oci_image(), media::oci_manifest);
  REQUIRE(r.value);
  const auto& m = *r.value;
  CHECK(m.media_type == media::oci_manifest);
  CHECK_FALSE(m.is_index);
  REQUIRE(m.config);
  CHECK(m.config->dig.str() == d1);
  CHECK(m.config->size == 7023);
  CHECK(m.config->media_type == media::oci_config);
  REQUIRE(m.layers.size() == 2);
  CHECK(m.layers[1].dig.str() == d3);
  CHECK(m.layers[1].size == 16724);
  CHECK(m.manifests.empty());
  CHECK_FALSE(m.subject);
  CHECK(m.annotations.at("com.example.key") == "value");
  CHECK(m.effective_artifact_type() == media::oci_config);
}

TEST_CASE("OCI index", "[oci][manifest]") {
  auto r = parse(oci_index());
  REQUIRE(r.value);
  const auto& m = *r.value;
  CHECK(m.is_index);
  CHECK(m.media_type == media::oci_index);
  REQUIRE(m.manifests.size() == 2);
  CHECK(m.manifests[0].platform_os == "linux");
  CHECK(m.manifests[0].platform_arch == "amd64");
  CHECK(m.manifests[1].platform_arch == "arm64");
  CHECK_FALSE(m.config);
  CHECK(m.effective_artifact_type().empty());
}

TEST_CASE("Docker v2 manifest and manifest list", "[oci][manifest]") {
  json dm = {{"schemaVersion", 2},
             {"mediaType", media::docker_manifest},
             {"config", desc(media::docker_config, d1, 1469)},
             {"layers", json::array({desc("application/vnd.docker.image.rootfs.diff.tar.gzip", d2, 2811478)})}};
  auto r = parse(dm, media::docker_manifest);
  REQUIRE(r.value);
  CHECK(r.value->media_type == media::docker_manifest);
  CHECK_FALSE(r.value->is_index);
  CHECK(r.value->layers.size() == 1);

  json list = {{"schemaVersion", 2},
               {"mediaType", media::docker_manifest_list},
               {"manifests", json::array({desc(media::docker_manifest, d1, 528)})}};
  list["manifests"][0]["platform"] = {{"architecture", "amd64"}, {"os", "linux"}};
  auto l = parse(list, media::docker_manifest_list);
  REQUIRE(l.value);
  CHECK(l.value->is_index);
  CHECK(l.value->manifests[0].platform_os == "linux");

  // Docker manifests must list their layers.
  dm.erase("layers");
  check_invalid(dm);
}

TEST_CASE("media type from Content-Type, else inferred", "[oci][manifest]") {
  json img = oci_image();
  img.erase("mediaType");
  auto r = parse(img, media::docker_manifest);
  REQUIRE(r.value);
  CHECK(r.value->media_type == media::docker_manifest);

  auto inferred = parse(img, "application/json");
  REQUIRE(inferred.value);
  CHECK(inferred.value->media_type == media::oci_manifest);
  CHECK(parse(img, "").value->media_type == media::oci_manifest);

  json idx = oci_index();
  idx.erase("mediaType");
  auto ri = parse(idx);
  REQUIRE(ri.value);
  CHECK(ri.value->is_index);
  CHECK(ri.value->media_type == media::oci_index);

  // Parameters and case in the Content-Type do not matter.
  auto params = parse(oci_image(), "Application/VND.oci.image.manifest.v1+json; charset=utf-8");
  CHECK(params.value);

  json neither = {{"schemaVersion", 2}};
  check_invalid(neither);
}

TEST_CASE("mediaType must agree with Content-Type", "[oci][manifest]") {
  check_invalid(oci_image(), media::oci_index);
  check_invalid(oci_image(), media::docker_manifest);
  check_invalid(oci_index(), media::oci_manifest);
  // A Content-Type that is no manifest type is ignored in favour of the body.
  CHECK(parse(oci_image(), "application/octet-stream").value);
}

TEST_CASE("artifact manifests and referrers fields", "[oci][manifest]") {
  json a = {{"schemaVersion", 2},
            {"mediaType", media::oci_manifest},
            {"artifactType", "application/vnd.example.sbom"},
            {"config", desc(media::oci_empty, "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a", 2)},
            {"layers", json::array({desc("application/spdx+json", d2, 10)})},
            {"subject", desc(media::oci_manifest, d1, 1234)}};
  auto r = parse(a, media::oci_manifest);
  REQUIRE(r.value);
  CHECK(r.value->artifact_type == "application/vnd.example.sbom");
  CHECK(r.value->effective_artifact_type() == "application/vnd.example.sbom");
  REQUIRE(r.value->subject);
  CHECK(r.value->subject->dig.str() == d1);
  CHECK(r.value->config->media_type == media::oci_empty);

  // Without artifactType, the config's media type is reported.
  a.erase("artifactType");
  a["config"]["mediaType"] = "application/vnd.example.config";
  CHECK(parse(a).value->effective_artifact_type() == "application/vnd.example.config");

  // OCI artifacts may omit layers.
  a.erase("layers");
  auto nolayers = parse(a);
  REQUIRE(nolayers.value);
  CHECK(nolayers.value->layers.empty());

  // An index can have a subject and artifactType too.
  json idx = oci_index();
  idx["subject"] = desc(media::oci_manifest, d3, 99);
  idx["artifactType"] = "application/vnd.example.index";
  auto ri = parse(idx);
  REQUIRE(ri.value);
  CHECK(ri.value->subject->dig.str() == d3);
  CHECK(ri.value->effective_artifact_type() == "application/vnd.example.index");

  // Descriptor extras.
  json img = oci_image();
  img["layers"][0]["annotations"] = {{"org.opencontainers.image.title", "a.txt"}};
  img["layers"][0]["urls"] = {"https://example.com/blob"};
  img["layers"][0]["artifactType"] = "application/x";
  auto rd = parse(img);
  REQUIRE(rd.value);
  CHECK(rd.value->layers[0].annotations.at("org.opencontainers.image.title") == "a.txt");
  CHECK(rd.value->layers[0].artifact_type == "application/x");
}

TEST_CASE("manifests that are not JSON objects", "[oci][manifest]") {
  for (const char* body : {"", " ", "null", "[]", "2", "\"x\"", "{", "{\"schemaVersion\":2", "{} trailing",
                           "{\"schemaVersion\":2,}", "\xff\xfe"}) {
    INFO(body);
    auto r = parse_manifest(body, "");
    CHECK_FALSE(r.value);
    CHECK_FALSE(r.error.message.empty());
  }
  // Deep nesting is refused without exhausting the stack.
  // Unknown fields are ignored, so only the depth limit can refuse these.
  auto with_extra = [](int depth) {
    std::string body = oci_image().dump();
    return "{\"x\":" + std::string(depth, '[') + std::string(depth, ']') + "," + body.substr(1);
  };
  CHECK(parse_manifest(with_extra(10), "").value);
  CHECK_FALSE(parse_manifest(with_extra(200000), "").value);
  // Brackets inside strings do not count as nesting.
  json img = oci_image();
  img["annotations"]["x"] = std::string(1000, '[');
  CHECK(parse(img).value);
}

TEST_CASE("schemaVersion", "[oci][manifest]") {
  for (json v : {json(1), json(3), json(0), json(-2), json(2.0), json("2"), json(nullptr), json::array({2}),
                 json(std::uint64_t(1) << 63)}) {
    json img = oci_image();
    img["schemaVersion"] = v;
    check_invalid(img);
  }
  json img = oci_image();
  img.erase("schemaVersion");
  check_invalid(img);
}

TEST_CASE("wrong types and bad descriptors are refused", "[oci][manifest]") {
  auto mutate = [](auto fn) {
    json img = oci_image();
    fn(img);
    check_invalid(img);
  };
  mutate([](json& j) { j["mediaType"] = 5; });
  mutate([](json& j) { j["mediaType"] = "application/vnd.example.unknown"; });
  mutate([](json& j) { j["mediaType"] = media::oci_config; });
  mutate([](json& j) { j.erase("config"); });
  mutate([](json& j) { j["config"] = "sha256:abc"; });
  mutate([](json& j) { j["config"] = json::array(); });
  mutate([](json& j) { j["config"].erase("digest"); });
  mutate([](json& j) { j["config"].erase("size"); });
  mutate([](json& j) { j["config"].erase("mediaType"); });
  mutate([](json& j) { j["config"]["mediaType"] = ""; });
  mutate([](json& j) { j["config"]["mediaType"] = 1; });
  mutate([](json& j) { j["config"]["digest"] = d1.substr(0, d1.size() - 1); }); // 63 hex
  mutate([](json& j) { j["config"]["digest"] = "sha256:../../etc/passwd"; });
  mutate([](json& j) { j["config"]["digest"] = 7; });
  mutate([](json& j) { j["config"]["size"] = -1; });
  mutate([](json& j) { j["config"]["size"] = 1.5; });
  mutate([](json& j) { j["config"]["size"] = "10"; });
  mutate([](json& j) { j["config"]["size"] = nullptr; });
  mutate([](json& j) { j["config"]["size"] = std::uint64_t(1) << 63; });
  mutate([](json& j) { j["layers"] = json::object(); });
  mutate([](json& j) { j["layers"] = desc(media::oci_config, d1, 1); });
  mutate([](json& j) { j["layers"][0] = "x"; });
  mutate([](json& j) { j["layers"][1]["digest"] = "md5:" + std::string(32, 'a') + "/x"; });
  mutate([](json& j) { j["manifests"] = json::array(); });
  mutate([](json& j) { j["annotations"] = "x"; });
  mutate([](json& j) { j["annotations"] = {{"k", 1}}; });
  mutate([](json& j) { j["annotations"] = json::array({"k"}); });
  mutate([](json& j) { j["artifactType"] = 3; });
  mutate([](json& j) { j["subject"] = "sha256:x"; });
  mutate([](json& j) { j["subject"] = desc(media::oci_manifest, "sha256:zz", 1); });
  mutate([](json& j) { j["layers"][0]["annotations"] = {{"k", json::object()}}; });
  mutate([](json& j) { j["layers"][0]["urls"] = "https://x"; });
  mutate([](json& j) { j["layers"][0]["urls"] = {1}; });

  // A size too large for JSON integers comes back as a float: refused.
  std::string body = oci_image().dump();
  auto pos = body.find("7023");
  body.replace(pos, 4, "99999999999999999999");
  CHECK_FALSE(parse_manifest(body, "").value);
  body = oci_image().dump();
  body.replace(body.find("7023"), 4, "7e3");
  CHECK_FALSE(parse_manifest(body, "").value);
}

TEST_CASE("bad indexes are refused", "[oci][manifest]") {
  auto mutate = [](auto fn) {
    json idx = oci_index();
    fn(idx);
    check_invalid(idx);
  };
  mutate([](json& j) { j.erase("manifests"); });
  mutate([](json& j) { j["manifests"] = json::object(); });
  mutate([](json& j) { j["manifests"][0]["digest"] = "sha256:ABC"; });
  mutate([](json& j) { j["manifests"][1]["size"] = -5; });
  mutate([](json& j) { j["manifests"][0]["platform"] = "linux/amd64"; });
  mutate([](json& j) { j["manifests"][0]["platform"]["os"] = 1; });
  mutate([](json& j) { j["config"] = desc(media::oci_config, d1, 1); });
  // An empty index is valid.
  json empty = oci_index();
  empty["manifests"] = json::array();
  CHECK(parse(empty).value);
}

TEST_CASE("is_manifest_media_type", "[oci][manifest]") {
  CHECK(is_manifest_media_type(media::oci_manifest));
  CHECK(is_manifest_media_type(media::oci_index));
  CHECK(is_manifest_media_type(media::docker_manifest));
  CHECK(is_manifest_media_type(media::docker_manifest_list));
  CHECK_FALSE(is_manifest_media_type(media::oci_config));
  CHECK_FALSE(is_manifest_media_type("application/vnd.docker.distribution.manifest.v1+json"));
  CHECK_FALSE(is_manifest_media_type("application/json"));
  CHECK_FALSE(is_manifest_media_type(""));
}

TEST_CASE("null lists as Go marshals them", "[oci][manifest]") {
  json img = oci_image();
  img["layers"] = nullptr;
  img["annotations"] = nullptr;
  auto r = parse(img);
  REQUIRE(r.value);
  CHECK(r.value->layers.empty());
  CHECK(r.value->annotations.empty());

  json idx = oci_index();
  idx["manifests"] = nullptr;
  auto ri = parse(idx);
  REQUIRE(ri.value);
  CHECK(ri.value->manifests.empty());

  json urls = oci_image();
  urls["layers"][0]["urls"] = nullptr;
  CHECK(parse(urls).value);
}

TEST_CASE("large manifests parse (4 MB of annotations)", "[oci][manifest]") {
  json img = oci_image();
  for (int i = 0; i < 390; ++i) img["annotations"]["large-annotation-" + std::to_string(i)] = std::string(10000, 'A');
  auto r = parse(img);
  REQUIRE(r.value);
  CHECK(r.value->annotations.size() == 391);
}

TEST_CASE("media_type_essence", "[oci][manifest]") {
  CHECK(media_type_essence("application/json") == "application/json");
  CHECK(media_type_essence(" Application/VND.OCI.Image.Manifest.v1+JSON ; charset=utf-8") == media::oci_manifest);
  CHECK(media_type_essence("") == "");
  CHECK(media_type_essence(";q=0.5") == "");
}

TEST_CASE("conformance-suite shaped bodies", "[oci][manifest]") {
  // Indented with tabs, no top-level mediaType, descriptor with inline data
  // and a field the spec does not know: all must be accepted.
  std::string body = "{\n\t\"schemaVersion\": 2,\n\t\"config\": {\n\t\t\"mediaType\": "
                     "\"application/vnd.oci.image.config.v1+json\",\n\t\t\"digest\": \"" +
                     d1 +
                     "\",\n\t\t\"size\": 12,\n\t\t\"data\": \"e30=\",\n\t\t\"newUnspecifiedField\": "
                     "\"aGVsbG8gd29ybGQ=\"\n\t},\n\t\"layers\": []\n}";
  auto r = parse_manifest(body, media::oci_manifest);
  REQUIRE(r.value);
  CHECK(r.value->media_type == media::oci_manifest);
  CHECK(r.value->config->size == 12);
  CHECK(r.value->layers.empty());

  CHECK_FALSE(parse_manifest("blablabla", media::oci_manifest).value);

  // Inline data must be a (base64) string.
  json img = oci_image();
  img["config"]["data"] = json::object();
  check_invalid(img);
}

TEST_CASE("descriptor data: null as Go marshals an empty slice", "[oci][manifest]") {
  auto j = oci_image();
  j["config"]["data"] = nullptr;
  CHECK(parse(j, media::oci_manifest).value);
  j["config"]["data"] = 42;
  check_invalid(j, media::oci_manifest);
}
