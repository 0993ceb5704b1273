// Blob and upload endpoints of the OCI Distribution API, without sockets.
#include "registry_api_fixture.hpp"

#include <atomic>
#include <map>
#include <thread>

using stowage::test::api_fixture;
namespace oci = stowage::oci;
namespace net = stowage::net;

TEST_CASE_METHOD(api_fixture, "GET /v2/ answers 200 with the API version header", "[api]") {
  auto r = call("GET", "/v2/");
  CHECK(r.status == 200);
  CHECK(r.headers.get_or("Docker-Distribution-API-Version") == "registry/2.0");
  CHECK(call("GET", "/v3/").status == 404);
}

TEST_CASE_METHOD(api_fixture, "monolithic upload, then GET, HEAD and ranges", "[api][blobs]") {
  std::string data = "hello, stowage blob";
  auto d = oci::sha256_of(data);
  auto put = call("POST", "/v2/a/b/c/blobs/uploads/?digest=" + d.str(), data);
  REQUIRE(put.status == 201);
  CHECK(put.headers.get_or("Location") == "/v2/a/b/c/blobs/" + d.str());
  CHECK(put.headers.get_or("Docker-Content-Digest") == d.str());

  auto get = call("GET", "/v2/a/b/c/blobs/" + d.str());
  CHECK(get.status == 200);
  CHECK(body_of(get) == data);
  CHECK(get.headers.get_or("Docker-Content-Digest") == d.str());
  CHECK(get.content_length() == data.size());

  auto head = call("HEAD", "/v2/a/b/c/blobs/" + d.str());
  CHECK(head.status == 200);
  CHECK(head.content_length() == data.size());

  auto part = call("GET", "/v2/a/b/c/blobs/" + d.str(), {}, {{"Range", "bytes=7-13"}});
  CHECK(part.status == 206);
  CHECK(body_of(part) == "stowage");
  CHECK(part.headers.get_or("Content-Range") == "bytes 7-13/" + std::to_string(data.size()));

  auto bad = call("GET", "/v2/a/b/c/blobs/" + d.str(), {}, {{"Range", "bytes=100-200"}});
  CHECK(bad.status == 416);
  CHECK(error_code_of(bad) == "RANGE_INVALID");

  // Linked into a/b/c only.
  auto other = call("GET", "/v2/other/blobs/" + d.str());
  CHECK(other.status == 404);
  CHECK(error_code_of(other) == "BLOB_UNKNOWN");
}

TEST_CASE_METHOD(api_fixture, "a monolithic upload with the wrong digest stores nothing", "[api][blobs]") {
  std::string data = "some bytes";
  auto wrong = oci::sha256_of("other bytes");
  auto r = call("POST", "/v2/repo/blobs/uploads/?digest=" + wrong.str(), data);
  CHECK(r.status == 400);
  CHECK(error_code_of(r) == "DIGEST_INVALID");
  CHECK(!st->blob_anywhere(wrong));
  CHECK(!st->blob_anywhere(oci::sha256_of(data)));
}

TEST_CASE_METHOD(api_fixture, "malformed digests and unknown blobs", "[api][blobs]") {
  CHECK(error_code_of(call("GET", "/v2/repo/blobs/sha256:xyz")) == "DIGEST_INVALID");
  CHECK(call("GET", "/v2/repo/blobs/sha256:xyz").status == 400);
  auto missing = oci::sha256_of("missing");
  auto r = call("GET", "/v2/repo/blobs/" + missing.str());
  CHECK(r.status == 404);
  CHECK(error_code_of(r) == "BLOB_UNKNOWN");
  CHECK(call("POST", "/v2/repo/blobs/uploads/?digest=nonsense", "x").status == 400);
}

TEST_CASE_METHOD(api_fixture, "invalid repository names are refused with NAME_INVALID", "[api][names]") {
  auto d = oci::sha256_of("x");
  for (std::string name : {"Upper/case", "a/../b", "..", "a//b", "-lead", "a/./b", "trail/"}) {
    INFO(name);
    auto r = call("POST", "/v2/" + name + "/blobs/uploads/?digest=" + d.str(), "x");
    CHECK(r.status == 400);
    CHECK(error_code_of(r) == "NAME_INVALID");
    auto g = call("GET", "/v2/" + name + "/manifests/latest");
    CHECK(g.status == 400);
    CHECK(error_code_of(g) == "NAME_INVALID");
  }
  CHECK(st->repositories().empty());
  CHECK(!st->blob_anywhere(d));
}

