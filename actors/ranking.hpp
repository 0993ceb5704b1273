// Ranking of probe candidates (DESIGN §3 pull 5, push 3). Pure.
// Expected transfer time = arrival latency + image size / measured throughput,
// multiplied by (1 + transfers already in flight on that node). Failed probes
// are excluded; for pushes, nodes without room for the image are refused.
// Ties break by name so a decision is reproducible.
#pragma once

#include "actors/records.hpp"

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace stowage::actors {

struct node_load {
  std::uint32_t in_flight = 0;
  std::uint64_t free_bytes = UINT64_MAX;
};

struct ranked_candidate {
  std::string node;
  double expected_us = 0;
};

std::vector<ranked_candidate> rank(const std::vector<candidate_result>& measured,
                                   std::uint64_t image_size, bool push,
                                   const std::map<std::string, node_load>& load);

} // namespace stowage::actors
