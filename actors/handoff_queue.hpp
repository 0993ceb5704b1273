// The master's durable handoff queue (DESIGN §3 push 8), the deletes data
// managers have still to apply, and per-tag sequence numbers, in one SQLite
// database in the master's directory. The image data itself is spooled in
// the master's registry_store next to it.
#pragma once

#include "actors/records.hpp"

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace stowage::actors {

class handoff_queue {
public:
  /// Opens (creating if needed) `dir`/handoffs.db. Throws std::runtime_error.
  explicit handoff_queue(const std::filesystem::path& dir);
  ~handoff_queue();
  handoff_queue(const handoff_queue&) = delete;
  handoff_queue& operator=(const handoff_queue&) = delete;

  /// Records that `h.node` still has to receive the image; idempotent.
  void add(const handoff_record& h);
  /// `add` for many, in one transaction (one sync however many there are).
  void add_all(const std::vector<handoff_record>& hs);
  void remove(const std::string& repository, const std::string& digest, const std::string& node);
  /// Counts one failed third test for every pending image of `node`.
  void count_attempt(const std::string& node);
  /// Counts one failed delivery of repository@digest to `node`.
  void count_attempt(const std::string& repository, const std::string& digest, const std::string& node);
  std::vector<handoff_record> all() const;
  std::vector<handoff_record> for_node(const std::string& node) const;

  /// Records deletes still to apply, in one transaction; idempotent. Pending
  /// deliveries of a deleted tag go on by digest alone, those of a deleted
  /// manifest are dropped.
  void add_removals(const std::vector<removal_record>& rs);
  /// `node` applied `r` (its node field is ignored).
  void remove_removal(const removal_record& r, const std::string& node);
  /// Drops every manifest removal of repository@digest and its mark: it
  /// was pushed again, or every node removed it long ago.
  void forget_manifest_removals(const std::string& repository, const std::string& digest);
  /// Every repository@digest deleted and not pushed again since.
  std::vector<std::pair<std::string, std::string>> deleted_images() const;
  /// Drops every delete `node` has still to apply (it left the cluster).
  /// The marks of the manifests among them are kept for good (kept_marks):
  /// the node, should it come back, may still hold them. Returns those.
  std::vector<std::pair<std::string, std::string>> drop_removals_of(const std::string& node);
  /// Marks that never expire, until the image is pushed again.
  std::vector<std::pair<std::string, std::string>> kept_marks() const;
  std::vector<removal_record> removals() const;
  std::vector<removal_record> removals_for(const std::string& node) const;

  /// The next sequence number for repository:tag, greater than `at_least` and
  /// than any number issued before (durable across restarts).
  std::uint64_t next_seq(const std::string& repository, const std::string& tag, std::uint64_t at_least);
  /// The highest number issued for any tag of `repository` (0: none).
  std::uint64_t highest_seq(const std::string& repository) const;

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace stowage::actors
