#include "actors/catalog.hpp"

#include <algorithm>

namespace stowage::actors {

catalog::entry& catalog::touch(const inventory_item& item) {
  auto& e = images_[{item.repository, item.digest}];
  if (e.item.digest.empty() || item.seq > e.item.seq) {
    auto size = std::max(e.item.size, item.size);
    e.item = item;
    e.item.size = size;
  } else if (e.item.size == 0) {
    e.item.size = item.size;
  }
  if (!item.tag.empty()) {
    auto [t, fresh] = tags_.try_emplace({item.repository, item.tag}, item.seq, item.digest);
    if (!fresh && item.seq > t->second.first)
      t->second = {item.seq, item.digest};
  }
  return e;
}

void catalog::add_replica(const inventory_item& item, const std::string& node) {
  if (removed(item.repository, item.digest))
    return;
  auto& e = touch(item);
  e.replicas.insert(node);
  e.pending.erase(node);
  if (!item.tag.empty()) {
    auto& seq = node_tags_[{item.repository, item.tag, node}];
    seq = std::max(seq, item.seq);
  }
}

std::vector<inventory_item> catalog::stale_tags(const std::string& node) const {
  std::vector<inventory_item> out;
  for (const auto& [k, v] : tags_) {
    const auto& [seq, digest] = v;
    auto i = digest.empty() ? images_.end() : images_.find({k.first, digest});
    if (i == images_.end() || !i->second.replicas.count(node))
      continue;
    auto has = node_tags_.find({k.first, k.second, node});
    if (has == node_tags_.end() || has->second < seq)
      out.push_back({k.first, k.second, digest, seq, i->second.item.size});
  }
  return out;
}

void catalog::add_pending(const inventory_item& item, const std::string& node) {
  if (removed(item.repository, item.digest))
    return;
  auto& e = touch(item);
  if (!e.replicas.count(node))
    e.pending.insert(node);
}

void catalog::remove_tag(const std::string& repository, const std::string& tag, std::uint64_t seq) {
  auto [t, fresh] = tags_.try_emplace({repository, tag}, seq, std::string());
  if (!fresh && seq <= t->second.first)
    return;
  auto i = images_.find({repository, t->second.second});
  if (i != images_.end() && i->second.item.tag == tag)
    i->second.item.tag.clear(); // listed untagged from now on
  t->second = {seq, std::string()};
}

std::optional<std::vector<std::string>> catalog::tags(const std::string& repository) const {
  bool known = false;
  std::vector<std::string> out;
  for (auto t = tags_.lower_bound({repository, ""}); t != tags_.end() && t->first.first == repository; ++t)
    if (!t->second.second.empty() && images_.count({repository, t->second.second})) {
      out.push_back(t->first.second);
      known = true;
    }
  if (!known)
    if (auto i = images_.lower_bound({repository, ""}); i != images_.end() && i->first.first == repository)
      known = true;
  if (!known)
    return std::nullopt;
  return out;
}

std::vector<std::string> catalog::repositories() const {
  std::vector<std::string> out;
  for (const auto& [k, e] : images_) // sorted by repository first
    if (out.empty() || out.back() != k.first)
      out.push_back(k.first);
  return out;
}

std::vector<std::string> catalog::tags_of(const std::string& repository, const std::string& digest) const {
  std::vector<std::string> out;
  for (const auto& [k, v] : tags_)
    if (k.first == repository && v.second == digest)
      out.push_back(k.second);
  return out;
}

void catalog::remove_image(const std::string& repository, const std::string& digest,
                           std::chrono::steady_clock::time_point when) {
  images_.erase({repository, digest});
  removed_[{repository, digest}] = when;
}

void catalog::keep_mark(const std::string& repository, const std::string& digest) {
  if (auto i = removed_.find({repository, digest}); i != removed_.end())
    i->second = std::chrono::steady_clock::time_point::max();
}

std::vector<std::pair<std::string, std::string>> catalog::marks_before(
  std::chrono::steady_clock::time_point cutoff) const {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& [k, when] : removed_)
    if (when < cutoff)
      out.push_back(k);
  return out;
}

void catalog::remove_replica(const std::string& repository, const std::string& digest, const std::string& node) {
  auto i = images_.find({repository, digest});
  if (i == images_.end())
    return;
  i->second.replicas.erase(node);
  if (i->second.replicas.empty() && i->second.pending.empty())
    images_.erase(i);
}

bool catalog::removed(const std::string& repository, const std::string& digest) const {
  return removed_.count({repository, digest}) > 0;
}

void catalog::revive(const std::string& repository, const std::string& digest) {
  removed_.erase({repository, digest});
}

void catalog::remove_pending(const std::string& repository, const std::string& digest,
                             const std::string& node) {
  if (auto i = images_.find({repository, digest}); i != images_.end())
    i->second.pending.erase(node);
}

void catalog::forget_node(const std::string& node) {
  for (auto& [k, e] : images_)
    e.replicas.erase(node);
  std::erase_if(node_tags_, [&](const auto& t) { return std::get<2>(t.first) == node; });
}

std::optional<resolved_image> catalog::resolve(const std::string& repository,
                                               const std::string& reference) const {
  std::string digest = reference;
  if (reference.find(':') == std::string::npos) {
    auto t = tags_.find({repository, reference});
    if (t == tags_.end() || t->second.second.empty())
      return std::nullopt;
    digest = t->second.second;
  }
  auto i = images_.find({repository, digest});
  if (i == images_.end())
    return std::nullopt;
  const auto& it = i->second.item;
  return resolved_image{it.repository, it.tag, it.digest, it.seq, it.size};
}

std::vector<std::string> catalog::holders(const std::string& repository, const std::string& digest) const {
  auto i = images_.find({repository, digest});
  if (i == images_.end())
    return {};
  return {i->second.replicas.begin(), i->second.replicas.end()};
}

std::vector<std::string> catalog::repository_holders(const std::string& repository) const {
  std::set<std::string> out;
  for (auto i = images_.lower_bound({repository, ""}); i != images_.end() && i->first.first == repository; ++i)
    out.insert(i->second.replicas.begin(), i->second.replicas.end());
  return {out.begin(), out.end()};
}

std::uint64_t catalog::tag_seq(const std::string& repository, const std::string& tag) const {
  auto t = tags_.find({repository, tag});
  return t == tags_.end() ? 0 : t->second.first;
}

std::vector<image_record> catalog::images() const {
  auto record = [](const entry& e, const std::string& tag, std::uint64_t seq) {
    image_record r;
    r.repository = e.item.repository;
    r.tag = tag;
    r.digest = e.item.digest;
    r.seq = seq;
    r.size = e.item.size;
    r.replicas.assign(e.replicas.begin(), e.replicas.end());
    r.pending.assign(e.pending.begin(), e.pending.end());
    return r;
  };
  std::vector<image_record> out;
  std::set<key> tagged;
  for (const auto& [k, v] : tags_) { // one record per tag that names an image now
    auto i = v.second.empty() ? images_.end() : images_.find({k.first, v.second});
    if (i == images_.end())
      continue;
    out.push_back(record(i->second, k.second, v.first));
    tagged.insert(i->first);
  }
  for (const auto& [k, e] : images_) // and one for each image no tag names
    if (!tagged.count(k))
      out.push_back(record(e, {}, 0));
  std::sort(out.begin(), out.end(), [](const image_record& a, const image_record& b) {
    return std::tie(a.repository, a.tag, a.digest) < std::tie(b.repository, b.tag, b.digest);
  });
  return out;
}

} // namespace stowage::actors
