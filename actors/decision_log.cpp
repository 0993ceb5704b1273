#include "actors/decision_log.hpp"

#include <algorithm>

namespace stowage::actors {

std::uint64_t decision_log::record(decision d) {
  d.id = next_id_++;
  entries_.push_front(std::move(d));
  while (entries_.size() > capacity_)
    entries_.pop_back();
  return entries_.front().id;
}

void decision_log::restore(const std::vector<decision>& oldest_first, std::uint64_t next_id) {
  entries_.clear();
  next_id_ = std::max(next_id_, next_id);
  for (const auto& d : oldest_first) {
    entries_.push_front(d);
    next_id_ = std::max(next_id_, d.id + 1);
  }
  while (entries_.size() > capacity_)
    entries_.pop_back();
}

std::vector<decision> decision_log::latest(std::size_t limit) const {
  auto n = limit == 0 ? entries_.size() : std::min(limit, entries_.size());
  return {entries_.begin(), entries_.begin() + static_cast<std::ptrdiff_t>(n)};
}

namespace {

/// Decision `id` of `entries` (const or not), if still kept.
template <class Entries>
auto entry_in(Entries& entries, std::uint64_t id) -> decltype(&entries.front()) {
  for (auto& d : entries)
    if (d.id == id)
      return &d;
  return nullptr;
}

} // namespace

const decision* decision_log::find(std::uint64_t id) const { return entry_in(entries_, id); }

const decision* decision_log::set_reference(std::uint64_t id, std::string reference) {
  auto* d = entry_in(entries_, id);
  if (d) d->reference = std::move(reference);
  return d;
}

const decision* decision_log::set_chosen(std::uint64_t id, std::string node) {
  auto* d = entry_in(entries_, id);
  if (d) d->chosen = std::move(node);
  return d;
}

} // namespace stowage::actors
