#include "store/image_removal.hpp"

#include "oci/manifest.hpp"

#include <set>
#include <string>
#include <vector>

namespace stowage::store {

namespace {

constexpr int max_depth = 4; // as deep as image copies follow indexes

void collect(const registry_store& s, std::string_view repo, const oci::digest& d, image_parts& into, int depth) {
  if (depth > max_depth || !into.manifests.insert(d.str()).second)
    return;
  auto info = s.manifest(repo, oci::reference{d});
  if (!info)
    return;
  auto parsed = oci::parse_manifest(s.read_manifest(*info), info->media_type);
  if (!parsed.value)
    return;
  if (parsed.value->config)
    into.blobs.insert(parsed.value->config->dig.str());
  for (const auto& l : parsed.value->layers)
    into.blobs.insert(l.dig.str());
  for (const auto& child : parsed.value->manifests)
    collect(s, repo, child.dig, into, depth + 1);
}

} // namespace

image_parts parts_of(const registry_store& s, std::string_view repo, const oci::digest& digest) {
  image_parts out;
  collect(s, repo, digest, out, 0);
  return out;
}

bool remove_image(registry_store& s, std::string_view repo, const oci::digest& digest,
                  const std::function<bool(const oci::digest&)>& keep_blob) {
  if (!s.manifest(repo, oci::reference{digest}))
    return false;
  const auto gone = parts_of(s, repo, digest);
  // What stays: every other manifest of the repository, and an index's
  // child that a tag names (pushed and tagged on its own as well), with
  // everything they reference.
  std::set<std::string> tagged;
  for (const auto& tag : s.tags(repo, std::nullopt, ""))
    if (auto m = s.manifest(repo, oci::reference{tag}); m && m->dig != digest)
      tagged.insert(m->dig.str());
  image_parts kept;
  for (const auto& m : s.manifests(repo))
    if (!gone.manifests.count(m.str()) || tagged.count(m.str()))
      collect(s, repo, m, kept, 0);
  std::vector<oci::digest> manifests, blobs;
  for (const auto& m : gone.manifests)
    if (!kept.manifests.count(m))
      if (auto d = oci::digest::parse(m))
        manifests.push_back(*d);
  for (const auto& b : gone.blobs)
    if (!kept.blobs.count(b))
      if (auto d = oci::digest::parse(b); d && !(keep_blob && keep_blob(*d)))
        blobs.push_back(*d);
  s.delete_together(repo, manifests, blobs); // all or nothing, should the process die midway
  return true;
}

bool remove_image_at(registry_store& s, std::string_view repo, const oci::digest& digest, std::uint64_t seq) {
  for (const auto& tag : s.tags(repo, std::nullopt, ""))
    if (s.tag_seq(repo, tag).value_or(0) > seq)
      if (auto m = s.manifest(repo, oci::reference{tag}); m && m->dig == digest)
        return false;
  return remove_image(s, repo, digest);
}

} // namespace stowage::store
