#include "run/bundle.hpp"

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

namespace stowage::run {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

bool string_list(const json& j, const char* key, std::vector<std::string>& out, std::string& error) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return true;
  if (!it->is_array()) {
    error = std::string("image config: ") + key + " is not an array";
    return false;
  }
  for (const auto& v : *it) {
    if (!v.is_string()) {
      error = std::string("image config: ") + key + " holds a non-string";
      return false;
    }
    out.push_back(v.get<std::string>());
  }
  return true;
}

bool string_field(const json& j, const char* key, std::string& out, std::string& error) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return true;
  if (!it->is_string()) {
    error = std::string("image config: ") + key + " is not a string";
    return false;
  }
  out = it->get<std::string>();
  return true;
}

std::optional<unsigned> number(std::string_view s) {
  unsigned v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

/// Opens the image's `path` (relative to `rootfs`) with `flags`, resolved
/// inside the rootfs as the container would see it: a symlink, even an
/// absolute one or one with `..`, cannot leave it (openat2 RESOLVE_IN_ROOT),
/// so the host's own files stay out of reach. -1 if it cannot.
int open_in_rootfs(const fs::path& rootfs, const char* path, std::uint64_t flags) {
  int root = ::open(rootfs.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (root < 0) return -1;
  open_how how{};
  how.flags = flags | O_CLOEXEC;
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV;
  int fd = static_cast<int>(::syscall(SYS_openat2, root, path, &how, sizeof how));
  ::close(root);
  return fd;
}

/// The image's `path` as text (open_in_rootfs). Only a regular file of at
/// most `cap` bytes is read (an image could name /dev/zero or a FIFO);
/// nullopt otherwise.
std::optional<std::string> read_in_rootfs(const fs::path& rootfs, const char* path, std::size_t cap = 4 << 20) {
  int fd = open_in_rootfs(rootfs, path, O_RDONLY | O_NOCTTY | O_NONBLOCK); // a FIFO must not block the open
  if (fd < 0) return std::nullopt;
  std::optional<std::string> text;
  struct stat st {};
  if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && static_cast<std::uint64_t>(st.st_size) <= cap) {
    std::string out(static_cast<std::size_t>(st.st_size), '\0');
    std::size_t got = 0;
    while (got < out.size()) {
      ssize_t n = ::read(fd, out.data() + got, out.size() - got);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      got += static_cast<std::size_t>(n);
    }
    out.resize(got);
    text = std::move(out);
  }
  ::close(fd);
  return text;
}

/// What the image's `path` is (open_in_rootfs); nullopt if nothing is there.
std::optional<struct stat> stat_in_rootfs(const fs::path& rootfs, const std::string& path) {
  int fd = open_in_rootfs(rootfs, path.c_str(), O_PATH);
  if (fd < 0) return std::nullopt;
  struct stat st {};
  const bool ok = ::fstat(fd, &st) == 0;
  ::close(fd);
  if (!ok) return std::nullopt;
  return st;
}

/// The lines of the image's passwd/group-style `file`, split at ':'.
std::vector<std::vector<std::string>> entries(const fs::path& rootfs, const char* file) {
  std::vector<std::vector<std::string>> out;
  auto text = read_in_rootfs(rootfs, file);
  if (!text) return out;
  std::istringstream in(*text);
  std::string line;
  while (std::getline(in, line)) {
    std::vector<std::string> f;
    std::size_t start = 0, pos;
    while ((pos = line.find(':', start)) != std::string::npos) {
      f.push_back(line.substr(start, pos - start));
      start = pos + 1;
    }
    f.push_back(line.substr(start));
    if (f.size() >= 3 && number(f[2])) out.push_back(std::move(f));
  }
  return out;
}

struct account {
  std::string name;
  unsigned id = 0, gid = 0; // fields 2 and 3
};

/// The first entry of `file` whose name is `name`, or (passwd, a numeric
/// user) whose id is `id`.
std::optional<account> lookup(const fs::path& rootfs, const char* file, const std::string& name,
                              std::optional<unsigned> id = {}) {
  for (const auto& f : entries(rootfs, file)) {
    const unsigned fid = *number(f[2]);
    if (id ? fid != *id : f[0] != name) continue;
    auto gid = f.size() > 3 ? number(f[3]) : std::optional<unsigned>(0);
    return account{f[0], fid, gid.value_or(0)};
  }
  return std::nullopt;
}

/// The groups of the image's /etc/group that list `user` as a member, but
/// `primary` (as runc does for a user given without a group).
std::vector<unsigned> member_groups(const fs::path& rootfs, const std::string& user, unsigned primary) {
  std::vector<unsigned> out;
  for (const auto& f : entries(rootfs, "etc/group")) {
    if (f.size() < 4) continue;
    std::istringstream members(f[3]);
    std::string m;
    while (std::getline(members, m, ','))
      if (m == user) {
        const unsigned gid = *number(f[2]);
        if (gid != primary && std::find(out.begin(), out.end(), gid) == out.end()) out.push_back(gid);
        break;
      }
  }
  return out;
}

json mount(const char* dst, const char* type, const char* src, std::vector<std::string> opts) {
  return json{{"destination", dst}, {"type", type}, {"source", src}, {"options", opts}};
}

} // namespace

