// The master's catalog: which data manager holds which image, and which ones
// it is still pending for (handoffs). Rebuilt from the inventories nodes
// report when they join, so it needs no storage of its own (deletes a node
// has not applied yet are filtered out of its inventory first: see
// master_removal.cpp). Pure.
#pragma once

#include "actors/records.hpp"

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

namespace stowage::actors {

struct resolved_image {
  std::string repository;
  std::string tag; // the tag the image was last recorded under (may be empty)
  std::string digest;
  std::uint64_t seq = 0;
  std::uint64_t size = 0;
};

class catalog {
public:
  /// `node` holds the image. A tag moves only to a greater sequence number.
  void add_replica(const inventory_item& item, const std::string& node);
  void add_pending(const inventory_item& item, const std::string& node);
  void remove_pending(const std::string& repository, const std::string& digest, const std::string& node);
  /// Forgets every replica of `node` (it re-reports them when it joins again).
  void forget_node(const std::string& node);
  /// Tags that name an image `node` holds, where `node` has the tag at an
  /// older sequence number or not at all (it holds the image under another
  /// tag or by digest).
  std::vector<inventory_item> stale_tags(const std::string& node) const;

  /// Deletes repository:tag at `seq`, if newer than what names it: the tag
  /// resolves to nothing, and only a greater sequence number sets it again.
  void remove_tag(const std::string& repository, const std::string& tag, std::uint64_t seq);
  /// Every tag of `repository` that names an image now, sorted; nullopt if
  /// the catalog knows nothing of the repository.
  std::optional<std::vector<std::string>> tags(const std::string& repository) const;
  /// Repositories with at least one image, sorted.
  std::vector<std::string> repositories() const;
  /// Tags naming `digest` now, sorted.
  std::vector<std::string> tags_of(const std::string& repository, const std::string& digest) const;
  /// Forgets the image (remove its tags first) and ignores later reports of
  /// it (a replication still under way when it was deleted) until revived;
  /// the mark is dated `when`.
  void remove_image(const std::string& repository, const std::string& digest,
                    std::chrono::steady_clock::time_point when);
  bool removed(const std::string& repository, const std::string& digest) const;
  /// The mark of a deleted image never expires (marks_before leaves it out):
  /// some node may still hold a copy no removal record covers.
  void keep_mark(const std::string& repository, const std::string& digest);
  /// Repository and digest of every mark dated before `cutoff`.
  std::vector<std::pair<std::string, std::string>> marks_before(std::chrono::steady_clock::time_point cutoff) const;
  /// `node` no longer holds the image (it applied a delete); an image nobody
  /// holds or is owed is forgotten.
  void remove_replica(const std::string& repository, const std::string& digest, const std::string& node);
  /// The image is pushed again, or its mark is dropped: reports of it count
  /// again.
  void revive(const std::string& repository, const std::string& digest);

  /// `reference` is a tag or a digest ("sha256:…"). For a tag: the image with
  /// the greatest sequence number recorded for it.
  std::optional<resolved_image> resolve(const std::string& repository, const std::string& reference) const;
  /// Nodes holding `digest` in `repository`, sorted by name.
  std::vector<std::string> holders(const std::string& repository, const std::string& digest) const;
  /// Nodes holding any image of `repository`, sorted by name: where one of
  /// its blobs can be asked for.
  std::vector<std::string> repository_holders(const std::string& repository) const;
  /// The greatest sequence number seen for repository:tag (0 if none).
  std::uint64_t tag_seq(const std::string& repository, const std::string& tag) const;
  /// One record per tag that names an image now, and one without a tag for
  /// each image no tag names; sorted by repository, tag, digest.
  std::vector<image_record> images() const;

private:
  struct entry {
    inventory_item item;
    std::set<std::string> replicas, pending;
  };
  using key = std::pair<std::string, std::string>; // repository, digest
  entry& touch(const inventory_item& item);
  std::map<key, entry> images_;
  std::map<key, std::pair<std::uint64_t, std::string>> tags_; // (repo, tag) -> (seq, digest; empty: deleted)
  std::map<key, std::chrono::steady_clock::time_point> removed_; // deleted images, with the time of the delete
  // (repository, tag, node) -> the sequence number `node` has the tag at.
  std::map<std::tuple<std::string, std::string, std::string>, std::uint64_t> node_tags_;
};

} // namespace stowage::actors
