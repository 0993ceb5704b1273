// The store's durable metadata in one SQLite file (WAL, foreign keys):
// repositories, blobs and their links into repositories, manifests with
// their subject/artifactType for the referrers API, tags with their forward-
// only sequence numbers, and upload sessions. Digests are kept as
// "algo:hex" strings; repository names are only ever keys here.
//
// Not thread-safe: the store serializes the calls on each connection under
// a mutex of its own.
#pragma once

#include "oci/digest.hpp"

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

struct sqlite3;
struct sqlite3_stmt;

namespace stowage::store {

class metadata_db {
public:
  /// read_write creates the file and schema and sets WAL mode; read_only
  /// connections (opened after) serve lookups concurrently with the writer.
  enum class access { read_write, read_only };
  explicit metadata_db(const std::filesystem::path& file, access mode = access::read_write);
  ~metadata_db();
  metadata_db(const metadata_db&) = delete;
  metadata_db& operator=(const metadata_db&) = delete;

  /// BEGIN IMMEDIATE … COMMIT; rolls back if destroyed uncommitted.
  class transaction {
  public:
    explicit transaction(metadata_db& db);
    ~transaction();
    void commit();
  private:
    metadata_db& db_;
    bool done_ = false;
  };

  /// Digests are stored as "algo:hex" written by the store itself from
  /// validated digests; this splits one back (store_error if malformed).
  static oci::digest parse_digest(const std::string& s);

  /// synchronous=FULL (every commit reaches the disk before returning) or
  /// NORMAL (for bookkeeping that need not survive power loss; a later FULL
  /// commit makes it durable too).
  void set_durable(bool full);
  /// synchronous=OFF from now on, set_durable ignored: for a cache, which
  /// survives a process crash only (SQLite keeps a database whole across
  /// those without syncing).
  void never_sync();

  // ---- repositories
  void ensure_repository(std::string_view repo);
  bool repository_exists(std::string_view repo);
  std::vector<std::string> repositories();

  // ---- blobs
  std::optional<std::uint64_t> blob_size(std::string_view digest);
  std::optional<std::uint64_t> linked_blob_size(std::string_view repo, std::string_view digest);
  void insert_blob(std::string_view digest, std::uint64_t size); // no-op if present
  void link_blob(std::string_view repo, std::string_view digest); // no-op if linked
  bool unlink_blob(std::string_view repo, std::string_view digest);
  /// True if any repository links it or any manifest is stored as it.
  bool blob_referenced(std::string_view digest);
  void delete_blob(std::string_view digest);
  /// Removes a blob and everything that needs it (repair of a lost file).
  void purge_blob(std::string_view digest);
  std::uint64_t used_bytes();
  std::map<std::string, std::uint64_t> all_blobs();

  // ---- upload sessions
  struct upload_row {
    std::string id, repo;
    std::uint64_t size = 0;
    std::int64_t updated_ms = 0;
  };
  void insert_upload(std::string_view id, std::string_view repo, std::int64_t now_ms);
  std::optional<upload_row> upload(std::string_view id);
  bool set_upload_size(std::string_view id, std::uint64_t size, std::int64_t now_ms);
  bool delete_upload(std::string_view id);
  std::vector<upload_row> all_uploads();

  // ---- manifests
  struct manifest_row {
    std::string digest, media_type;
    std::uint64_t size = 0;
    std::string subject;        // empty if none
    std::string artifact_type;  // effective artifact type, may be empty
    std::string annotations;    // JSON object
  };
  void upsert_manifest(std::string_view repo, const manifest_row& m);
  std::optional<manifest_row> manifest_by_digest(std::string_view repo, std::string_view digest);
  /// Digests of every manifest in `repo`, tagged or not.
  std::vector<std::string> manifest_digests(std::string_view repo);
  /// Digests of every blob linked into `repo` (manifests' bytes included).
  std::vector<std::string> linked_blobs(std::string_view repo);
  std::optional<manifest_row> manifest_by_tag(std::string_view repo, std::string_view tag);
  /// Deletes the manifest and clears every tag pointing at it.
  bool delete_manifest(std::string_view repo, std::string_view digest);
  std::vector<manifest_row> referrers(std::string_view repo, std::string_view subject,
                                      std::string_view artifact_type);

  // ---- tags. A deleted tag keeps its row (digest NULL) so its sequence
  // number still guards against a late, older delivery.
  struct tag_row {
    std::optional<std::string> digest;
    std::uint64_t seq = 0;
  };
  std::optional<tag_row> tag(std::string_view repo, std::string_view tag);
  void set_tag(std::string_view repo, std::string_view tag, std::string_view digest,
               std::uint64_t seq);
  /// With `seq`: only if newer than the row's, which keeps `seq` (see
  /// registry_store::delete_tag). True if the tag named a manifest.
  bool delete_tag(std::string_view repo, std::string_view tag, std::optional<std::uint64_t> seq = {});
  std::vector<std::string> tags(std::string_view repo, std::optional<std::size_t> n,
                                std::string_view last);

private:
  class stmt;
  stmt& prepare(const char* sql);
  /// The first column of `sql`'s rows, its one parameter bound to `repo`.
  std::vector<std::string> texts_of_repo(const char* sql, std::string_view repo);
  void exec(const char* sql);
  [[noreturn]] void fail(const char* what);
  int changes();

  sqlite3* db_ = nullptr;
  bool synced_ = true;
  std::map<const char*, std::unique_ptr<stmt>> cache_; // keyed by literal address
};

} // namespace stowage::store
