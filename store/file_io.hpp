// POSIX file primitives the store's durability rests on: owned descriptors,
// full writes, fsync of files and directories, and a buffered appender that
// keeps memory flat however large the blob. Every failure is a store_error
// naming the path and errno.
#pragma once

#include "oci/digest.hpp"

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <future>
#include <memory>
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
/// A second descriptor of the same open file (dup, close-on-exec); `p` names it in errors.
unique_fd duplicate(int fd, const fs::path& p);

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

/// Takes a file out of the page cache: writes its dirty pages (not a
/// durability point: no fsync) and drops them. For a blob that went where it
/// was needed and will not be read again soon. Errors are ignored: this only
/// frees memory.
void drop_from_page_cache(const fs::path& p) noexcept;
/// The same on a background thread, not waited for (skipped if too many wait).
void drop_from_page_cache_later(const fs::path& p);

/// SHA-256 of the first `size` bytes of `fd`, read in fixed chunks.
oci::digest hash_fd(int fd, std::uint64_t size, const fs::path& p);

/// Appends to a file through a large buffer, issuing few writes.
///
/// Where the file system allows it the data goes to disk with O_DIRECT from
/// block-aligned buffers, bypassing the page cache: on this project's machines
/// a buffered write() of a new file and its writeback cost ~1.2 ms of system
/// CPU per MiB (dd, 256 MiB with fsync: 0.30 s), a direct one ~0.15 ms
/// (0.04 s), and the commit's fsync is left with
/// the device's flush only. A full buffer is written on another thread while
/// the caller fills the other one, so receiving, hashing and writing overlap
/// instead of taking turns (one 1 MiB direct write takes 1-2.5 ms here,
/// hashing it ~0.6 ms); up to two buffers are not yet in the file. Every
/// `sync_every` bytes an fdatasync runs in the
/// background, so that flush is mostly done when the commit's fsync comes
/// (64 MiB: 47 ms at commit without, ~0 with). The last partial block is
/// written padded, the file cut back to its real size, and kept in the
/// buffer so a later append rewrites it.
///
/// Elsewhere (tmpfs, some network file systems) it falls back to buffered
/// writes; pieces of a quarter buffer or more then skip the buffer, and every
/// `writeback_every` bytes the kernel is asked to start writing the new pages
/// (sync_file_range, not waiting), so the commit's fsync waits for the tail
/// only. Either way the commit's fsync stays the durability point.
///
/// The background fdatasyncs also matter where nothing is fsync'd at the end
/// (a runtime's cache): an O_DIRECT write completes into the device's
/// volatile write cache, and what is left there is flushed by the next
/// process on the device that syncs, whoever it is. On a runtime that is
/// the container engine storing the layers it pulls: skopeo's fsync of each
/// 64 MiB layer took 150-210 ms instead of ~80 ms while a delivery was
/// written beside it without them (docs/ARCHITECTURE.md, "Where the rest of
/// the time goes").
///
/// `unsynced_buffered` (a cache's blobs read again soon) writes through the
/// page cache and leaves the writeback to the kernel.
class buffered_appender {
public:
  static constexpr std::size_t buffer_size = 1 << 20;
  static constexpr std::size_t direct_min = buffer_size / 4;
  static constexpr std::size_t block = 4096;
  static constexpr std::uint64_t writeback_every = 8 << 20;
  static constexpr std::uint64_t sync_every = 16 << 20;
  enum class mode { direct_if_possible, buffered, unsynced_buffered };
  /// Sees every appended byte once, in order, just before it is written:
  /// the upload's SHA-256. Direct, it runs on the writing thread, so the
  /// hashing leaves the caller's (an io thread's) too; everything appended
  /// has passed through it when flush() returns.
  using tap_fn = std::function<void(const char* data, std::size_t len)>;
  /// `offset`: the file's size when appending starts (where new bytes land).
  /// The descriptor must be open for reading and writing.
  buffered_appender(unique_fd fd, fs::path p, std::uint64_t offset = 0, mode m = mode::direct_if_possible,
                    tap_fn tap = {});
  ~buffered_appender();
  buffered_appender(const buffered_appender&) = delete;
  buffered_appender& operator=(const buffered_appender&) = delete;
  void append(const void* data, std::size_t len);
  /// Everything appended so far is in the file, which has exactly that size.
  void flush();
  /// Waits for the write in flight and the background sync, if any, and
  /// drops their outcome: for an appender given up (what it appended does
  /// not count), so that nothing lands in the file after this returns.
  void quiesce() noexcept;
  bool direct() const { return direct_; }
  /// Direct: the file offset up to which this appender's writes were handed
  /// to a background fdatasync (the offset it started at, until the first).
  std::uint64_t sync_started_through() const { return sync_from_; }
  /// At most this many appended bytes are not yet in the file (between
  /// flushes): the buffer being written and the one being filled.
  static constexpr std::size_t max_unwritten = 2 * buffer_size;

private:
  struct free_aligned {
    void operator()(char* p) const;
  };
  void write_through(const void* data, std::size_t len);
  class write_thread;
  /// How many bytes from file offset `at` on the tap has seen already.
  std::size_t tapped_of(std::uint64_t at) const {
    return tapped_through_ > at ? static_cast<std::size_t>(tapped_through_ - at) : 0;
  }
  /// Gives the bytes of `data` at file offset `at` that the tap has not seen yet to it.
  void tap_range(const char* data, std::uint64_t at, std::size_t len);
  /// Direct: writes the first `len` bytes of the buffer (whole blocks) where it belongs.
  void write_direct(std::size_t len);
  /// Direct: hands the full buffer to a writing thread and goes on in the other.
  void write_full_buffer();
  /// Direct: waits for the buffer in flight, if any; throws store_error if
  /// its write failed, leaves direct mode if the file system refused it.
  void finish_write();
  void write_pending();
  /// Direct: an fdatasync of what is written up to `written_through`, in the background.
  void start_background_sync(std::uint64_t written_through);
  /// Collects the background fdatasync, if any; throws store_error if it failed.
  void check_background_sync();
  void advance(std::size_t len);
  void leave_direct();

  unique_fd fd_;
  fs::path path_;
  bool direct_ = false;
  bool synced_ = true;          // background fdatasync (direct), writeback every writeback_every (buffered)
  std::unique_ptr<char[], free_aligned> buf_;
  std::unique_ptr<char[], free_aligned> spare_; // direct: the buffer in flight, or free
  std::future<int> write_;                      // direct: its write (errno or 0)
  std::uint64_t write_off_ = 0;                 // direct: its file offset
  std::size_t used_ = 0;
  std::uint64_t end_ = 0;       // buffered: file offset after everything written so far
  std::uint64_t wb_start_ = 0;  // buffered: first byte not yet handed to writeback
  std::uint64_t buf_off_ = 0;   // direct: the file offset of buf_[0], block-aligned
  bool fresh_ = false;          // direct: the buffer holds bytes not yet in the file
  std::uint64_t sync_from_ = 0; // direct: bytes before this were covered by a background sync
  tap_fn tap_;
  std::uint64_t tapped_through_ = 0;  // file offset up to which bytes went to the tap
  std::unique_ptr<write_thread> writer_; // direct: started at the first full buffer
  /// The background fdatasync (errno or 0); the destructor waits for it.
  std::future<int> sync_;
};

} // namespace stowage::store::fileio
