#include "actors/proof.hpp"

#include <sodium.h>
#include <sqlite3.h>

#include <array>
#include <chrono>
#include <stdexcept>
#include <vector>

namespace stowage::actors {

namespace {

void ensure_sodium() {
  // sodium_init is idempotent and thread-safe; the static runs it once.
  static const int rc = sodium_init();
  if (rc < 0)
    throw std::runtime_error("libsodium failed to initialise");
}

std::string random_hex(std::size_t bytes) { return config::to_hex(config::random_bytes(bytes)); }

std::vector<std::string> split_lines(std::string_view s) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (;;) {
    auto pos = s.find('\n', start);
    if (pos == std::string_view::npos) {
      out.emplace_back(s.substr(start));
      return out;
    }
    out.emplace_back(s.substr(start, pos - start));
    start = pos + 1;
  }
}

} // namespace

std::int64_t unix_now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

std::string signed_bytes(const proof_scope& s, std::string_view secret_hash) {
  std::string out = "stowage-proof-v1\n";
  for (const std::string* field : {&s.session, &s.repository, &s.tag, &s.runtime, &s.target}) {
    out += *field;
    out += '\n';
  }
  out += std::to_string(s.seq);
  out += '\n';
  out += std::to_string(s.expires_ms);
  out += '\n';
  out += secret_hash;
  return out;
}

std::string secret_hash_of(std::string_view secret_hex) {
  ensure_sodium();
  auto secret = config::from_hex(secret_hex);
  if (!secret || secret->empty())
    return {};
  std::array<std::uint8_t, 32> h;
  crypto_generichash(h.data(), h.size(), secret->data(), secret->size(), nullptr, 0);
  return config::to_hex(h);
}

proof_pair issue_proofs(const config::identity& master, proof_scope scope) {
  ensure_sodium();
  if (scope.session.empty())
    scope.session = random_hex(16);
  proof_pair pair;
  pair.first.scope = scope;
  pair.first.secret = random_hex(32);
  pair.second.scope = scope;
  pair.second.secret_hash = secret_hash_of(pair.first.secret);
  auto msg = signed_bytes(scope, pair.second.secret_hash);
  pair.second.signature = config::to_hex(master.sign(msg));
  pair.first.signature = pair.second.signature;
  return pair;
}

bool signature_valid(const public_key& master_pk, const second_proof& p) {
  auto sig = config::from_hex(p.signature);
  if (!sig)
    return false;
  return config::identity::verify(master_pk, signed_bytes(p.scope, p.secret_hash), *sig);
}

std::string encode(const first_proof& p) {
  ensure_sodium();
  std::string text = signed_bytes(p.scope, p.secret) + "\n" + p.signature;
  std::string out(sodium_base64_encoded_len(text.size(), sodium_base64_VARIANT_ORIGINAL), '\0');
  sodium_bin2base64(out.data(), out.size(), reinterpret_cast<const unsigned char*>(text.data()),
                    text.size(), sodium_base64_VARIANT_ORIGINAL);
  out.pop_back(); // terminating NUL
  return out;
}

std::optional<first_proof> decode_first_proof(std::string_view b64) {
  ensure_sodium();
  std::string text(b64.size(), '\0');
  std::size_t len = 0;
  const char* end = nullptr;
  if (sodium_base642bin(reinterpret_cast<unsigned char*>(text.data()), text.size(), b64.data(),
                        b64.size(), nullptr, &len, &end, sodium_base64_VARIANT_ORIGINAL)
        != 0
      || end != b64.data() + b64.size())
    return std::nullopt;
  text.resize(len);
  auto f = split_lines(text);
  if (f.size() != 10 || f[0] != "stowage-proof-v1")
    return std::nullopt;
  first_proof p;
  p.scope.session = f[1];
  p.scope.repository = f[2];
  p.scope.tag = f[3];
  p.scope.runtime = f[4];
  p.scope.target = f[5];
  try {
    std::size_t pos = 0;
    p.scope.seq = std::stoull(f[6], &pos);
    if (pos != f[6].size())
      return std::nullopt;
    p.scope.expires_ms = std::stoll(f[7], &pos);
    if (pos != f[7].size())
      return std::nullopt;
  } catch (const std::exception&) {
    return std::nullopt;
  }
  p.secret = f[8];
  p.signature = f[9];
  return p;
}

