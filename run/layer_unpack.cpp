#include "run/layer_unpack.hpp"

#include <archive.h>
#include <archive_entry.h>

#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>
#include <optional>
#include <set>
#include <string_view>
#include <vector>

namespace stowage::run {
namespace fs = std::filesystem;

bool is_whiteout_device(const fs::path& p) {
  struct stat st {};
  return ::lstat(p.c_str(), &st) == 0 && S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0);
}

namespace {

constexpr std::string_view wh_prefix = ".wh.";
constexpr std::string_view wh_opaque = ".wh..wh..opq";
constexpr std::string_view wh_meta_prefix = ".wh..wh.";

// libarchive's message for the last error, never null, on one line.
std::string why(archive* a) {
  const char* m = archive_error_string(a);
  std::string s = m ? m : "unknown error";
  for (auto& c : s)
    if (c == '\n' || c == '\r') c = ' ';
  return s;
}

// The decompressed tar stream, read through libarchive's "raw" format so that
// every filter it knows (gzip, zstd, xz, none…) is detected by content. The
// tar reader pulls from here, and every byte is hashed on the way: the diff ID
// is verified without a second pass over the blob.
struct hashed_stream {
  archive* raw = nullptr;
  oci::sha256_hasher hasher;
  std::uint64_t bytes = 0;
  std::vector<char> buf = std::vector<char>(1 << 20);
  std::string error;

