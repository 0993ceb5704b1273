// Plain records the master answers queries with (and the admin API serves as
// JSON). CAF-free so net/ can use them; their `inspect` lives in protocol.hpp.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace stowage::actors {

/// What the runtime measured for one candidate in one probe round.
struct candidate_result {
  std::string node;
  std::uint64_t arrival_us = 0;     // from the round's start to the packet's last byte
  std::uint64_t throughput_bps = 0; // bytes per second while the packet streamed
  bool ok = false;                  // false: missed the deadline or unreachable
  friend bool operator==(const candidate_result&, const candidate_result&) = default;
};

/// One scheduling decision (DESIGN §6 `/api/v1/decisions`).
struct decision {
  std::uint64_t id = 0;
  std::string kind; // "pull" | "push"
  std::string runtime;
  std::string reference; // repository:tag or repository@digest
  std::vector<candidate_result> candidates;
  std::string chosen; // empty if no candidate was usable
  friend bool operator==(const decision&, const decision&) = default;
};

/// `/api/v1/nodes`
struct node_record {
  std::string name;
  std::string role; // "master" | "data" | "runtime"
  bool up = false;
  std::string http; // host:port of its HTTP endpoint
  std::string public_key; // hex Ed25519
  friend bool operator==(const node_record&, const node_record&) = default;
};

/// `/api/v1/images`
struct image_record {
  std::string repository;
  std::string tag;
  std::string digest;
  std::uint64_t seq = 0;
  std::uint64_t size = 0; // manifest + every blob it references, in bytes
  std::vector<std::string> replicas; // data managers holding it
  std::vector<std::string> pending;  // data managers it is handed off for
  friend bool operator==(const image_record&, const image_record&) = default;
};

/// `/api/v1/handoffs`
struct handoff_record {
  std::string digest;
  std::string repository;
  std::string tag;
  std::uint64_t seq = 0;
  std::string node; // the data manager that still has to receive it
  std::uint32_t attempts = 0; // third tests and deliveries that failed so far
  friend bool operator==(const handoff_record&, const handoff_record&) = default;
};

/// `/api/v1/removals`: a delete a node (data manager, or runtime for its
/// cache) has still to apply. One delete of the cluster gives each node one
/// record per tag it removes and, for a delete by digest, one for the
/// manifest.
struct removal_record {
  std::string repository;
  std::string tag;    // a tag removal: the tag is deleted at `seq`
  std::string digest; // a manifest removal (tag empty): the image goes, unless a tag newer than `seq` names it
  std::uint64_t seq = 0;
  std::string node;   // the node that still has to apply it
  friend bool operator==(const removal_record&, const removal_record&) = default;
};

/// One image a data manager holds, reported when it joins.
struct inventory_item {
  std::string repository;
  std::string tag;
  std::string digest;
  std::uint64_t seq = 0;
  std::uint64_t size = 0;
  friend bool operator==(const inventory_item&, const inventory_item&) = default;
};

} // namespace stowage::actors
