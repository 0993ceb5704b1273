#include "actors/catalog.hpp"

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
    auto& t = tags_[{item.repository, item.tag}];
    if (t.second.empty() || item.seq > t.first)
      t = {item.seq, item.digest};
  }
  return e;
}

void catalog::add_replica(const inventory_item& item, const std::string& node) {
  auto& e = touch(item);
  e.replicas.insert(node);
  e.pending.erase(node);
}

void catalog::add_pending(const inventory_item& item, const std::string& node) {
  auto& e = touch(item);
  if (!e.replicas.count(node))
    e.pending.insert(node);
}

void catalog::remove_pending(const std::string& repository, const std::string& digest,
                             const std::string& node) {
  if (auto i = images_.find({repository, digest}); i != images_.end())
    i->second.pending.erase(node);
}

void catalog::forget_node(const std::string& node) {
  for (auto& [k, e] : images_)
    e.replicas.erase(node);
}

std::optional<resolved_image> catalog::resolve(const std::string& repository,
                                               const std::string& reference) const {
  std::string digest = reference;
  if (reference.find(':') == std::string::npos) {
    auto t = tags_.find({repository, reference});
    if (t == tags_.end())
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

std::uint64_t catalog::tag_seq(const std::string& repository, const std::string& tag) const {
  auto t = tags_.find({repository, tag});
  return t == tags_.end() ? 0 : t->second.first;
}

std::vector<image_record> catalog::images() const {
  std::vector<image_record> out;
  for (const auto& [k, e] : images_) {
    image_record r;
    r.repository = e.item.repository;
    r.tag = e.item.tag;
    r.digest = e.item.digest;
    r.seq = e.item.seq;
    r.size = e.item.size;
    r.replicas.assign(e.replicas.begin(), e.replicas.end());
    r.pending.assign(e.pending.begin(), e.pending.end());
    out.push_back(std::move(r));
  }
  return out;
}

} // namespace stowage::actors