std::string_view verdict_text(verdict v) {
  switch (v) {
    case verdict::ok: return "ok";
    case verdict::unknown_session: return "no proof was issued for this session";
    case verdict::forged: return "the proof is not valid";
    case verdict::expired: return "the proof has expired";
    case verdict::replayed: return "the proof was already used";
    case verdict::wrong_scope: return "the proof does not cover this push";
  }
  return "unknown";
}

int verdict_http_status(verdict v) {
  switch (v) {
    case verdict::ok: return 200;
    case verdict::wrong_scope: return 403;
    default: return 401;
  }
}

verdict check_pair(const public_key& master_pk, const first_proof& first, const second_proof& second,
                   std::string_view repository, std::string_view runtime, std::string_view target,
                   std::int64_t now_ms) {
  if (!signature_valid(master_pk, second))
    return verdict::forged;
  if (first.scope != second.scope || first.signature != second.signature)
    return verdict::forged;
  auto hash = secret_hash_of(first.secret);
  if (hash.empty() || hash.size() != second.secret_hash.size()
      || sodium_memcmp(hash.data(), second.secret_hash.data(), hash.size()) != 0)
    return verdict::forged;
  if (second.scope.repository != repository || second.scope.runtime != runtime
      || second.scope.target != target)
    return verdict::wrong_scope;
  if (now_ms >= second.scope.expires_ms)
    return verdict::expired;
  return verdict::ok;
}

// ---- used_sessions ----------------------------------------------------------

struct used_sessions::impl {
  sqlite3* db = nullptr;
  std::mutex mtx;
  void exec(const char* sql) {
    char* err = nullptr;
    if (sqlite3_exec(db, sql, nullptr, nullptr, &err) != SQLITE_OK) {
      std::string msg = err ? err : "sqlite error";
      sqlite3_free(err);
      throw std::runtime_error("proof sessions: " + msg);
    }
  }
};

used_sessions::used_sessions(const std::filesystem::path& dir) : impl_(std::make_unique<impl>()) {
  std::filesystem::create_directories(dir);
  auto file = (dir / "proof_sessions.db").string();
  if (sqlite3_open(file.c_str(), &impl_->db) != SQLITE_OK)
    throw std::runtime_error("cannot open " + file);
  sqlite3_busy_timeout(impl_->db, 5000);
  impl_->exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
              "CREATE TABLE IF NOT EXISTS used_sessions(session TEXT PRIMARY KEY, used_ms INTEGER)");
}

used_sessions::~used_sessions() { sqlite3_close(impl_->db); }

bool used_sessions::consume(std::string_view session, std::int64_t now_ms) {
  std::lock_guard lock(impl_->mtx);
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(impl_->db, "INSERT OR IGNORE INTO used_sessions VALUES(?,?)", -1, &st, nullptr);
  sqlite3_bind_text(st, 1, session.data(), static_cast<int>(session.size()), SQLITE_TRANSIENT);
  sqlite3_bind_int64(st, 2, now_ms);
  auto rc = sqlite3_step(st);
  sqlite3_finalize(st);
  if (rc != SQLITE_DONE)
    throw std::runtime_error(std::string("proof sessions: ") + sqlite3_errmsg(impl_->db));
  return sqlite3_changes(impl_->db) == 1;
}

bool used_sessions::contains(std::string_view session) const {
  std::lock_guard lock(impl_->mtx);
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(impl_->db, "SELECT 1 FROM used_sessions WHERE session=?", -1, &st, nullptr);
  sqlite3_bind_text(st, 1, session.data(), static_cast<int>(session.size()), SQLITE_TRANSIENT);
  bool found = sqlite3_step(st) == SQLITE_ROW;
  sqlite3_finalize(st);
  return found;
}

