// registry_store on a local directory: content-addressed files (blob_files)
// and SQLite metadata (metadata_db). One mutex guards the writing connection
// and the in-memory session state; lookups use a second, read-only
// connection under their own mutex, so pulls never wait for a commit's
// fsyncs. Bulk file I/O (appends, hashing, fsync of upload data) runs outside
// both. Files are renamed into blobs/ before their row commits and unlinked
// after their row is gone, so a row a reader can see always has its file.
#include "store/disk_store.hpp"

#include "store/blob_files.hpp"
#include "store/cache_trim.hpp"
#include "store/file_io.hpp"
#include "store/metadata_db.hpp"
#include "store/recovery.hpp"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <map>
#include <mutex>
#include <stdexcept>

namespace stowage::store {

namespace {

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

/// The running SHA-256 of an upload session and how many bytes it has seen.
struct session_hash {
  oci::sha256_hasher hasher;
  std::uint64_t hashed = 0;
};

class disk_store;

class disk_upload_writer final : public upload_writer {
  static_assert(fileio::buffered_appender::max_unwritten <= max_unwritten);

public:
  disk_upload_writer(disk_store& store, std::string id, fileio::unique_fd fd, fs::path path,
                     std::uint64_t base, std::optional<session_hash> hash, fileio::buffered_appender::mode mode)
      : store_(store), id_(std::move(id)), hash_(std::move(hash)),
        out_(std::move(fd), std::move(path), base, mode, hash_ ? hash_into(*hash_) : nullptr), base_(base) {}
  ~disk_upload_writer() override;

  void write(const void* data, std::size_t len) override {
    if (finished_)
      throw store_error("upload writer already finished");
    if (failed_)
      throw store_error("upload writer failed earlier");
    try {
      out_.append(data, len); // and into the hash (the tap)
    } catch (...) {
      failed_ = true; // how much reached the file is unknown: nothing of this writer counts
      throw;
    }
    written_ += len;
  }
  std::uint64_t size() const override { return base_ + written_; }
  void finish() override;

private:
  /// The appender's tap: the bytes it writes, into the session's hash (on
  /// its writing thread; complete once it flushed).
  static fileio::buffered_appender::tap_fn hash_into(session_hash& h) {
    return [&h](const char* data, std::size_t len) {
      h.hasher.update(data, len);
      h.hashed += len;
    };
  }

  disk_store& store_;
  std::string id_;
  std::optional<session_hash> hash_; // before out_: the appender's thread uses it until out_ is gone
  fileio::buffered_appender out_;
  std::uint64_t base_;
  std::uint64_t written_ = 0;
  bool finished_ = false;
  bool failed_ = false;
};

std::vector<oci::digest> digests_of(const std::vector<std::string>& rows) {
  std::vector<oci::digest> out;
  for (const auto& r : rows)
    if (auto d = oci::digest::parse(r))
      out.push_back(*d);
  return out;
}

class disk_store final : public registry_store {
public:
  disk_store(const fs::path& dir, std::chrono::seconds ttl, fault_hook hook, store_kind kind)
      : files_(dir, kind == store_kind::durable), db_(dir / "meta.db"),
        reader_(dir / "meta.db", metadata_db::access::read_only), ttl_ms_(std::chrono::milliseconds(ttl).count()),
        hook_(std::move(hook)), kind_(kind) {
    if (kind_ == store_kind::cache)
      db_.never_sync();
    // meta.db may have just been created: make its directory entry durable.
    fileio::fsync_dir(files_.root());
    std::lock_guard lock(mu_);
    recover_locked();
  }

  // ---- repositories -------------------------------------------------------
  bool repository_exists(std::string_view repo) const override {
    std::lock_guard lock(read_mu_);
    return reader_.repository_exists(repo);
  }
  std::vector<std::string> repositories() const override {
    std::lock_guard lock(read_mu_);
    return reader_.repositories();
  }

  // ---- blobs --------------------------------------------------------------
  std::optional<blob_info> blob(std::string_view repo, const oci::digest& d) const override {
    if (!blob_files::storable(d))
      return std::nullopt;
    std::lock_guard lock(read_mu_);
    auto size = reader_.linked_blob_size(repo, d.str());
    if (!size)
      return std::nullopt;
    return blob_info{d, *size, files_.blob_path(d)};
  }

