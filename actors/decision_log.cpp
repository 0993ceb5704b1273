#include "actors/decision_log.hpp"

namespace stowage::actors {

std::uint64_t decision_log::record(decision d) {
  d.id = next_id_++;
  entries_.push_front(std::move(d));
  while (entries_.size() > capacity_)
    entries_.pop_back();
  return entries_.front().id;
}

std::vector<decision> decision_log::latest(std::size_t limit) const {
  auto n = limit == 0 ? entries_.size() : std::min(limit, entries_.size());
  return {entries_.begin(), entries_.begin() + static_cast<std::ptrdiff_t>(n)};
}

const decision* decision_log::find(std::uint64_t id) const {
  for (const auto& d : entries_)
    if (d.id == id)
      return &d;
  return nullptr;
}

} // namespace stowage::actors
