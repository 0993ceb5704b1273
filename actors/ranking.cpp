#include "actors/ranking.hpp"

#include <algorithm>

namespace stowage::actors {

std::vector<ranked_candidate> rank(const std::vector<candidate_result>& measured,
                                   std::uint64_t image_size, bool push,
                                   const std::map<std::string, node_load>& load) {
  std::vector<ranked_candidate> out;
  for (const auto& m : measured) {
    if (!m.ok || m.throughput_bps == 0)
      continue;
    node_load l;
    if (auto i = load.find(m.node); i != load.end())
      l = i->second;
    if (push && l.free_bytes < image_size)
      continue;
    double transfer_us = static_cast<double>(image_size) * 1e6 / static_cast<double>(m.throughput_bps);
    double expected = (static_cast<double>(m.arrival_us) + transfer_us) * (1.0 + l.in_flight);
    out.push_back({m.node, expected});
  }
  std::stable_sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    return a.expected_us != b.expected_us ? a.expected_us < b.expected_us : a.node < b.node;
  });
  return out;
}

} // namespace stowage::actors
