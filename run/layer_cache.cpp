#include "run/layer_cache.hpp"

#include "run/layer_unpack.hpp"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>

#include <atomic>
#include <cstdio>
#include <string>

namespace stowage::run {
namespace fs = std::filesystem;

layer_cache::layer_cache(fs::path root) : root_(std::move(root)) {}

fs::path layer_cache::path_of(const oci::digest& d) const {
  return root_ / "layers" / d.algorithm / d.hex;
}

bool layer_cache::has(const oci::digest& d) const {
  std::error_code ec;
  return fs::is_directory(path_of(d), ec);
}

std::size_t layer_cache::sweep_stale() {
  std::size_t removed = 0;
  std::error_code ec;
  for (auto it = fs::directory_iterator(root_ / "tmp", ec); !ec && it != fs::directory_iterator(); it.increment(ec)) {
    // "<hex prefix>.<pid>.<counter>"
    const std::string name = it->path().filename().string();
    auto first = name.find('.'), second = name.rfind('.');
    if (first == std::string::npos || second == first) continue;
    long pid = std::strtol(name.substr(first + 1, second - first - 1).c_str(), nullptr, 10);
    if (pid <= 0 || pid == ::getpid()) continue;
    if (::kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH) continue;
    std::error_code rm;
    fs::remove_all(it->path(), rm);
    if (!rm) ++removed;
  }
  return removed;
}

std::string layer_cache::add(const fs::path& blob, const oci::digest& diff_id) {
  if (has(diff_id)) return {};
  static std::atomic<unsigned> counter{0};
  std::error_code ec;
  fs::create_directories(root_ / "tmp", ec);
  fs::create_directories(path_of(diff_id).parent_path(), ec);
  if (ec) return "cannot create the layer cache under " + root_.string() + ": " + ec.message();
  sweep_stale();
  fs::path tmp = root_ / "tmp" /
      (diff_id.hex.substr(0, 16) + "." + std::to_string(::getpid()) + "." + std::to_string(counter++));
  fs::remove_all(tmp, ec);

  unpack_result r = unpack_layer(blob, tmp);
  std::string err = r.error;
  if (err.empty() && r.diff_id != diff_id)
    err = "layer refused: its tar hashes to " + r.diff_id.str() + ", the image config says " + diff_id.str();
  if (!err.empty()) {
    fs::remove_all(tmp, ec);
    return err;
  }
  // The unpacked files reach the disk before the tree takes its final name,
  // and the name before we return: a layer in the cache is whole after a
  // power loss (one syncfs, not an fsync per file: unpacking is rare).
  if (int fd = ::open(tmp.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); fd >= 0) {
    bool synced = ::syncfs(fd) == 0;
    ::close(fd);
    if (!synced) {
      fs::remove_all(tmp, ec);
      return "cannot sync the unpacked layer to disk";
    }
  }
  if (std::rename(tmp.c_str(), path_of(diff_id).c_str()) != 0) {
    // Lost a race with another process unpacking the same layer: theirs is
    // just as good (same diff ID).
    fs::remove_all(tmp, ec);
    if (!has(diff_id)) return "cannot move the unpacked layer into the cache";
  }
  if (int dir = ::open(path_of(diff_id).parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); dir >= 0) {
    ::fsync(dir);
    ::close(dir);
  }
  return {};
}

} // namespace stowage::run