  std::optional<blob_info> blob_anywhere(const oci::digest& d) const override {
    if (!blob_files::storable(d))
      return std::nullopt;
    std::lock_guard lock(read_mu_);
    auto size = reader_.blob_size(d.str());
    if (!size)
      return std::nullopt;
    return blob_info{d, *size, files_.blob_path(d)};
  }

  bool mount_blob(std::string_view to_repo, const oci::digest& d,
                  std::string_view from_repo) override {
    if (!blob_files::storable(d))
      return false;
    std::lock_guard lock(mu_);
    auto key = d.str();
    auto size = from_repo.empty() ? db_.blob_size(key) : db_.linked_blob_size(from_repo, key);
    if (!size)
      return false;
    metadata_db::transaction tx(db_);
    db_.ensure_repository(to_repo);
    db_.link_blob(to_repo, key);
    tx.commit();
    reused_locked(d);
    return true;
  }

  bool delete_blob(std::string_view repo, const oci::digest& d) override {
    return delete_together(repo, {}, {d}) == 1;
  }

  std::size_t delete_together(std::string_view repo, const std::vector<oci::digest>& manifests,
                              const std::vector<oci::digest>& blobs) override {
    std::lock_guard lock(mu_);
    std::size_t removed = 0;
    std::vector<oci::digest> unused; // content no repository links any more
    metadata_db::transaction tx(db_);
    auto drop_if_unused = [&](const oci::digest& d) {
      if (!db_.blob_referenced(d.str())) {
        db_.delete_blob(d.str());
        unused.push_back(d);
      }
    };
    for (const auto& d : manifests)
      if (blob_files::storable(d) && db_.delete_manifest(repo, d.str())) {
        ++removed;
        drop_if_unused(d);
      }
    for (const auto& d : blobs)
      if (blob_files::storable(d) && db_.unlink_blob(repo, d.str())) {
        ++removed;
        drop_if_unused(d);
      }
    tx.commit();
    // The rows are gone first: a crash before the unlinks leaves orphan
    // files that recovery removes, never a row without its file.
    for (const auto& d : unused)
      fileio::remove_quietly(files_.blob_path(d));
    return removed;
  }

  bool drop_if_damaged(const oci::digest& d) override {
    if (!blob_files::storable(d))
      return false;
    auto path = files_.blob_path(d);
    std::optional<std::uint64_t> size;
    {
      std::lock_guard lock(read_mu_);
      size = reader_.blob_size(d.str());
    }
    if (!size)
      return false;
    // Hashed outside the lock: a big blob takes a while, and its file stays
    // readable through the descriptor even if a delete comes meanwhile.
    fileio::unique_fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    struct stat hashed {};
    const bool opened = fd.get() >= 0 && ::fstat(fd.get(), &hashed) == 0; // not: lost, which is damage too
    if (opened && static_cast<std::uint64_t>(hashed.st_size) == *size && fileio::hash_fd(fd.get(), *size, path) == d)
      return false;
    std::lock_guard lock(mu_);
    struct stat now {};
    const bool replaced = opened && ::stat(path.c_str(), &now) == 0 && now.st_ino != hashed.st_ino;
    if (db_.blob_size(d.str()) != size || replaced)
      return false; // deleted, or deleted and stored again, meanwhile
    spdlog::error("store {}: blob {} is damaged on disk (its bytes no longer match its digest): dropped with the "
                  "manifests that need it",
                  files_.root().string(), d.str());
    drop_damaged_blobs(files_, db_, {d.str()});
    return true;
  }

  // ---- upload sessions ----------------------------------------------------
  upload_info begin_upload(std::string_view repo) override {
    auto id = blob_files::new_random_id();
    // File before row: a crash in between leaves a row-less file, which
    // recovery deletes.
    files_.create_upload_file(id);
    try {
      std::lock_guard lock(mu_);
      auto now = now_ms();
      {
        relaxed_durability relaxed(db_);
        metadata_db::transaction tx(db_);
        db_.ensure_repository(repo);
        db_.insert_upload(id, repo, now);
        tx.commit();
      }
      sessions_[id].hash.emplace();
      maybe_sweep_locked(now);
    } catch (...) {
      fileio::remove_quietly(files_.upload_path(id));
      throw;
    }
    return {id, std::string(repo), 0, files_.upload_path(id)};
  }