  la_ssize_t pull() {
    la_ssize_t n = archive_read_data(raw, buf.data(), buf.size());
    if (n < 0) {
      error = why(raw);
      return -1;
    }
    hasher.update(buf.data(), static_cast<std::size_t>(n));
    bytes += static_cast<std::uint64_t>(n);
    return n;
  }
};

la_ssize_t read_hashed(archive* a, void* client, const void** out) {
  auto* s = static_cast<hashed_stream*>(client);
  la_ssize_t n = s->pull();
  if (n < 0) {
    archive_set_error(a, EIO, "%s", s->error.c_str());
    return -1;
  }
  *out = s->buf.data();
  return n;
}

struct archive_deleter {
  void operator()(archive* a) const { archive_read_free(a); }
};
struct disk_deleter {
  void operator()(archive* a) const { archive_write_free(a); }
};

// A tar path made relative and checked: nullopt for absolute paths or any ".."
// component; "" for the root entry ("./", ".").
std::optional<std::string> clean_path(std::string_view p) {
  if (p.empty() || p.front() == '/') return std::nullopt;
  std::string out;
  std::size_t i = 0;
  while (i <= p.size()) {
    std::size_t j = p.find('/', i);
    if (j == std::string_view::npos) j = p.size();
    std::string_view part = p.substr(i, j - i);
    if (part == "..") return std::nullopt;
    if (!part.empty() && part != ".") {
      if (!out.empty()) out += '/';
      out += part;
    }
    i = j + 1;
  }
  return out;
}

// True if some directory component of `rel` (below `root`) is a symlink or
// not a directory — writing there could leave the tree.
bool parent_is_unsafe(const std::string& root, const std::string& rel) {
  std::size_t pos = 0;
  while ((pos = rel.find('/', pos)) != std::string::npos) {
    std::string prefix = root + "/" + rel.substr(0, pos);
    struct stat st {};
    if (::lstat(prefix.c_str(), &st) == 0 && !S_ISDIR(st.st_mode)) return true;
    ++pos;
  }
  return false;
}

// mkdir -p of `rel`'s components below `root`, refusing to pass through a symlink.
bool make_dirs(const std::string& root, const std::string& rel) {
  std::size_t pos = 0;
  while (pos <= rel.size()) {
    std::size_t j = rel.find('/', pos);
    if (j == std::string::npos) j = rel.size();
    std::string prefix = root + "/" + rel.substr(0, j);
    struct stat st {};
    if (::lstat(prefix.c_str(), &st) == 0) {
      if (!S_ISDIR(st.st_mode)) return false;
    } else if (::mkdir(prefix.c_str(), 0755) != 0) {
      return false;
    }
    pos = j + 1;
  }
  return true;
}

// Overlay xattrs in a tar would let a layer redirect or hide lower layers in
// ways the OCI whiteout rules do not allow: drop them, keep the rest.
void strip_overlay_xattrs(archive_entry* e) {
  if (archive_entry_xattr_reset(e) == 0) return;
  struct kept { std::string name; std::string value; };
  std::vector<kept> keep;
  bool dropped = false;
  const char* name;
  const void* value;
  size_t size;
  while (archive_entry_xattr_next(e, &name, &value, &size) == ARCHIVE_OK) {
    if (std::string_view(name).starts_with("trusted.overlay.")) {
      dropped = true;
      continue;
    }
    keep.push_back({name, std::string(static_cast<const char*>(value), size)});
  }
  if (!dropped) return;
  archive_entry_xattr_clear(e);
  for (auto& k : keep) archive_entry_xattr_add_entry(e, k.name.c_str(), k.value.data(), k.value.size());
}

// One line whatever the tar says: control characters in names are escaped.
std::string refuse(const std::string& entry, const std::string& why) {
  std::string name;
  for (unsigned char c : entry) {
    if (c < 0x20 || c == 0x7f) {
      char buf[5];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      name += buf;
    } else {
      name += static_cast<char>(c);
    }
  }
  return "layer refused: entry '" + name + "': " + why;
}

// `root` is the canonical target directory: every path handed to libarchive
// or to a system call is root + "/" + a checked relative path.
std::string unpack_entries(archive* tar, archive* disk, const std::string& root, std::uint64_t keep_free,
                           std::set<std::string>& bookkeeping, unpack_result& res) {
  constexpr std::uint64_t check_every = 64 << 20;
  std::uint64_t written = 0, next_check = 0;
  archive_entry* e = nullptr;
  for (;;) {
    int r = archive_read_next_header(tar, &e);
    if (r == ARCHIVE_EOF) return {};
    if (r < ARCHIVE_WARN) return std::string("layer refused: bad tar: ") + why(tar);
    ++res.entries;
    std::string raw_name = archive_entry_pathname(e) ? archive_entry_pathname(e) : "";
    auto rel = clean_path(raw_name);
    if (!rel) return refuse(raw_name, "absolute path or '..' component");
    if (const char* hl = archive_entry_hardlink(e)) {
      auto target = clean_path(hl);
      if (!target || target->empty()) return refuse(raw_name, std::string("hard link to '") + hl + "' leaves the layer");
      if (parent_is_unsafe(root, *target))
        return refuse(raw_name, std::string("hard link through a symlink: '") + hl + "'");
      archive_entry_set_hardlink(e, (root + "/" + *target).c_str());
    }
    if (rel->empty()) continue; // the root directory itself: keep the cache's own
    if (parent_is_unsafe(root, *rel)) return refuse(raw_name, "path passes through a symlink");

    std::string base = fs::path(*rel).filename().string();
    std::string parent = fs::path(*rel).parent_path().string();
    // aufs bookkeeping at the layer's root (.wh..wh.plnk/, .wh..wh.aufs) is
    // not content, but other entries may be hard links to its files: it is
    // unpacked as plain files (no whiteout meaning) and removed at the end.
    const std::string top = fs::path(*rel).begin()->string();
    if (top.starts_with(wh_meta_prefix) && *rel != wh_opaque) {
      bookkeeping.insert(top);
    } else if (base.starts_with(wh_prefix)) {
      if (!parent.empty() && !make_dirs(root, parent)) return refuse(raw_name, "whiteout parent is not a directory");
      if (base == wh_opaque) {
        const std::string dir = parent.empty() ? root : root + "/" + parent;
        if (::lsetxattr(dir.c_str(), opaque_xattr, "y", 1, 0) != 0)
          return refuse(raw_name, std::string("cannot mark directory opaque: ") + std::strerror(errno));
      } else {
        std::string hidden = base.substr(wh_prefix.size());
        if (hidden.empty() || hidden == "." || hidden == "..") return refuse(raw_name, "bad whiteout name");
        std::string target = root + "/" + (parent.empty() ? hidden : parent + "/" + hidden);
        // A file and its whiteout in the same layer: the file wins (it is newer
        // than anything the whiteout can hide).
        if (::mknod(target.c_str(), S_IFCHR | 0, makedev(0, 0)) != 0 && errno != EEXIST)
          return refuse(raw_name, std::string("cannot create whiteout: ") + std::strerror(errno));
      }
      archive_read_data_skip(tar);
      continue;
    }

    archive_entry_set_pathname(e, (root + "/" + *rel).c_str());
    strip_overlay_xattrs(e);
    r = archive_write_header(disk, e);
    if (r < ARCHIVE_WARN) return refuse(raw_name, why(disk));
    if (archive_entry_size(e) > 0 && !archive_entry_hardlink(e)) {
      const void* block;
      size_t size;
      la_int64_t offset;
      for (;;) {
        r = archive_read_data_block(tar, &block, &size, &offset);
        if (r == ARCHIVE_EOF) break;
        if (r < ARCHIVE_WARN) return std::string("layer refused: bad tar data: ") + why(tar);
        if (written >= next_check) {
          if (auto left = free_bytes(root); left < keep_free)
            return refuse(raw_name, "unpacking it would fill the disk (" + std::to_string(left >> 20) +
                                        " MiB free, " + std::to_string(keep_free >> 20) + " MiB kept free)");
          next_check = written + check_every;
        }
        written += size;
        if (archive_write_data_block(disk, block, size, offset) < ARCHIVE_WARN)
          return refuse(raw_name, why(disk));
      }
    }
    if (archive_write_finish_entry(disk) < ARCHIVE_WARN) return refuse(raw_name, why(disk));
  }
}

} // namespace

