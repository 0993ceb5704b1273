#include "store/metadata_db.hpp"

#include "store/registry_store.hpp"

#include <sqlite3.h>

namespace stowage::store {

namespace {

// Version 1. Foreign keys keep links, manifests and tags pointing at rows
// that exist; the store deletes dependants explicitly before their targets.
constexpr const char* schema = R"sql(
CREATE TABLE IF NOT EXISTS repositories(
  name TEXT PRIMARY KEY
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS blobs(
  digest TEXT PRIMARY KEY,
  size INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS blob_links(
  repo TEXT NOT NULL REFERENCES repositories(name),
  digest TEXT NOT NULL REFERENCES blobs(digest),
  PRIMARY KEY(repo, digest)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS blob_links_by_digest ON blob_links(digest);
CREATE TABLE IF NOT EXISTS manifests(
  repo TEXT NOT NULL REFERENCES repositories(name),
  digest TEXT NOT NULL REFERENCES blobs(digest),
  media_type TEXT NOT NULL,
  size INTEGER NOT NULL,
  subject TEXT,
  artifact_type TEXT NOT NULL DEFAULT '',
  annotations TEXT NOT NULL DEFAULT '{}',
  PRIMARY KEY(repo, digest)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS manifests_by_subject ON manifests(repo, subject);
CREATE INDEX IF NOT EXISTS manifests_by_digest ON manifests(digest);
CREATE TABLE IF NOT EXISTS tags(
  repo TEXT NOT NULL REFERENCES repositories(name),
  tag TEXT NOT NULL,
  digest TEXT,
  seq INTEGER NOT NULL,
  PRIMARY KEY(repo, tag),
  FOREIGN KEY(repo, digest) REFERENCES manifests(repo, digest)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS tags_by_digest ON tags(repo, digest);
CREATE TABLE IF NOT EXISTS uploads(
  id TEXT PRIMARY KEY,
  repo TEXT NOT NULL REFERENCES repositories(name),
  size INTEGER NOT NULL,
  updated_ms INTEGER NOT NULL
) WITHOUT ROWID;
PRAGMA user_version = 1;
)sql";

} // namespace

/// A prepared statement, reused across calls.
class metadata_db::stmt {
public:
  stmt(sqlite3* db, const char* sql) : db_(db) {
    if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s_, nullptr) != SQLITE_OK)
      throw store_error(std::string("sqlite prepare: ") + sqlite3_errmsg(db) + " in " + sql);
  }
  ~stmt() { sqlite3_finalize(s_); }

  stmt& bind(int i, std::string_view v) {
    // A default string_view has a null data(): SQLite would bind NULL, not "".
    check(sqlite3_bind_text(s_, i, v.data() ? v.data() : "", static_cast<int>(v.size()), SQLITE_TRANSIENT));
    return *this;
  }
  stmt& bind(int i, std::int64_t v) {
    check(sqlite3_bind_int64(s_, i, v));
    return *this;
  }
  stmt& bind_u(int i, std::uint64_t v) { return bind(i, static_cast<std::int64_t>(v)); }
  stmt& bind_null(int i) {
    check(sqlite3_bind_null(s_, i));
    return *this;
  }
  /// True while rows come; false when done.
  bool step() {
    int rc = sqlite3_step(s_);
    if (rc == SQLITE_ROW)
      return true;
    if (rc == SQLITE_DONE)
      return false;
    std::string msg = sqlite3_errmsg(db_);
    reset();
    throw store_error("sqlite step: " + msg);
  }
  /// Runs a statement that returns no rows.
  void run() {
    while (step()) {
    }
    reset();
  }
  void reset() {
    sqlite3_reset(s_);
    sqlite3_clear_bindings(s_);
  }
  std::string text(int c) const {
    auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s_, c));
    return p ? std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(s_, c))) : std::string();
  }
  bool is_null(int c) const { return sqlite3_column_type(s_, c) == SQLITE_NULL; }
  std::int64_t i64(int c) const { return sqlite3_column_int64(s_, c); }
  std::uint64_t u64(int c) const { return static_cast<std::uint64_t>(i64(c)); }

private:
  void check(int rc) {
    if (rc != SQLITE_OK)
      throw store_error(std::string("sqlite bind: ") + sqlite3_errmsg(db_));
  }
  sqlite3* db_;
  sqlite3_stmt* s_ = nullptr;
};

namespace {
/// Resets a statement when a query's scope ends, however it ends.
template <class S>
struct resetter {
  S& s;
  ~resetter() { s.reset(); }
};
template <class S>
resetter(S&) -> resetter<S>;
} // namespace

