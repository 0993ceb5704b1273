#include "store/range_reader.hpp"

#include "store/registry_store.hpp"

#include <cerrno>
#include <cstdlib>
#include <fcntl.h>
#include <mutex>
#include <new>
#include <string>
#include <sys/mman.h>
#include <unistd.h>
#include <vector>

namespace stowage::store {

namespace {

constexpr std::size_t block = fileio::buffered_appender::block;

/// Whether the page holding `offset` is in the page cache (mincore on a
/// one-page mapping); false when that cannot be told.
bool page_cached(int fd, std::uint64_t offset) {
  static const auto page = static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
  std::uint64_t start = offset / page * page;
  void* m = ::mmap(nullptr, page, PROT_READ, MAP_SHARED, fd, static_cast<off_t>(start));
  if (m == MAP_FAILED)
    return false;
  unsigned char resident = 0;
  bool cached = ::mincore(m, page, &resident) == 0 && (resident & 1);
  ::munmap(m, page);
  return cached;
}

/// Read buffers, reused: a fresh allocation of this size is a fresh mapping,
/// and faulting its pages in costs more than the read (a reader that follows
/// a running upload opens one range after another).
class buffer_pool {
public:
  static constexpr std::size_t size = range_reader::piece_size + block; // a direct read starts a block early

  char* take() {
    {
      std::lock_guard lock(mu_);
      if (!free_.empty()) {
        char* p = free_.back();
        free_.pop_back();
        return p;
      }
    }
    auto* p = static_cast<char*>(std::aligned_alloc(block, size));
    if (!p)
      throw std::bad_alloc();
    return p;
  }
  void give(char* p) {
    {
      std::lock_guard lock(mu_);
      if (free_.size() < keep) {
        free_.push_back(p);
        return;
      }
    }
    std::free(p);
  }

private:
  static constexpr std::size_t keep = 16; // about the readers running at once
  std::mutex mu_;
  std::vector<char*> free_;
};

buffer_pool& buffers() {
  static auto* pool = new buffer_pool; // never destroyed: readers may end during exit
  return *pool;
}

} // namespace

void range_reader::free_aligned::operator()(char* p) const { buffers().give(p); }

range_reader::range_reader(const std::filesystem::path& p, std::uint64_t offset, std::uint64_t length)
    : range_reader(fileio::open_file(p, O_RDONLY), p, offset, length) {}

range_reader::range_reader(fileio::unique_fd fd, const std::filesystem::path& p, std::uint64_t offset,
                           std::uint64_t length)
    : path_(p), fd_(std::move(fd)), off_(offset), left_(length) {
  buf_.reset(buffers().take());
  // Decided once: probing each piece (preadv2 with RWF_NOWAIT) was tried and
  // starts readahead, which fills the cache anyway.
  if (length > 0 && !page_cached(fd_.get(), offset)) {
    // Reopened through /proc, not by path: the same file even if unlinked.
    auto self = "/proc/self/fd/" + std::to_string(fd_.get());
    int direct = ::open(self.c_str(), O_RDONLY | O_DIRECT | O_CLOEXEC);
    if (direct >= 0)
      direct_ = fileio::unique_fd(direct);
  }
}

std::string_view range_reader::next() {
  if (left_ == 0)
    return {};
  auto want = static_cast<std::size_t>(std::min<std::uint64_t>(left_, piece_size));
  auto piece = direct_ ? read_direct(want) : read_buffered(want);
  if (piece.empty())
    throw store_error("unexpected end of file " + path_.string());
  off_ += piece.size();
  left_ -= piece.size();
  return piece;
}

std::string_view range_reader::read_buffered(std::size_t want) {
  ssize_t n;
  do {
    n = ::pread(fd_.get(), buf_.get(), want, static_cast<off_t>(off_));
  } while (n < 0 && errno == EINTR);
  if (n < 0)
    fileio::throw_errno("read", path_);
  return {buf_.get(), static_cast<std::size_t>(n)};
}

std::string_view range_reader::read_direct(std::size_t want) {
  std::uint64_t start = off_ & ~std::uint64_t(block - 1);
  auto head = static_cast<std::size_t>(off_ - start);
  std::size_t len = (head + want + block - 1) & ~(block - 1);
  ssize_t n;
  do {
    n = ::pread(direct_.get(), buf_.get(), len, static_cast<off_t>(start));
  } while (n < 0 && errno == EINTR);
  if (n < 0 && errno == EINVAL) {
    direct_ = {}; // O_DIRECT accepted at open, refused on read: buffered from now on
    return read_buffered(want);
  }
  if (n < 0)
    fileio::throw_errno("read", path_);
  if (static_cast<std::size_t>(n) <= head)
    return {};
  return {buf_.get() + head, std::min(want, static_cast<std::size_t>(n) - head)};
}

std::optional<open_blob> open_linked_blob(const registry_store& s, std::string_view repo, const oci::digest& d) {
  // A second try covers a delete and a new push of the same blob between
  // the two steps; a third miss is not a race.
  for (int attempt = 0; attempt < 3; ++attempt) {
    auto info = s.blob(repo, d);
    if (!info)
      return std::nullopt;
    if (auto fd = fileio::open_if_exists(info->path, O_RDONLY))
      return open_blob{std::move(*info), std::move(fd)};
  }
  throw store_error("blob " + d.str() + " is recorded but its file is missing");
}

} // namespace stowage::store
