#include "config/cluster_tls.hpp"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstdio>
#include <fcntl.h>
#include <memory>
#include <stdexcept>
#include <sys/mman.h>
#include <unistd.h>

#include <utility>
#include <vector>

namespace stowage::config {

namespace {

struct free_pkey {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct free_x509 {
  void operator()(X509* p) const { X509_free(p); }
};
using pkey_ptr = std::unique_ptr<EVP_PKEY, free_pkey>;
using x509_ptr = std::unique_ptr<X509, free_x509>;

[[noreturn]] void fail(const std::string& what) {
  char why[256] = "unknown error";
  if (auto e = ERR_get_error())
    ERR_error_string_n(e, why, sizeof why);
  throw std::runtime_error("TLS: " + what + ": " + why);
}

template <class T>
T* checked(T* p, const std::string& what) {
  if (!p)
    fail(what);
  return p;
}

void check(int ok, const std::string& what) {
  if (ok <= 0)
    fail(what);
}

pkey_ptr private_key(const identity& id) {
  auto seed = id.secret_seed();
  return pkey_ptr(checked(EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, seed.data(), seed.size()),
                          "Ed25519 private key"));
}

pkey_ptr public_key(const std::string& name, const std::string& hex) {
  auto key = public_key_from_hex(hex);
  if (!key)
    throw std::runtime_error("TLS: " + name + ": public_key is not 64 hex digits");
  return pkey_ptr(checked(EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, key->data(), key->size()),
                          name + ": Ed25519 public key"));
}

void set_name(X509_NAME* n, const char* organization, const std::string& node) {
  check(X509_NAME_add_entry_by_txt(n, "O", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>(organization), -1,
                                   -1, 0),
        "certificate name");
  check(X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>(node.c_str()),
                                   -1, -1, 0),
        "certificate name");
}

void add_extension(X509* c, int nid, const char* value) {
  X509_EXTENSION* ext = checked(X509V3_EXT_conf_nid(nullptr, nullptr, nid, value), "certificate extension");
  int ok = X509_add_ext(c, ext, -1);
  X509_EXTENSION_free(ext);
  check(ok, "certificate extension");
}

constexpr const char* node_org = "stowage-node";
constexpr const char* anchor_org = "stowage-anchor";

enum class kind { node, anchor };

/// A certificate for `subject_key`, named (node_org or anchor_org, node) and
/// issued by (anchor_org, node), signed with `signer`. Everything but the
/// keys is fixed, so a node's certificate is the same at every start. No
/// expiry: trust follows the cluster file, and a node leaves it by losing
/// its line.
x509_ptr make_certificate(EVP_PKEY* subject_key, kind k, const std::string& node, EVP_PKEY* signer) {
  const bool anchor = k == kind::anchor;
  x509_ptr c(checked(X509_new(), "certificate"));
  check(X509_set_version(c.get(), 2), "certificate version");
  check(ASN1_INTEGER_set(X509_get_serialNumber(c.get()), 1), "certificate serial");
  check(ASN1_TIME_set_string_X509(X509_getm_notBefore(c.get()), "20000101000000Z"), "certificate validity");
  check(ASN1_TIME_set_string_X509(X509_getm_notAfter(c.get()), "99991231235959Z"), "certificate validity");
  set_name(X509_get_subject_name(c.get()), anchor ? anchor_org : node_org, node);
  set_name(X509_get_issuer_name(c.get()), anchor_org, node);
  check(X509_set_pubkey(c.get(), subject_key), "certificate key");
  if (anchor) {
    add_extension(c.get(), NID_basic_constraints, "critical,CA:TRUE,pathlen:0");
    add_extension(c.get(), NID_key_usage, "critical,keyCertSign");
  } else {
    add_extension(c.get(), NID_basic_constraints, "critical,CA:FALSE");
    add_extension(c.get(), NID_key_usage, "critical,digitalSignature");
  }
  check(X509_sign(c.get(), signer, nullptr), "signing the certificate"); // Ed25519: no separate digest
  return c;
}

std::string fd_path(int fd) { return "/proc/self/fd/" + std::to_string(fd); }

/// A sealed memory file holding what `write(FILE*)` wrote; its fd.
template <class Write>
int memory_file(const char* name, Write&& write) {
  int fd = ::memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0)
    throw std::runtime_error(std::string("TLS: cannot create the in-memory ") + name);
  FILE* f = std::fopen(fd_path(fd).c_str(), "w"); // its own open file: closing it keeps `fd`
  bool ok = f && write(f);
  ok = f && std::fclose(f) == 0 && ok;
  ok = ok && ::fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) == 0;
  if (!ok) {
    ::close(fd);
    throw std::runtime_error(std::string("TLS: cannot write the in-memory ") + name);
  }
  return fd;
}

} // namespace

tls_files::tls_files(tls_files&& o) noexcept
    : certificate(std::move(o.certificate)), key(std::move(o.key)), trusted(std::move(o.trusted)),
      fds_(std::exchange(o.fds_, {})) {}

tls_files& tls_files::operator=(tls_files&& o) noexcept {
  if (this != &o) {
    for (int fd : fds_)
      ::close(fd);
    certificate = std::move(o.certificate);
    key = std::move(o.key);
    trusted = std::move(o.trusted);
    fds_ = std::exchange(o.fds_, {});
  }
  return *this;
}

tls_files::~tls_files() {
  for (int fd : fds_)
    ::close(fd);
}

tls_files make_cluster_tls(const std::string& name, const identity& id,
                           const std::map<std::string, std::string>& keys) {
  auto own = private_key(id);
  auto cert = make_certificate(own.get(), kind::node, name, own.get());

  // The anchors' own signatures are never checked (see the header): a key
  // made for this and dropped signs them.
  pkey_ptr throwaway;
  {
    EVP_PKEY* k = nullptr;
    EVP_PKEY_CTX* ctx = checked(EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, nullptr), "key context");
    int ok = EVP_PKEY_keygen_init(ctx) > 0 && EVP_PKEY_keygen(ctx, &k) > 0;
    EVP_PKEY_CTX_free(ctx);
    check(ok, "throwaway key");
    throwaway.reset(k);
  }
  std::vector<x509_ptr> anchors;
  for (const auto& [node, hex] : keys) {
    auto key = public_key(node, hex);
    anchors.push_back(make_certificate(key.get(), kind::anchor, node, throwaway.get()));
  }

  tls_files out;
  auto keep = [&](int fd) {
    out.fds_.push_back(fd);
    return fd_path(fd);
  };
  out.certificate = keep(memory_file("node.crt", [&](FILE* f) { return PEM_write_X509(f, cert.get()) == 1; }));
  out.key = keep(memory_file("node.key", [&](FILE* f) {
    return PEM_write_PrivateKey(f, own.get(), nullptr, nullptr, 0, nullptr, nullptr) == 1;
  }));
  out.trusted = keep(memory_file("cluster-anchors.crt", [&](FILE* f) {
    for (const auto& a : anchors)
      if (PEM_write_X509(f, a.get()) != 1)
        return false;
    return true;
  }));
  return out;
}

} // namespace stowage::config