metadata_db::metadata_db(const std::filesystem::path& file, access mode) {
  int flags = mode == access::read_write ? SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE : SQLITE_OPEN_READONLY;
  int rc = sqlite3_open_v2(file.c_str(), &db_, flags | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db_ ? sqlite3_errmsg(db_) : "out of memory";
    sqlite3_close(db_);
    db_ = nullptr;
    throw store_error("sqlite open " + file.string() + ": " + msg);
  }
  try {
    sqlite3_busy_timeout(db_, 5000);
    if (mode == access::read_write) {
      exec("PRAGMA journal_mode = WAL");
      exec("PRAGMA synchronous = FULL");
      exec("PRAGMA foreign_keys = ON");
      exec(schema);
    }
  } catch (...) {
    sqlite3_close(db_);
    db_ = nullptr;
    throw;
  }
}

metadata_db::~metadata_db() {
  cache_.clear(); // statements must be finalized before the connection closes
  if (db_)
    sqlite3_close(db_);
}

void metadata_db::fail(const char* what) {
  throw store_error(std::string("sqlite ") + what + ": " + sqlite3_errmsg(db_));
}

void metadata_db::exec(const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "unknown error";
    sqlite3_free(err);
    throw store_error("sqlite exec: " + msg);
  }
}

metadata_db::stmt& metadata_db::prepare(const char* sql) {
  auto& slot = cache_[sql];
  if (!slot)
    slot = std::make_unique<stmt>(db_, sql);
  return *slot;
}

int metadata_db::changes() { return sqlite3_changes(db_); }

metadata_db::transaction::transaction(metadata_db& db) : db_(db) { db_.exec("BEGIN IMMEDIATE"); }
metadata_db::transaction::~transaction() {
  if (!done_)
    sqlite3_exec(db_.db_, "ROLLBACK", nullptr, nullptr, nullptr);
}
void metadata_db::transaction::commit() {
  db_.exec("COMMIT");
  done_ = true;
}

oci::digest metadata_db::parse_digest(const std::string& s) {
  auto colon = s.find(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == s.size())
    throw store_error("corrupt digest in metadata: " + s);
  return {s.substr(0, colon), s.substr(colon + 1)};
}

