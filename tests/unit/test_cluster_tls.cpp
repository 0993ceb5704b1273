// The middleman's TLS files: a node's certificate is accepted by the anchors
// of the cluster file iff it is signed with the key the file gives for the
// name it claims. Checked the way a TLS peer checks it (X509_verify_cert,
// client and server purposes).
#include "config/cluster_tls.hpp"

#include <catch2/catch.hpp>

#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>

using namespace stowage::config;
namespace fs = std::filesystem;

namespace {

X509* read_certificate(const std::string& p) {
  FILE* f = std::fopen(p.c_str(), "r");
  REQUIRE(f);
  X509* c = PEM_read_X509(f, nullptr, nullptr, nullptr);
  std::fclose(f);
  REQUIRE(c);
  return c;
}

/// Whether `certificate` verifies against the anchors in `trusted`, as a TLS
/// client or server certificate.
bool accepted(const std::string& certificate, const std::string& trusted, int purpose) {
  X509_STORE* store = X509_STORE_new();
  REQUIRE(X509_STORE_load_file(store, trusted.c_str()) == 1);
  X509* leaf = read_certificate(certificate);
  X509_STORE_CTX* ctx = X509_STORE_CTX_new();
  REQUIRE(X509_STORE_CTX_init(ctx, store, leaf, nullptr) == 1);
  X509_STORE_CTX_set_purpose(ctx, purpose);
  bool ok = X509_verify_cert(ctx) == 1;
  if (!ok)
    UNSCOPED_INFO("rejected: " << X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
  X509_STORE_CTX_free(ctx);
  X509_free(leaf);
  X509_STORE_free(store);
  return ok;
}

} // namespace

TEST_CASE("a node's certificate is accepted by the anchors of the cluster file", "[config][tls]") {
  auto dm1 = identity::generate(), dm2 = identity::generate();
  std::map<std::string, std::string> cluster{{"dm1", dm1.public_key_hex()}, {"dm2", dm2.public_key_hex()}};
  auto f = make_cluster_tls("dm1", dm1, cluster);
  CHECK(accepted(f.certificate, f.trusted, X509_PURPOSE_SSL_CLIENT));
  CHECK(accepted(f.certificate, f.trusted, X509_PURPOSE_SSL_SERVER));
  auto g = make_cluster_tls("dm2", dm2, cluster);
  CHECK(accepted(g.certificate, f.trusted, X509_PURPOSE_SSL_CLIENT)); // dm2's, by dm1's anchors
  // Nothing on disk: sealed memory files of this process.
  CHECK(f.key.starts_with("/proc/self/fd/"));
  int key = ::open(f.key.c_str(), O_WRONLY);
  REQUIRE(key >= 0);
  CHECK(::write(key, "x", 1) == -1); // sealed against writes
  ::close(key);

  SECTION("written again at the next start, it is the same certificate") {
    auto again = make_cluster_tls("dm1", dm1, cluster);
    X509* a = read_certificate(f.certificate);
    X509* b = read_certificate(again.certificate);
    CHECK(X509_cmp(a, b) == 0);
    X509_free(a);
    X509_free(b);
  }
}

TEST_CASE("a certificate signed with a key the cluster file does not give for its name is refused",
          "[config][tls]") {
  auto dm1 = identity::generate(), dm2 = identity::generate(), outsider = identity::generate();
  std::map<std::string, std::string> cluster{{"dm1", dm1.public_key_hex()}, {"dm2", dm2.public_key_hex()}};
  auto real = make_cluster_tls("dm1", dm1, cluster);

  // An outsider claiming to be dm1, trusting its own key for that name.
  auto forged = make_cluster_tls("dm1", outsider,
                                  {{"dm1", outsider.public_key_hex()}, {"dm2", dm2.public_key_hex()}});
  CHECK(accepted(forged.certificate, forged.trusted, X509_PURPOSE_SSL_CLIENT)); // by its own anchors only
  CHECK_FALSE(accepted(forged.certificate, real.trusted, X509_PURPOSE_SSL_CLIENT));
  CHECK_FALSE(accepted(forged.certificate, real.trusted, X509_PURPOSE_SSL_SERVER));

  // A member claiming another member's name.
  auto posing = make_cluster_tls("dm1", dm2, cluster);
  CHECK_FALSE(accepted(posing.certificate, real.trusted, X509_PURPOSE_SSL_CLIENT));

  // A name the cluster file does not list at all.
  auto stranger = make_cluster_tls("dm9", outsider, {{"dm9", outsider.public_key_hex()}});
  CHECK_FALSE(accepted(stranger.certificate, real.trusted, X509_PURPOSE_SSL_CLIENT));
}

TEST_CASE("a cluster file key that is not hex is a clear error", "[config][tls]") {
  auto dm1 = identity::generate();
  CHECK_THROWS_WITH(make_cluster_tls("dm1", dm1, {{"dm1", dm1.public_key_hex()}, {"dm2", "zz"}}),
                    Catch::Contains("dm2"));
}
