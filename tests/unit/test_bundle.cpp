// The runtime spec built from an image config: args, env, cwd, user, and the
// fixed parts (namespaces without netns, mounts, terminal off).
#include "run/bundle.hpp"

#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <unistd.h>

#include <algorithm>
#include <map>

#include <fstream>
#include <random>

namespace fs = std::filesystem;
using namespace stowage::run;
using nlohmann::json;

namespace {
const char* sample = R"({
  "architecture": "amd64", "os": "linux",
  "config": {
    "Entrypoint": ["/bin/busybox"],
    "Cmd": ["echo", "default"],
    "Env": ["GREETING=hi", "PATH=/bin"],
    "WorkingDir": "/srv/app",
    "User": "1000:2000"
  },
  "rootfs": {"type": "layers", "diff_ids": ["sha256:aaaa", "sha256:bbbb"]}
})";

image_config parse_ok(const char* text) {
  std::string err;
  auto cfg = image_config::parse(text, err);
  INFO(err);
  REQUIRE(cfg);
  return *cfg;
}
} // namespace

TEST_CASE("image config fields are read", "[run][bundle]") {
  auto cfg = parse_ok(sample);
  CHECK(cfg.entrypoint == std::vector<std::string>{"/bin/busybox"});
  CHECK(cfg.cmd == std::vector<std::string>{"echo", "default"});
  CHECK(cfg.env == std::vector<std::string>{"GREETING=hi", "PATH=/bin"});
  CHECK(cfg.working_dir == "/srv/app");
  CHECK(cfg.user == "1000:2000");
  CHECK(cfg.diff_ids == std::vector<std::string>{"sha256:aaaa", "sha256:bbbb"});
  CHECK(cfg.os == "linux");
  CHECK(cfg.architecture == "amd64");
}

TEST_CASE("malformed image configs are refused", "[run][bundle]") {
  std::string err;
  CHECK(!image_config::parse("not json", err));
  CHECK(!image_config::parse(R"({"config": {"Cmd": "echo"}, "rootfs": {"diff_ids": []}})", err));
  CHECK(err.find("Cmd") != std::string::npos);
  CHECK(!image_config::parse(R"({"config": {"Env": [1]}, "rootfs": {"diff_ids": []}})", err));
  CHECK(!image_config::parse(R"({"config": {}})", err));
  CHECK(image_config::parse(R"({"config": null, "rootfs": {"diff_ids": []}})", err));
}

TEST_CASE("args are Entrypoint + Cmd, and a command replaces Cmd", "[run][bundle]") {
  auto cfg = parse_ok(sample);
  CHECK(process_args(cfg, {}) == std::vector<std::string>{"/bin/busybox", "echo", "default"});
  CHECK(process_args(cfg, {"sh", "-c", "exit 7"}) == std::vector<std::string>{"/bin/busybox", "sh", "-c", "exit 7"});
  cfg.entrypoint.clear();
  CHECK(process_args(cfg, {"/bin/echo", "hello"}) == std::vector<std::string>{"/bin/echo", "hello"});
}

TEST_CASE("the runtime spec carries env, cwd and user from the image", "[run][bundle]") {
  auto cfg = parse_ok(sample);
  json spec = runtime_spec(cfg, {"/bin/echo", "x"}, user_ids{1000, 2000, {}}, "box");
  CHECK(spec["process"]["args"] == json({"/bin/busybox", "/bin/echo", "x"}));
  CHECK(spec["process"]["env"] == json({"GREETING=hi", "PATH=/bin"}));
  CHECK(spec["process"]["cwd"] == "/srv/app");
  CHECK(spec["process"]["user"]["uid"] == 1000);
  CHECK(spec["process"]["user"]["gid"] == 2000);
  CHECK(spec["process"]["terminal"] == false);
  CHECK(spec["root"]["path"] == "rootfs");
  CHECK(spec["hostname"] == "box");

  std::vector<std::string> ns;
  for (auto& n : spec["linux"]["namespaces"]) ns.push_back(n["type"]);
  CHECK(ns == std::vector<std::string>{"pid", "mount", "ipc", "uts"}); // host network: no "network"
  std::map<std::string, json> mounts;
  for (auto& m : spec["mounts"]) mounts[m["destination"]] = m;
  CHECK(mounts.at("/proc")["type"] == "proc");
  CHECK(mounts.at("/dev")["type"] == "tmpfs");
  CHECK(mounts.at("/dev/pts")["type"] == "devpts");
  CHECK(mounts.at("/sys")["type"] == "sysfs");
  auto sys_opts = mounts.at("/sys")["options"];
  CHECK(std::find(sys_opts.begin(), sys_opts.end(), "ro") != sys_opts.end());
}

