#include "actors/identity.hpp"

#include <sodium.h>

#include <fstream>
#include <mutex>
#include <stdexcept>
#include <sys/stat.h>

namespace stowage::actors {

void ensure_sodium() {
  static std::once_flag once;
  static bool ok = false;
  std::call_once(once, [] { ok = sodium_init() >= 0; });
  if (!ok)
    throw std::runtime_error("libsodium failed to initialise");
}

std::string to_hex(const std::uint8_t* data, std::size_t len) {
  std::string out(len * 2 + 1, '\0');
  sodium_bin2hex(out.data(), out.size(), data, len);
  out.pop_back();
  return out;
}

std::optional<std::string> from_hex(std::string_view hex) {
  if (hex.size() % 2 != 0)
    return std::nullopt;
  std::string out(hex.size() / 2, '\0');
  std::size_t n = 0;
  const char* end = nullptr;
  if (sodium_hex2bin(reinterpret_cast<unsigned char*>(out.data()), out.size(), hex.data(),
                     hex.size(), nullptr, &n, &end) != 0
      || n != out.size() || end != hex.data() + hex.size())
    return std::nullopt;
  return out;
}

std::optional<public_key> public_key_from_hex(std::string_view hex) {
  auto bytes = from_hex(hex);
  if (!bytes || bytes->size() != crypto_sign_PUBLICKEYBYTES)
    return std::nullopt;
  public_key pk;
  std::copy(bytes->begin(), bytes->end(), pk.begin());
  return pk;
}

std::string node_identity::public_hex() const { return to_hex(pk.data(), pk.size()); }

node_identity generate_identity() {
  ensure_sodium();
  node_identity id;
  crypto_sign_keypair(id.pk.data(), id.sk.data());
  return id;
}

node_identity load_or_create_identity(const std::filesystem::path& dir) {
  ensure_sodium();
  auto file = dir / "identity.key";
  if (std::filesystem::exists(file)) {
    std::ifstream in(file);
    std::string hex;
    in >> hex;
    auto bytes = from_hex(hex);
    if (!bytes || bytes->size() != crypto_sign_SECRETKEYBYTES)
      throw std::runtime_error(file.string() + ": not an Ed25519 secret key");
    node_identity id;
    std::copy(bytes->begin(), bytes->end(), id.sk.begin());
    crypto_sign_ed25519_sk_to_pk(id.pk.data(), id.sk.data());
    return id;
  }
  std::filesystem::create_directories(dir);
  auto id = generate_identity();
  auto tmp = file;
  tmp += ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    ::chmod(tmp.c_str(), 0600);
    out << to_hex(id.sk.data(), id.sk.size()) << "\n";
    out.flush();
    if (!out)
      throw std::runtime_error(tmp.string() + ": cannot write the node key");
  }
  std::filesystem::rename(tmp, file);
  return id;
}

} // namespace stowage::actors
