#include "oci/name.hpp"

#include <catch2/catch.hpp>

#include <string>

using namespace stowage::oci;

namespace {
const std::string abc = "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
}

TEST_CASE("valid repository names", "[oci][name]") {
  for (const char* n : {"a", "busybox", "library/busybox", "a/b/c/d", "my-app", "my--app", "my_app", "my__app",
                        "my.app", "a1/b2.c3_d4__e5-f6", "0", "conformance/test-1"})
    CHECK(valid_repository(n));
  CHECK(valid_repository(std::string(255, 'a')));
  CHECK(valid_repository(std::string(127, 'a') + "/" + std::string(127, 'b')));
}

TEST_CASE("hostile repository names are refused", "[oci][name]") {
  for (const char* n : {"", "A", "Busybox", "library/Busybox", "..", "../etc", "a/../b", "a/..", "a/./b", ".", "./a",
                        "/a", "a/", "a//b", "-a", "a-", "_a", "a_", ".a", "a.", "a..b", "a___b", "a._b", "a_-b",
                        "a b", "a\tb", "a\\b", "a:b", "a@b", "a%2fb", "a%2e%2e", "a\nb", "a/b/", "a/-b", "a/b./c"})
    CHECK_FALSE(valid_repository(n));
  CHECK_FALSE(valid_repository(std::string("a\0b", 3)));
  CHECK_FALSE(valid_repository(std::string(256, 'a')));
  CHECK_FALSE(valid_repository("\xc3\xa9t\xc3\xa9")); // non-ASCII
}

TEST_CASE("tags", "[oci][name]") {
  for (const char* t : {"latest", "1", "v1.2.3", "_x", "A-b_c.D", "1.0-rc1"}) CHECK(valid_tag(t));
  CHECK(valid_tag(std::string(128, 'a')));
  CHECK_FALSE(valid_tag(std::string(129, 'a')));
  for (const char* t : {"", ".x", "-x", "a/b", "a:b", "a@b", "..", "a b", "a\n"}) CHECK_FALSE(valid_tag(t));
}

TEST_CASE("reference parse", "[oci][name]") {
  auto t = reference::parse("v1");
  REQUIRE(t);
  CHECK_FALSE(t->is_digest());
  CHECK(t->tag() == "v1");
  CHECK(t->str() == "v1");

  auto d = reference::parse(abc);
  REQUIRE(d);
  CHECK(d->is_digest());
  CHECK(d->dig().str() == abc);
  CHECK(d->str() == abc);

  CHECK_FALSE(reference::parse(""));
  CHECK_FALSE(reference::parse("sha256:abc"));        // a ':' means digest, and this one is bad
  CHECK_FALSE(reference::parse(abc.substr(0, abc.size() - 1)));
  CHECK_FALSE(reference::parse("../x"));
  CHECK_FALSE(reference::parse(std::string(129, 'x')));
}

TEST_CASE("image_ref parse and str", "[oci][name]") {
  struct row {
    const char* in;
    const char* registry;
    const char* repository;
    const char* ref;
    const char* out;
  };
  std::string by_digest = "a/b@" + abc;
  std::string reg_digest = "localhost:5000/a/b@" + abc;
  std::string tag_and_digest = "a/b:v1@" + abc;
  const row rows[] = {
      {"busybox", "", "busybox", "latest", "busybox:latest"},
      {"busybox:1", "", "busybox", "1", "busybox:1"},
      {"library/busybox:1.36", "", "library/busybox", "1.36", "library/busybox:1.36"},
      {"localhost:5000/a/b:tag", "localhost:5000", "a/b", "tag", "localhost:5000/a/b:tag"},
      {"localhost/a", "localhost", "a", "latest", "localhost/a:latest"},
      {"docker.io/library/alpine", "docker.io", "library/alpine", "latest", "docker.io/library/alpine:latest"},
      {"127.0.0.1:5011/x", "127.0.0.1:5011", "x", "latest", "127.0.0.1:5011/x:latest"},
      {"[::1]:5000/x:y", "[::1]:5000", "x", "y", "[::1]:5000/x:y"},
      {by_digest.c_str(), "", "a/b", abc.c_str(), by_digest.c_str()},
      {reg_digest.c_str(), "localhost:5000", "a/b", abc.c_str(), reg_digest.c_str()},
      {tag_and_digest.c_str(), "", "a/b", abc.c_str(), by_digest.c_str()},
  };
  for (const auto& r : rows) {
    INFO(r.in);
    auto p = image_ref::parse(r.in);
    REQUIRE(p);
    CHECK(p->registry == r.registry);
    CHECK(p->repository == r.repository);
    CHECK(p->ref.str() == r.ref);
    CHECK(p->str() == r.out);
    auto again = image_ref::parse(p->str());
    REQUIRE(again);
    CHECK(again->str() == p->str());
  }
  // Without a '.', ':' or "localhost", the first component is part of the name.
  auto p = image_ref::parse("myorg/app:1");
  REQUIRE(p);
  CHECK(p->registry.empty());
  CHECK(p->repository == "myorg/app");
}

TEST_CASE("image_ref rejects bad references", "[oci][name]") {
  for (const char* s : {"", ":", "busybox:", "Busybox", "a/../b", "../a", "localhost:5000/", "localhost:5000/A",
                        "a@sha256:abc", "a@", "a:b:c", "a:.x", "localhost:99999/a", "localhost:0/a", "local..host:1/a",
                        "host:port/a", "-bad.host/a", "a b", "a/b:t/c", "[::1/a", "[zz]:5000/a", "a//b"})
    CHECK_FALSE(image_ref::parse(s));
}
