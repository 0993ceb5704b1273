#include "actors/handoff_queue.hpp"

#include "actors/sqlite_stmt.hpp"

#include <mutex>
#include <stdexcept>

namespace stowage::actors {

namespace {

struct stmt : sqlite_stmt {
  stmt(sqlite3* d, const char* sql) : sqlite_stmt(d, sql, "handoff queue") {}
};

} // namespace

struct handoff_queue::impl {
  sqlite3* db = nullptr;
  mutable std::mutex mtx;
  std::vector<handoff_record> select(const char* sql, const std::string* node) const {
    std::lock_guard lock(mtx);
    stmt s(db, sql);
    if (node)
      s.bind(1, *node);
    std::vector<handoff_record> out;
    while (s.step()) {
      handoff_record h;
      h.digest = s.text(0);
      h.repository = s.text(1);
      h.tag = s.text(2);
      h.seq = static_cast<std::uint64_t>(s.integer(3));
      h.node = s.text(4);
      h.attempts = static_cast<std::uint32_t>(s.integer(5));
      out.push_back(std::move(h));
    }
    return out;
  }
  /// (repository, digest) rows of `sql`.
  std::vector<std::pair<std::string, std::string>> select_marks(const char* sql) const {
    std::lock_guard lock(mtx);
    stmt s(db, sql);
    std::vector<std::pair<std::string, std::string>> out;
    while (s.step())
      out.emplace_back(s.text(0), s.text(1));
    return out;
  }
  std::vector<removal_record> select_removals(const std::string* node) const {
    std::lock_guard lock(mtx);
    stmt s(db, node ? "SELECT repository, tag, digest, seq, node FROM removals WHERE node=? ORDER BY repository, tag, seq"
                    : "SELECT repository, tag, digest, seq, node FROM removals ORDER BY node, repository, tag, seq");
    if (node)
      s.bind(1, *node);
    std::vector<removal_record> out;
    while (s.step())
      out.push_back({s.text(0), s.text(1), s.text(2), static_cast<std::uint64_t>(s.integer(3)), s.text(4)});
    return out;
  }
};

handoff_queue::handoff_queue(const std::filesystem::path& dir) : impl_(std::make_unique<impl>()) {
  impl_->db = open_sqlite(dir / "handoffs.db",
                          "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                          "CREATE TABLE IF NOT EXISTS handoffs(digest TEXT, repository TEXT, tag TEXT,"
                          " seq INTEGER, node TEXT, attempts INTEGER, PRIMARY KEY(repository, digest, node));"
                          "CREATE TABLE IF NOT EXISTS removals(repository TEXT, tag TEXT, digest TEXT,"
                          " seq INTEGER, node TEXT, PRIMARY KEY(repository, tag, digest, node));"
                          "CREATE TABLE IF NOT EXISTS tag_seqs(repository TEXT, tag TEXT, seq INTEGER,"
                          " PRIMARY KEY(repository, tag));"
                          "CREATE TABLE IF NOT EXISTS deleted_images(repository TEXT, digest TEXT,"
                          " PRIMARY KEY(repository, digest));"
                          "CREATE TABLE IF NOT EXISTS kept_marks(repository TEXT, digest TEXT,"
                          " PRIMARY KEY(repository, digest));",
                          "handoff queue");
}

handoff_queue::~handoff_queue() { sqlite3_close(impl_->db); }

namespace {

// One delivery per image and node brings one tag (set_tags brings the
// others): a tag and its number stay together, the newer number of the
// same tag wins, any tag wins over none, and a delivery by digest alone
// never displaces a tagged one. A tag with another tag's number would roll
// the tag back.
void insert(sqlite3* db, const handoff_record& h) {
  stmt s(db, "INSERT INTO handoffs VALUES(?,?,?,?,?,0) ON CONFLICT(repository, digest, node)"
             " DO UPDATE SET tag=excluded.tag, seq=excluded.seq WHERE excluded.tag <> ''"
             " AND (excluded.tag <> handoffs.tag OR excluded.seq > handoffs.seq)");
  s.bind(1, h.digest).bind(2, h.repository).bind(3, h.tag).bind(4, static_cast<std::int64_t>(h.seq)).bind(5, h.node);
  s.step();
}

// A delete also withdraws what it makes stale from the pending deliveries,
// in the same transaction: those of a deleted tag go on by digest alone (a
// master restarted later must not learn the tag back from them), those of a
// deleted manifest are dropped, and the manifest is marked deleted for good
// (until pushed again), so that a copy that turns up later is removed.
void insert(sqlite3* db, const removal_record& r) {
  stmt s(db, "INSERT INTO removals VALUES(?,?,?,?,?) ON CONFLICT(repository, tag, digest, node)"
             " DO UPDATE SET seq=max(seq, excluded.seq)");
  s.bind(1, r.repository).bind(2, r.tag).bind(3, r.digest).bind(4, static_cast<std::int64_t>(r.seq)).bind(5, r.node);
  s.step();
  if (!r.tag.empty()) {
    stmt u(db, "UPDATE handoffs SET tag='', seq=0 WHERE repository=? AND tag=? AND seq<?");
    u.bind(1, r.repository).bind(2, r.tag).bind(3, static_cast<std::int64_t>(r.seq));
    u.step();
  } else {
    stmt d(db, "DELETE FROM handoffs WHERE repository=? AND digest=?");
    d.bind(1, r.repository).bind(2, r.digest);
    d.step();
    stmt m(db, "INSERT OR IGNORE INTO deleted_images VALUES(?,?)");
    m.bind(1, r.repository).bind(2, r.digest);
    m.step();
  }
}

template <class Record>
void insert_all(sqlite3* db, const std::vector<Record>& rs) {
  if (rs.empty())
    return;
  in_transaction(db, "handoff queue", [&] {
    for (const auto& r : rs)
      insert(db, r);
  });
}

} // namespace

void handoff_queue::add(const handoff_record& h) {
  std::lock_guard lock(impl_->mtx);
  insert(impl_->db, h);
}

void handoff_queue::add_all(const std::vector<handoff_record>& hs) {
  std::lock_guard lock(impl_->mtx);
  insert_all(impl_->db, hs);
}

void handoff_queue::add_removals(const std::vector<removal_record>& rs) {
  std::lock_guard lock(impl_->mtx);
  insert_all(impl_->db, rs);
}

void handoff_queue::remove_removal(const removal_record& r, const std::string& node) {
  std::lock_guard lock(impl_->mtx);
  // Only the record as it was sent: a newer delete of the same tag stays.
  stmt s(impl_->db, "DELETE FROM removals WHERE repository=? AND tag=? AND digest=? AND node=? AND seq<=?");
  s.bind(1, r.repository).bind(2, r.tag).bind(3, r.digest).bind(4, node).bind(5, static_cast<std::int64_t>(r.seq));
  s.step();
}

void handoff_queue::forget_manifest_removals(const std::string& repository, const std::string& digest) {
  std::lock_guard lock(impl_->mtx);
  in_transaction(impl_->db, "handoff queue", [&] {
    stmt s(impl_->db, "DELETE FROM removals WHERE repository=? AND tag='' AND digest=?");
    s.bind(1, repository).bind(2, digest);
    s.step();
    stmt m(impl_->db, "DELETE FROM deleted_images WHERE repository=? AND digest=?");
    m.bind(1, repository).bind(2, digest);
    m.step();
    stmt k(impl_->db, "DELETE FROM kept_marks WHERE repository=? AND digest=?");
    k.bind(1, repository).bind(2, digest);
    k.step();
  });
}

std::vector<std::pair<std::string, std::string>> handoff_queue::deleted_images() const {
  return impl_->select_marks("SELECT repository, digest FROM deleted_images ORDER BY repository, digest");
}

std::vector<std::pair<std::string, std::string>> handoff_queue::drop_removals_of(const std::string& node) {
  std::lock_guard lock(impl_->mtx);
  std::vector<std::pair<std::string, std::string>> kept;
  in_transaction(impl_->db, "handoff queue", [&] {
    stmt k(impl_->db, "SELECT repository, digest FROM removals WHERE node=? AND tag=''");
    k.bind(1, node);
    while (k.step())
      kept.emplace_back(k.text(0), k.text(1));
    stmt m(impl_->db, "INSERT OR IGNORE INTO kept_marks SELECT repository, digest FROM removals WHERE node=? AND tag=''");
    m.bind(1, node);
    m.step();
    stmt s(impl_->db, "DELETE FROM removals WHERE node=?");
    s.bind(1, node);
    s.step();
  });
  return kept;
}

std::vector<std::pair<std::string, std::string>> handoff_queue::kept_marks() const {
  return impl_->select_marks("SELECT repository, digest FROM kept_marks ORDER BY repository, digest");
}

std::vector<removal_record> handoff_queue::removals() const { return impl_->select_removals(nullptr); }

std::vector<removal_record> handoff_queue::removals_for(const std::string& node) const {
  return impl_->select_removals(&node);
}

void handoff_queue::remove(const std::string& repository, const std::string& digest, const std::string& node) {
  std::lock_guard lock(impl_->mtx);
  stmt s(impl_->db, "DELETE FROM handoffs WHERE repository=? AND digest=? AND node=?");
  s.bind(1, repository).bind(2, digest).bind(3, node);
  s.step();
}

void handoff_queue::count_attempt(const std::string& repository, const std::string& digest,
                                  const std::string& node) {
  std::lock_guard lock(impl_->mtx);
  stmt s(impl_->db, "UPDATE handoffs SET attempts=attempts+1 WHERE repository=? AND digest=? AND node=?");
  s.bind(1, repository).bind(2, digest).bind(3, node);
  s.step();
}

void handoff_queue::count_attempt(const std::string& node) {
  std::lock_guard lock(impl_->mtx);
  stmt s(impl_->db, "UPDATE handoffs SET attempts=attempts+1 WHERE node=?");
  s.bind(1, node);
  s.step();
}

// A pending delivery whose tag is behind the newest number issued for that
// tag (deleted, or moved to another image, since) goes by digest alone. The
// rows are what a restarted master learns tags from, and a handoff recorded
// after a delete (a peer that failed later) must not bring the tag back;
// insert(removal_record) rewrites only the rows already there.
#define STOWAGE_HANDOFF_COLUMNS                                                                        \
  "SELECT h.digest, h.repository, CASE WHEN t.seq > h.seq THEN '' ELSE h.tag END,"                      \
  " CASE WHEN t.seq > h.seq THEN 0 ELSE h.seq END, h.node, h.attempts"                                 \
  " FROM handoffs h LEFT JOIN tag_seqs t ON t.repository = h.repository AND t.tag = h.tag"

std::vector<handoff_record> handoff_queue::all() const {
  return impl_->select(STOWAGE_HANDOFF_COLUMNS " ORDER BY h.node, h.repository, h.seq", nullptr);
}

std::vector<handoff_record> handoff_queue::for_node(const std::string& node) const {
  return impl_->select(STOWAGE_HANDOFF_COLUMNS " WHERE h.node=? ORDER BY h.repository, h.seq", &node);
}

#undef STOWAGE_HANDOFF_COLUMNS

std::uint64_t handoff_queue::next_seq(const std::string& repository, const std::string& tag,
                                      std::uint64_t at_least) {
  std::lock_guard lock(impl_->mtx);
  std::uint64_t current = 0;
  {
    stmt s(impl_->db, "SELECT seq FROM tag_seqs WHERE repository=? AND tag=?");
    s.bind(1, repository).bind(2, tag);
    if (s.step())
      current = static_cast<std::uint64_t>(s.integer(0));
  }
  auto next = std::max(current, at_least) + 1;
  stmt s(impl_->db, "INSERT INTO tag_seqs VALUES(?,?,?) ON CONFLICT(repository, tag) DO UPDATE SET seq=excluded.seq");
  s.bind(1, repository).bind(2, tag).bind(3, static_cast<std::int64_t>(next));
  s.step();
  return next;
}

std::uint64_t handoff_queue::highest_seq(const std::string& repository) const {
  std::lock_guard lock(impl_->mtx);
  stmt s(impl_->db, "SELECT max(seq) FROM tag_seqs WHERE repository=?");
  s.bind(1, repository);
  return s.step() ? static_cast<std::uint64_t>(s.integer(0)) : 0;
}

} // namespace stowage::actors