bool is_filesystem_layer(std::string_view media_type) {
  static constexpr std::string_view known[] = {
      "application/vnd.oci.image.layer.v1.tar",
      "application/vnd.oci.image.layer.v1.tar+gzip",
      "application/vnd.oci.image.layer.v1.tar+zstd",
      "application/vnd.oci.image.layer.nondistributable.v1.tar",
      "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
      "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
      "application/vnd.docker.image.rootfs.diff.tar",
      "application/vnd.docker.image.rootfs.diff.tar.gzip",
      "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
  };
  return std::find(std::begin(known), std::end(known), media_type) != std::end(known);
}

std::uint64_t free_bytes(const fs::path& dir) {
  struct statvfs v {};
  if (::statvfs(dir.c_str(), &v) != 0) return std::numeric_limits<std::uint64_t>::max();
  return static_cast<std::uint64_t>(v.f_bavail) * v.f_frsize;
}

std::uint64_t default_keep_free(const fs::path& dir) {
  struct statvfs v {};
  if (::statvfs(dir.c_str(), &v) != 0) return 1ull << 30;
  return std::max<std::uint64_t>(1ull << 30, static_cast<std::uint64_t>(v.f_blocks) * v.f_frsize / 20);
}

unpack_result unpack_layer(const fs::path& blob, const fs::path& dir, std::optional<std::uint64_t> keep_free) {
  unpack_result res;
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) {
    res.error = "cannot create " + dir.string() + ": " + ec.message();
    return res;
  }

  hashed_stream src;
  std::unique_ptr<archive, archive_deleter> raw(archive_read_new());
  archive_read_support_filter_all(raw.get());
  archive_read_support_format_raw(raw.get());
  if (archive_read_open_filename(raw.get(), blob.c_str(), 1 << 20) != ARCHIVE_OK) {
    res.error = "cannot open layer " + blob.string() + ": " + why(raw.get());
    return res;
  }
  archive_entry* raw_entry = nullptr;
  if (archive_read_next_header(raw.get(), &raw_entry) != ARCHIVE_OK) {
    res.error = "layer refused: empty or unreadable blob";
    return res;
  }
  src.raw = raw.get();

  std::unique_ptr<archive, archive_deleter> tar(archive_read_new());
  archive_read_support_format_tar(tar.get());
  if (archive_read_open(tar.get(), &src, nullptr, read_hashed, nullptr) != ARCHIVE_OK) {
    res.error = std::string("layer refused: not a tar: ") + why(tar.get());
    return res;
  }

  // Every entry name was checked above (no "..", not absolute, no symlink on
  // the way) and is then made absolute under the canonical target, so no
  // chdir is needed (the process may run other threads with relative paths).
  // libarchive's guards stay on as a second line: SECURE_NODOTDOT and
  // SECURE_SYMLINKS (which also sees symlinks this very layer created);
  // SECURE_NOABSOLUTEPATHS cannot be set because our own names are absolute
  // — absolute names in the tar were refused by clean_path instead.
  // Owners are kept numeric (no name lookup: host names mean nothing inside
  // the image). No ARCHIVE_EXTRACT_UNLINK: with it, SECURE_SYMLINKS would
  // silently remove a symlink in the way instead of refusing the entry.
  std::unique_ptr<archive, disk_deleter> disk(archive_write_disk_new());
  archive_write_disk_set_options(disk.get(),
      ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_OWNER | ARCHIVE_EXTRACT_XATTR |
      ARCHIVE_EXTRACT_SECURE_NODOTDOT | ARCHIVE_EXTRACT_SECURE_SYMLINKS);

  // The canonical form has no symlink in it, so SECURE_SYMLINKS can check
  // the whole absolute path.
  const std::string root = fs::canonical(dir, ec).string();
  if (ec) {
    res.error = "cannot resolve " + dir.string() + ": " + ec.message();
    return res;
  }
  std::set<std::string> bookkeeping; // aufs' top-level entries, dropped once their files were linked
  res.error = unpack_entries(tar.get(), disk.get(), root, keep_free ? *keep_free : default_keep_free(root),
                             bookkeeping, res);
  // Directory modes and times are applied at close (libarchive defers them
  // so read-only directories can still be filled).
  if (archive_write_close(disk.get()) != ARCHIVE_OK && res.error.empty())
    res.error = std::string("layer refused: ") + why(disk.get());
  if (!res.ok()) return res;
  for (const auto& name : bookkeeping) {
    fs::remove_all(fs::path(root) / name, ec);
    if (ec) {
      res.error = "cannot remove aufs bookkeeping " + name + ": " + ec.message();
      return res;
    }
  }

  // Hash what the tar reader left unread (end-of-archive padding).
  for (;;) {
    la_ssize_t n = src.pull();
    if (n < 0) {
      res.error = "layer refused: " + src.error;
      return res;
    }
    if (n == 0) break;
  }
  res.diff_id = src.hasher.finish();
  res.tar_bytes = src.bytes;
  return res;
}

} // namespace stowage::run