  std::optional<upload_info> find_upload(std::string_view repo, std::string_view id) const override {
    if (!blob_files::valid_upload_id(id))
      return std::nullopt;
    std::lock_guard lock(read_mu_);
    auto row = reader_.upload(id);
    if (!row || row->repo != repo)
      return std::nullopt;
    return upload_info{row->id, row->repo, row->size, files_.upload_path(id)};
  }

  std::unique_ptr<upload_writer> append(std::string_view repo, std::string_view id, upload_use use,
                                        std::optional<std::uint64_t> at) override {
    auto claim = claim_session(repo, id, at);
    if (!claim)
      return nullptr;
    auto path = files_.upload_path(id);
    auto fd = files_.open_upload(id, O_RDWR);
    auto on_disk = fileio::fd_size(fd.get(), path);
    if (on_disk < claim->size)
      throw store_error("upload file shorter than recorded: " + path.string());
    // Bytes past the recorded size come from a body that never finished;
    // they are not part of the session.
    if (on_disk > claim->size && ::ftruncate(fd.get(), static_cast<off_t>(claim->size)) != 0)
      fileio::throw_errno("ftruncate", path);
    std::unique_ptr<disk_upload_writer> w;
    try {
      w = std::make_unique<disk_upload_writer>(*this, std::string(id), std::move(fd), path, claim->size,
                                               std::move(claim->hash), upload_write_mode(kind_, use));
    } catch (...) {
      claim->hash.reset(); // moved from: the session's commit hashes the file instead
      throw;
    }
    claim->handed_over = true;
    return w;
  }

  commit_status commit_upload(std::string_view repo, std::string_view id, const oci::digest& expected,
                              std::optional<std::uint64_t> expected_size) override {
    auto claim = claim_session(repo, id);
    if (!claim)
      return commit_status::upload_unknown;
    if (expected.algorithm != "sha256")
      return commit_status::unsupported; // the claim returns the hasher untouched
    auto path = files_.upload_path(id);
    if (!blob_files::storable(expected)) {
      end_session(*claim);
      return commit_status::digest_mismatch;
    }
    auto fd = files_.open_upload(id, O_RDWR);
    auto size = fileio::fd_size(fd.get(), path);
    if (size > claim->size) {
      if (::ftruncate(fd.get(), static_cast<off_t>(claim->size)) != 0)
        fileio::throw_errno("ftruncate", path);
      size = claim->size;
    }
    if (size < claim->size) { // data lost: the content cannot match
      end_session(*claim);
      return commit_status::digest_mismatch;
    }
    if (expected_size && *expected_size != size)
      return commit_status::size_mismatch;

    auto actual = (claim->hash && claim->hash->hashed == size) ? claim->hash->hasher.finish()
                                                                : fileio::hash_fd(fd.get(), size, path);
    claim->hash.reset();
    if (actual != expected) {
      end_session(*claim);
      return commit_status::digest_mismatch;
    }
    step("commit:verified");
    // Content already stored (a layer shared between images): link it and
    // spare the fsync of a copy that will be deleted.
    if (link_if_present(repo, *claim, expected, size))
      return commit_status::ok;
    if (::fchmod(fd.get(), 0444) != 0)
      fileio::throw_errno("fchmod", path);
    if (kind_ == store_kind::durable) {
      try {
        fileio::fsync_fd(fd.get(), path);
      } catch (const std::exception&) {
        // Pages whose writeback failed read back as clean, and a second
        // fsync reports nothing: a retry would acknowledge bytes the disk
        // may not have. The client uploads again.
        fd = {};
        end_session(*claim);
        throw;
      }
    }
    fd = {};
    step("commit:synced");
    std::lock_guard lock(mu_);
    const bool installing = !blob_present_locked(expected);
    try {
      if (installing)
        install_locked(path, expected, "commit");
      link_and_end_locked(repo, *claim, expected, size);
    } catch (const std::exception&) {
      // No row names the blob (a full disk fails the transaction; the
      // directory's fsync may fail after the rename): moved back, the file
      // is the session's again, not one in blobs/ that only the next open
      // would remove while the session's requests fail.
      std::error_code ec;
      if (installing && !fs::exists(path, ec))
        fs::rename(files_.blob_path(expected), path, ec);
      throw;
    }
    fileio::remove_quietly(path); // only left if the same content came first
    return commit_status::ok;
  }

