#include "store/blob_files.hpp"

#include "store/file_io.hpp"
#include "store/registry_store.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>

namespace stowage::store {

namespace {

bool lower_hex(std::string_view s) {
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
      return false;
  return true;
}

std::string to_hex(const unsigned char* p, std::size_t n) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string s;
  s.reserve(n * 2);
  for (std::size_t i = 0; i < n; ++i) {
    s.push_back(digits[p[i] >> 4]);
    s.push_back(digits[p[i] & 15]);
  }
  return s;
}

/// This boot of the machine, from the kernel; empty if it cannot be told.
std::string boot_id() {
  std::ifstream in("/proc/sys/kernel/random/boot_id");
  std::string id;
  std::getline(in, id);
  return id;
}

} // namespace

blob_files::blob_files(fs::path root, bool sync)
    : root_(std::move(root)), blobs_(root_ / "blobs"), uploads_(root_ / "uploads"),
      tmp_(root_ / "tmp"), sync_(sync) {
  fileio::ensure_dir_durable(root_);
  auto lock_path = root_ / "lock";
  lock_ = fileio::open_file(lock_path, O_RDWR | O_CREAT, 0644);
  while (::flock(lock_.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno == EINTR)
      continue;
    if (errno == EWOULDBLOCK)
      throw store_error("store directory " + root_.string() +
                        " is in use: another stowage process (or another store in this one) has it open");
    fileio::throw_errno("flock", lock_path);
  }
  if (!sync_)
    start_unsynced();
  fileio::ensure_dir_durable(blobs_ / "sha256");
  fileio::ensure_dir_durable(uploads_);
  fileio::ensure_dir_durable(tmp_);
  // All 256 buckets up front: a commit then never pays for a mkdir and the
  // fsync of its parent.
  bool created = false;
  for (int i = 0; i < 256; ++i) {
    unsigned char b = static_cast<unsigned char>(i);
    auto bucket = blobs_ / "sha256" / to_hex(&b, 1);
    if (::mkdir(bucket.c_str(), 0755) == 0)
      created = true;
    else if (errno != EEXIST)
      fileio::throw_errno("mkdir", bucket);
  }
  if (created)
    fileio::fsync_dir(blobs_ / "sha256");
}

void blob_files::start_unsynced() const {
  auto marker = root_ / "unsynced";
  auto now = boot_id();
  std::error_code ec;
  if (fs::exists(marker)) {
    std::ifstream in(marker);
    std::string then;
    std::getline(in, then);
    if (now.empty() || then != now) {
      std::vector<fs::path> entries;
      for (const auto& e : fs::directory_iterator(root_))
        if (e.path().filename() != "lock")
          entries.push_back(e.path());
      for (const auto& e : entries)
        if (fs::remove_all(e, ec); ec)
          throw store_error("emptying " + root_.string() + " after a restart of the machine: " + ec.message());
    }
  }
  // Durable before any unsynced write, or a crash could leave torn files
  // behind a marker that says nothing is pending.
  auto fd = fileio::open_file(marker, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  fileio::write_all(fd.get(), now.data(), now.size(), marker);
  fileio::fsync_fd(fd.get(), marker);
  fileio::fsync_dir(root_);
}

blob_files::~blob_files() {
  if (sync_ || !lock_ || ::syncfs(lock_.get()) != 0)
    return; // the marker stays: the next open in another boot starts afresh
  std::error_code ec;
  fs::remove(root_ / "unsynced", ec);
  try {
    fileio::fsync_dir(root_);
  } catch (const store_error&) {
  }
}

bool blob_files::storable(const oci::digest& d) {
  return d.algorithm == "sha256" && d.hex.size() == 64 && lower_hex(d.hex);
}

bool blob_files::valid_upload_id(std::string_view id) {
  return id.size() == 32 && lower_hex(id);
}

std::string blob_files::new_random_id() {
  unsigned char raw[16];
  std::size_t got = 0;
  while (got < sizeof raw) {
    ssize_t n = ::getrandom(raw + got, sizeof raw - got, 0);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      fileio::throw_errno("getrandom", "");
    }
    got += static_cast<std::size_t>(n);
  }
  return to_hex(raw, sizeof raw);
}

