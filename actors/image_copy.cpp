#include "actors/image_copy.hpp"

#include "oci/manifest.hpp"

#include <spdlog/spdlog.h>

#include <fstream>
#include <set>
#include <vector>

namespace stowage::actors {

namespace {

struct loaded_manifest {
  store::manifest_info info;
  std::string body;
  oci::manifest parsed;
};

std::optional<loaded_manifest> load(const store::registry_store& s, const std::string& repo,
                                    const oci::digest& d, std::string* error) {
  auto info = s.manifest(repo, oci::reference{d});
  if (!info) {
    *error = "manifest " + d.str() + " not found in " + repo;
    return std::nullopt;
  }
  auto body = s.read_manifest(*info);
  auto parsed = oci::parse_manifest(body, info->media_type);
  if (!parsed.value) {
    *error = "manifest " + d.str() + ": " + parsed.error.message;
    return std::nullopt;
  }
  return loaded_manifest{*info, std::move(body), std::move(*parsed.value)};
}

bool size_of(const store::registry_store& s, const std::string& repo, const oci::digest& d,
             std::set<std::string>& seen, std::uint64_t& total, std::string* error) {
  auto m = load(s, repo, d, error);
  if (!m)
    return false;
  total += m->body.size();
  for (const auto& child : m->parsed.manifests)
    if (seen.insert(child.dig.str()).second && !size_of(s, repo, child.dig, seen, total, error))
      return false;
  for (const auto& b : m->parsed.blobs()) {
    if (!seen.insert(b.dig.str()).second)
      continue;
    auto info = s.blob(repo, b.dig);
    if (!info) {
      *error = "blob " + b.dig.str() + " not found in " + repo;
      return false;
    }
    total += info->size;
  }
  return true;
}

bool copy_blob(const store::registry_store& from, store::registry_store& to, const std::string& repo,
               const oci::descriptor& desc, copy_outcome& out) {
  if (to.blob(repo, desc.dig))
    return true;
  if (to.mount_blob(repo, desc.dig))
    return true;
  auto src = from.blob(repo, desc.dig);
  if (!src) {
    out.error = "blob " + desc.dig.str() + " not found in " + repo;
    return false;
  }
  std::ifstream in(src->path, std::ios::binary);
  if (!in) {
    out.error = "cannot read " + src->path.string();
    return false;
  }
  auto up = to.begin_upload(repo);
  auto writer = to.append(repo, up.id);
  std::vector<char> buf(1 << 20);
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    if (in.gcount() > 0)
      writer->write(buf.data(), static_cast<std::size_t>(in.gcount()));
  }
  writer->finish();
  writer.reset();
  auto st = to.commit_upload(repo, up.id, desc.dig, src->size);
  if (st != store::commit_status::ok) {
    to.cancel_upload(repo, up.id);
    out.error = "blob " + desc.dig.str() + " failed verification on arrival";
    return false;
  }
  out.bytes += src->size;
  return true;
}

bool copy_manifest(const store::registry_store& from, store::registry_store& to, const std::string& repo,
                   const oci::digest& d, const std::string& tag, std::optional<std::uint64_t> seq,
                   copy_outcome& out) {
  auto m = load(from, repo, d, &out.error);
  if (!m)
    return false;
  for (const auto& child : m->parsed.manifests)
    if (!copy_manifest(from, to, repo, child.dig, {}, std::nullopt, out))
      return false;
  for (const auto& b : m->parsed.blobs())
    if (!copy_blob(from, to, repo, b, out))
      return false;
  if (oci::sha256_of(m->body) != d) {
    out.error = "manifest " + d.str() + " does not match its digest";
    return false;
  }
  std::optional<std::string_view> t;
  if (!tag.empty())
    t = tag;
  to.put_manifest(repo, d, m->parsed, m->body, t, seq);
  out.bytes += m->body.size();
  return true;
}

} // namespace

std::optional<std::uint64_t> image_size(const store::registry_store& from, const std::string& repository,
                                        const std::string& digest) {
  auto d = oci::digest::parse(digest);
  if (!d)
    return std::nullopt;
  std::set<std::string> seen{digest};
  std::uint64_t total = 0;
  std::string error;
  try { // a delete racing the walk, or a store error: no size rather than a failed actor
    if (!size_of(from, repository, *d, seen, total, &error))
      return std::nullopt;
  } catch (const std::exception& e) {
    spdlog::warn("size of {}@{}: {}", repository, digest, e.what());
    return std::nullopt;
  }
  return total;
}

namespace {

/// Parses `digest`, runs `copy` with it and turns an exception into the outcome's error.
template <class Copy>
copy_outcome checked_copy(const std::string& digest, Copy&& copy) {
  copy_outcome out;
  auto d = oci::digest::parse(digest);
  if (!d) {
    out.error = "invalid digest " + digest;
    return out;
  }
  try {
    out.ok = copy(*d, out);
  } catch (const std::exception& e) {
    out.ok = false;
    out.error = e.what();
  }
  return out;
}

} // namespace

copy_outcome copy_image(const store::registry_store& from, store::registry_store& to,
                        const std::string& repository, const std::string& digest,
                        const std::string& tag, std::optional<std::uint64_t> seq) {
  return checked_copy(digest, [&](const oci::digest& d, copy_outcome& out) {
    return copy_manifest(from, to, repository, d, tag, seq, out);
  });
}

copy_outcome copy_one_blob(const store::registry_store& from, store::registry_store& to,
                           const std::string& repository, const std::string& digest) {
  return checked_copy(digest, [&](const oci::digest& d, copy_outcome& out) {
    oci::descriptor desc;
    desc.dig = d;
    return copy_blob(from, to, repository, desc, out);
  });
}

} // namespace stowage::actors