std::optional<image_config> image_config::parse(std::string_view text, std::string& error) {
  json doc = json::parse(text, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) {
    error = "image config: not a JSON object";
    return std::nullopt;
  }
  image_config cfg;
  if (!string_field(doc, "os", cfg.os, error) || !string_field(doc, "architecture", cfg.architecture, error))
    return std::nullopt;
  if (auto c = doc.find("config"); c != doc.end() && !c->is_null()) {
    if (!c->is_object()) {
      error = "image config: config is not an object";
      return std::nullopt;
    }
    if (!string_list(*c, "Entrypoint", cfg.entrypoint, error) || !string_list(*c, "Cmd", cfg.cmd, error) ||
        !string_list(*c, "Env", cfg.env, error) || !string_field(*c, "WorkingDir", cfg.working_dir, error) ||
        !string_field(*c, "User", cfg.user, error))
      return std::nullopt;
  }
  auto r = doc.find("rootfs");
  if (r == doc.end() || !r->is_object()) {
    error = "image config: rootfs is missing";
    return std::nullopt;
  }
  if (!string_list(*r, "diff_ids", cfg.diff_ids, error)) return std::nullopt;
  return cfg;
}

std::optional<user_ids> resolve_user(const std::string& user, const fs::path& rootfs, std::string& error) {
  user_ids ids;
  if (user.empty()) return ids;
  std::string u = user, g;
  if (auto colon = user.find(':'); colon != std::string::npos) {
    u = user.substr(0, colon);
    g = user.substr(colon + 1);
  }
  // A numeric user takes the group passwd gives that uid (0 if none).
  std::optional<account> a;
  if (auto n = number(u)) {
    ids.uid = *n;
    a = lookup(rootfs, "etc/passwd", {}, *n);
  } else if (!(a = lookup(rootfs, "etc/passwd", u))) {
    error = "user '" + u + "' is not in the image's /etc/passwd";
    return std::nullopt;
  }
  if (a) {
    ids.uid = a->id;
    ids.gid = a->gid;
  }
  if (!g.empty()) {
    if (auto n = number(g)) {
      ids.gid = *n;
    } else if (auto grp = lookup(rootfs, "etc/group", g)) {
      ids.gid = grp->id;
    } else {
      error = "group '" + g + "' is not in the image's /etc/group";
      return std::nullopt;
    }
  } else if (a) {
    ids.additional_gids = member_groups(rootfs, a->name, ids.gid);
  }
  return ids;
}

std::vector<std::string> process_args(const image_config& cfg, const std::vector<std::string>& command) {
  std::vector<std::string> args = cfg.entrypoint;
  const auto& tail = command.empty() ? cfg.cmd : command;
  args.insert(args.end(), tail.begin(), tail.end());
  return args;
}

/// Why the kernel would refuse to execute the image's executable file
/// `path` (named `name` in messages): neither ELF nor a script whose
/// interpreter it can execute, following interpreters as the kernel does
/// (up to four deep). nullopt if it would run it.
std::optional<start_problem> cannot_exec(const fs::path& rootfs, const std::string& path, const std::string& name,
                                         const std::string& cwd, int depth = 0) {
  int fd = open_in_rootfs(rootfs, path.c_str(), O_RDONLY | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) return std::nullopt; // unreadable here: runc decides
  char head[256];
  ssize_t n = ::pread(fd, head, sizeof head, 0);
  ::close(fd);
  const std::string_view h(head, n > 0 ? static_cast<std::size_t>(n) : 0);
  if (h.starts_with("\x7f" "ELF")) return std::nullopt;
  if (!h.starts_with("#!"))
    return start_problem{name + ": not a program this host can run (exec format error)", 126};
  auto line = h.substr(2, h.find('\n') == std::string_view::npos ? std::string_view::npos : h.find('\n') - 2);
  auto from = line.find_first_not_of(" \t");
  if (from == std::string_view::npos) return start_problem{name + ": its #! line names no interpreter", 126};
  auto interp = std::string(line.substr(from, line.find_first_of(" \t\r", from) - from));
  if (depth >= 4) return start_problem{name + ": too many levels of interpreters", 126};
  const auto at = interp.front() == '/' ? interp : cwd + "/" + interp;
  auto st = stat_in_rootfs(rootfs, at);
  if (!st) return start_problem{name + ": its interpreter " + interp + " is not in the image", 127};
  if (!S_ISREG(st->st_mode) || !(st->st_mode & 0111))
    return start_problem{name + ": its interpreter " + interp + " is not an executable file", 126};
  return cannot_exec(rootfs, at, interp, cwd, depth + 1);
}