TEST_CASE_METHOD(api_fixture, "POST, PATCH with Content-Range, status, PUT with a final chunk", "[api][uploads]") {
  auto start = call("POST", "/v2/repo/blobs/uploads/");
  REQUIRE(start.status == 202);
  std::string loc(start.headers.get_or("Location"));
  std::string id(start.headers.get_or("Docker-Upload-UUID"));
  CHECK(!id.empty());
  CHECK(loc == "/v2/repo/blobs/uploads/" + id);
  CHECK(start.headers.get_or("Range") == "0-0");

  auto p1 = call("PATCH", loc, "01234", {{"Content-Range", "0-4"}, {"Content-Type", "application/octet-stream"}});
  CHECK(p1.status == 202);
  CHECK(p1.headers.get_or("Range") == "0-4");
  CHECK(p1.headers.get_or("Location") == loc);

  // Out of order: 416, the session keeps its 5 bytes.
  auto bad = call("PATCH", loc, "xxxxx", {{"Content-Range", "10-14"}});
  CHECK(bad.status == 416);
  CHECK(error_code_of(bad) == "RANGE_INVALID");
  auto status = call("GET", loc);
  CHECK(status.status == 204);
  CHECK(status.headers.get_or("Range") == "0-4");

  // Streaming PATCH without Content-Range appends.
  auto p2 = call("PATCH", loc, "56789");
  CHECK(p2.status == 202);
  CHECK(p2.headers.get_or("Range") == "0-9");

  std::string all = "0123456789abc";
  auto d = oci::sha256_of(all);
  auto fin = call("PUT", loc + "?digest=" + d.str(), "abc", {{"Content-Range", "10-12"}});
  CHECK(fin.status == 201);
  CHECK(fin.headers.get_or("Location") == "/v2/repo/blobs/" + d.str());
  CHECK(fin.headers.get_or("Docker-Content-Digest") == d.str());
  CHECK(body_of(call("GET", "/v2/repo/blobs/" + d.str())) == all);
  // The session is over.
  auto gone = call("GET", loc);
  CHECK(gone.status == 404);
  CHECK(error_code_of(gone) == "BLOB_UPLOAD_UNKNOWN");
}

TEST_CASE_METHOD(api_fixture, "PUT that finishes an upload with a wrong or missing digest", "[api][uploads]") {
  auto start = call("POST", "/v2/repo/blobs/uploads/");
  std::string loc(start.headers.get_or("Location"));
  REQUIRE(call("PATCH", loc, "data").status == 202);
  auto none = call("PUT", loc);
  CHECK(none.status == 400);
  CHECK(error_code_of(none) == "DIGEST_INVALID");
  auto wrong = oci::sha256_of("not the data");
  auto r = call("PUT", loc + "?digest=" + wrong.str());
  CHECK(r.status == 400);
  CHECK(error_code_of(r) == "DIGEST_INVALID");
  CHECK(!st->blob_anywhere(wrong));
  CHECK(!st->blob_anywhere(oci::sha256_of("data")));
}

TEST_CASE_METHOD(api_fixture, "cancel an upload, unknown and malformed upload ids", "[api][uploads]") {
  auto start = call("POST", "/v2/repo/blobs/uploads/");
  std::string loc(start.headers.get_or("Location"));
  CHECK(call("DELETE", loc).status == 204);
  auto again = call("DELETE", loc);
  CHECK(again.status == 404);
  CHECK(error_code_of(again) == "BLOB_UPLOAD_UNKNOWN");
  for (std::string id : {"nope", "..", "..%2f..%2fetc", "a%2f..%2fb"}) {
    INFO(id);
    auto r = call("PATCH", "/v2/repo/blobs/uploads/" + id, "x");
    CHECK(r.status == 404);
    CHECK(error_code_of(r) == "BLOB_UPLOAD_UNKNOWN");
  }
  CHECK(call("PATCH", "/v2/repo/blobs/uploads/../../etc", "x").status == 404);
}

TEST_CASE_METHOD(api_fixture, "POST ?mount= answers 201 or falls back to a new session", "[api][uploads]") {
  auto d = push_blob("src", "mount me");
  auto ok = call("POST", "/v2/dst/blobs/uploads/?mount=" + d.str() + "&from=src");
  CHECK(ok.status == 201);
  CHECK(ok.headers.get_or("Location") == "/v2/dst/blobs/" + d.str());
  CHECK(call("HEAD", "/v2/dst/blobs/" + d.str()).status == 200);

  auto missing = oci::sha256_of("not here");
  auto fallback = call("POST", "/v2/dst2/blobs/uploads/?mount=" + missing.str() + "&from=src");
  CHECK(fallback.status == 202);
  CHECK(!fallback.headers.get_or("Docker-Upload-UUID").empty());
}

