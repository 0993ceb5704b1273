#include "store/file_io.hpp"

#include "store/registry_store.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <mutex>
#include <new>
#include <thread>
#include <vector>

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

unique_fd duplicate(int fd, const fs::path& p) {
  int copy = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (copy < 0)
    throw_errno("dup", p);
  return unique_fd(copy);
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

void drop_from_page_cache(const fs::path& p) noexcept {
  int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return;
  // Dirty pages are not dropped: write them out first.
  ::sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER);
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
  ::close(fd);
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

namespace {

/// Switches a descriptor to O_DIRECT (and off O_APPEND, which would make
/// pwrite ignore its offset). False where the file system refuses.
bool try_direct(int fd) {
  int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0)
    return false;
  return ::fcntl(fd, F_SETFL, (flags & ~O_APPEND) | O_DIRECT) == 0;
}

/// Writes all of `data` at `off`; 0 or the errno of the failure.
int pwrite_all(int fd, const char* data, std::size_t len, std::uint64_t off) {
  while (len > 0) {
    ssize_t n = ::pwrite(fd, data, len, static_cast<off_t>(off));
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return errno;
    }
    data += n;
    off += static_cast<std::uint64_t>(n);
    len -= static_cast<std::size_t>(n);
  }
  return 0;
}

void pwrite_all(int fd, const char* data, std::size_t len, std::uint64_t off, const fs::path& p) {
  if (int e = pwrite_all(fd, data, len, off)) {
    errno = e;
    throw_errno("write", p);
  }
}

/// Threads running submitted tasks in turn. The destructor runs what is
/// queued, then joins them.
class task_threads {
public:
  /// `max_queued`: tasks waiting beyond it are refused; 0: no bound.
  task_threads(int threads, std::size_t max_queued) : max_queued_(max_queued) {
    for (int i = 0; i < threads; ++i)
      threads_.emplace_back([this] { run(); });
  }
  ~task_threads() {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_)
      t.join();
  }
  /// The task's result to come; an invalid future when the queue is full.
  std::future<int> submit(std::packaged_task<int()> task) {
    auto result = task.get_future();
    {
      std::lock_guard lock(mu_);
      if (max_queued_ > 0 && queue_.size() >= max_queued_)
        return {};
      queue_.push_back(std::move(task));
    }
    cv_.notify_one();
    return result;
  }

private:
  void run() {
    for (;;) {
      std::packaged_task<int()> task;
      {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
        if (queue_.empty())
          return;
        task = std::move(queue_.front());
        queue_.pop_front();
      }
      task();
    }
  }

  const std::size_t max_queued_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::packaged_task<int()>> queue_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

/// A few threads for the disk work nobody waits on: the appenders'
/// background fdatasyncs and pages leaving the page cache, so a burst of
/// uploads cannot start a thread each. Every task here is a head start or a
/// hint that may be skipped when the queue is full. Never destroyed: a task
/// may still run while static objects are torn down at exit.
task_threads& sync_pool() {
  static auto* pool = new task_threads(4, 64);
  return *pool;
}

} // namespace

void drop_from_page_cache_later(const fs::path& p) {
  sync_pool().submit(std::packaged_task<int()>([p] {
    drop_from_page_cache(p);
    return 0;
  }));
}

void buffered_appender::free_aligned::operator()(char* p) const { std::free(p); }

/// An appender's own thread for its direct writes, one at a time. Its own,
/// not a shared pool's: pool threads do not follow a fork (tests fork
/// writers), and one thread per upload is one clone per blob.
struct buffered_appender::write_thread : task_threads {
  write_thread() : task_threads(1, 0) {}
};

buffered_appender::~buffered_appender() {
  // The write in flight and the background sync use the descriptor (and the
  // spare buffer): they must end before either goes.
  quiesce();
}

void buffered_appender::quiesce() noexcept {
  if (write_.valid())
    write_.wait();
  if (sync_.valid())
    sync_.wait();
}

