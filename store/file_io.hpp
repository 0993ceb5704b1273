// POSIX file primitives the store's durability rests on: owned descriptors,
// full writes, fsync of files and directories, and a buffered appender that
// keeps memory flat however large the blob. Every failure is a store_error
// naming the path and errno.
#pragma once

#include "oci/digest.hpp"

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace stowage::store::fileio {

namespace fs = std::filesystem;

[[noreturn]] void throw_errno(const std::string& what, const fs::path& p);

/// An owned file descriptor, closed on destruction.
class unique_fd {
public:
  unique_fd() = default;
  explicit unique_fd(int fd) : fd_(fd) {}
  unique_fd(unique_fd&& o) noexcept : fd_(o.release()) {}
  unique_fd& operator=(unique_fd&& o) noexcept;
  unique_fd(const unique_fd&) = delete;
  unique_fd& operator=(const unique_fd&) = delete;
  ~unique_fd();

  int get() const { return fd_; }
  explicit operator bool() const { return fd_ >= 0; }
  int release() { int f = fd_; fd_ = -1; return f; }

private:
  int fd_ = -1;
};

/// open(2) with O_CLOEXEC; throws store_error on failure.
unique_fd open_file(const fs::path& p, int flags, unsigned mode = 0644);
/// Like open_file but returns an empty descriptor when the file does not exist.
unique_fd open_if_exists(const fs::path& p, int flags);

void write_all(int fd, const void* data, std::size_t len, const fs::path& p);
void fsync_fd(int fd, const fs::path& p);
/// fsync of a directory, so a rename or create inside it survives power loss.
void fsync_dir(const fs::path& dir);
/// Creates `dir` (and missing parents), fsyncing each parent whose entries changed.
void ensure_dir_durable(const fs::path& dir);
std::uint64_t fd_size(int fd, const fs::path& p);
/// Removes a file, ignoring "not found"; other errors are ignored too because
/// callers use it for cleanup that recovery at open will redo.
void remove_quietly(const fs::path& p) noexcept;

/// SHA-256 of the first `size` bytes of `fd`, read in fixed chunks.
oci::digest hash_fd(int fd, std::uint64_t size, const fs::path& p);

/// Appends to a file through a large buffer, issuing few ::write calls.
/// Pieces of a quarter buffer or more skip the buffer (no extra copy). Every
/// `writeback_every` bytes it asks the kernel to start writing the new pages
/// to disk (sync_file_range, not waiting), so the fsync at commit only waits
/// for the tail instead of the whole file.
class buffered_appender {
public:
  static constexpr std::size_t buffer_size = 1 << 20;
  static constexpr std::size_t direct_min = buffer_size / 4;
  static constexpr std::uint64_t writeback_every = 8 << 20;
  /// `offset`: the file's size when appending starts (where new bytes land).
  buffered_appender(unique_fd fd, fs::path p, std::uint64_t offset = 0);
  void append(const void* data, std::size_t len);
  void flush();
  int fd() const { return fd_.get(); }
  const fs::path& path() const { return path_; }

private:
  void write_through(const void* data, std::size_t len);

  unique_fd fd_;
  fs::path path_;
  std::vector<char> buf_;
  std::size_t used_ = 0;
  std::uint64_t end_ = 0;       // file offset after everything written so far
  std::uint64_t wb_start_ = 0;  // first byte not yet handed to writeback
};

} // namespace stowage::store::fileio
