// The master's small SQLite databases (handoffs, decisions): opening one with
// its schema, a prepared statement finalized on scope exit, and a write
// transaction around a function. Errors throw std::runtime_error prefixed
// with what the database is for.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <filesystem>
#include <stdexcept>
#include <string>

namespace stowage::actors {

struct sqlite_stmt {
  sqlite3* db;
  const char* what;
  sqlite3_stmt* st = nullptr;
  sqlite_stmt(sqlite3* d, const char* sql, const char* what_for) : db(d), what(what_for) {
    if (sqlite3_prepare_v2(db, sql, -1, &st, nullptr) != SQLITE_OK)
      fail();
  }
  ~sqlite_stmt() { sqlite3_finalize(st); }
  sqlite_stmt(const sqlite_stmt&) = delete;
  sqlite_stmt& operator=(const sqlite_stmt&) = delete;
  sqlite_stmt& bind(int i, const std::string& s) {
    sqlite3_bind_text(st, i, s.data(), static_cast<int>(s.size()), SQLITE_TRANSIENT);
    return *this;
  }
  sqlite_stmt& bind(int i, std::int64_t v) {
    sqlite3_bind_int64(st, i, v);
    return *this;
  }
  bool step() {
    auto rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
      return true;
    if (rc != SQLITE_DONE)
      fail();
    return false;
  }
  std::string text(int i) {
    auto p = sqlite3_column_text(st, i);
    return p ? reinterpret_cast<const char*>(p) : "";
  }
  std::int64_t integer(int i) { return sqlite3_column_int64(st, i); }
  [[noreturn]] void fail() { throw std::runtime_error(std::string(what) + ": " + sqlite3_errmsg(db)); }
};

/// Runs `body` as one write transaction: committed if it returns, rolled
/// back (and the exception passed on) if it throws.
template <class F>
void in_transaction(sqlite3* db, const char* what_for, F&& body) {
  sqlite_stmt(db, "BEGIN IMMEDIATE", what_for).step();
  try {
    body();
    sqlite_stmt(db, "COMMIT", what_for).step();
  } catch (...) {
    sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
    throw;
  }
}

/// Opens (creating `file` and its directory if needed) and runs `schema`
/// (pragmas, CREATE TABLE IF NOT EXISTS…). The caller closes the handle.
inline sqlite3* open_sqlite(const std::filesystem::path& file, const char* schema, const char* what_for) {
  std::filesystem::create_directories(file.parent_path());
  sqlite3* db = nullptr;
  if (sqlite3_open(file.c_str(), &db) != SQLITE_OK) {
    sqlite3_close(db);
    throw std::runtime_error(std::string(what_for) + ": cannot open " + file.string());
  }
  sqlite3_busy_timeout(db, 5000);
  char* err = nullptr;
  if (sqlite3_exec(db, schema, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "sqlite error";
    sqlite3_free(err);
    sqlite3_close(db);
    throw std::runtime_error(std::string(what_for) + ": " + msg);
  }
  return db;
}

} // namespace stowage::actors