  bool cancel_upload(std::string_view repo, std::string_view id) override {
    if (!blob_files::valid_upload_id(id))
      return false;
    {
      std::lock_guard lock(mu_);
      auto row = db_.upload(id);
      if (!row || row->repo != repo)
        return false;
      try {
        db_.delete_upload(id);
      } catch (const store_error&) {
        // A full disk refuses even this; the bytes go all the same (they
        // are the space that is short), and the row, now without its file,
        // at the next sweep or open.
        fileio::remove_quietly(files_.upload_path(id));
        throw;
      }
      auto it = sessions_.find(std::string(id));
      if (it != sessions_.end() && !it->second.busy)
        sessions_.erase(it);
    }
    fileio::remove_quietly(files_.upload_path(id));
    return true;
  }

  // ---- manifests and tags -------------------------------------------------
  tag_update put_manifest(std::string_view repo, const oci::digest& dig, const oci::manifest& parsed,
                          std::string_view body, std::optional<std::string_view> tag,
                          std::optional<std::uint64_t> seq) override {
    if (!blob_files::storable(dig))
      throw std::invalid_argument("manifest digest not storable: " + dig.str());
    if (oci::sha256_of(body) != dig)
      throw std::invalid_argument("manifest body does not match " + dig.str());
    if (tag && !oci::valid_tag(*tag))
      throw std::invalid_argument("invalid tag");
    auto key = dig.str();

    metadata_db::manifest_row row;
    row.digest = key;
    row.media_type = parsed.media_type;
    row.size = body.size();
    if (parsed.subject)
      row.subject = parsed.subject->dig.str();
    row.artifact_type = parsed.effective_artifact_type();
    row.annotations = nlohmann::json(parsed.annotations).dump();

    std::optional<fs::path> temp;
    if (!blob_stored(dig)) { // write and fsync outside the lock
      temp = files_.write_temp(body);
      step("manifest:temp_written");
    }
    struct temp_cleanup {
      std::optional<fs::path>& p;
      ~temp_cleanup() {
        if (p)
          fileio::remove_quietly(*p);
      }
    } cleanup{temp};

    std::lock_guard lock(mu_);
    if (!blob_present_locked(dig)) {
      if (!temp) // deleted since we looked
        temp = files_.write_temp(body);
      install_locked(*temp, dig, "manifest");
      temp.reset();
    }
    metadata_db::transaction tx(db_);
    db_.insert_blob(key, body.size());
    db_.ensure_repository(repo);
    db_.upsert_manifest(repo, row);
    tag_update result;
    if (tag) {
      auto current = db_.tag(repo, *tag);
      std::uint64_t stored = current ? current->seq : 0;
      // An equal number is let in on a tag that names nothing: a copy
      // dropped as damaged left it so, and its image comes back at the same
      // number. (A delete gets a number of its own.)
      if (seq && current && (*seq < stored || (*seq == stored && current->digest))) {
        result = {false, stored};
      } else {
        std::uint64_t next = seq ? *seq : stored + 1;
        db_.set_tag(repo, *tag, key, next);
        result = {true, next};
      }
    }
    tx.commit();
    return result;
  }

  std::vector<oci::digest> blobs(std::string_view repo) const override {
    std::lock_guard lock(read_mu_);
    return digests_of(reader_.linked_blobs(repo));
  }

  std::vector<oci::digest> manifests(std::string_view repo) const override {
    std::lock_guard lock(read_mu_);
    return digests_of(reader_.manifest_digests(repo));
  }