std::optional<start_problem> cannot_start(const fs::path& rootfs, const json& spec) {
  const auto& process = spec.at("process");
  const auto& args = process.at("args");
  if (args.empty() || args[0].get<std::string>().empty())
    return start_problem{"the image names no command to run, and none was given after --", 127};
  // The working directory: runc creates one that is missing, but not over a
  // file, nor at a link that leads nowhere.
  const auto cwd = process.value("cwd", std::string("/"));
  if (auto st = stat_in_rootfs(rootfs, cwd); st && !S_ISDIR(st->st_mode))
    return start_problem{"the working directory " + cwd + " is not a directory in the image", 125};
  if (!stat_in_rootfs(rootfs, cwd))
    if (int fd = open_in_rootfs(rootfs, cwd.c_str(), O_PATH | O_NOFOLLOW); fd >= 0) {
      ::close(fd);
      return start_problem{"the working directory " + cwd + " is a link to nothing in the image", 125};
    }
  const auto name = args[0].get<std::string>();
  std::vector<std::string> candidates;
  if (name.find('/') != std::string::npos) {
    candidates.push_back(name.front() == '/' ? name : process.value("cwd", std::string("/")) + "/" + name);
  } else {
    std::string path;
    for (const auto& e : process.at("env"))
      if (auto v = e.get<std::string>(); v.starts_with("PATH=")) path = v.substr(5);
    for (std::size_t start = 0; start <= path.size();) {
      auto colon = path.find(':', start);
      auto dir = path.substr(start, colon == std::string::npos ? std::string::npos : colon - start);
      if (!dir.empty()) candidates.push_back(dir + "/" + name);
      if (colon == std::string::npos) break;
      start = colon + 1;
    }
  }
  bool seen = false; // something by that name, though not executable
  for (const auto& c : candidates)
    if (auto st = stat_in_rootfs(rootfs, c)) {
      if (S_ISREG(st->st_mode) && (st->st_mode & 0111))
        return cannot_exec(rootfs, c, name, process.value("cwd", std::string("/")));
      seen = true;
    }
  if (seen) return start_problem{name + ": not an executable file in the image", 126};
  return start_problem{name + (name.find('/') != std::string::npos ? ": no such file in the image"
                                                                   : ": not found in the image's PATH"),
                       127};
}

json runtime_spec(const image_config& cfg, const std::vector<std::string>& command, const user_ids& ids,
                  const std::string& hostname) {
  std::vector<std::string> env = cfg.env;
  bool has_path = false;
  for (const auto& e : env) has_path = has_path || e.starts_with("PATH=");
  if (!has_path) env.insert(env.begin(), "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");

  // The capabilities a default Docker/podman container gets.
  const std::vector<std::string> caps = {
      "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
      "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
      "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE"};

  json spec;
  spec["ociVersion"] = "1.0.2";
  spec["process"] = {
      {"terminal", false},
      {"user", ids.additional_gids.empty()
                   ? json{{"uid", ids.uid}, {"gid", ids.gid}}
                   : json{{"uid", ids.uid}, {"gid", ids.gid}, {"additionalGids", ids.additional_gids}}},
      {"args", process_args(cfg, command)},
      {"env", env},
      {"cwd", cfg.working_dir.empty() ? "/" : cfg.working_dir},
      {"capabilities", {{"bounding", caps}, {"effective", caps}, {"permitted", caps}}},
      {"rlimits", json::array({{{"type", "RLIMIT_NOFILE"}, {"hard", 1024}, {"soft", 1024}}})},
      {"noNewPrivileges", true}};
  spec["root"] = {{"path", "rootfs"}, {"readonly", false}};
  spec["hostname"] = hostname;
  spec["mounts"] = json::array({
      mount("/proc", "proc", "proc", {"nosuid", "noexec", "nodev"}),
      mount("/dev", "tmpfs", "tmpfs", {"nosuid", "strictatime", "mode=755", "size=65536k"}),
      mount("/dev/pts", "devpts", "devpts",
            {"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}),
      mount("/dev/shm", "tmpfs", "shm", {"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}),
      mount("/dev/mqueue", "mqueue", "mqueue", {"nosuid", "noexec", "nodev"}),
      mount("/sys", "sysfs", "sysfs", {"nosuid", "noexec", "nodev", "ro"}),
  });
  // No "network" namespace: the container shares the host's network.
  spec["linux"] = {
      {"namespaces", json::array({{{"type", "pid"}}, {{"type", "mount"}}, {{"type", "ipc"}}, {{"type", "uts"}}})},
      {"resources", {{"devices", json::array({{{"allow", false}, {"access", "rwm"}}})}}},
      {"maskedPaths",
       {"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
        "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi"}},
      {"readonlyPaths", {"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"}}};
  return spec;
}

void write_bundle(const fs::path& bundle, const json& spec) {
  fs::create_directories(bundle);
  const fs::path tmp = bundle / "config.json.tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << spec.dump(2) << '\n';
    if (!out) throw std::runtime_error("cannot write " + tmp.string());
  }
  fs::rename(tmp, bundle / "config.json");
}

} // namespace stowage::run
