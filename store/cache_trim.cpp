#include "store/cache_trim.hpp"

#include "store/image_removal.hpp"

#include <algorithm>
#include <map>
#include <set>
#include <tuple>

namespace stowage::store {

namespace fs = std::filesystem;

namespace {

fs::file_time_type last_use(const fs::path& p) {
  std::error_code ec;
  auto t = fs::last_write_time(p, ec);
  return ec ? fs::file_time_type::min() : t;
}

struct image {
  fs::file_time_type used;
  std::string repo;
  oci::digest dig;
};

struct contents {
  std::vector<image> images; // manifests, except those an index of the same repository names
  std::vector<std::pair<std::string, oci::digest>> loose; // linked blobs no manifest names
};

contents contents_of(const registry_store& s) {
  contents out;
  for (const auto& repo : s.repositories()) {
    std::set<std::string> children, named;
    std::map<std::string, fs::path> paths;              // every manifest's file
    std::vector<std::pair<oci::digest, std::set<std::string>>> all; // each manifest with those it includes
    for (const auto& d : s.manifests(repo)) {
      auto info = s.manifest(repo, oci::reference{d});
      if (!info)
        continue;
      paths[d.str()] = info->path;
      auto parts = parts_of(s, repo, d);
      named.insert(parts.manifests.begin(), parts.manifests.end());
      named.insert(parts.blobs.begin(), parts.blobs.end());
      all.emplace_back(d, parts.manifests);
      parts.manifests.erase(d.str());
      children.insert(parts.manifests.begin(), parts.manifests.end());
    }
    // An image was used when any of its manifests was: a client that pulls
    // one platform of an index by digest touches only that one.
    for (const auto& [d, manifests] : all) {
      if (children.count(d.str()))
        continue;
      auto used = fs::file_time_type::min();
      for (const auto& m : manifests)
        if (auto p = paths.find(m); p != paths.end())
          used = std::max(used, last_use(p->second));
      out.images.push_back({used, repo, d});
    }
    for (const auto& b : s.blobs(repo))
      if (!named.count(b.str()))
        out.loose.emplace_back(repo, b);
  }
  return out;
}

} // namespace

void touch_blob(const registry_store& s, const oci::digest& d) noexcept {
  try {
    if (auto b = s.blob_anywhere(d))
      mark_used(b->path);
  } catch (...) {
  }
}

void mark_used(const fs::path& blob_file) noexcept {
  std::error_code ec;
  fs::last_write_time(blob_file, fs::file_time_type::clock::now(), ec);
}

trim_result trim_cache(registry_store& s, const cache_bound& b) {
  trim_result r;
  r.used_before = r.used_after = s.used_bytes();
  if (b.max_bytes == 0 || r.used_before <= b.max_bytes)
    return r;
  const auto target = b.max_bytes / 10 * 9;
  const auto idle_before = fs::file_time_type::clock::now() - b.min_idle;
  auto recent_blob = [&](const oci::digest& d) {
    auto info = s.blob_anywhere(d);
    return info && last_use(info->path) >= idle_before;
  };
  auto c = contents_of(s);
  // Blobs no manifest names first: a client's upload whose manifest never
  // came, a blob kept below because it was in use then.
  for (const auto& [repo, d] : c.loose)
    if (!recent_blob(d))
      s.delete_blob(repo, d);
  r.used_after = s.used_bytes();
  auto& imgs = c.images;
  std::sort(imgs.begin(), imgs.end(), [](const image& x, const image& y) {
    return std::tie(x.used, x.repo) < std::tie(y.used, y.repo);
  });
  for (const auto& img : imgs) {
    if (r.used_after <= target || img.used >= idle_before)
      break;
    if (remove_image(s, img.repo, img.dig, recent_blob))
      r.removed.push_back(img.repo + "@" + img.dig.str());
    r.used_after = s.used_bytes();
  }
  return r;
}

} // namespace stowage::store
