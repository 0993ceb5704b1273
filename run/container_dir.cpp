#include "run/container_dir.hpp"

#include "run/rootfs.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <stdexcept>

namespace stowage::run {

namespace fs = std::filesystem;

namespace {

// The owner file holds one line: the container's state, then "rm" or "keep".
//   starting  bundle being made; runc not run yet
//   started   runc was run (or was about to be)
//   released  done: mount released, the directory kept (no --rm)
// An empty file is one being created this instant, or whose creator died
// right then.
constexpr const char* owner_file = "owner";
constexpr auto creation_grace = std::chrono::minutes(1);

std::string read_state(int fd) {
  char buf[64];
  ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
  return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string{};
}

bool write_state(int fd, const std::string& line) {
  return ::ftruncate(fd, 0) == 0 && ::pwrite(fd, line.data(), line.size(), 0) == static_cast<ssize_t>(line.size());
}

std::string state_line(bool started, bool rm) {
  return std::string(started ? "started" : "starting") + (rm ? " rm\n" : " keep\n");
}

bool young(int fd) {
  struct stat st {};
  if (::fstat(fd, &st) != 0)
    return false;
  auto age = std::chrono::system_clock::now() - std::chrono::system_clock::from_time_t(st.st_mtime);
  return age < creation_grace;
}

} // namespace

container_dir::container_dir(fs::path path, bool rm) : path_(std::move(path)), rm_(rm) {
  fs::create_directories(path_);
  const auto owner = path_ / owner_file;
  const auto fail = [this](const std::string& what, int e) {
    if (lock_fd_ >= 0)
      ::close(lock_fd_);
    std::error_code ec;
    fs::remove_all(path_, ec); // new, and nothing mounted yet
    throw std::runtime_error(what + ": " + std::strerror(e));
  };
  // Not close-on-exec, on purpose: runc inherits the lock and holds the
  // directory for as long as it runs the container.
  lock_fd_ = ::open(owner.c_str(), O_RDWR | O_CREAT | O_EXCL, 0600);
  if (const int e = errno; lock_fd_ < 0)
    fail("cannot create " + owner.string(), e);
  if (::flock(lock_fd_, LOCK_EX) != 0) {
    const int e = errno;
    fail("cannot lock " + owner.string(), e);
  }
  if (!write_state(lock_fd_, state_line(false, rm_))) {
    const int e = errno;
    fail("cannot write " + owner.string(), e);
  }
}

container_dir::~container_dir() {
  release_rootfs(path_);
  std::error_code ec;
  if (rm_ || !started_)
    fs::remove_all(path_, ec);
  else
    write_state(lock_fd_, "released keep\n"); // if that fails, the next sweep looks at it once more
  ::close(lock_fd_);
}

void container_dir::set_started(bool started) {
  record(started);
  started_ = started;
}

void container_dir::record(bool started) {
  if (!write_state(lock_fd_, state_line(started, rm_))) {
    const int e = errno;
    throw std::runtime_error("cannot write " + (path_ / owner_file).string() + ": " + std::strerror(e));
  }
}

sweep_result sweep_abandoned(const fs::path& containers, const runc_options& runc) {
  sweep_result out;
  std::error_code ec;
  for (auto it = fs::directory_iterator(containers, ec); !ec && it != fs::directory_iterator(); it.increment(ec)) {
    if (!it->is_directory())
      continue;
    const fs::path dir = it->path();
    const std::string id = dir.filename().string();
    // No owner file: not made by this code (a bundle kept by an older
    // version), or being made this instant. Left alone either way.
    int fd = ::open((dir / owner_file).c_str(), O_RDWR | O_CLOEXEC);
    if (fd < 0)
      continue;
    struct closer {
      int fd;
      ~closer() { ::close(fd); } // and with it the lock
    } guard{fd};
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0)
      continue; // its owner, or its runc, is alive
    std::string state = read_state(fd);
    if (state.empty()) {
      if (young(fd))
        continue;
      state = "starting keep";
    }
    if (state.starts_with("released"))
      continue;
    const bool started = state.starts_with("started");
    const bool rm = state.find(" rm") != std::string::npos;
    if (started) {
      // Both stowage and its runc are gone. One that died between create
      // and start left a container that never ran ("created"): it goes.
      // One that runc still runs lost only its waiter, and one runc cannot
      // tell about may still run: their rootfs stays.
      auto status = runc_status(runc, id);
      if (status == "stopped" || status == "created") {
        runc_delete(runc, id);
        status = runc_status(runc, id);
      }
      if (!status.empty()) {
        out.orphaned.push_back(id);
        continue;
      }
    }
    if (release_rootfs(dir))
      out.released.push_back(id);
    if (rm || !started) {
      std::error_code rm_ec;
      fs::remove_all(dir, rm_ec);
      if (!rm_ec)
        out.removed.push_back(id);
    } else {
      write_state(fd, "released keep\n"); // if that fails, looked at again next time
    }
  }
  return out;
}

} // namespace stowage::run
