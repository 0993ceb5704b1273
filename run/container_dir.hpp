// A container's directory, DATA/containers/<id>: its bundle (config.json,
// rootfs, upper/, work/) and an `owner` file that the process running the
// container keeps locked (flock). runc inherits the lock, so the directory
// stays claimed while runc runs the container, even if `stowage run` itself
// was killed. What nobody holds any more is cleared by the next `stowage run`
// (sweep_abandoned): the overlay mount always, the whole directory when the
// container never started or was run with --rm. Without that, every run
// killed while it started left a mount behind.
#pragma once

#include "run/runc.hpp"

#include <filesystem>
#include <string>
#include <vector>

namespace stowage::run {

class container_dir {
public:
  /// Creates `path` with its owner file, locked. `rm`: the directory goes
  /// when the container is done (--rm).
  container_dir(std::filesystem::path path, bool rm);
  /// Releases the rootfs mount; removes the directory with `rm` or when the
  /// container never started.
  ~container_dir();
  container_dir(const container_dir&) = delete;
  container_dir& operator=(const container_dir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  /// Whether runc started the container: set just before runc runs (a run
  /// killed from then on may have started it), cleared if runc could not.
  void set_started(bool started);

private:
  void record(bool started);
  std::filesystem::path path_;
  bool rm_;
  bool started_ = false;
  int lock_fd_ = -1;
};

struct sweep_result {
  std::vector<std::string> released; // overlay mounts let go
  std::vector<std::string> removed;  // directories removed
  std::vector<std::string> orphaned; // runc has them running, with no runc left to wait for them: left alone
};

/// Clears the container directories under `containers` whose owner is gone.
sweep_result sweep_abandoned(const std::filesystem::path& containers, const runc_options& runc);

} // namespace stowage::run
