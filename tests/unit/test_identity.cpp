// Node identity: the key pair persists in the data directory with mode 0600,
// signatures verify, and forged or tampered ones do not.
#include "config/identity.hpp"

#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <fstream>

using namespace stowage::config;
namespace fs = std::filesystem;

namespace {

struct temp_dir {
  fs::path path;
  temp_dir() {
    path = fs::temp_directory_path() / ("stowage-identity-test-" + std::to_string(::getpid()) + "-" +
                                        std::to_string(reinterpret_cast<std::uintptr_t>(this)));
    fs::remove_all(path);
  }
  ~temp_dir() { fs::remove_all(path); }
};

unsigned mode_of(const fs::path& p) {
  struct stat st {};
  REQUIRE(::stat(p.c_str(), &st) == 0);
  return st.st_mode & 07777;
}

std::string read_line(const fs::path& p) {
  std::ifstream in(p);
  std::string line;
  std::getline(in, line);
  return line;
}

} // namespace

TEST_CASE("hex encodes and decodes", "[config][identity]") {
  const std::vector<std::uint8_t> bytes{0x00, 0x01, 0x7f, 0x80, 0xab, 0xff};
  CHECK(to_hex(bytes) == "00017f80abff");
  CHECK(from_hex("00017f80abff") == bytes);
  CHECK(from_hex("00017F80ABFF") == bytes);
  CHECK(from_hex("") == std::vector<std::uint8_t>{});
  CHECK_FALSE(from_hex("abc").has_value()); // odd length
  CHECK_FALSE(from_hex("0g").has_value());
  CHECK_FALSE(from_hex(" 00").has_value());
  CHECK_FALSE(public_key_from_hex("00").has_value());
  CHECK_FALSE(public_key_from_hex(std::string(66, '0')).has_value());
  CHECK(public_key_from_hex(std::string(64, '0')).has_value());
}

TEST_CASE("random bytes differ", "[config][identity]") {
  CHECK(random_bytes(32).size() == 32);
  CHECK(random_bytes(32) != random_bytes(32));
}

TEST_CASE("noise bytes (test packets) differ each time and look random", "[config][identity]") {
  const auto a = noise_bytes(256 * 1024);
  const auto b = noise_bytes(256 * 1024);
  REQUIRE(a.size() == 256 * 1024);
  CHECK(a != b);
  // A packet that compresses would measure a link that compresses, not the
  // link: every byte value shows up about equally often (1024 expected each,
  // ~32 standard deviation), which zeros or text would not.
  std::array<std::size_t, 256> seen{};
  for (auto c : a)
    ++seen[c];
  for (auto n : seen) {
    CHECK(n > 800);
    CHECK(n < 1250);
  }
  CHECK(noise_bytes(0).empty());
}

TEST_CASE("the key pair is created once, mode 0600, and loaded afterwards", "[config][identity]") {
  temp_dir tmp;
  const auto dir = tmp.path / "node" / "data"; // created on demand
  const auto first = identity::load_or_create(dir);
  const auto secret = dir / identity::secret_file;
  REQUIRE(fs::exists(secret));
  CHECK(mode_of(secret) == 0600);
  CHECK(read_line(dir / identity::public_file) == first.public_key_hex());
  CHECK(stored_public_key(dir) == first.public_key());
  CHECK(first.public_key_hex().size() == 64);
  CHECK(std::distance(fs::directory_iterator(dir), fs::directory_iterator()) == 2); // no temporaries left

  const auto again = identity::load_or_create(dir);
  CHECK(again.public_key() == first.public_key());
  // The same secret: a signature made by one verifies as the other's.
  const auto sig = again.sign("hello");
  CHECK(sig == first.sign("hello")); // Ed25519 is deterministic
  CHECK(identity::verify(first.public_key(), "hello", sig));

  // A lost public file is written again from the secret key.
  fs::remove(dir / identity::public_file);
  CHECK(identity::load_or_create(dir).public_key() == first.public_key());
  CHECK(stored_public_key(dir) == first.public_key());

  // Another directory, another identity.
  CHECK(identity::load_or_create(tmp.path / "other").public_key() != first.public_key());
}

TEST_CASE("a key file others can read is refused", "[config][identity]") {
  temp_dir tmp;
  identity::load_or_create(tmp.path);
  const auto secret = tmp.path / identity::secret_file;
  ::chmod(secret.c_str(), 0644);
  CHECK_THROWS_WITH(identity::load_or_create(tmp.path),
                    Catch::Contains("identity.key: secret key is readable by others (mode 0644)"));
}

TEST_CASE("a corrupt key file is refused", "[config][identity]") {
  temp_dir tmp;
  identity::load_or_create(tmp.path);
  const auto secret = tmp.path / identity::secret_file;

  std::ofstream(secret, std::ios::trunc) << "not hex\n";
  CHECK_THROWS_WITH(identity::load_or_create(tmp.path), Catch::Contains("corrupt secret key"));

  // Right length, but the public half does not belong to the seed.
  std::ofstream(secret, std::ios::trunc) << std::string(64, '1') + std::string(64, '2') << "\n";
  CHECK_THROWS_WITH(identity::load_or_create(tmp.path), Catch::Contains("does not match its seed"));
}

TEST_CASE("processes racing on one directory end up with one key", "[config][identity]") {
  temp_dir tmp;
  constexpr int children = 6;
  std::vector<pid_t> pids;
  for (int i = 0; i < children; ++i) {
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      int rc = 1;
      try {
        const auto id = identity::load_or_create(tmp.path);
        std::ofstream(tmp.path.string() + ".out" + std::to_string(i)) << id.public_key_hex();
        rc = 0;
      } catch (...) {
      }
      ::_exit(rc);
    }
    pids.push_back(pid);
  }
  for (const auto pid : pids) {
    int status = 0;
    ::waitpid(pid, &status, 0);
    CHECK((WIFEXITED(status) && WEXITSTATUS(status) == 0));
  }
  const auto winner = identity::load_or_create(tmp.path).public_key_hex();
  for (int i = 0; i < children; ++i) {
    const auto out = fs::path(tmp.path.string() + ".out" + std::to_string(i));
    CHECK(read_line(out) == winner);
    fs::remove(out);
  }
}

TEST_CASE("signatures verify, forged and tampered ones do not", "[config][identity]") {
  const auto alice = identity::generate();
  const auto mallory = identity::generate();
  const std::string message = "push session 42: repo library/alpine, runtime rt1, target dm2";
  const auto sig = alice.sign(message);

  CHECK(identity::verify(alice.public_key(), message, sig));
  CHECK(identity::verify(alice.public_key_hex(), message, sig));
  CHECK(identity::verify(alice.public_key(), as_bytes(message), sig));

  // Signed by someone else.
  CHECK_FALSE(identity::verify(alice.public_key(), message, mallory.sign(message)));
  // A different message.
  CHECK_FALSE(identity::verify(alice.public_key(), message + " ", sig));
  // One flipped bit in the signature.
  auto forged = sig;
  forged[10] ^= 0x01;
  CHECK_FALSE(identity::verify(alice.public_key(), message, forged));
  // Wrong length, wrong key text.
  const std::vector<std::uint8_t> short_sig(sig.begin(), sig.begin() + 63);
  CHECK_FALSE(identity::verify(alice.public_key(), message, short_sig));
  CHECK_FALSE(identity::verify(std::string_view("zz"), message, sig));
  CHECK_FALSE(identity::verify(mallory.public_key_hex(), message, sig));
  // Empty messages are signable too.
  CHECK(identity::verify(mallory.public_key(), "", mallory.sign("")));
}
