#include "actors/removal.hpp"

#include "store/image_removal.hpp"

#include <spdlog/spdlog.h>

namespace stowage::actors {

std::vector<inventory_item> apply_removals_to(store::registry_store& s, const std::vector<removal_record>& removals,
                                              removal_mode mode) {
  const bool by_seq = mode == removal_mode::by_seq;
  for (const auto& r : removals)
    if (!r.tag.empty())
      s.delete_tag(r.repository, r.tag, by_seq ? std::optional(r.seq) : std::nullopt);
  std::vector<inventory_item> removed;
  for (const auto& r : removals) {
    auto d = r.tag.empty() ? oci::digest::parse(r.digest) : std::nullopt;
    if (!d)
      continue;
    auto parts = store::parts_of(s, r.repository, *d);
    // A cache keeps the blobs, as a registry does after a manifest DELETE: a
    // client may still delete or read them by digest (the cache trim drops
    // them once idle).
    auto keep_blobs = [](const oci::digest&) { return true; };
    if (!(by_seq ? store::remove_image_at(s, r.repository, *d, r.seq) : store::remove_image(s, r.repository, *d, keep_blobs)))
      continue;
    for (const auto& m : parts.manifests)
      if (auto md = oci::digest::parse(m); md && !s.manifest(r.repository, oci::reference{*md}))
        removed.push_back({r.repository, {}, m, 0, 0});
  }
  return removed;
}

removals_applied answer_removals(const std::string& name, bool from_master, store::registry_store& s,
                                 const apply_removals& a, removal_mode mode) {
  if (!from_master)
    return {name, false, "deletes are taken from the master only", {}};
  try {
    auto removed = apply_removals_to(s, a.removals, mode);
    for (const auto& r : a.removals)
      spdlog::info("{}: deleted {}{}{} (seq {})", name, r.repository, r.tag.empty() ? "@" : ":",
                   r.tag.empty() ? r.digest : r.tag, r.seq);
    spdlog::debug("{}: {} manifest(s) removed", name, removed.size());
    return {name, true, {}, std::move(removed)};
  } catch (const std::exception& e) {
    spdlog::warn("{}: could not apply {} delete(s): {}", name, a.removals.size(), e.what());
    return {name, false, e.what(), {}};
  }
}

} // namespace stowage::actors
