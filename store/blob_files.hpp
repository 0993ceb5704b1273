// The on-disk layout of a store directory and the moves that make a file a
// durable, immutable blob:
//   DIR/blobs/sha256/<2 hex>/<64 hex>   verified content, read-only
//   DIR/uploads/<32 hex>                 data of an open upload session
//   DIR/tmp/<32 hex>.tmp                 manifest bytes on their way into blobs/
//   DIR/unsynced                         a cache's boot id while it has unsynced writes
// Paths are built only from validated digests and upload ids, never from
// repository names.
#pragma once

#include "oci/digest.hpp"
#include "store/file_io.hpp"

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace stowage::store {

namespace fs = std::filesystem;

class blob_files {
public:
  /// Creates the layout under `root` if missing, durably, and locks the
  /// directory (flock on DIR/lock) so that no second store, in this process
  /// or another, recovers or writes it at the same time: store_error if held.
  ///
  /// Without `sync` (a cache) nothing written later is fsync'd. DIR/unsynced
  /// then holds the boot id of the machine while writes may be only in its
  /// page cache: found at open with another boot id (the machine went down
  /// in between), everything in DIR is deleted first, since any of it may
  /// be torn. The destructor flushes everything (syncfs) and removes it, so
  /// destroy the users of DIR (the metadata database) first.
  explicit blob_files(fs::path root, bool sync = true);
  ~blob_files();
  blob_files(const blob_files&) = delete;
  blob_files& operator=(const blob_files&) = delete;

  /// sha256 with 64 lower-case hex characters: the only digests with a path.
  static bool storable(const oci::digest& d);
  static bool valid_upload_id(std::string_view id);
  static std::string new_random_id(); // 32 hex chars from getrandom(2)

  const fs::path& root() const { return root_; }
  fs::path blob_path(const oci::digest& d) const; // requires storable(d)
  fs::path upload_path(std::string_view id) const; // requires valid_upload_id(id)
  bool blob_file_exists(const oci::digest& d) const;

  /// Moves an already fsync'd, verified file into its blob path and fsyncs
  /// the directories, so the blob survives power loss. `after` is told
  /// "renamed" and then "dir_synced" (fault-injection points for tests).
  void install(const fs::path& verified, const oci::digest& d,
               const std::function<void(std::string_view)>& after) const;
  /// Writes `bytes` to a new read-only temporary file and fsyncs it.
  fs::path write_temp(std::string_view bytes) const;
  /// Creates an empty upload file (the session's data).
  void create_upload_file(std::string_view id) const;
  /// Opens an upload file to write (`flags`: O_WRONLY or O_RDWR). A commit
  /// makes the file read-only before it moves into blobs/; a crash or a
  /// failed fsync in between leaves it read-only in uploads/ with its
  /// session open, which only root could write again: it is made writable.
  fileio::unique_fd open_upload(std::string_view id, int flags) const;

  // ---- recovery at open (single-threaded, before any other use) ----------
  /// Deletes everything in tmp/: temporary files of interrupted commits.
  void clear_temp() const;
  /// Upload ids that have a file; files with any other name are deleted.
  std::vector<std::string> upload_files() const;
  struct found_blob {
    std::string digest; // "sha256:<hex>"
    std::uint64_t size;
  };
  /// Every well-formed blob file; anything else under blobs/ (stray temp
  /// files, wrong names, files in the wrong bucket) is deleted.
  std::vector<found_blob> scan_blobs() const;

private:
  /// A cache at open: empties DIR if it was left unsynced in an earlier
  /// boot, then records this boot durably before anything is written.
  void start_unsynced() const;

  fs::path root_, blobs_, uploads_, tmp_;
  bool sync_;
  fileio::unique_fd lock_;
};

} // namespace stowage::store