  std::optional<manifest_info> manifest(std::string_view repo, const oci::reference& ref) const override {
    std::optional<metadata_db::manifest_row> row;
    {
      std::lock_guard lock(read_mu_);
      if (ref.is_digest()) {
        if (!blob_files::storable(ref.dig()))
          return std::nullopt;
        row = reader_.manifest_by_digest(repo, ref.dig().str());
      } else {
        row = reader_.manifest_by_tag(repo, ref.tag());
      }
    }
    if (!row)
      return std::nullopt;
    auto d = metadata_db::parse_digest(row->digest);
    auto path = files_.blob_path(d);
    return manifest_info{std::move(d), row->media_type, row->size, std::move(path)};
  }

  std::string read_manifest(const manifest_info& m) const override {
    auto path = files_.blob_path(m.dig);
    auto fd = fileio::open_file(path, O_RDONLY);
    auto size = fileio::fd_size(fd.get(), path);
    std::string out(size, '\0');
    std::size_t got = 0;
    while (got < size) {
      ssize_t n = ::read(fd.get(), out.data() + got, size - got);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        fileio::throw_errno("read", path);
      got += static_cast<std::size_t>(n);
    }
    return out;
  }

  bool delete_manifest(std::string_view repo, const oci::digest& d) override {
    return delete_together(repo, {d}, {}) == 1;
  }

  bool delete_tag(std::string_view repo, std::string_view tag, std::optional<std::uint64_t> seq) override {
    std::lock_guard lock(mu_);
    return db_.delete_tag(repo, tag, seq);
  }

  std::vector<std::string> tags(std::string_view repo, std::optional<std::size_t> n,
                                std::string_view last) const override {
    std::lock_guard lock(read_mu_);
    return reader_.tags(repo, n, last);
  }

  /// The tag's sequence number; kept after the tag is deleted, because it is
  /// what a later delivery must exceed.
  std::optional<std::uint64_t> tag_seq(std::string_view repo, std::string_view tag) const override {
    std::lock_guard lock(read_mu_);
    auto row = reader_.tag(repo, tag);
    if (!row)
      return std::nullopt;
    return row->seq;
  }

  std::vector<oci::descriptor> referrers(std::string_view repo, const oci::digest& subject,
                                         std::string_view artifact_type) const override {
    std::vector<metadata_db::manifest_row> rows;
    {
      std::lock_guard lock(read_mu_);
      rows = reader_.referrers(repo, subject.str(), artifact_type);
    }
    std::vector<oci::descriptor> out;
    out.reserve(rows.size());
    for (auto& r : rows) {
      oci::descriptor d;
      d.media_type = r.media_type;
      d.dig = metadata_db::parse_digest(r.digest);
      d.size = r.size;
      d.artifact_type = r.artifact_type;
      auto j = nlohmann::json::parse(r.annotations, nullptr, false);
      if (j.is_object())
        for (auto& [k, v] : j.items())
          if (v.is_string())
            d.annotations.emplace(k, v.get<std::string>());
      out.push_back(std::move(d));
    }
    return out;
  }

  // ---- capacity -----------------------------------------------------------
  std::uint64_t free_bytes() const override {
    struct statvfs st{};
    if (::statvfs(files_.root().c_str(), &st) != 0)
      fileio::throw_errno("statvfs", files_.root());
    return static_cast<std::uint64_t>(st.f_bavail) * st.f_frsize;
  }
  std::uint64_t used_bytes() const override {
    std::lock_guard lock(read_mu_);
    return reader_.used_bytes();
  }

  // ---- used by the writer -------------------------------------------------
  void finish_write(const std::string& id, std::uint64_t size, std::optional<session_hash> hash) {
    std::lock_guard lock(mu_);
    bool alive;
    try {
      relaxed_durability relaxed(db_);
      alive = db_.set_upload_size(id, size, now_ms());
    } catch (...) {
      release_locked(id, std::nullopt, true);
      throw;
    }
    release_locked(id, alive ? std::move(hash) : std::nullopt, alive);
  }
  void abandon_write(const std::string& id, std::optional<session_hash> hash) noexcept {
    std::lock_guard lock(mu_);
    release_locked(id, std::move(hash), true);
  }

private:
  struct session_state {
    std::optional<session_hash> hash; // absent after a restart: rehash at commit
    bool busy = false;                 // a writer or a commit holds the session
  };

