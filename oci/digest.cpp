// Digest grammar (OCI image spec, "Digests") and SHA-256 over OpenSSL EVP.
#include "oci/digest.hpp"

#include <openssl/evp.h>

#include <stdexcept>

namespace stowage::oci {
namespace {

// Bounds keep hostile inputs from producing huge strings that end up in
// paths or database keys; no registered algorithm comes close to them.
constexpr std::size_t max_algorithm_len = 32;
constexpr std::size_t max_encoded_len = 1024;

bool lower_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
bool lower_hex(char c) { return (c >= 'a' && c <= 'f') || (c >= '0' && c <= '9'); }

// algorithm := component (separator component)*, component := [a-z0-9]+,
// separator := [+._-]
bool valid_algorithm(std::string_view a) {
  if (a.empty() || a.size() > max_algorithm_len) return false;
  bool need_alnum = true; // at the start and right after a separator
  for (char c : a) {
    if (lower_alnum(c)) {
      need_alnum = false;
    } else if (c == '+' || c == '.' || c == '_' || c == '-') {
      if (need_alnum) return false;
      need_alnum = true;
    } else {
      return false;
    }
  }
  return !need_alnum;
}

// encoded := [a-zA-Z0-9=_-]+
bool valid_encoded(std::string_view e) {
  if (e.empty() || e.size() > max_encoded_len) return false;
  for (char c : e) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '=' ||
              c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

bool is_lower_hex(std::string_view e, std::size_t len) {
  if (e.size() != len) return false;
  for (char c : e)
    if (!lower_hex(c)) return false;
  return true;
}

} // namespace

std::optional<digest> digest::parse(std::string_view s) {
  auto colon = s.find(':');
  if (colon == std::string_view::npos) return std::nullopt;
  auto algo = s.substr(0, colon);
  auto enc = s.substr(colon + 1);
  if (!valid_algorithm(algo) || !valid_encoded(enc)) return std::nullopt;
  // Registered algorithms fix the encoding exactly.
  if (algo == "sha256" && !is_lower_hex(enc, 64)) return std::nullopt;
  if (algo == "sha512" && !is_lower_hex(enc, 128)) return std::nullopt;
  return digest{std::string(algo), std::string(enc)};
}

struct sha256_hasher::impl {
  EVP_MD_CTX* ctx = nullptr;
  bool finished = false;
  ~impl() { EVP_MD_CTX_free(ctx); }
};

sha256_hasher::sha256_hasher() : impl_(std::make_unique<impl>()) {
  impl_->ctx = EVP_MD_CTX_new();
  if (!impl_->ctx || EVP_DigestInit_ex(impl_->ctx, EVP_sha256(), nullptr) != 1)
    throw std::runtime_error("sha256: EVP initialisation failed");
}

sha256_hasher::~sha256_hasher() = default;
sha256_hasher::sha256_hasher(sha256_hasher&&) noexcept = default;
sha256_hasher& sha256_hasher::operator=(sha256_hasher&&) noexcept = default;

void sha256_hasher::update(const void* data, std::size_t len) {
  if (!impl_ || impl_->finished) throw std::logic_error("sha256: update after finish");
  if (len == 0) return;
  if (EVP_DigestUpdate(impl_->ctx, data, len) != 1) throw std::runtime_error("sha256: EVP update failed");
}

digest sha256_hasher::finish() {
  if (!impl_ || impl_->finished) throw std::logic_error("sha256: finish called twice");
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  if (EVP_DigestFinal_ex(impl_->ctx, out, &n) != 1 || n != 32)
    throw std::runtime_error("sha256: EVP final failed");
  impl_->finished = true;
  static constexpr char hexdigits[] = "0123456789abcdef";
  std::string hex(2 * n, '0');
  for (unsigned int i = 0; i < n; ++i) {
    hex[2 * i] = hexdigits[out[i] >> 4];
    hex[2 * i + 1] = hexdigits[out[i] & 0xf];
  }
  return digest{"sha256", std::move(hex)};
}

digest sha256_of(std::string_view data) {
  sha256_hasher h;
  h.update(data);
  return h.finish();
}

} // namespace stowage::oci
