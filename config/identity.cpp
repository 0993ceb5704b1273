// Ed25519 node identity with libsodium. The secret key is written once,
// atomically (temporary file + link, so a crash never leaves half a key and a
// racing process never overwrites the winner's), and only its owner may read it.
#include "config/identity.hpp"

#include <sodium.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace stowage::config {

static_assert(sizeof(ed25519_public_key) == crypto_sign_PUBLICKEYBYTES);
static_assert(sizeof(ed25519_signature) == crypto_sign_BYTES);

namespace {

void ensure_sodium() {
  // sodium_init is idempotent and thread-safe; the static runs it once.
  static const int rc = sodium_init();
  if (rc < 0) throw std::runtime_error("libsodium: initialisation failed");
}

[[noreturn]] void fail(const std::filesystem::path& p, const std::string& what) {
  throw std::runtime_error(p.string() + ": " + what);
}

std::string errno_text() { return std::strerror(errno); }

void write_all(int fd, const std::string& text, const std::filesystem::path& p) {
  std::size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail(p, "write failed: " + errno_text());
    done += static_cast<std::size_t>(n);
  }
}

void fsync_dir(const std::filesystem::path& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return; // durability of the directory entry is best effort
  ::fsync(fd);
  ::close(fd);
}

// Writes `text` as a brand-new file `target` with `mode`; returns false if
// `target` already exists (someone else won), leaving it untouched.
bool create_exclusive(const std::filesystem::path& target, const std::string& text, mode_t mode) {
  auto tmp = target;
  tmp += ".tmp." + std::to_string(::getpid()) + "." + to_hex(random_bytes(4));
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) fail(tmp, "cannot create: " + errno_text());
  try {
    if (::fchmod(fd, mode) != 0) fail(tmp, "chmod failed: " + errno_text()); // whatever the umask
    write_all(fd, text, tmp);
    if (::fsync(fd) != 0) fail(tmp, "fsync failed: " + errno_text());
  } catch (...) {
    ::close(fd);
    ::unlink(tmp.c_str());
    throw;
  }
  ::close(fd);
  const int linked = ::link(tmp.c_str(), target.c_str());
  const int link_errno = errno;
  ::unlink(tmp.c_str());
  if (linked != 0) {
    if (link_errno == EEXIST) return false;
    errno = link_errno;
    fail(target, "cannot create: " + errno_text());
  }
  fsync_dir(target.parent_path());
  return true;
}

std::string read_first_line(const std::filesystem::path& p) {
  std::ifstream in(p);
  if (!in) fail(p, "cannot open: " + errno_text());
  std::string line;
  std::getline(in, line);
  while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
  return line;
}

} // namespace

std::string to_hex(std::span<const std::uint8_t> bytes) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (const auto b : bytes) {
    out += digits[b >> 4];
    out += digits[b & 0xf];
  }
  return out;
}