fs::path blob_files::blob_path(const oci::digest& d) const {
  if (!storable(d))
    throw store_error("not a storable digest: " + d.str());
  return blobs_ / d.algorithm / d.hex.substr(0, 2) / d.hex;
}

fs::path blob_files::upload_path(std::string_view id) const {
  if (!valid_upload_id(id))
    throw store_error("not an upload id: " + std::string(id));
  return uploads_ / std::string(id);
}

bool blob_files::blob_file_exists(const oci::digest& d) const {
  struct stat st{};
  return ::stat(blob_path(d).c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

void blob_files::install(const fs::path& verified, const oci::digest& d,
                         const std::function<void(std::string_view)>& after) const {
  auto target = blob_path(d);
  fileio::ensure_dir_durable(target.parent_path());
  if (::rename(verified.c_str(), target.c_str()) != 0)
    fileio::throw_errno("rename into", target);
  after("renamed");
  if (sync_)
    fileio::fsync_dir(target.parent_path());
  after("dir_synced");
}

fs::path blob_files::write_temp(std::string_view bytes) const {
  auto p = tmp_ / (new_random_id() + ".tmp");
  auto fd = fileio::open_file(p, O_WRONLY | O_CREAT | O_EXCL, 0444);
  try {
    fileio::write_all(fd.get(), bytes.data(), bytes.size(), p);
    if (sync_)
      fileio::fsync_fd(fd.get(), p);
  } catch (...) {
    fileio::remove_quietly(p);
    throw;
  }
  return p;
}

void blob_files::create_upload_file(std::string_view id) const {
  auto p = upload_path(id);
  fileio::open_file(p, O_WRONLY | O_CREAT | O_EXCL, 0644);
}

fileio::unique_fd blob_files::open_upload(std::string_view id, int flags) const {
  auto p = upload_path(id);
  int fd;
  do {
    fd = ::open(p.c_str(), flags | O_CLOEXEC);
  } while (fd < 0 && errno == EINTR);
  if (fd >= 0)
    return fileio::unique_fd(fd);
  if (errno != EACCES)
    fileio::throw_errno("open", p);
  if (::chmod(p.c_str(), 0644) != 0)
    fileio::throw_errno("chmod", p);
  return fileio::open_file(p, flags);
}

void blob_files::clear_temp() const {
  for (const auto& e : fs::directory_iterator(tmp_))
    fs::remove_all(e.path());
}

std::vector<std::string> blob_files::upload_files() const {
  std::vector<std::string> ids;
  for (const auto& e : fs::directory_iterator(uploads_)) {
    auto name = e.path().filename().string();
    if (valid_upload_id(name) && e.is_regular_file())
      ids.push_back(name);
    else
      fs::remove_all(e.path());
  }
  return ids;
}

std::vector<blob_files::found_blob> blob_files::scan_blobs() const {
  std::vector<found_blob> out;
  for (const auto& algo : fs::directory_iterator(blobs_)) {
    if (algo.path().filename() != "sha256" || !algo.is_directory()) {
      fs::remove_all(algo.path());
      continue;
    }
    for (const auto& bucket : fs::directory_iterator(algo.path())) {
      auto b = bucket.path().filename().string();
      if (!bucket.is_directory() || b.size() != 2 || !lower_hex(b)) {
        fs::remove_all(bucket.path());
        continue;
      }
      for (const auto& f : fs::directory_iterator(bucket.path())) {
        auto name = f.path().filename().string();
        if (!f.is_regular_file() || name.size() != 64 || !lower_hex(name) ||
            name.compare(0, 2, b) != 0) {
          fs::remove_all(f.path());
          continue;
        }
        out.push_back({"sha256:" + name, static_cast<std::uint64_t>(f.file_size())});
      }
    }
  }
  return out;
}

} // namespace stowage::store
