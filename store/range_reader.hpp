// Reads a byte range of a stored file in pieces, for sending it.
//
// A range whose first page is in the page cache is read from there; any other
// with O_DIRECT into an aligned buffer, so a blob served once does not fill
// the page cache (blobs are written with O_DIRECT too: see buffered_appender).
// On this project's machines a cold buffered read costs ~0.8 ms of CPU per
// MiB for page-cache allocation, a direct one almost none.
#pragma once

#include "store/file_io.hpp"
#include "store/registry_store.hpp"

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string_view>

namespace stowage::store {

class range_reader {
public:
  static constexpr std::size_t piece_size = 1 << 20;
  /// Opens `p` to read `length` bytes from `offset`; throws store_error.
  range_reader(const std::filesystem::path& p, std::uint64_t offset, std::uint64_t length);
  /// Reads from `fd`, open already (it may be unlinked since); `p` names it
  /// in errors.
  range_reader(fileio::unique_fd fd, const std::filesystem::path& p, std::uint64_t offset,
               std::uint64_t length);
  /// The next piece of at most piece_size bytes; empty once the range is
  /// read. Valid until the next call. Throws store_error when the file ends
  /// before the range does.
  std::string_view next();
  std::uint64_t left() const { return left_; }

private:
  struct free_aligned {
    void operator()(char* p) const;
  };
  std::string_view read_direct(std::size_t want);
  std::string_view read_buffered(std::size_t want);

  std::filesystem::path path_;
  fileio::unique_fd fd_;      // buffered: pages in the cache
  fileio::unique_fd direct_;  // O_DIRECT, when the range is not cached and the file system allows
  std::unique_ptr<char[], free_aligned> buf_;
  std::uint64_t off_, left_;
};

/// A blob linked into a repository, with its file open: the descriptor keeps
/// the bytes readable when the blob is deleted (or trimmed from a cache)
/// while they are being sent.
struct open_blob {
  blob_info info;
  fileio::unique_fd fd;
};

/// The blob `repo` links as `d`, opened; nullopt if there is none, also
/// when a delete removed it between the lookup and the open (a store
/// unlinks a file only after its row is gone, so a missing file with its
/// row gone too is a delete, not damage). Throws store_error otherwise.
std::optional<open_blob> open_linked_blob(const registry_store& s, std::string_view repo, const oci::digest& d);

} // namespace stowage::store