std::optional<std::vector<std::uint8_t>> from_hex(std::string_view hex) {
  if (hex.size() % 2 != 0) return std::nullopt;
  const auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::vector<std::uint8_t> out(hex.size() / 2);
  for (std::size_t i = 0; i < out.size(); ++i) {
    const int hi = nibble(hex[2 * i]), lo = nibble(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out[i] = static_cast<std::uint8_t>(hi << 4 | lo);
  }
  return out;
}

std::optional<ed25519_public_key> public_key_from_hex(std::string_view hex) {
  const auto bytes = from_hex(hex);
  if (!bytes || bytes->size() != crypto_sign_PUBLICKEYBYTES) return std::nullopt;
  ed25519_public_key key;
  std::copy(bytes->begin(), bytes->end(), key.begin());
  return key;
}

std::vector<std::uint8_t> random_bytes(std::size_t n) {
  ensure_sodium();
  std::vector<std::uint8_t> out(n);
  randombytes_buf(out.data(), out.size());
  return out;
}

std::vector<std::uint8_t> noise_bytes(std::size_t n) {
  ensure_sodium();
  std::array<unsigned char, randombytes_SEEDBYTES> seed{};
  randombytes_buf(seed.data(), seed.size());
  std::vector<std::uint8_t> out(n);
  randombytes_buf_deterministic(out.data(), out.size(), seed.data());
  return out;
}

identity::~identity() { sodium_memzero(secret_key_.data(), secret_key_.size()); }

identity identity::generate() {
  ensure_sodium();
  identity id;
  crypto_sign_keypair(id.public_key_.data(), id.secret_key_.data());
  return id;
}

identity identity::load_or_create(const std::filesystem::path& dir) {
  ensure_sodium();
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) fail(dir, "cannot create the data directory: " + ec.message());
  const auto secret_path = dir / secret_file;
  const auto public_path = dir / public_file;

  if (!std::filesystem::exists(secret_path)) {
    identity fresh = generate();
    std::string text = to_hex(fresh.secret_key_) + "\n";
    const bool won = create_exclusive(secret_path, text, 0600);
    sodium_memzero(text.data(), text.size());
    if (won) {
      std::filesystem::remove(public_path, ec); // a stale one from an older key
      create_exclusive(public_path, fresh.public_key_hex() + "\n", 0644);
      return fresh;
    }
    // Another process created it between our check and our link: use theirs.
  }

  struct stat st {};
  if (::stat(secret_path.c_str(), &st) != 0) fail(secret_path, "cannot stat: " + errno_text());
  if ((st.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    fail(secret_path, std::string("secret key is readable by others (mode ") + mode + "); run chmod 600 on it");
  }
  std::string text = read_first_line(secret_path);
  auto bytes = from_hex(text);
  sodium_memzero(text.data(), text.size());
  if (!bytes || bytes->size() != crypto_sign_SECRETKEYBYTES)
    fail(secret_path, "corrupt secret key (expected " + std::to_string(2 * crypto_sign_SECRETKEYBYTES) +
                          " hex digits)");
  identity id;
  std::copy(bytes->begin(), bytes->end(), id.secret_key_.begin());
  sodium_memzero(bytes->data(), bytes->size());

  // The stored key is seed + public key; rebuild both halves from the seed so
  // a damaged file is caught here rather than as mysterious bad signatures.
  std::array<std::uint8_t, crypto_sign_SEEDBYTES> seed{};
  std::array<std::uint8_t, crypto_sign_SECRETKEYBYTES> rebuilt{};
  crypto_sign_ed25519_sk_to_seed(seed.data(), id.secret_key_.data());
  crypto_sign_seed_keypair(id.public_key_.data(), rebuilt.data(), seed.data());
  const bool consistent = sodium_memcmp(rebuilt.data(), id.secret_key_.data(), rebuilt.size()) == 0;
  sodium_memzero(seed.data(), seed.size());
  sodium_memzero(rebuilt.data(), rebuilt.size());
  if (!consistent) fail(secret_path, "corrupt secret key (its public half does not match its seed)");

  if (stored_public_key(dir) != id.public_key_) { // missing or stale: rewrite it
    std::filesystem::remove(public_path, ec);
    create_exclusive(public_path, id.public_key_hex() + "\n", 0644);
  }
  return id;
}

ed25519_signature identity::sign(std::span<const std::uint8_t> message) const {
  ed25519_signature sig;
  crypto_sign_detached(sig.data(), nullptr, message.data(), message.size(), secret_key_.data());
  return sig;
}

bool identity::verify(const ed25519_public_key& key, std::span<const std::uint8_t> message,
                      std::span<const std::uint8_t> sig) {
  ensure_sodium();
  if (sig.size() != crypto_sign_BYTES) return false;
  return crypto_sign_verify_detached(sig.data(), message.data(), message.size(), key.data()) == 0;
}

bool identity::verify(std::string_view public_key_hex, std::span<const std::uint8_t> message,
                      std::span<const std::uint8_t> sig) {
  const auto key = public_key_from_hex(public_key_hex);
  return key && verify(*key, message, sig);
}

std::optional<ed25519_public_key> stored_public_key(const std::filesystem::path& dir) {
  const auto p = dir / identity::public_file;
  std::error_code ec;
  if (!std::filesystem::exists(p, ec)) return std::nullopt;
  std::ifstream in(p);
  std::string line;
  if (!in || !std::getline(in, line)) return std::nullopt;
  return public_key_from_hex(line);
}

} // namespace stowage::config
