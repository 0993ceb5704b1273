#include "run/rootfs.hpp"

#include "run/layer_unpack.hpp"

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/time.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <utility>

namespace stowage::run {
namespace fs = std::filesystem;

namespace {

std::string sys_error(const std::string& what, const fs::path& p) {
  return what + " " + p.string() + ": " + std::strerror(errno);
}

void copy_meta(const fs::path& dst, const struct stat& st) {
  if (::lchown(dst.c_str(), st.st_uid, st.st_gid) != 0) { /* not root: keep ours */ }
  if (!S_ISLNK(st.st_mode)) ::chmod(dst.c_str(), st.st_mode & 07777);
  struct timespec ts[2] = {st.st_atim, st.st_mtim};
  ::utimensat(AT_FDCWD, dst.c_str(), ts, AT_SYMLINK_NOFOLLOW);
}

void copy_xattrs(const fs::path& src, const fs::path& dst) {
  ssize_t n = ::llistxattr(src.c_str(), nullptr, 0);
  if (n <= 0) return;
  std::string names(static_cast<std::size_t>(n), '\0');
  n = ::llistxattr(src.c_str(), names.data(), names.size());
  for (std::size_t i = 0; n > 0 && i < static_cast<std::size_t>(n); i += std::strlen(names.c_str() + i) + 1) {
    const char* name = names.c_str() + i;
    if (std::string_view(name).starts_with("trusted.overlay.")) continue;
    ssize_t len = ::lgetxattr(src.c_str(), name, nullptr, 0);
    if (len < 0) continue;
    std::string val(static_cast<std::size_t>(len), '\0');
    len = ::lgetxattr(src.c_str(), name, val.data(), val.size());
    if (len >= 0) ::lsetxattr(dst.c_str(), name, val.data(), static_cast<std::size_t>(len), 0);
  }
}

bool is_opaque(const fs::path& dir) {
  char v = 0;
  return ::lgetxattr(dir.c_str(), opaque_xattr, &v, 1) == 1 && v == 'y';
}

// Hard links inside one layer stay hard links in the copy.
using inode_map = std::map<std::pair<dev_t, ino_t>, fs::path>;

std::string copy_file(const fs::path& src, const fs::path& dst, const struct stat& st) {
  // The layer's unpacking kept a share of the disk free; so does its copy.
  const auto data = static_cast<std::uint64_t>(st.st_blocks) * 512;
  if (free_bytes(dst.parent_path()) < data + default_keep_free(dst.parent_path()))
    return "copying " + src.string() + " would fill the disk";
  int in = ::open(src.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (in < 0) return sys_error("cannot read", src);
  int out = ::open(dst.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (out < 0) {
    ::close(in);
    return sys_error("cannot create", dst);
  }
  // Only the data segments are copied, the holes stay holes: a tiny layer
  // may hold a huge sparse file, which a plain copy would fill in.
  char buf[1 << 16];
  std::string err;
  off_t pos = 0;
  while (err.empty()) {
    off_t data = ::lseek(in, pos, SEEK_DATA);
    if (data < 0) {
      if (errno != ENXIO) err = sys_error("cannot read", src); // ENXIO: no data past pos
      break;
    }
    off_t hole = ::lseek(in, data, SEEK_HOLE);
    if (hole < 0) {
      err = sys_error("cannot read", src);
      break;
    }
    for (pos = data; pos < hole && err.empty();) {
      ssize_t n = ::pread(in, buf, static_cast<std::size_t>(std::min<off_t>(sizeof buf, hole - pos)), pos);
      if (n <= 0) {
        err = sys_error("cannot read", src);
      } else if (::pwrite(out, buf, static_cast<std::size_t>(n), pos) != n) {
        err = sys_error("cannot write", dst);
      } else {
        pos += n;
      }
    }
  }
  if (err.empty() && ::ftruncate(out, st.st_size) != 0) err = sys_error("cannot write", dst);
  ::close(in);
  ::close(out);
  return err;
}

std::string merge_dir(const fs::path& layer, const fs::path& target, inode_map& links) {
  std::error_code ec;
  for (auto it = fs::directory_iterator(layer, ec); !ec && it != fs::directory_iterator(); it.increment(ec)) {
    const fs::path src = it->path();
    const fs::path dst = target / src.filename();
    struct stat st {};
    if (::lstat(src.c_str(), &st) != 0) return sys_error("cannot stat", src);
    struct stat old {};
    bool exists = ::lstat(dst.c_str(), &old) == 0;

    if (S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0)) { // whiteout
      if (exists) fs::remove_all(dst, ec);
      continue;
    }
    if (S_ISDIR(st.st_mode)) {
      if (exists && (!S_ISDIR(old.st_mode) || is_opaque(src))) {
        fs::remove_all(dst, ec);
        exists = false;
      }
      if (!exists && ::mkdir(dst.c_str(), 0700) != 0) return sys_error("cannot create", dst);
      if (auto err = merge_dir(src, dst, links); !err.empty()) return err;
      copy_xattrs(src, dst);
      copy_meta(dst, st);
      continue;
    }
    if (exists) fs::remove_all(dst, ec);
    if (S_ISREG(st.st_mode) && st.st_nlink > 1) {
      auto [pos, fresh] = links.try_emplace({st.st_dev, st.st_ino}, dst);
      if (!fresh) {
        if (::link(pos->second.c_str(), dst.c_str()) != 0) return sys_error("cannot link", dst);
        continue;
      }
    }
    if (S_ISREG(st.st_mode)) {
      if (auto err = copy_file(src, dst, st); !err.empty()) return err;
    } else if (S_ISLNK(st.st_mode)) {
      std::string to(static_cast<std::size_t>(st.st_size) + 1, '\0');
      ssize_t n = ::readlink(src.c_str(), to.data(), to.size());
      if (n < 0) return sys_error("cannot read link", src);
      to.resize(static_cast<std::size_t>(n));
      if (::symlink(to.c_str(), dst.c_str()) != 0) return sys_error("cannot create link", dst);
    } else if (::mknod(dst.c_str(), st.st_mode, st.st_rdev) != 0) {
      return sys_error("cannot create node", dst);
    }
    copy_xattrs(src, dst);
    copy_meta(dst, st);
  }
  if (ec) return "cannot list " + layer.string() + ": " + ec.message();
  return {};
}

bool overlay_safe(const fs::path& p) {
  return p.string().find_first_of(",:") == std::string::npos;
}

} // namespace

std::string merge_layer(const fs::path& layer, const fs::path& target) {
  inode_map links;
  if (is_opaque(layer)) { // an opaque root: nothing from below survives
    std::error_code ec;
    for (auto& e : fs::directory_iterator(target, ec)) fs::remove_all(e.path(), ec);
  }
  return merge_dir(layer, target, links);
}

rootfs_result assemble_rootfs(const std::vector<fs::path>& layers, const fs::path& container_dir,
                              bool try_overlay) {
  rootfs_result res;
  std::error_code ec;
  const fs::path rootfs = container_dir / "rootfs";
  fs::create_directories(rootfs, ec);
  if (ec) {
    res.error = "cannot create " + rootfs.string() + ": " + ec.message();
    return res;
  }

  if (try_overlay && !layers.empty()) {
    const fs::path upper = container_dir / "upper", work = container_dir / "work";
    fs::create_directories(upper, ec);
    fs::create_directories(work, ec);
    std::string lower;
    bool safe = overlay_safe(upper) && overlay_safe(work) && overlay_safe(rootfs);
    for (auto it = layers.rbegin(); it != layers.rend(); ++it) { // overlay lists the top first
      safe = safe && overlay_safe(fs::absolute(*it));
      if (!lower.empty()) lower += ':';
      lower += fs::absolute(*it).string();
      // A layer whose root is opaque hides every layer below it. overlayfs
      // ignores that mark on a lower layer's root, so those layers are
      // left out instead (the copy below clears what it merged so far).
      if (is_opaque(*it)) break;
    }
    std::string opts = "lowerdir=" + lower + ",upperdir=" + fs::absolute(upper).string() +
                       ",workdir=" + fs::absolute(work).string();
    if (safe && ::mount("overlay", rootfs.c_str(), "overlay", 0, opts.c_str()) == 0) {
      res.kind = rootfs_kind::overlay;
      return res;
    }
    fs::remove_all(upper, ec);
    fs::remove_all(work, ec);
  }

  res.kind = rootfs_kind::copy;
  for (const auto& layer : layers) {
    res.error = merge_layer(layer, rootfs);
    if (!res.error.empty()) return res;
  }
  return res;
}

bool release_rootfs(const fs::path& container_dir) {
  const fs::path rootfs = container_dir / "rootfs";
  return ::umount2(rootfs.c_str(), MNT_DETACH) == 0;
}

} // namespace stowage::run
