// A prepared SQLite statement, finalized on scope exit: the master's small
// databases (handoffs, decisions) use it. Errors throw std::runtime_error
// prefixed with what the database is for.
#pragma once

#include <sqlite3.h>

#include <cstdint>
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

} // namespace stowage::actors
