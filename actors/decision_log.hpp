// The master's decision log: newest first, bounded. Pure.
#pragma once

#include "actors/records.hpp"

#include <cstddef>
#include <deque>
#include <vector>

namespace stowage::actors {

class decision_log {
public:
  explicit decision_log(std::size_t capacity = 1000) : capacity_(capacity) {}
  /// Assigns the next id, stores the decision and returns the id.
  std::uint64_t record(decision d);
  /// Starts from decisions kept before (oldest first): ids continue after
  /// them, and from `next_id` at least (ids handed out but not kept).
  void restore(const std::vector<decision>& oldest_first, std::uint64_t next_id = 1);
  /// Newest first, at most `limit` (0 = all).
  std::vector<decision> latest(std::size_t limit = 0) const;
  const decision* find(std::uint64_t id) const;
  /// Sets the reference of decision `id` (a push opened ahead of its
  /// manifest learns its tag later); the amended decision, if still kept.
  const decision* set_reference(std::uint64_t id, std::string reference);
  /// Sets the node decision `id` chose (a push whose first choice was down
  /// or refused goes to the next in its ranking); the amended decision.
  const decision* set_chosen(std::uint64_t id, std::string node);
  std::size_t size() const { return entries_.size(); }

private:
  std::size_t capacity_;
  std::uint64_t next_id_ = 1;
  std::deque<decision> entries_; // front = newest
};

} // namespace stowage::actors
