#include "store/file_io.hpp"

#include "store/registry_store.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace stowage::store::fileio {

void throw_errno(const std::string& what, const fs::path& p) {
  int e = errno;
  throw store_error(what + " " + p.string() + ": " + std::strerror(e));
}

unique_fd& unique_fd::operator=(unique_fd&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0)
      ::close(fd_);
    fd_ = o.release();
  }
  return *this;
}

unique_fd::~unique_fd() {
  if (fd_ >= 0)
    ::close(fd_);
}

unique_fd open_file(const fs::path& p, int flags, unsigned mode) {
  int fd;
  do {
    fd = ::open(p.c_str(), flags | O_CLOEXEC, static_cast<mode_t>(mode));
  } while (fd < 0 && errno == EINTR);
  if (fd < 0)
    throw_errno("open", p);
  return unique_fd(fd);
}

unique_fd open_if_exists(const fs::path& p, int flags) {
  int fd;
  do {
    fd = ::open(p.c_str(), flags | O_CLOEXEC);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) {
    if (errno == ENOENT)
      return {};
    throw_errno("open", p);
  }
  return unique_fd(fd);
}

void write_all(int fd, const void* data, std::size_t len, const fs::path& p) {
  auto* c = static_cast<const char*>(data);
  while (len > 0) {
    ssize_t n = ::write(fd, c, len);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      throw_errno("write", p);
    }
    c += n;
    len -= static_cast<std::size_t>(n);
  }
}

void fsync_fd(int fd, const fs::path& p) {
  while (::fsync(fd) != 0) {
    if (errno != EINTR)
      throw_errno("fsync", p);
  }
}

void fsync_dir(const fs::path& dir) {
  auto fd = open_file(dir, O_RDONLY | O_DIRECTORY);
  fsync_fd(fd.get(), dir);
}

void ensure_dir_durable(const fs::path& dir) {
  struct stat st{};
  if (::stat(dir.c_str(), &st) == 0) {
    if (!S_ISDIR(st.st_mode))
      throw store_error("not a directory: " + dir.string());
    return;
  }
  if (dir.has_parent_path() && dir.parent_path() != dir)
    ensure_dir_durable(dir.parent_path());
  if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST)
    throw_errno("mkdir", dir);
  fsync_dir(dir.has_parent_path() ? dir.parent_path() : fs::path("."));
}

std::uint64_t fd_size(int fd, const fs::path& p) {
  struct stat st{};
  if (::fstat(fd, &st) != 0)
    throw_errno("fstat", p);
  return static_cast<std::uint64_t>(st.st_size);
}

void remove_quietly(const fs::path& p) noexcept {
  std::error_code ec;
  fs::remove(p, ec);
}

oci::digest hash_fd(int fd, std::uint64_t size, const fs::path& p) {
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
  std::vector<char> buf(buffered_appender::buffer_size);
  oci::sha256_hasher h;
  std::uint64_t off = 0;
  while (off < size) {
    auto want = static_cast<std::size_t>(std::min<std::uint64_t>(buf.size(), size - off));
    ssize_t n = ::pread(fd, buf.data(), want, static_cast<off_t>(off));
    if (n < 0) {
      if (errno == EINTR)
        continue;
      throw_errno("read", p);
    }
    if (n == 0)
      throw store_error("unexpected end of file " + p.string());
    h.update(buf.data(), static_cast<std::size_t>(n));
    off += static_cast<std::uint64_t>(n);
  }
  return h.finish();
}

buffered_appender::buffered_appender(unique_fd fd, fs::path p, std::uint64_t offset)
    : fd_(std::move(fd)), path_(std::move(p)), end_(offset), wb_start_(offset) {}

void buffered_appender::append(const void* data, std::size_t len) {
  if (used_ + len > buffer_size)
    flush();
  if (used_ == 0 && len >= direct_min) { // large pieces skip the copy
    write_through(data, len);
    return;
  }
  if (buf_.empty())
    buf_.resize(buffer_size); // allocated on first small write only
  std::memcpy(buf_.data() + used_, data, len);
  used_ += len;
}

void buffered_appender::flush() {
  if (used_ == 0)
    return;
  write_through(buf_.data(), used_);
  used_ = 0;
}

void buffered_appender::write_through(const void* data, std::size_t len) {
  write_all(fd_.get(), data, len, path_);
  end_ += len;
  if (end_ - wb_start_ >= writeback_every) {
    // Start writeback of the pages just written without waiting for it. Only
    // a head start for the commit's fsync, which stays the durability point,
    // so a failure here changes nothing and is ignored.
    (void)::sync_file_range(fd_.get(), static_cast<off_t>(wb_start_),
                            static_cast<off_t>(end_ - wb_start_), SYNC_FILE_RANGE_WRITE);
    wb_start_ = end_;
  }
}

} // namespace stowage::store::fileio
