#include "store/recovery.hpp"

#include "store/blob_files.hpp"
#include "store/file_io.hpp"
#include "store/metadata_db.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <map>
#include <set>

namespace stowage::store {

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
  std::vector<std::string> damaged_files;
  metadata_db::transaction tx(db);
  for (const auto& [digest, size] : known) {
    auto it = file_sizes.find(digest);
    if (it != file_sizes.end() && it->second == size)
      continue;
    db.purge_blob(digest);
    if (it != file_sizes.end())
      damaged_files.push_back(digest);
  }
  tx.commit();
  // Rows first, then files: a crash in between leaves row-less files, which
  // the next open removes.
  for (const auto& digest : damaged_files)
    fileio::remove_quietly(files.blob_path(metadata_db::parse_digest(digest)));
}

} // namespace stowage::store
