#include "store/recovery.hpp"

#include "oci/manifest.hpp"
#include "store/blob_files.hpp"
#include "store/file_io.hpp"
#include "store/metadata_db.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

namespace stowage::store {

namespace {

/// Drops the manifests that need one of `gone` (config, layer, platform
/// manifest), until none is left; returns the blobs no row refers to any
/// more (their files go after the commit).
std::vector<std::string> drop_manifests_needing(const blob_files& files, metadata_db& db, std::set<std::string> gone) {
  if (gone.empty())
    return {};
  // Each manifest read and parsed once: what it needs.
  struct manifest_needs {
    std::string repo, digest;
    std::vector<std::string> needs;
  };
  std::vector<manifest_needs> all;
  for (const auto& repo : db.repositories())
    for (const auto& d : db.manifest_digests(repo)) {
      auto row = db.manifest_by_digest(repo, d);
      if (!row) continue;
      std::ifstream in(files.blob_path(metadata_db::parse_digest(d)), std::ios::binary);
      std::stringstream body;
      body << in.rdbuf();
      auto parsed = oci::parse_manifest(body.str(), row->media_type);
      if (!parsed.value) continue;
      manifest_needs m{repo, d, {}};
      if (parsed.value->config) m.needs.push_back(parsed.value->config->dig.str());
      for (const auto& l : parsed.value->layers) m.needs.push_back(l.dig.str());
      for (const auto& c : parsed.value->manifests) m.needs.push_back(c.dig.str());
      all.push_back(std::move(m));
    }
  std::vector<std::string> unused;
  for (bool changed = true; changed;) { // an index over a dropped manifest goes next round
    changed = false;
    std::erase_if(all, [&](const manifest_needs& m) {
      if (std::none_of(m.needs.begin(), m.needs.end(), [&](const auto& n) { return gone.count(n) > 0; }))
        return false;
      db.delete_manifest(m.repo, m.digest);
      gone.insert(m.digest);
      changed = true;
      if (!db.blob_referenced(m.digest)) {
        db.delete_blob(m.digest);
        unused.push_back(m.digest);
      }
      return true;
    });
  }
  return unused;
}

} // namespace

void reconcile_uploads(const blob_files& files, metadata_db& db) {
  auto on_disk = files.upload_files();
  std::set<std::string> with_file(on_disk.begin(), on_disk.end());
  std::set<std::string> with_row;
  {
    metadata_db::transaction tx(db);
    for (const auto& u : db.all_uploads()) {
      with_row.insert(u.id);
      if (!with_file.count(u.id))
        db.delete_upload(u.id);
    }
    tx.commit();
  }
  for (const auto& id : on_disk)
    if (!with_row.count(id))
      fileio::remove_quietly(files.upload_path(id));

  metadata_db::transaction tx(db);
  for (const auto& u : db.all_uploads()) {
    auto p = files.upload_path(u.id);
    auto fd = files.open_upload(u.id, O_WRONLY);
    auto size = fileio::fd_size(fd.get(), p);
    if (size > u.size && ::ftruncate(fd.get(), static_cast<off_t>(u.size)) != 0)
      fileio::throw_errno("ftruncate", p);
    if (size < u.size)
      db.set_upload_size(u.id, size, u.updated_ms);
  }
  tx.commit();
}

void reconcile_blobs(const blob_files& files, metadata_db& db) {
  auto found = files.scan_blobs();
  auto known = db.all_blobs();
  std::map<std::string, std::uint64_t> file_sizes;
  for (auto& f : found) {
    if (!known.count(f.digest))
      fileio::remove_quietly(files.blob_path(metadata_db::parse_digest(f.digest)));
    else
      file_sizes.emplace(f.digest, f.size);
  }
  std::set<std::string> damaged;
  for (const auto& [digest, size] : known)
    if (auto it = file_sizes.find(digest); it == file_sizes.end() || it->second != size)
      damaged.insert(digest);
  drop_damaged_blobs(files, db, damaged);
}

void drop_damaged_blobs(const blob_files& files, metadata_db& db, const std::set<std::string>& damaged) {
  if (damaged.empty())
    return;
  std::vector<std::string> unused_files(damaged.begin(), damaged.end());
  metadata_db::transaction tx(db);
  for (const auto& digest : damaged)
    db.purge_blob(digest);
  for (auto& d : drop_manifests_needing(files, db, damaged))
    unused_files.push_back(std::move(d));
  tx.commit();
  // Rows first, then files: a crash in between leaves row-less files, which
  // the next open removes.
  for (const auto& digest : unused_files)
    fileio::remove_quietly(files.blob_path(metadata_db::parse_digest(digest)));
}

} // namespace stowage::store