  /// Exclusive use of one session (a writer or a commit). Releasing it puts
  /// the hasher back unless the session ended.
  struct session_claim {
    session_claim(disk_store* s, std::string i, std::uint64_t sz, std::optional<session_hash> h)
        : store(s), id(std::move(i)), size(sz), hash(std::move(h)) {}
    session_claim(const session_claim&) = delete;
    session_claim& operator=(const session_claim&) = delete;
    disk_store* store;
    std::string id;
    std::uint64_t size;
    std::optional<session_hash> hash;
    bool handed_over = false; // a writer took the claim over
    bool ended = false;
    ~session_claim() {
      if (!handed_over && !ended)
        store->abandon_write(id, std::move(hash));
    }
  };

  /// Switches a few bookkeeping commits to synchronous=NORMAL.
  struct relaxed_durability {
    metadata_db& db;
    explicit relaxed_durability(metadata_db& d) : db(d) { db.set_durable(false); }
    ~relaxed_durability() {
      try {
        db.set_durable(true);
      } catch (...) {
      }
    }
  };

  /// The session, for one user at a time; with `at`, only if it ends there.
  std::unique_ptr<session_claim> claim_session(std::string_view repo, std::string_view id,
                                               std::optional<std::uint64_t> at = {}) {
    if (!blob_files::valid_upload_id(id))
      return nullptr;
    std::lock_guard lock(mu_);
    auto row = db_.upload(id);
    if (!row || row->repo != repo || (at && row->size != *at))
      return nullptr;
    auto& st = sessions_[row->id];
    if (st.busy)
      return nullptr; // concurrent use of one session is refused
    st.busy = true;
    std::optional<session_hash> hash;
    if (st.hash && st.hash->hashed == row->size)
      hash = std::move(st.hash);
    st.hash.reset();
    return std::make_unique<session_claim>(this, row->id, row->size, std::move(hash));
  }

  void release_locked(const std::string& id, std::optional<session_hash> hash, bool keep) noexcept {
    auto it = sessions_.find(id);
    if (it == sessions_.end())
      return;
    it->second.busy = false;
    if (!keep) {
      sessions_.erase(it);
      return;
    }
    it->second.hash = std::move(hash);
  }

  /// Ends a session whose content was refused: row, state and file go.
  void end_session(session_claim& c) {
    {
      std::lock_guard lock(mu_);
      db_.delete_upload(c.id);
      sessions_.erase(c.id);
    }
    c.ended = true;
    fileio::remove_quietly(files_.upload_path(c.id));
  }

  bool blob_present_locked(const oci::digest& d) const {
    return db_.blob_size(d.str()) && files_.blob_file_exists(d);
  }
  bool blob_stored(const oci::digest& d) const {
    std::lock_guard lock(mu_);
    return blob_present_locked(d);
  }

  /// The one transaction that makes a committed upload visible.
  void link_and_end_locked(std::string_view repo, session_claim& c, const oci::digest& d,
                           std::uint64_t size) {
    auto key = d.str();
    metadata_db::transaction tx(db_);
    db_.insert_blob(key, size);
    db_.ensure_repository(repo);
    db_.link_blob(repo, key);
    db_.delete_upload(c.id);
    tx.commit();
    sessions_.erase(c.id);
    c.ended = true;
  }

  bool link_if_present(std::string_view repo, session_claim& c, const oci::digest& d, std::uint64_t size) {
    {
      std::lock_guard lock(mu_);
      if (!blob_present_locked(d))
        return false;
      link_and_end_locked(repo, c, d, size);
      reused_locked(d);
    }
    fileio::remove_quietly(files_.upload_path(c.id));
    return true;
  }

  /// A cache's blob linked again (a mount, an upload of content it had): in
  /// use from now, so that the trimmer does not take it between this link
  /// and the manifest that will name it.
  void reused_locked(const oci::digest& d) {
    if (kind_ == store_kind::cache)
      mark_used(files_.blob_path(d));
  }

  /// Moves a verified, fsync'd file into blobs/ (under mu_: see the top).
  void install_locked(const fs::path& src, const oci::digest& d, std::string_view what) {
    files_.install(src, d, [&](std::string_view done) { step(std::string(what) + ":" + std::string(done)); });
  }