// ---- proof_guard ------------------------------------------------------------

proof_guard::proof_guard(std::string self_name, public_key master_pk,
                         const std::filesystem::path& dir, clock_fn now)
  : self_(std::move(self_name)), master_pk_(master_pk), now_(std::move(now)), used_(dir) {}

verdict proof_guard::expect(const second_proof& p) {
  if (!signature_valid(master_pk_, p))
    return verdict::forged;
  if (p.scope.target != self_)
    return verdict::wrong_scope;
  std::lock_guard lock(mtx_);
  // Drop expired entries so a flood of unused sessions cannot grow the map.
  auto now = now_();
  for (auto i = expected_.begin(); i != expected_.end();)
    i = i->second.scope.expires_ms <= now ? expected_.erase(i) : std::next(i);
  expected_[p.scope.session] = p;
  return verdict::ok;
}

proof_guard::admission proof_guard::admit(const first_proof& first, std::string_view repository,
                                          std::string_view runtime) {
  std::lock_guard lock(mtx_);
  admission out;
  if (used_.contains(first.scope.session)) {
    out.result = verdict::replayed;
    return out;
  }
  auto i = expected_.find(first.scope.session);
  if (i == expected_.end()) {
    out.result = verdict::unknown_session;
    return out;
  }
  out.result = check_pair(master_pk_, first, i->second, repository, runtime, self_, now_());
  if (out.result != verdict::ok)
    return out;
  if (!used_.consume(first.scope.session, now_())) {
    out.result = verdict::replayed;
    return out;
  }
  out.scope = i->second.scope;
  admitted_[out.scope.session] = i->second;
  expected_.erase(i);
  return out;
}

verdict proof_guard::resume(const first_proof& first, std::string_view repository, std::string_view runtime) {
  std::lock_guard lock(mtx_);
  auto i = admitted_.find(first.scope.session);
  if (i == admitted_.end())
    return used_.contains(first.scope.session) ? verdict::replayed : verdict::unknown_session;
  return check_pair(master_pk_, first, i->second, repository, runtime, self_, now_());
}

void proof_guard::close(std::string_view session) {
  std::lock_guard lock(mtx_);
  if (auto i = admitted_.find(session); i != admitted_.end())
    admitted_.erase(i);
  if (auto i = names_.find(session); i != names_.end())
    names_.erase(i);
}

bool proof_guard::name(std::string_view session, std::string tag, std::uint64_t seq, std::string digest) {
  std::lock_guard lock(mtx_);
  const second_proof* held = nullptr;
  if (auto i = admitted_.find(session); i != admitted_.end())
    held = &i->second;
  else if (auto j = expected_.find(std::string(session)); j != expected_.end())
    held = &j->second;
  if (!held || !held->scope.tag.empty())
    return false;
  // Names of sessions that ended without a commit go with them.
  for (auto i = names_.begin(); i != names_.end();) {
    bool live = admitted_.contains(i->first) || expected_.contains(i->first);
    i = live ? std::next(i) : names_.erase(i);
  }
  names_[std::string(session)] = naming{std::move(tag), seq, std::move(digest)};
  return true;
}

std::optional<proof_guard::naming> proof_guard::named(std::string_view session) const {
  std::lock_guard lock(mtx_);
  auto i = admitted_.find(session);
  if (i == admitted_.end())
    return std::nullopt;
  if (!i->second.scope.tag.empty())
    return naming{i->second.scope.tag, i->second.scope.seq, {}};
  if (auto n = names_.find(session); n != names_.end())
    return n->second;
  return naming{};
}

std::optional<proof_scope> proof_guard::admitted(std::string_view session) const {
  std::lock_guard lock(mtx_);
  if (auto i = admitted_.find(session); i != admitted_.end())
    return i->second.scope;
  return std::nullopt;
}

} // namespace stowage::actors