TEST_CASE("defaults: PATH added, cwd /, root", "[run][bundle]") {
  auto cfg = parse_ok(R"({"config": {"Cmd": ["/bin/true"], "Env": ["A=1"]}, "rootfs": {"diff_ids": []}})");
  json spec = runtime_spec(cfg, {}, user_ids{}, "h");
  CHECK(spec["process"]["env"][0].get<std::string>().starts_with("PATH="));
  CHECK(spec["process"]["env"][1] == "A=1");
  CHECK(spec["process"]["cwd"] == "/");
  CHECK(spec["process"]["user"]["uid"] == 0);
  CHECK(spec["process"]["args"] == json({"/bin/true"}));
}

TEST_CASE("users resolve by number or through the image's passwd and group", "[run][bundle]") {
  std::random_device rd;
  fs::path root = fs::temp_directory_path() / ("stowage-bundle-" + std::to_string(::getpid()) + "-" + std::to_string(rd()));
  fs::create_directories(root / "etc");
  std::ofstream(root / "etc/passwd") << "root:x:0:0:root:/root:/bin/sh\nwww:x:33:34:www:/var/www:/bin/false\n"
                                     << "app:x:1000:1000::/home/app:/bin/sh\n";
  std::ofstream(root / "etc/group") << "root:x:0:\nstaff:x:50:www\napp:x:1000:\naudio:x:29:app,www\nvideo:x:44:app\n";
  std::string err;
  auto ids = [&](const std::string& u) { return resolve_user(u, root, err); };
  CHECK(ids("")->uid == 0);
  CHECK(ids("1234")->uid == 1234);
  CHECK(ids("1234")->gid == 0);
  CHECK(ids("1234:99")->gid == 99);
  CHECK(ids("www")->uid == 33);
  CHECK(ids("www")->gid == 34);
  CHECK(ids("www:staff")->gid == 50);
  // A numeric user that passwd names gets its group and its groups.
  CHECK(ids("1000")->gid == 1000);
  CHECK(ids("1000")->additional_gids == std::vector<unsigned>{29, 44});
  CHECK(ids("www")->additional_gids == std::vector<unsigned>{50, 29});
  CHECK(ids("1000:7")->gid == 7); // a group given: that one alone
  CHECK(ids("1000:7")->additional_gids.empty());
  CHECK(ids("1234")->additional_gids.empty());
  auto spec = runtime_spec(image_config{}, {}, *ids("app"), "h");
  CHECK(spec["process"]["user"]["gid"] == 1000);
  CHECK(spec["process"]["user"]["additionalGids"] == json({29, 44}));
  CHECK(!ids("nobody-here"));
  CHECK(err.find("nobody-here") != std::string::npos);
  CHECK(!ids("www:nogroup"));
  fs::remove_all(root);
}

TEST_CASE("the image's passwd is read inside its rootfs: links cannot reach the host's files", "[run][bundle]") {
  std::random_device rd;
  fs::path base = fs::temp_directory_path() / ("stowage-bundle-l-" + std::to_string(::getpid()) + "-" + std::to_string(rd()));
  fs::path root = base / "rootfs", host = base / "host";
  fs::create_directories(root / "etc");
  fs::create_directories(root / "usr/lib");
  fs::create_directories(host);
  std::ofstream(host / "passwd") << "foo:x:4242:4343::/:/bin/sh\n"; // a file outside the image
  std::ofstream(root / "usr/lib/passwd") << "foo:x:1000:1001::/:/bin/sh\n";
  std::string err;
  auto ids = [&](const std::string& u) { return resolve_user(u, root, err); };

  // An absolute link resolves against the image's root, as in the container.
  fs::create_symlink("/usr/lib/passwd", root / "etc/passwd");
  REQUIRE(ids("foo"));
  CHECK(ids("foo")->uid == 1000);

  // A link out of the image (absolute to the host's path, or ../ past the
  // root) finds nothing rather than the host's file.
  fs::remove(root / "etc/passwd");
  fs::create_symlink(host / "passwd", root / "etc/passwd");
  CHECK(!ids("foo"));
  fs::remove(root / "etc/passwd");
  fs::create_symlink("../../../host/passwd", root / "etc/passwd");
  CHECK(!ids("foo"));

  // Not a regular file: a FIFO (which would block) is not read.
  fs::remove(root / "etc/passwd");
  REQUIRE(::mkfifo((root / "etc/passwd").c_str(), 0644) == 0);
  CHECK(!ids("foo"));
  fs::remove_all(base);
}