void metadata_db::set_durable(bool full) {
  if (synced_)
    exec(full ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL");
}

void metadata_db::never_sync() {
  exec("PRAGMA synchronous = OFF");
  synced_ = false;
}

// ---- repositories ---------------------------------------------------------

void metadata_db::ensure_repository(std::string_view repo) {
  prepare("INSERT OR IGNORE INTO repositories(name) VALUES(?)").bind(1, repo).run();
}

bool metadata_db::repository_exists(std::string_view repo) {
  auto& s = prepare("SELECT 1 FROM repositories WHERE name = ?");
  resetter r{s};
  return s.bind(1, repo).step();
}

std::vector<std::string> metadata_db::repositories() {
  // Those holding a blob or a manifest: a repository whose only uploads
  // failed or are still running is not listed (as in distribution, which
  // lists a repository once a blob is linked into it).
  auto& s = prepare("SELECT name FROM repositories r WHERE EXISTS (SELECT 1 FROM blob_links WHERE repo = r.name)"
                    " OR EXISTS (SELECT 1 FROM manifests WHERE repo = r.name) ORDER BY name");
  resetter r{s};
  std::vector<std::string> out;
  while (s.step())
    out.push_back(s.text(0));
  return out;
}

// ---- blobs ----------------------------------------------------------------

std::optional<std::uint64_t> metadata_db::blob_size(std::string_view digest) {
  auto& s = prepare("SELECT size FROM blobs WHERE digest = ?");
  resetter r{s};
  if (!s.bind(1, digest).step())
    return std::nullopt;
  return s.u64(0);
}

std::optional<std::uint64_t> metadata_db::linked_blob_size(std::string_view repo,
                                                           std::string_view digest) {
  auto& s = prepare("SELECT b.size FROM blob_links l JOIN blobs b ON b.digest = l.digest "
                    "WHERE l.repo = ? AND l.digest = ?");
  resetter r{s};
  if (!s.bind(1, repo).bind(2, digest).step())
    return std::nullopt;
  return s.u64(0);
}

void metadata_db::insert_blob(std::string_view digest, std::uint64_t size) {
  prepare("INSERT OR IGNORE INTO blobs(digest, size) VALUES(?, ?)").bind(1, digest).bind_u(2, size).run();
}

void metadata_db::link_blob(std::string_view repo, std::string_view digest) {
  prepare("INSERT OR IGNORE INTO blob_links(repo, digest) VALUES(?, ?)").bind(1, repo).bind(2, digest).run();
}

bool metadata_db::unlink_blob(std::string_view repo, std::string_view digest) {
  prepare("DELETE FROM blob_links WHERE repo = ? AND digest = ?").bind(1, repo).bind(2, digest).run();
  return changes() > 0;
}

bool metadata_db::blob_referenced(std::string_view digest) {
  auto& s = prepare("SELECT EXISTS(SELECT 1 FROM blob_links WHERE digest = ?1) "
                    "OR EXISTS(SELECT 1 FROM manifests WHERE digest = ?1)");
  resetter r{s};
  s.bind(1, digest).step();
  return s.i64(0) != 0;
}

void metadata_db::delete_blob(std::string_view digest) {
  prepare("DELETE FROM blobs WHERE digest = ?").bind(1, digest).run();
}

void metadata_db::purge_blob(std::string_view digest) {
  prepare("UPDATE tags SET digest = NULL WHERE digest = ?").bind(1, digest).run();
  prepare("DELETE FROM manifests WHERE digest = ?").bind(1, digest).run();
  prepare("DELETE FROM blob_links WHERE digest = ?").bind(1, digest).run();
  delete_blob(digest);
}

std::uint64_t metadata_db::used_bytes() {
  auto& s = prepare("SELECT (SELECT COALESCE(SUM(size), 0) FROM blobs) + (SELECT COALESCE(SUM(size), 0) FROM uploads)");
  resetter r{s};
  s.step();
  return s.u64(0);
}

std::map<std::string, std::uint64_t> metadata_db::all_blobs() {
  auto& s = prepare("SELECT digest, size FROM blobs");
  resetter r{s};
  std::map<std::string, std::uint64_t> out;
  while (s.step())
    out.emplace(s.text(0), s.u64(1));
  return out;
}

// ---- upload sessions ------------------------------------------------------

void metadata_db::insert_upload(std::string_view id, std::string_view repo, std::int64_t now_ms) {
  prepare("INSERT INTO uploads(id, repo, size, updated_ms) VALUES(?, ?, 0, ?)")
      .bind(1, id).bind(2, repo).bind(3, now_ms).run();
}

std::optional<metadata_db::upload_row> metadata_db::upload(std::string_view id) {
  auto& s = prepare("SELECT repo, size, updated_ms FROM uploads WHERE id = ?");
  resetter r{s};
  if (!s.bind(1, id).step())
    return std::nullopt;
  return upload_row{std::string(id), s.text(0), s.u64(1), s.i64(2)};
}

bool metadata_db::set_upload_size(std::string_view id, std::uint64_t size, std::int64_t now_ms) {
  prepare("UPDATE uploads SET size = ?, updated_ms = ? WHERE id = ?")
      .bind_u(1, size).bind(2, now_ms).bind(3, id).run();
  return changes() > 0;
}

bool metadata_db::delete_upload(std::string_view id) {
  prepare("DELETE FROM uploads WHERE id = ?").bind(1, id).run();
  return changes() > 0;
}

std::vector<metadata_db::upload_row> metadata_db::all_uploads() {
  auto& s = prepare("SELECT id, repo, size, updated_ms FROM uploads");
  resetter r{s};
  std::vector<upload_row> out;
  while (s.step())
    out.push_back({s.text(0), s.text(1), s.u64(2), s.i64(3)});
  return out;
}

// ---- manifests ------------------------------------------------------------

void metadata_db::upsert_manifest(std::string_view repo, const manifest_row& m) {
  auto& s = prepare(
      "INSERT INTO manifests(repo, digest, media_type, size, subject, artifact_type, annotations) "
      "VALUES(?, ?, ?, ?, ?, ?, ?) ON CONFLICT(repo, digest) DO UPDATE SET "
      "media_type = excluded.media_type, size = excluded.size, subject = excluded.subject, "
      "artifact_type = excluded.artifact_type, annotations = excluded.annotations");
  s.bind(1, repo).bind(2, m.digest).bind(3, m.media_type).bind_u(4, m.size);
  if (m.subject.empty())
    s.bind_null(5);
  else
    s.bind(5, m.subject);
  s.bind(6, m.artifact_type).bind(7, m.annotations.empty() ? std::string_view("{}") : m.annotations);
  s.run();
}

namespace {
constexpr const char* manifest_columns =
    "m.digest, m.media_type, m.size, COALESCE(m.subject, ''), m.artifact_type, m.annotations";
template <class S>
metadata_db::manifest_row read_manifest_row(const S& s) {
  return {s.text(0), s.text(1), s.u64(2), s.text(3), s.text(4), s.text(5)};
}
} // namespace

std::optional<metadata_db::manifest_row> metadata_db::manifest_by_digest(std::string_view repo,
                                                                         std::string_view digest) {
  static const std::string sql =
      std::string("SELECT ") + manifest_columns + " FROM manifests m WHERE m.repo = ? AND m.digest = ?";
  auto& s = prepare(sql.c_str());
  resetter r{s};
  if (!s.bind(1, repo).bind(2, digest).step())
    return std::nullopt;
  return read_manifest_row(s);
}

std::vector<std::string> metadata_db::texts_of_repo(const char* sql, std::string_view repo) {
  auto& s = prepare(sql);
  resetter r{s};
  s.bind(1, repo);
  std::vector<std::string> out;
  while (s.step())
    out.push_back(s.text(0));
  return out;
}

std::vector<std::string> metadata_db::linked_blobs(std::string_view repo) {
  return texts_of_repo("SELECT digest FROM blob_links WHERE repo = ? ORDER BY digest", repo);
}

std::vector<std::string> metadata_db::manifest_digests(std::string_view repo) {
  return texts_of_repo("SELECT digest FROM manifests WHERE repo = ? ORDER BY digest", repo);
}

std::optional<metadata_db::manifest_row> metadata_db::manifest_by_tag(std::string_view repo,
                                                                      std::string_view tag) {
  static const std::string sql = std::string("SELECT ") + manifest_columns +
                                 " FROM tags t JOIN manifests m ON m.repo = t.repo AND m.digest = t.digest"
                                 " WHERE t.repo = ? AND t.tag = ?";
  auto& s = prepare(sql.c_str());
  resetter r{s};
  if (!s.bind(1, repo).bind(2, tag).step())
    return std::nullopt;
  return read_manifest_row(s);
}

bool metadata_db::delete_manifest(std::string_view repo, std::string_view digest) {
  prepare("UPDATE tags SET digest = NULL WHERE repo = ? AND digest = ?").bind(1, repo).bind(2, digest).run();
  prepare("DELETE FROM manifests WHERE repo = ? AND digest = ?").bind(1, repo).bind(2, digest).run();
  return changes() > 0;
}

std::vector<metadata_db::manifest_row> metadata_db::referrers(std::string_view repo,
                                                              std::string_view subject,
                                                              std::string_view artifact_type) {
  static const std::string sql = std::string("SELECT ") + manifest_columns +
                                 " FROM manifests m WHERE m.repo = ?1 AND m.subject = ?2"
                                 " AND (?3 = '' OR m.artifact_type = ?3) ORDER BY m.digest";
  auto& s = prepare(sql.c_str());
  resetter r{s};
  s.bind(1, repo).bind(2, subject).bind(3, artifact_type);
  std::vector<manifest_row> out;
  while (s.step())
    out.push_back(read_manifest_row(s));
  return out;
}

// ---- tags -----------------------------------------------------------------

std::optional<metadata_db::tag_row> metadata_db::tag(std::string_view repo, std::string_view tag) {
  auto& s = prepare("SELECT digest, seq FROM tags WHERE repo = ? AND tag = ?");
  resetter r{s};
  if (!s.bind(1, repo).bind(2, tag).step())
    return std::nullopt;
  tag_row row;
  if (!s.is_null(0))
    row.digest = s.text(0);
  row.seq = s.u64(1);
  return row;
}

void metadata_db::set_tag(std::string_view repo, std::string_view tag, std::string_view digest,
                          std::uint64_t seq) {
  prepare("INSERT INTO tags(repo, tag, digest, seq) VALUES(?, ?, ?, ?) "
          "ON CONFLICT(repo, tag) DO UPDATE SET digest = excluded.digest, seq = excluded.seq")
      .bind(1, repo).bind(2, tag).bind(3, digest).bind_u(4, seq).run();
}

bool metadata_db::delete_tag(std::string_view repo, std::string_view tag, std::optional<std::uint64_t> seq) {
  if (!seq) {
    prepare("UPDATE tags SET digest = NULL WHERE repo = ? AND tag = ? AND digest IS NOT NULL")
        .bind(1, repo).bind(2, tag).run();
    return changes() > 0;
  }
  auto before = this->tag(repo, tag);
  if (before && before->seq >= *seq)
    return false;
  ensure_repository(repo); // the row must stay even where the tag never was
  prepare("INSERT INTO tags(repo, tag, digest, seq) VALUES(?, ?, NULL, ?) "
          "ON CONFLICT(repo, tag) DO UPDATE SET digest = NULL, seq = excluded.seq")
      .bind(1, repo).bind(2, tag).bind_u(3, *seq).run();
  return before && before->digest;
}

std::vector<std::string> metadata_db::tags(std::string_view repo, std::optional<std::size_t> n,
                                           std::string_view last) {
  auto& s = prepare("SELECT tag FROM tags WHERE repo = ? AND digest IS NOT NULL AND tag > ? "
                    "ORDER BY tag LIMIT ?");
  resetter r{s};
  s.bind(1, repo).bind(2, last).bind(3, n ? static_cast<std::int64_t>(*n) : std::int64_t{-1});
  std::vector<std::string> out;
  while (s.step())
    out.push_back(s.text(0));
  return out;
}

} // namespace stowage::store
