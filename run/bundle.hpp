// The OCI runtime bundle: config.json built from the image config, next to
// the rootfs. The container shares the host's network (no netns to set up) and
// gets its own pid, mount, ipc and uts namespaces; the mounts are the minimal
// set a process expects (/proc, a tmpfs /dev with /dev/pts, /dev/shm and
// /dev/mqueue, read-only /sys).
#pragma once

#include <nlohmann/json.hpp>

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace stowage::run {

/// The parts of an image config ("config" object of
/// application/vnd.oci.image.config.v1+json) a container runs with.
struct image_config {
  std::vector<std::string> entrypoint;
  std::vector<std::string> cmd;
  std::vector<std::string> env;
  std::string working_dir;
  std::string user;
  std::vector<std::string> diff_ids; // rootfs.diff_ids, bottom layer first
  std::string os, architecture;

  /// Parses the whole image config document; nullopt with `error` set on
  /// malformed JSON or fields of the wrong type.
  static std::optional<image_config> parse(std::string_view json, std::string& error);
};

struct user_ids {
  unsigned uid = 0, gid = 0;
  std::vector<unsigned> additional_gids;
};

/// Resolves Config.User ("", "uid", "uid:gid", "name", "name:group") against
/// the rootfs's /etc/passwd and /etc/group as runc does: a user without a
/// group gets passwd's group for it (by name or by uid; 0 if passwd lacks
/// it) and, as supplementary groups, those /etc/group lists it in. nullopt
/// with `error` if a name is unknown.
std::optional<user_ids> resolve_user(const std::string& user, const std::filesystem::path& rootfs,
                                     std::string& error);

/// The process arguments: Entrypoint + Cmd, where a non-empty `command`
/// (what followed `--`) replaces Cmd.
std::vector<std::string> process_args(const image_config& cfg, const std::vector<std::string>& command);

/// The runtime spec (config.json) for `cfg`, run as `ids`, with `hostname`.
nlohmann::json runtime_spec(const image_config& cfg, const std::vector<std::string>& command,
                            const user_ids& ids, const std::string& hostname);

/// Whether the process of `spec` can start in `rootfs`: its first argument,
/// a name with a '/' as given (against the spec's cwd if relative), else
/// looked up in the spec's PATH, as runc's exec does, resolved inside the
/// rootfs. Empty if it names an executable file there; else why not, with
/// the exit code a shell would give (127 not found, 126 not executable).
/// An executable file must be ELF or a script whose interpreter (#!) is an
/// executable file in the image: 127 if that is missing, 126 otherwise. A
/// working directory that is a file, or a link to nothing, is 125.
struct start_problem {
  std::string message;
  int exit_code = 0;
};
std::optional<start_problem> cannot_start(const std::filesystem::path& rootfs, const nlohmann::json& spec);

/// Writes `spec` as `bundle`/config.json (the rootfs must already be there).
void write_bundle(const std::filesystem::path& bundle, const nlohmann::json& spec);

} // namespace stowage::run