TEST_CASE("write_bundle writes config.json", "[run][bundle]") {
  std::random_device rd;
  fs::path dir = fs::temp_directory_path() / ("stowage-bundle-w-" + std::to_string(rd()));
  auto cfg = parse_ok(sample);
  write_bundle(dir, runtime_spec(cfg, {}, user_ids{}, "h"));
  std::ifstream in(dir / "config.json");
  json back = json::parse(in);
  CHECK(back["process"]["cwd"] == "/srv/app");
  fs::remove_all(dir);
}

TEST_CASE("a command that cannot start is found out first: 127 not found, 126 not executable", "[run][bundle]") {
  std::random_device rd;
  fs::path base = fs::temp_directory_path() / ("stowage-bundle-x-" + std::to_string(::getpid()) + "-" + std::to_string(rd()));
  fs::path root = base / "rootfs";
  fs::create_directories(root / "bin");
  fs::create_directories(root / "etc");
  fs::create_directories(root / "srv/app");
  fs::create_directories(base / "host");
  std::ofstream(root / "bin/busybox") << "\x7f" "ELF\x02\x01\x01"; // what the kernel looks at
  fs::permissions(root / "bin/busybox", fs::perms::owner_all);
  fs::create_symlink("busybox", root / "bin/sh");                 // relative
  fs::create_symlink("/bin/busybox", root / "bin/tool");          // absolute: inside the image
  std::ofstream(root / "etc/passwd") << "root:x:0:0::/:/bin/sh\n"; // not executable
  // Scripts: run by the interpreter their #! line names, if the image has it.
  auto script = [&](const char* name, const char* text) {
    std::ofstream(root / "srv/app" / name) << text;
    fs::permissions(root / "srv/app" / name, fs::perms::owner_all);
  };
  script("run", "#!/bin/sh\necho hi\n");
  script("spaced", "#!  /bin/sh -e\n");
  script("nested", "#!/srv/app/run\n");          // a script's interpreter may be a script
  script("lost", "#!/usr/bin/python3\nprint()\n"); // the image has no python
  script("odd", "#!/etc/passwd\n");               // not executable
  script("bare", "#!\n");
  script("text", "echo no #! line\n");            // neither ELF nor a script: exec format error
  std::ofstream(base / "host/outside") << "#!";
  fs::permissions(base / "host/outside", fs::perms::owner_all);
  fs::create_symlink(base / "host/outside", root / "bin/escape");  // the host's file: not the image's

  auto spec_for = [&](std::vector<std::string> command, std::vector<std::string> env = {}) {
    image_config cfg;
    cfg.env = std::move(env);
    cfg.working_dir = "/srv/app";
    return runtime_spec(cfg, command, {}, "h");
  };
  auto code = [&](std::vector<std::string> command, std::vector<std::string> env = {}) {
    auto p = cannot_start(root, spec_for(std::move(command), std::move(env)));
    return p ? p->exit_code : 0;
  };
  CHECK(code({"/bin/sh", "-c", "true"}) == 0);
  CHECK(code({"sh"}) == 0);        // the default PATH
  CHECK(code({"/bin/tool"}) == 0); // an absolute link, resolved in the image
  CHECK(code({"./run"}) == 0);     // relative to the working directory
  CHECK(code({"sh"}, {"PATH=/usr/bin"}) == 127); // not on the image's PATH
  CHECK(code({"/nonexistent"}) == 127);
  CHECK(code({"nonexistent"}) == 127);
  CHECK(code({"/bin/escape"}) == 127);
  CHECK(code({"/etc/passwd"}) == 126);
  CHECK(code({"/bin"}) == 126);
  CHECK(code({"/srv/app/spaced"}) == 0);
  CHECK(code({"/srv/app/nested"}) == 0);
  CHECK(code({"/srv/app/lost"}) == 127);
  CHECK(code({"/srv/app/odd"}) == 126);
  CHECK(code({"/srv/app/bare"}) == 126);
  CHECK(code({"/srv/app/text"}) == 126);
  CHECK(code({}) == 127); // no Entrypoint, no Cmd, no command
  // The working directory: a missing one is made by runc; a file, or a link
  // to nothing, cannot be.
  auto in_dir = [&](std::string dir) {
    image_config cfg;
    cfg.working_dir = std::move(dir);
    auto p = cannot_start(root, runtime_spec(cfg, {"/bin/sh"}, {}, "h"));
    return p ? p->exit_code : 0;
  };
  fs::create_symlink("/nowhere", root / "srv/dangling");
  CHECK(in_dir("/srv/app") == 0);
  CHECK(in_dir("/srv/new") == 0);
  CHECK(in_dir("/etc/passwd") == 125);
  CHECK(in_dir("/srv/dangling") == 125);
  auto p = cannot_start(root, spec_for({"/nonexistent"}));
  REQUIRE(p);
  CHECK(p->message == "/nonexistent: no such file in the image");
  fs::remove_all(base);
}