TEST_CASE_METHOD(api_fixture, "DELETE a blob", "[api][blobs]") {
  auto d = push_blob("repo", "delete me");
  CHECK(call("DELETE", "/v2/repo/blobs/" + d.str()).status == 202);
  CHECK(call("HEAD", "/v2/repo/blobs/" + d.str()).status == 404);
  auto again = call("DELETE", "/v2/repo/blobs/" + d.str());
  CHECK(again.status == 404);
  CHECK(error_code_of(again) == "BLOB_UNKNOWN");
}

TEST_CASE_METHOD(api_fixture, "a blob deleted after its GET was answered is still sent whole", "[api][blobs]") {
  std::string data(3 << 20, 'x'); // more than one piece of the server's reader
  auto d = push_blob("repo", data);
  auto r = call("GET", "/v2/repo/blobs/" + d.str());
  REQUIRE(r.status == 200);
  REQUIRE(call("DELETE", "/v2/repo/blobs/" + d.str()).status == 202);
  CHECK_FALSE(std::filesystem::exists(r.file->path));
  CHECK(body_of(r) == data);
}

TEST_CASE_METHOD(api_fixture, "reads racing deletes get the whole content or 404 and never an error",
                 "[api][blobs][manifests]") {
  // One thread pushes an image and deletes it, over and over; this one reads
  // it meanwhile. Catch's macros are not thread-safe: both threads only call
  // the handler, and the checks come after.
  auto raw = [this](std::string method, std::string target, std::string_view body = {},
                    std::string content_type = {}) {
    net::request req;
    req.method = std::move(method);
    req.set_target(target);
    if (!content_type.empty()) req.headers.add("Content-Type", content_type);
    if (!body.empty()) req.content_length = body.size();
    return net::serve_in_memory(*api, std::move(req), body, 1 << 16);
  };
  const std::string config = R"({"architecture":"amd64","os":"linux"})", layer = "layer bytes racing";
  const auto c = oci::sha256_of(config), l = oci::sha256_of(layer);
  const std::string manifest = image_manifest(c, config.size(), {{l, layer.size()}});
  const auto m = oci::sha256_of(manifest);
  std::atomic<bool> done{false};
  std::atomic<int> writes_failed{0};
  std::thread writer([&] {
    try {
      for (int i = 0; i < 150; ++i) {
        bool ok = raw("POST", "/v2/race/blobs/uploads/?digest=" + c.str(), config).status == 201 &&
                  raw("POST", "/v2/race/blobs/uploads/?digest=" + l.str(), layer).status == 201 &&
                  raw("PUT", "/v2/race/manifests/t", manifest, "application/vnd.oci.image.manifest.v1+json")
                          .status == 201 &&
                  raw("DELETE", "/v2/race/manifests/" + m.str()).status == 202 &&
                  raw("DELETE", "/v2/race/blobs/" + l.str()).status == 202;
        if (!ok) ++writes_failed;
      }
    } catch (...) {
      ++writes_failed;
    }
    done = true;
  });
  std::map<int, int> blob_status, manifest_status;
  std::vector<std::string> errors;
  int wrong = 0;
  while (!done) {
    try {
      auto b = raw("GET", "/v2/race/blobs/" + l.str());
      ++blob_status[b.status];
      if (b.status == 200 && body_of(b) != layer) ++wrong;
      auto got = raw("GET", "/v2/race/manifests/t");
      ++manifest_status[got.status];
      if (got.status == 200 && got.body != manifest) ++wrong;
    } catch (const std::exception& e) { // the server would answer 500
      errors.push_back(e.what());
    }
  }
  writer.join();
  CHECK(writes_failed == 0);
  CHECK(wrong == 0);
  CHECK(errors.empty());
  for (const auto& e : errors) UNSCOPED_INFO(e);
  for (auto [status, n] : blob_status) {
    INFO("blob: " << n << " answers " << status);
    CHECK((status == 200 || status == 404));
  }
  for (auto [status, n] : manifest_status) {
    INFO("manifest: " << n << " answers " << status);
    CHECK((status == 200 || status == 404));
  }
}

namespace {
struct refusing_gate : stowage::net::push_gate {
  std::optional<stowage::net::refusal> check(const stowage::net::write_attempt& w) override {
    if (w.authorization == "Bearer good") return std::nullopt;
    return stowage::net::refusal{401, oci::error_code::unauthorized, "push proof required",
                                 "Bearer realm=\"stowage\""};
  }
};
} // namespace