buffered_appender::buffered_appender(unique_fd fd, fs::path p, std::uint64_t offset, mode m, tap_fn tap)
    : fd_(std::move(fd)), path_(std::move(p)), end_(offset), wb_start_(offset), tap_(std::move(tap)),
      tapped_through_(offset) {
  direct_ = m == mode::direct_if_possible && try_direct(fd_.get());
  synced_ = m != mode::unsynced_buffered;
  if (!direct_)
    return;
  buf_.reset(static_cast<char*>(std::aligned_alloc(block, buffer_size)));
  if (!buf_)
    throw std::bad_alloc();
  // Appending mid-block: the block's existing bytes are rewritten with the new ones.
  buf_off_ = offset & ~std::uint64_t(block - 1);
  sync_from_ = buf_off_;
  used_ = static_cast<std::size_t>(offset - buf_off_);
  if (used_ == 0)
    return;
  ssize_t n;
  do {
    n = ::pread(fd_.get(), buf_.get(), block, static_cast<off_t>(buf_off_));
  } while (n < 0 && errno == EINTR);
  if (n < 0 && errno == EINVAL) { // O_DIRECT accepted, then refused
    buf_off_ = offset;
    used_ = 0;
    leave_direct();
    return;
  }
  if (n < 0)
    throw_errno("read", path_);
  if (static_cast<std::size_t>(n) < used_)
    throw store_error("unexpected end of file " + path_.string());
}

void buffered_appender::leave_direct() {
  int flags = ::fcntl(fd_.get(), F_GETFL);
  if (flags < 0 || ::fcntl(fd_.get(), F_SETFL, flags & ~O_DIRECT) != 0)
    throw_errno("fcntl", path_);
  direct_ = false;
  // The buffer's bytes start at buf_off_: that is where the buffered path's
  // next flush puts them.
  end_ = wb_start_ = buf_off_;
}

void buffered_appender::append(const void* data, std::size_t len) {
  auto* c = static_cast<const char*>(data);
  if (direct_) {
    fresh_ = fresh_ || len > 0;
    while (len > 0) {
      std::size_t n = std::min(len, buffer_size - used_);
      std::memcpy(buf_.get() + used_, c, n);
      used_ += n;
      c += n;
      len -= n;
      if (used_ == buffer_size) {
        write_full_buffer();
        if (!direct_)
          break; // the rest goes the buffered way
      }
    }
    if (len == 0)
      return;
  }
  if (used_ + len > buffer_size)
    write_pending();
  if (used_ == 0 && len >= direct_min) { // large pieces skip the copy
    write_through(c, len);
    return;
  }
  if (!buf_)
    buf_.reset(static_cast<char*>(std::aligned_alloc(block, buffer_size))); // on first small write only
  if (!buf_)
    throw std::bad_alloc();
  std::memcpy(buf_.get() + used_, c, len);
  used_ += len;
}

void buffered_appender::write_full_buffer() {
  finish_write();
  if (!direct_)
    return; // refused on the last write: this buffer goes the buffered way from buf_off_
  if (!spare_) {
    spare_.reset(static_cast<char*>(std::aligned_alloc(block, buffer_size)));
    if (!spare_)
      throw std::bad_alloc();
  }
  if (!writer_)
    writer_ = std::make_unique<write_thread>();
  // The bytes the tap has not seen (a resumed upload's buffer starts with
  // the block's old bytes): decided here, seen there.
  const char* data = buf_.get();
  const std::size_t skip = tapped_of(buf_off_);
  tapped_through_ = buf_off_ + buffer_size;
  tap_fn* tap = tap_ ? &tap_ : nullptr;
  write_ = writer_->submit(std::packaged_task<int()>([fd = fd_.get(), data, off = buf_off_, skip, tap] {
    if (tap)
      (*tap)(data + skip, buffer_size - skip);
    return pwrite_all(fd, data, buffer_size, off);
  }));
  write_off_ = buf_off_;
  std::swap(buf_, spare_);
  buf_off_ += buffer_size;
  used_ = 0;
}

