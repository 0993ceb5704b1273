// The storage engine behind every node: a content-addressed blob store on disk
// plus durable metadata (repositories, tags, manifests, referrers, upload
// sessions) in SQLite (WAL). This is the one interface the HTTP handlers and
// the actors use; nothing else touches the data directory.
//
// Durability contract: a blob or manifest is visible only after its bytes were
// verified against the digest, fsync'd, renamed into place and the directory
// fsync'd, and its metadata row committed. After `kill -9` at any moment a
// reopened store serves every committed object and nothing partial.
//
// Thread safety: every method may be called from any thread.
#pragma once

#include "oci/digest.hpp"
#include "oci/manifest.hpp"
#include "oci/name.hpp"

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace stowage::store {

/// I/O or database failure (disk full, permissions, corruption). Handlers turn
/// it into a 500; it never means "not found".
struct store_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct blob_info {
  oci::digest dig;
  std::uint64_t size = 0;
  std::filesystem::path path; // read-only; serve it with a file body
};

struct manifest_info {
  oci::digest dig;
  std::string media_type;
  std::uint64_t size = 0;
  std::filesystem::path path; // the client's exact bytes
};

struct upload_info {
  std::string id;
  std::string repository;
  std::uint64_t size = 0; // bytes received so far
  /// Where the session's bytes go. Read-only, for following an upload while
  /// it runs: all but the last upload_writer::max_unwritten bytes written so
  /// far are in it. It moves (or goes) when the session ends.
  std::filesystem::path file;
};

enum class commit_status {
  ok,
  upload_unknown,   // no such session in this repository
  digest_mismatch,  // content does not hash to the expected digest: nothing kept
  size_mismatch,    // expected size given and different
  unsupported,      // digest algorithm other than sha256
};

/// Appends to one upload session (one PATCH/PUT body). Bytes go to a
/// temporary file and into the session's running SHA-256.
class upload_writer {
public:
  /// At most this many of the bytes written are not yet in the session's file.
  static constexpr std::size_t max_unwritten = 2 << 20;
  virtual ~upload_writer() = default;
  virtual void write(const void* data, std::size_t len) = 0; // throws store_error
  virtual std::uint64_t size() const = 0;                    // session total so far
  /// Records the new size so upload status survives a restart. Not fsync'd:
  /// an upload is not acknowledged as durable until committed.
  virtual void finish() = 0;
};

struct tag_update {
  bool moved = false;            // false if a newer sequence number holds the tag, or an equal one names an image
  std::uint64_t seq = 0;         // the tag's sequence number afterwards
};

/// What a store is for, which decides how its bytes meet the disk.
enum class store_kind {
  /// A data manager's store, the master's spool: a commit is fsync'd before
  /// it returns, and blob bytes go around the page cache (O_DIRECT) where
  /// the file system allows: the cheapest way to write here, for blobs mostly
  /// read long after they were written.
  durable,
  /// A runtime's cache: no commit is fsync'd, and blob bytes go through the
  /// page cache or around it as upload_use says (around it, they are still
  /// flushed from the device's write cache as they are written:
  /// upload_write_mode in disk_store.hpp). A process crash (kill -9) loses
  /// nothing: the writes are in the kernel or on the disk. A store not
  /// synced since before the machine's last boot is emptied at open, so a
  /// crash of the machine leaves no torn blob behind. No guarantee rests on
  /// a cache: a push is acknowledged for the data managers' copies. Without
  /// the fsync a client's blob PUT through the gateway does not wait for a
  /// device flush behind the other copies' writes (40-160 ms each, one blob
  /// after the other).
  cache,
};

/// Whether an upload's bytes are read again soon after its commit, which
/// decides whether a store writes them through the page cache. A durable
/// store fsyncs both at the commit, a cache neither.
enum class upload_use {
  /// Around the page cache (O_DIRECT): a replica, a handoff, an image
  /// delivered into a runtime's cache (which reads what it relays back from
  /// the disk: a cold pull of 256 MiB cost ~0.35 s less CPU so).
  kept,
  /// Through it: a blob pushed to a data manager, which its peers fetch
  /// right after to replicate it; a client's blob collected by the gateway,
  /// sent on to the push's target as it arrives.
  /// Measured on a gateway push with the target writing so: its peers' 512
  /// MiB of reads gone, 2.24 s against 2.53 s (medians), CPU the same. With
  /// the gateway's copy written around the page cache too, pushes were
  /// slower (0.91x of distribution against 1.05x, one pass each).
  read_soon,
};

class registry_store {
public:
  /// Opens (creating if needed) the store in `dir`, then recovers: removes
  /// temporary files of interrupted commits and upload sessions idle longer
  /// than `upload_ttl`.
  static std::unique_ptr<registry_store>
  open(const std::filesystem::path& dir,
       std::chrono::seconds upload_ttl = std::chrono::hours(24),
       store_kind kind = store_kind::durable);
  virtual ~registry_store() = default;

  // ---- repositories -------------------------------------------------------
  virtual bool repository_exists(std::string_view repo) const = 0;
  /// Repositories holding at least one blob or manifest, in order.
  virtual std::vector<std::string> repositories() const = 0;

  // ---- blobs: content-addressed once, linked into each repository --------
  /// The blob if it is linked into `repo`.
  virtual std::optional<blob_info> blob(std::string_view repo, const oci::digest&) const = 0;
  /// The blob if present at all (any repository).
  virtual std::optional<blob_info> blob_anywhere(const oci::digest&) const = 0;
  /// Links an existing blob into `to_repo` (cross-repository mount). With an
  /// empty `from_repo` any repository will do. False if there is no such blob.
  virtual bool mount_blob(std::string_view to_repo, const oci::digest&,
                          std::string_view from_repo = {}) = 0;
  /// Every blob linked into `repo`, manifests' bytes included.
  virtual std::vector<oci::digest> blobs(std::string_view repo) const = 0;
  /// Unlinks a blob from `repo`; false if it was not linked.
  virtual bool delete_blob(std::string_view repo, const oci::digest&) = 0;

  // ---- upload sessions ----------------------------------------------------
  virtual upload_info begin_upload(std::string_view repo) = 0;
  virtual std::optional<upload_info> find_upload(std::string_view repo, std::string_view id) const = 0;
  /// A writer positioned at the end of the session; nullptr if unknown, in
  /// use by another writer, or (with `at`) not ending at offset `at`. A chunk
  /// checked against find_upload's size passes that size as `at`: a writer
  /// finishing in between moved the end, and the chunk must not go after it.
  virtual std::unique_ptr<upload_writer> append(std::string_view repo, std::string_view id,
                                                upload_use use = upload_use::kept,
                                                std::optional<std::uint64_t> at = {}) = 0;
  /// Verifies and makes the blob durable (see the contract above), links it
  /// into the session's repository and ends the session. On any status but
  /// ok nothing becomes visible; on digest_mismatch the session is ended.
  virtual commit_status commit_upload(std::string_view repo, std::string_view id,
                                      const oci::digest& expected,
                                      std::optional<std::uint64_t> expected_size = {}) = 0;
  virtual bool cancel_upload(std::string_view repo, std::string_view id) = 0;

  // ---- manifests and tags -------------------------------------------------
  /// Stores a manifest that the caller has parsed and whose references it has
  /// checked. Stores the client's bytes as a blob, records the manifest (and
  /// its subject for the referrers API), and points `tag` at it if given.
  /// Tags move forward only: with `seq` the tag moves only if `seq` is greater
  /// than the stored one; without, the stored sequence number + 1 is used.
  virtual tag_update put_manifest(std::string_view repo, const oci::digest& dig,
                                  const oci::manifest& parsed, std::string_view body,
                                  std::optional<std::string_view> tag,
                                  std::optional<std::uint64_t> seq = {}) = 0;
  virtual std::optional<manifest_info> manifest(std::string_view repo, const oci::reference&) const = 0;
  virtual std::string read_manifest(const manifest_info&) const = 0;
  /// Every manifest in `repo`, tagged or not.
  virtual std::vector<oci::digest> manifests(std::string_view repo) const = 0;
  /// Deletes the manifest and every tag pointing at it; false if absent.
  virtual bool delete_manifest(std::string_view repo, const oci::digest&) = 0;
  /// Deletes `manifests` (with the tags pointing at them) and unlinks `blobs`
  /// from `repo` in one transaction: a crash leaves all of it or none (one
  /// image's removal, store/image_removal.hpp). Absent ones are skipped;
  /// returns how many were removed.
  virtual std::size_t delete_together(std::string_view repo, const std::vector<oci::digest>& manifests,
                                      const std::vector<oci::digest>& blobs) = 0;
  /// Without `seq`: the tag goes if it names a manifest (a client's DELETE).
  /// With `seq` (a cluster's removal): the tag is deleted at `seq` if that is
  /// newer than the stored number, even if the store never had the tag, so a
  /// late, older delivery cannot bring it back; true if the tag named a
  /// manifest and no longer does.
  virtual bool delete_tag(std::string_view repo, std::string_view tag,
                          std::optional<std::uint64_t> seq = {}) = 0;
  /// Tags in lexical order, after `last` if non-empty, at most `n` if given.
  virtual std::vector<std::string> tags(std::string_view repo, std::optional<std::size_t> n,
                                        std::string_view last) const = 0;
  virtual std::optional<std::uint64_t> tag_seq(std::string_view repo, std::string_view tag) const = 0;
  /// Manifests in `repo` whose subject is `subject`, optionally filtered by
  /// artifact type, as descriptors (mediaType, digest, size, artifactType,
  /// annotations).
  virtual std::vector<oci::descriptor> referrers(std::string_view repo, const oci::digest& subject,
                                                 std::string_view artifact_type) const = 0;

  /// Checks blob `d` against its digest (reading it whole) and, if its
  /// bytes no longer match (damaged on disk after it was stored), drops it
  /// with every manifest and tag that needs it, as a store does at open for
  /// a lost or cut file: a node then no longer reports or serves an image
  /// it cannot serve whole, and a cluster delivers it again. True if it was
  /// damaged and dropped; false if it is whole or absent.
  virtual bool drop_if_damaged(const oci::digest& d) = 0;

  // ---- capacity, for placement decisions ----------------------------------
  virtual std::uint64_t free_bytes() const = 0;
  /// Committed blobs (manifests included) and the bytes of upload sessions,
  /// finished or abandoned, until they are swept.
  virtual std::uint64_t used_bytes() const = 0;
};

} // namespace stowage::store