TEST_CASE_METHOD(api_fixture, "the push gate refuses writes before anything is stored", "[api][gate]") {
  gate = std::make_shared<refusing_gate>();
  rebuild();
  std::string data = "gated";
  auto d = oci::sha256_of(data);
  auto r = call("POST", "/v2/repo/blobs/uploads/?digest=" + d.str(), data);
  CHECK(r.status == 401);
  CHECK(error_code_of(r) == "UNAUTHORIZED");
  CHECK(r.headers.get_or("WWW-Authenticate") == "Bearer realm=\"stowage\"");
  CHECK(call("PUT", "/v2/repo/manifests/latest", "{}").status == 401);
  CHECK(call("DELETE", "/v2/repo/blobs/" + d.str()).status == 401);
  CHECK(st->repositories().empty());
  CHECK(!st->blob_anywhere(d));
  // Reads need no proof; an authorized write passes.
  CHECK(call("GET", "/v2/").status == 200);
  auto ok = call("POST", "/v2/repo/blobs/uploads/?digest=" + d.str(), data, {{"Authorization", "Bearer good"}});
  CHECK(ok.status == 201);
}

TEST_CASE_METHOD(api_fixture, "repository names may contain endpoint words", "[api][names]") {
  auto d = push_blob("a/blobs/uploads", "words");
  CHECK(call("GET", "/v2/a/blobs/uploads/blobs/" + d.str()).status == 200);
  auto start = call("POST", "/v2/x/manifests/blobs/blobs/uploads/");
  CHECK(start.status == 202);
  CHECK(std::string(start.headers.get_or("Location")).rfind("/v2/x/manifests/blobs/blobs/uploads/", 0) == 0);
  auto [m, body] = push_image("x/manifests/tags/list", "latest");
  CHECK(body_of(call("GET", "/v2/x/manifests/tags/list/manifests/latest")) == body);
  CHECK(nlohmann::json::parse(call("GET", "/v2/x/manifests/tags/list/tags/list").body)["tags"] ==
        nlohmann::json({"latest"}));
}

TEST_CASE_METHOD(api_fixture, "a chunk for a session another request is writing gets 416 with the current range",
                 "[api][uploads]") {
  auto start = call("POST", "/v2/repo/blobs/uploads/");
  std::string loc(start.headers.get_or("Location"));
  std::string id(start.headers.get_or("Docker-Upload-UUID"));
  REQUIRE(call("PATCH", loc, "01234", {{"Content-Range", "0-4"}}).status == 202);
  auto busy = st->append("repo", id); // a chunk still arriving
  REQUIRE(busy);
  auto r = call("PATCH", loc, "56789", {{"Content-Range", "5-9"}});
  CHECK(r.status == 416);
  CHECK(error_code_of(r) == "RANGE_INVALID");
  CHECK(r.headers.get_or("Range") == "0-4");
  busy.reset(); // never finished: the session keeps its 5 bytes
  CHECK(call("PATCH", loc, "56789", {{"Content-Range", "5-9"}}).status == 202);
  CHECK(call("GET", loc).headers.get_or("Range") == "0-9");
}

TEST_CASE_METHOD(api_fixture, "a chunk whose length disagrees with its Content-Range is refused", "[api][uploads]") {
  auto start = call("POST", "/v2/repo/blobs/uploads/");
  std::string loc(start.headers.get_or("Location"));
  auto r = call("PATCH", loc, "0123456789", {{"Content-Range", "0-4"}});
  CHECK(r.status == 400);
  CHECK(error_code_of(r) == "BLOB_UPLOAD_INVALID");
  CHECK(call("GET", loc).headers.get_or("Range") == "0-0");
  CHECK(st->find_upload("repo", std::string(start.headers.get_or("Docker-Upload-UUID")))->size == 0);

  // Chunked, the length is known only at the end, after bytes were written:
  // a refused chunk, too short or too long, still leaves nothing behind.
  auto chunked = [&](std::string_view body) {
    net::request req;
    req.method = "PATCH";
    REQUIRE(req.set_target(loc));
    req.chunked = true;
    req.headers.add("Content-Range", "0-4");
    return net::serve_in_memory(*api, std::move(req), body, 2);
  };
  CHECK(chunked("012").status == 400);
  CHECK(call("GET", loc).headers.get_or("Range") == "0-0");
  CHECK(chunked("0123456").status == 400);
  CHECK(call("GET", loc).headers.get_or("Range") == "0-0");
  auto good = call("PATCH", loc, "abcde", {{"Content-Range", "0-4"}});
  CHECK(good.status == 202);
  auto done = call("PUT", loc + "?digest=" + oci::sha256_of("abcde").str());
  REQUIRE(done.status == 201);
  CHECK(body_of(call("GET", "/v2/repo/blobs/" + oci::sha256_of("abcde").str())) == "abcde");
}