void buffered_appender::finish_write() {
  if (!write_.valid())
    return;
  if (int e = write_.get()) {
    if (e != EINVAL) {
      errno = e;
      throw_errno("write", path_);
    }
    // O_DIRECT accepted, then refused: the buffer that was in flight is
    // written the buffered way, and so is everything after it.
    leave_direct();
    pwrite_all(fd_.get(), spare_.get(), buffer_size, write_off_, path_);
    return;
  }
  const std::uint64_t written_through = write_off_ + buffer_size;
  if (synced_ && written_through - sync_from_ >= sync_every)
    start_background_sync(written_through);
}

void buffered_appender::tap_range(const char* data, std::uint64_t at, std::size_t len) {
  if (!tap_ || at + len <= tapped_through_)
    return;
  const std::size_t skip = tapped_of(at);
  tap_(data + skip, len - skip);
  tapped_through_ = at + len;
}

void buffered_appender::write_direct(std::size_t len) {
  tap_range(buf_.get(), buf_off_, used_); // the padding is not data
  if (int e = pwrite_all(fd_.get(), buf_.get(), len, buf_off_)) {
    if (e != EINVAL) {
      errno = e;
      throw_errno("write", path_);
    }
    leave_direct(); // O_DIRECT accepted, then refused: the buffer is whole, the buffered path writes it
  }
  // The buffer stays where it is, even padded to a full one: write_pending
  // cuts the file back and keeps the partial block.
}

void buffered_appender::start_background_sync(std::uint64_t written_through) {
  if (sync_.valid()) {
    if (sync_.wait_for(std::chrono::seconds(0)) != std::future_status::ready)
      return; // the last one is still running: the next threshold tries again
    check_background_sync();
  }
  sync_ = sync_pool().submit(
    std::packaged_task<int()>([fd = fd_.get()] { return ::fdatasync(fd) == 0 ? 0 : errno; }));
  if (sync_.valid())
    sync_from_ = written_through;
}

void buffered_appender::check_background_sync() {
  if (!sync_.valid())
    return;
  // A failure must not pass unseen: once this fdatasync has seen a writeback
  // error, an fsync on a descriptor opened later (the commit's) no longer
  // reports it.
  if (int e = sync_.get()) {
    errno = e;
    throw_errno("fdatasync", path_);
  }
}

void buffered_appender::flush() {
  finish_write();
  write_pending();
  check_background_sync();
}

void buffered_appender::write_pending() {
  if (used_ == 0)
    return;
  if (direct_) {
    if (!fresh_)
      return; // only the block's old bytes, already in the file
    fresh_ = false;
    // Whole blocks, the last one padded with zeros, then the file cut back.
    std::size_t padded = (used_ + block - 1) & ~(block - 1);
    std::memset(buf_.get() + used_, 0, padded - used_);
    write_direct(padded);
    if (direct_) {
      std::uint64_t end = buf_off_ + used_;
      if (padded != used_ && ::ftruncate(fd_.get(), static_cast<off_t>(end)) != 0)
        throw_errno("ftruncate", path_);
      // Keep the partial block: the next append completes and rewrites it.
      std::size_t keep_from = used_ & ~(block - 1);
      std::memmove(buf_.get(), buf_.get() + keep_from, used_ - keep_from);
      buf_off_ += keep_from;
      used_ -= keep_from;
      return;
    }
  }
  tap_range(buf_.get(), end_, used_);
  pwrite_all(fd_.get(), buf_.get(), used_, end_, path_);
  advance(used_);
  used_ = 0;
}

void buffered_appender::write_through(const void* data, std::size_t len) {
  tap_range(static_cast<const char*>(data), end_, len);
  pwrite_all(fd_.get(), static_cast<const char*>(data), len, end_, path_);
  advance(len);
}

void buffered_appender::advance(std::size_t len) {
  end_ += len;
  if (synced_ && end_ - wb_start_ >= writeback_every) {
    // Start writeback of the pages just written without waiting for it. Only
    // a head start for the commit's fsync, which stays the durability point,
    // so a failure here changes nothing and is ignored.
    (void)::sync_file_range(fd_.get(), static_cast<off_t>(wb_start_),
                            static_cast<off_t>(end_ - wb_start_), SYNC_FILE_RANGE_WRITE);
    wb_start_ = end_;
  }
}

} // namespace stowage::store::fileio
