// Runs a bundle with `runc run` in the foreground. The container inherits this
// process's stdin, stdout and stderr, so its output and exit code are the
// command's. runc, not crun: crun refuses this host's hybrid cgroup layout.
#pragma once

#include <filesystem>
#include <string>

namespace stowage::run {

struct runc_options {
  std::string runc = "runc";        // the binary (PATH lookup)
  std::filesystem::path state_root; // runc --root; empty for runc's default
};

/// Runs container `id` from `bundle`; returns its exit code (128+N if it died
/// of signal N), or -1 with `error` set if runc could not be started.
int runc_run(const runc_options& opt, const std::filesystem::path& bundle, const std::string& id,
             std::string& error);

/// What `runc state id` says of the container ("created", "running",
/// "paused", "stopped"); empty if runc keeps no state for it under
/// `state_root`; "unknown" if it does but runc could not be asked.
std::string runc_status(const runc_options& opt, const std::string& id);

/// `runc delete --force id`; quiet, best effort (runc run already removes a
/// container it ran in the foreground).
void runc_delete(const runc_options& opt, const std::string& id);

} // namespace stowage::run