  void step(std::string_view name) {
    if (hook_)
      hook_(name);
  }

  /// Deletes sessions idle longer than the TTL (not those in use).
  void sweep_locked(std::int64_t now) {
    last_sweep_ms_ = now;
    std::vector<std::string> expired;
    for (const auto& u : db_.all_uploads()) {
      if (now - u.updated_ms <= ttl_ms_)
        continue;
      auto it = sessions_.find(u.id);
      if (it != sessions_.end() && it->second.busy)
        continue;
      expired.push_back(u.id);
    }
    if (expired.empty())
      return;
    {
      relaxed_durability relaxed(db_);
      metadata_db::transaction tx(db_);
      for (const auto& id : expired)
        db_.delete_upload(id);
      tx.commit();
    }
    // Rows first: a crash in between leaves row-less files, removed at open.
    for (const auto& id : expired) {
      sessions_.erase(id);
      fileio::remove_quietly(files_.upload_path(id));
    }
  }

  void maybe_sweep_locked(std::int64_t now) {
    auto interval = std::clamp<std::int64_t>(ttl_ms_ / 2, 1000, 600000);
    if (now - last_sweep_ms_ >= interval)
      sweep_locked(now);
  }

  /// Brings files and rows back into agreement after any crash.
  void recover_locked() {
    try {
      files_.clear_temp();
      reconcile_uploads(files_, db_);
      sweep_locked(now_ms());
      reconcile_blobs(files_, db_);
    } catch (const fs::filesystem_error& e) {
      throw store_error(std::string("recovering store: ") + e.what());
    }
  }

  blob_files files_;
  mutable std::mutex mu_;  // db_ (the one writer) and sessions_
  mutable metadata_db db_;
  // Lookups go through a second, read-only connection: WAL lets them run
  // while a commit holds mu_ across its renames and fsyncs.
  mutable std::mutex read_mu_;
  mutable metadata_db reader_;
  std::map<std::string, session_state> sessions_;
  std::int64_t ttl_ms_;
  std::int64_t last_sweep_ms_ = 0;
  fault_hook hook_;
  store_kind kind_;
};

disk_upload_writer::~disk_upload_writer() {
  if (finished_)
    return;
  // A body that did not finish: its bytes are cut off at the next use, so the
  // hasher is kept only if nothing was written through it. Its last write
  // lands first: the session, once released, may be appended to or
  // committed at once, and a write landing after that would change the file
  // under the next writer, or grow a committed blob past its size.
  out_.quiesce();
  store_.abandon_write(id_, written_ == 0 ? std::move(hash_) : std::nullopt);
}

void disk_upload_writer::finish() {
  if (finished_)
    return;
  std::string why = "an earlier write failed";
  if (!failed_) {
    try {
      out_.flush();
    } catch (const std::exception& e) {
      failed_ = true;
      why = e.what();
    }
  }
  finished_ = true;
  if (failed_) {
    // The session keeps its previous size; this writer's bytes are cut off
    // at the next use.
    store_.abandon_write(id_, std::nullopt);
    throw store_error("upload left at its previous size: " + why);
  }
  store_.finish_write(id_, size(), std::move(hash_));
}

} // namespace

fileio::buffered_appender::mode upload_write_mode(store_kind kind, upload_use use) {
  using mode = fileio::buffered_appender::mode;
  if (use == upload_use::kept)
    return mode::direct_if_possible;
  return kind == store_kind::cache ? mode::unsynced_buffered : mode::buffered;
}

std::unique_ptr<registry_store> open_disk_store(const std::filesystem::path& dir,
                                                std::chrono::seconds upload_ttl, fault_hook hook,
                                                store_kind kind) {
  try {
    return std::make_unique<disk_store>(dir, upload_ttl, std::move(hook), kind);
  } catch (const std::filesystem::filesystem_error& e) {
    throw store_error(std::string("opening store: ") + e.what());
  }
}

std::unique_ptr<registry_store> registry_store::open(const std::filesystem::path& dir,
                                                     std::chrono::seconds upload_ttl, store_kind kind) {
  return open_disk_store(dir, upload_ttl, {}, kind);
}

} // namespace stowage::store
