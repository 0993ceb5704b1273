// `stowage run [--runtime HOST:PORT] REF [-- CMD…]`: pull REF from the
// runtime's OCI endpoint (the gateway, which schedules the pull through the
// cluster), unpack its layers into the layer cache, stack them into a rootfs,
// write an OCI runtime bundle from the image config and run it with runc.
// Stdout and stderr are the container's; the exit code is the container's,
// or 125 when stowage itself failed before the container ran.
#include "cli/commands.hpp"
#include "config/cluster_config.hpp"
#include "net/registry_client.hpp"
#include "oci/name.hpp"
#include "run/bundle.hpp"
#include "run/container_dir.hpp"
#include "run/layer_cache.hpp"
#include "run/layer_unpack.hpp"
#include "run/rootfs.hpp"
#include "run/runc.hpp"

#include <signal.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <memory>
#include <random>
#include <sstream>

namespace stowage::cli {
namespace {
namespace fs = std::filesystem;

constexpr int failed_before_start = 125; // as docker and podman do

struct run_options {
  std::string runtime = "127.0.0.1:5000";
  bool runtime_given = false;
  std::string data = "./stowage-data/run";
  bool data_given = false;
  std::string config_file; // a cluster file: endpoint and data dir of a runtime node
  std::string node;
  std::string ref;
  std::vector<std::string> command;
  bool rm = false;
  bool no_overlay = false;
  bool verbose = false;
  std::string runc = "runc";
};

struct failure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

std::string host_arch() {
  struct utsname u {};
  ::uname(&u);
  std::string m = u.machine;
  if (m == "x86_64") return "amd64";
  if (m == "aarch64") return "arm64";
  return m;
}

std::string random_id() {
  std::random_device rd;
  std::ostringstream s;
  s << std::hex;
  for (int i = 0; i < 3; ++i) s << (rd() & 0xffffu) << (rd() & 0xffu);
  return "stowage-" + s.str();
}

std::string read_all(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Downloads are named "<hex>.<pid>[.config][.part]"; those of processes that
// died mid-pull are removed (they can be as large as a layer).
void sweep_dead_downloads(const fs::path& dir) {
  std::error_code ec;
  for (auto it = fs::directory_iterator(dir, ec); !ec && it != fs::directory_iterator(); it.increment(ec)) {
    const std::string name = it->path().filename().string();
    auto dot = name.find('.');
    if (dot == std::string::npos) continue;
    long pid = std::strtol(name.c_str() + dot + 1, nullptr, 10);
    if (pid <= 0 || pid == ::getpid()) continue;
    if (::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) {
      std::error_code rm;
      fs::remove(it->path(), rm);
    }
  }
}

// With --config, the runtime node (named by --node, else the only one) gives
// the endpoint (its gateway) and the data directory (<its data>/run), unless
// --runtime / --data say otherwise.
run_options apply_cluster_file(run_options o) {
  if (o.config_file.empty()) return o;
  config::cluster c = config::load(o.config_file);
  const config::node* rt = nullptr;
  if (!o.node.empty()) {
    rt = c.find(o.node);
    if (!rt || rt->role != config::role::runtime) throw failure("no runtime node '" + o.node + "' in " + o.config_file);
  } else {
    auto runtimes = c.with_role(config::role::runtime);
    if (runtimes.size() != 1) throw failure(o.config_file + " has " + std::to_string(runtimes.size()) +
                                            " runtime nodes: pick one with --node");
    rt = runtimes.front();
  }
  if (!o.runtime_given) {
    o.runtime = (rt->host.find(':') != std::string::npos ? "[" + rt->host + "]" : rt->host) + ":" +
                std::to_string(rt->http_port);
    o.runtime_given = true;
  }
  if (!o.data_given) o.data = (rt->data / "run").string();
  return o;
}

int run_container(const run_options& given) {
  const run_options o = apply_cluster_file(given);
  auto ref = oci::image_ref::parse(o.ref);
  if (!ref) throw failure("not an image reference: " + o.ref);
  // An explicit --runtime, or a registry named in REF (not both, unless they
  // agree: which one was meant?); else the default.
  auto same_endpoint = [](std::string a, std::string b) {
    for (auto* s : {&a, &b})
      if (s->starts_with("localhost:")) s->replace(0, 9, "127.0.0.1");
    return a == b;
  };
  if (o.runtime_given && !ref->registry.empty() && !same_endpoint(ref->registry, o.runtime))
    throw failure(o.ref + " names the registry " + ref->registry + " and --runtime names " + o.runtime +
                  ": give one of the two");
  net::registry_client reg(!o.runtime_given && !ref->registry.empty() ? ref->registry : o.runtime);
  auto say = [&](const std::string& s) {
    if (o.verbose) std::cerr << "stowage run: " << s << std::endl;
  };

  const fs::path data = fs::absolute(o.data);
  // Root's only, as containers/storage keeps its own: the unpacked layers
  // hold the images' setuid files and device nodes, and a bundle's rootfs is
  // mounted without nosuid (the container needs them), so a path open to
  // other users would hand them root.
  if (!fs::exists(data)) {
    fs::create_directories(data.parent_path());
    if (::mkdir(data.c_str(), 0700) != 0 && errno != EEXIST)
      throw failure("cannot create " + data.string() + ": " + std::strerror(errno));
  }
  struct stat st {};
  if (::lstat(data.c_str(), &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != ::geteuid() || (st.st_mode & 077))
    throw failure(data.string() + " must be a directory of this user that no one else can reach (mode 0700)");
  fs::create_directories(data / "blobs");
  sweep_dead_downloads(data / "blobs");
  fs::create_directories(data / "containers");
  run::runc_options ro{o.runc, data / "runc-state"};
  auto swept = run::sweep_abandoned(data / "containers", ro);
  for (const auto& c : swept.released) say("released the rootfs of " + c + ", whose run was killed");
  for (const auto& c : swept.removed) say("removed " + c + ", whose run was killed");
  for (const auto& c : swept.orphaned)
    std::cerr << "stowage run: " << c << " still runs, though the run that started it was killed; left alone"
              << std::endl;
  oci::manifest m = reg.get_image_manifest(ref->repository, ref->ref.str(), "linux", host_arch()).parsed;
  if (!m.config) throw failure("manifest has no config");

  const fs::path config_file = data / "blobs" / (m.config->dig.hex + "." + std::to_string(::getpid()) + ".config");
  if (m.config->size > (16u << 20)) throw failure("image config larger than 16 MiB");
  reg.get_blob(ref->repository, m.config->dig, config_file, m.config->size);
  std::string err;
  auto cfg = run::image_config::parse(read_all(config_file), err);
  fs::remove(config_file);
  if (!cfg) throw failure(err);
  if (cfg->diff_ids.size() != m.layers.size())
    throw failure("image config lists " + std::to_string(cfg->diff_ids.size()) + " diff IDs for " +
                  std::to_string(m.layers.size()) + " layers");

  for (const auto& layer : m.layers)
    if (!run::is_filesystem_layer(layer.media_type))
      throw failure("layer " + layer.dig.str() + " has media type '" + layer.media_type +
                    "', not a container filesystem layer");

  // Layers: fetched only when their diff ID is not cached yet; the compressed
  // blob is dropped once unpacked.
  run::layer_cache cache(data);
  // What a run killed while unpacking left behind goes now, not only at the
  // next unpack (a run of cached layers would leave it there).
  if (auto n = cache.sweep_stale()) say("removed " + std::to_string(n) + " half-unpacked layer(s) of a killed run");
  std::vector<fs::path> layer_dirs;
  for (std::size_t i = 0; i < m.layers.size(); ++i) {
    auto diff_id = oci::digest::parse(cfg->diff_ids[i]);
    if (!diff_id || diff_id->algorithm != "sha256") throw failure("bad diff ID " + cfg->diff_ids[i]);
    if (!cache.has(*diff_id)) {
      const auto& layer = m.layers[i];
      const fs::path blob = data / "blobs" / (layer.dig.hex + "." + std::to_string(::getpid()));
      say("pulling layer " + layer.dig.str());
      reg.get_blob(ref->repository, layer.dig, blob, layer.size);
      std::string e = cache.add(blob, *diff_id);
      fs::remove(blob);
      if (!e.empty()) throw failure(e);
    } else {
      say("layer " + diff_id->str() + " cached");
    }
    layer_dirs.push_back(cache.path_of(*diff_id));
  }

  const std::string id = random_id();
  // However this ends, the overlay mount goes (it lives only while the
  // container runs; its writes stay in the bundle's upper/ directory), and the
  // bundle goes too with --rm or when the container never started; should
  // this process be killed, the next run's sweep does it.
  run::container_dir dir(data / "containers" / id, o.rm);
  const fs::path& bundle = dir.path();
  auto rootfs = run::assemble_rootfs(layer_dirs, bundle, !o.no_overlay);
  if (!rootfs.error.empty()) throw failure(rootfs.error);
  say(std::string("rootfs by ") + (rootfs.kind == run::rootfs_kind::overlay ? "overlay mount" : "copy"));

  auto ids = run::resolve_user(cfg->user, bundle / "rootfs", err);
  if (!ids) throw failure(err);
  const auto spec = run::runtime_spec(*cfg, o.command, *ids, id.substr(0, 20));
  run::write_bundle(bundle, spec);
  // runc exits 1 when the command cannot start, as a container exiting 1
  // would: found out first, it gets a shell's 127 or 126, as in docker.
  if (auto problem = run::cannot_start(bundle / "rootfs", spec)) {
    std::cerr << "stowage run: " << problem->message << std::endl;
    return problem->exit_code;
  }
  say("running " + id + " from " + bundle.string());
  std::string run_error;
  dir.set_started(true);
  int code = run::runc_run(ro, bundle, id, run_error);
  const bool started = run_error.empty();
  dir.set_started(started);
  if (o.rm && started) run::runc_delete(ro, id);
  if (!started) throw failure(run_error);
  return code;
}

int run_command(const run_options& o) {
  try {
    return run_container(o);
  } catch (const std::exception& e) {
    std::cerr << "stowage run: " << e.what() << std::endl;
    return failed_before_start;
  }
}

} // namespace

void add_run(CLI::App& app) {
  auto o = std::make_shared<run_options>();
  auto* cmd = app.add_subcommand("run", "Pull an image through the runtime's endpoint and run it with runc");
  cmd->add_option("--runtime", o->runtime, "The runtime's OCI endpoint (HOST:PORT)")
      ->each([o](const std::string&) { o->runtime_given = true; });
  cmd->add_option("--data", o->data, "Directory for the layer cache and bundles")
      ->each([o](const std::string&) { o->data_given = true; });
  cmd->add_option("--config", o->config_file, "Cluster file: take the endpoint and data dir of its runtime node");
  cmd->add_option("--node", o->node, "The runtime node of --config to act as");
  cmd->add_flag("--rm", o->rm, "Remove the container's bundle when it exits");
  cmd->add_flag("--no-overlay", o->no_overlay, "Copy the layers into the rootfs instead of an overlay mount");
  cmd->add_option("--runc", o->runc, "The runc binary");
  cmd->add_flag("-v,--verbose", o->verbose, "Say what happens on stderr");
  cmd->add_option("ref", o->ref, "The image: REPOSITORY[:TAG|@DIGEST], optionally HOST:PORT/ in front")->required();
  cmd->add_option("command", o->command, "Replaces the image's Cmd (put it after --)");
  cmd->callback([o] {
    std::cout.flush();
    std::exit(run_command(*o));
  });
}

} // namespace stowage::cli
