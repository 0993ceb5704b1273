#include "actors/decision_journal.hpp"

#include "actors/sqlite_stmt.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>

namespace stowage::actors {

namespace {

struct stmt : sqlite_stmt {
  stmt(sqlite3* d, const char* sql) : sqlite_stmt(d, sql, "decision journal") {}
};

/// Decisions written per transaction at most (the buffer's size).
constexpr std::size_t batch = 256;

std::string candidates_json(const std::vector<candidate_result>& cs) {
  auto a = nlohmann::json::array();
  for (const auto& c : cs)
    a.push_back({{"node", c.node}, {"arrival_us", c.arrival_us}, {"throughput_bps", c.throughput_bps}, {"ok", c.ok}});
  return a.dump();
}

std::vector<candidate_result> candidates_of(const std::string& text) {
  std::vector<candidate_result> out;
  auto a = nlohmann::json::parse(text, nullptr, false);
  if (!a.is_array())
    return out;
  for (const auto& c : a)
    out.push_back({c.value("node", ""), c.value("arrival_us", std::uint64_t{0}),
                   c.value("throughput_bps", std::uint64_t{0}), c.value("ok", false)});
  return out;
}

/// The id after the newest decision in the table.
std::uint64_t next_id_written(sqlite3* db) {
  stmt s(db, "SELECT COALESCE(MAX(id), 0) FROM decisions");
  s.step();
  return static_cast<std::uint64_t>(s.integer(0)) + 1;
}

} // namespace

struct decision_journal::impl {
  sqlite3* db = nullptr;
  std::size_t keep = 0;
  std::vector<decision> pending;
  std::uint64_t reserved = 1; // ids below may have been handed out (table reserved)
  std::uint64_t reserved_at_open = 1;

  void reserve_through(std::uint64_t id) {
    stmt s(db, "INSERT OR REPLACE INTO reserved VALUES(1, ?)");
    s.bind(1, static_cast<std::int64_t>(id));
    s.step();
    reserved = id;
  }
};

decision_journal::decision_journal(const std::filesystem::path& dir, std::size_t keep)
    : impl_(std::make_unique<impl>()) {
  impl_->keep = keep;
  impl_->db = open_sqlite(dir / "decisions.db",
                          "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
                          "CREATE TABLE IF NOT EXISTS decisions(id INTEGER PRIMARY KEY, kind TEXT, runtime TEXT,"
                          " reference TEXT, chosen TEXT, candidates TEXT);"
                          "CREATE TABLE IF NOT EXISTS reserved(one INTEGER PRIMARY KEY, below INTEGER);",
                          "decision journal");
  stmt s(impl_->db, "SELECT below FROM reserved WHERE one = 1");
  if (s.step())
    impl_->reserved = static_cast<std::uint64_t>(s.integer(0));
  impl_->reserved_at_open = impl_->reserved;
}

decision_journal::~decision_journal() {
  try {
    flush();
    // All written: a clean restart continues right after, but never below
    // what was reserved when this journal opened (ids a run killed before
    // it handed out and never wrote, when this run decided nothing).
    impl_->reserve_through(std::max(impl_->reserved_at_open, next_id_written(impl_->db)));
  } catch (const std::exception&) {
    // Closing anyway: at worst the last batch is lost, as after a crash.
  }
  sqlite3_close(impl_->db);
}

void decision_journal::append(const decision& d) {
  if (d.id >= impl_->reserved) // one small write per batch of ids, at once
    impl_->reserve_through(d.id + 1 + batch);
  impl_->pending.push_back(d);
  if (impl_->pending.size() >= batch)
    flush();
}

void decision_journal::flush() {
  if (impl_->pending.empty())
    return;
  auto rows = std::move(impl_->pending);
  impl_->pending.clear();
  in_transaction(impl_->db, "decision journal", [&] {
    stmt s(impl_->db, "INSERT OR REPLACE INTO decisions VALUES(?,?,?,?,?,?)");
    for (const auto& d : rows) {
      s.bind(1, static_cast<std::int64_t>(d.id)).bind(2, d.kind).bind(3, d.runtime).bind(4, d.reference);
      s.bind(5, d.chosen).bind(6, candidates_json(d.candidates));
      s.step();
      sqlite3_reset(s.st);
    }
    // The newest `keep` by count: ids skip ahead after a crash (reserved a
    // batch at a time), so an id range would keep fewer.
    stmt trim(impl_->db, "DELETE FROM decisions WHERE id <= (SELECT id FROM decisions ORDER BY id DESC LIMIT 1 OFFSET ?)");
    trim.bind(1, static_cast<std::int64_t>(impl_->keep));
    trim.step();
  });
}

std::vector<decision> decision_journal::load() {
  flush();
  stmt s(impl_->db, "SELECT id, kind, runtime, reference, chosen, candidates FROM decisions"
                    " ORDER BY id DESC LIMIT ?");
  s.bind(1, static_cast<std::int64_t>(impl_->keep));
  std::vector<decision> out;
  while (s.step())
    out.push_back({static_cast<std::uint64_t>(s.integer(0)), s.text(1), s.text(2), s.text(3),
                   candidates_of(s.text(5)), s.text(4)});
  return {out.rbegin(), out.rend()};
}

std::uint64_t decision_journal::next_id() {
  flush();
  return std::max(impl_->reserved, next_id_written(impl_->db));
}

} // namespace stowage::actors
