// The master's decisions on disk (`decisions.db` in its directory, SQLite),
// so /api/v1/decisions survives a restart and decision ids keep counting up
// instead of starting again at 1.
//
// A log, not a guarantee: appends are buffered and written in one
// transaction per batch (full, flush(), or destruction) with
// synchronous=NORMAL, so a crash may lose the last few entries, never the
// file. One SQLite transaction per decision halved the master's decision rate.
// Their ids are not lost: the journal reserves ids a batch ahead, written at
// once, so a master restarted after kill -9 never hands out an id again that
// runtimes, logs and /api/v1/decisions have seen.
#pragma once

#include "actors/records.hpp"

#include <cstddef>
#include <filesystem>
#include <memory>
#include <vector>

namespace stowage::actors {

class decision_journal {
public:
  /// Opens (creating if needed) `dir`/decisions.db, keeping at most `keep`
  /// decisions (older ones are dropped as new ones come). Throws std::runtime_error.
  decision_journal(const std::filesystem::path& dir, std::size_t keep);
  ~decision_journal();
  decision_journal(const decision_journal&) = delete;
  decision_journal& operator=(const decision_journal&) = delete;

  /// Appends `d` (its id already assigned); written with the next batch.
  void append(const decision& d);
  /// Writes the buffered decisions now (the master does journal_delay after
  /// the first of a batch).
  void flush();
  /// The newest decisions kept (buffered ones included), oldest first.
  std::vector<decision> load();
  /// An id above every id appended to this journal, before any crash too.
  std::uint64_t next_id();

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace stowage::actors
