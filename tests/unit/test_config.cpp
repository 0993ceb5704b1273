// The cluster file: every validation error names the file and the line at
// fault; to_toml and load are inverses; the dev layout follows DESIGN §6.
#include "config/cluster_config.hpp"
#include "config/identity.hpp"
#include "config/node_keys.hpp"

#include <algorithm>
#include <catch2/catch.hpp>

#include <fstream>
#include <set>
#include <unistd.h>

using namespace stowage::config;
namespace fs = std::filesystem;

namespace {

// A valid three-node cluster; tests append or replace lines to break it.
const std::string good_nodes = R"([[node]]
name = "master"
role = "master"
http_port = 5001
actor_port = 5100
data = "/var/lib/stowage/master"

[[node]]
name = "dm1"
role = "data"
host = "10.0.0.2"
http_port = 5011
actor_port = 5111
data = "/var/lib/stowage/dm1"

[[node]]
name = "rt1"
role = "runtime"
http_port = 5000
actor_port = 5150
data = "/var/lib/stowage/rt1"
)";

std::string error_of(const std::string& text) {
  try {
    parse(text, "c.toml");
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "no error";
}

struct temp_dir {
  fs::path path;
  temp_dir() {
    path = fs::temp_directory_path() / ("stowage-config-test-" + std::to_string(::getpid()) + "-" +
                                        std::to_string(reinterpret_cast<std::uintptr_t>(this)));
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~temp_dir() { fs::remove_all(path); }
};

} // namespace

TEST_CASE("a valid cluster file parses with defaults", "[config]") {
  const auto c = parse(good_nodes);
  REQUIRE(c.nodes.size() == 3);
  CHECK(c.settings == cluster_settings{});
  CHECK(c.settings.probe_bytes == 256 * 1024);
  CHECK(c.settings.min_copies == 2);
  REQUIRE(c.master() != nullptr);
  CHECK(c.master()->name == "master");
  CHECK(c.master()->host == "127.0.0.1"); // host defaults to loopback
  const auto* dm1 = c.find("dm1");
  REQUIRE(dm1 != nullptr);
  CHECK(dm1->host == "10.0.0.2");
  CHECK(dm1->http_port == 5011);
  // Another machine may use the same port and the same directory.
  CHECK_NOTHROW(parse(good_nodes + "[[node]]\nname = \"dm2\"\nrole = \"data\"\nhost = \"10.0.0.3\"\n"
                                   "http_port = 5011\nactor_port = 5111\ndata = \"/var/lib/stowage/dm1\"\n"));
  CHECK(dm1->actor_port == 5111);
  CHECK(dm1->data == fs::path("/var/lib/stowage/dm1"));
  CHECK(c.find("dm9") == nullptr);
  CHECK(c.with_role(role::data).size() == 1);
  CHECK(c.with_role(role::runtime).front()->name == "rt1");
}

TEST_CASE("[cluster] settings are read", "[config]") {
  const auto c = parse(R"([cluster]
probe_bytes = 65536
probe_timeout_ms = 1500
retry_interval_ms = 250
proof_ttl_ms = 30000
min_copies = 1
probe_fanout = 3
master_public_key = "00112233445566778899aabbccddeeff00112233445566778899AABBCCDDEEFF"
)" + good_nodes);
  CHECK(c.settings.probe_bytes == 65536);
  CHECK(c.settings.probe_timeout == std::chrono::milliseconds(1500));
  CHECK(c.settings.retry_interval == std::chrono::milliseconds(250));
  CHECK(c.settings.proof_ttl == std::chrono::milliseconds(30000));
  CHECK(c.settings.min_copies == 1);
  CHECK(c.settings.probe_fanout == 3);
  CHECK(c.settings.master_public_key == "00112233445566778899aabbccddeeff00112233445566778899AABBCCDDEEFF");
}

TEST_CASE("every error is one line: file:line: what is wrong", "[config]") {
  struct bad_case {
    std::string text;
    std::string prefix; // "c.toml:LINE: "
    std::string says;   // a phrase the message must contain
  };
  // good_nodes lines: master 1-6, dm1 8-14, rt1 16-21; an appended [[node]] starts on 22.
  const std::vector<bad_case> cases = {
      {"[cluster\n", "c.toml:1: ", ""}, // TOML syntax error from toml++
      {good_nodes + "[[node]]\nname = \"dm1\"\nrole = \"data\"\nhttp_port = 6011\nactor_port = 6111\ndata = \"x\"\n",
       "c.toml:23: ", "node name \"dm1\" is already used on line 9"},
      {good_nodes + "[[node]]\nname = \"m2\"\nrole = \"master\"\nhttp_port = 6001\nactor_port = 6100\ndata = \"x\"\n",
       "c.toml:24: ", "second master \"m2\""},
      {good_nodes + "[[node]]\nname = \"x1\"\nrole = \"storage\"\nhttp_port = 6001\nactor_port = 6100\ndata = \"x\"\n",
       "c.toml:24: ", "role \"storage\" is not one of"},
      {good_nodes + "[[node]]\nname = \"x1\"\nrole = \"data\"\nhttp_port = 0\nactor_port = 6100\ndata = \"x\"\n",
       "c.toml:25: ", "http_port = 0 is out of range"},
      {good_nodes + "[[node]]\nname = \"x1\"\nrole = \"data\"\nhttp_port = 6001\nactor_port = 65536\ndata = \"x\"\n",
       "c.toml:26: ", "actor_port = 65536 is out of range"},
      {good_nodes + "[[node]]\nname = \"x1\"\nrole = \"data\"\nhttp_port = \"6001\"\nactor_port = 6100\ndata = \"x\"\n",
       "c.toml:25: ", "http_port must be an integer, not a string"},
      // Same port on the same host (master is on 127.0.0.1 by default)...
      {good_nodes + "[[node]]\nname = \"x1\"\nrole = \"data\"\nhttp_port = 5100\nactor_port = 6100\ndata = \"x\"\n",
       "c.toml:25: ", "\"x1\" http_port 5100 on 127.0.0.1 is already taken by \"master\" actor_port"},
      // ...and a node's two ports must differ too.
      {good_nodes + "[[node]]\nname = \"x1\"\nrole = \"data\"\nhttp_port = 6000\nactor_port = 6000\ndata = \"x\"\n",
       "c.toml:26: ", "\"x1\" actor_port 6000 on 127.0.0.1 is already taken by \"x1\" http_port"},
      {good_nodes + "[[node]]\nname = \"x1\"\nrole = \"data\"\nactor_port = 6100\ndata = \"x\"\n",
       "c.toml:22: ", "[[node]] \"x1\" has no http_port"},
      {good_nodes + "[[node]]\nrole = \"data\"\nhttp_port = 6001\nactor_port = 6100\ndata = \"x\"\n",
       "c.toml:22: ", "[[node]] has no name"},
      {good_nodes + "[[node]]\nname = \"x1\"\nrole = \"data\"\nhttp_port = 6001\nactor_port = 6100\n",
       "c.toml:22: ", "has no data"},
      {good_nodes + "[[node]]\nname = \"x1\"\nrole = \"data\"\nhttp_port = 6001\nactor_port = 6100\ndata = \"x\"\nhtp_port = 1\n",
       "c.toml:28: ", "unknown key \"htp_port\" in [[node]]"},
      {good_nodes + "[[node]]\nname = \"../x\"\nrole = \"data\"\nhttp_port = 6001\nactor_port = 6100\ndata = \"x\"\n",
       "c.toml:23: ", "name \"../x\" must be"},
      {good_nodes + "[[node]]\nname = \"x1\"\nrole = \"data\"\nhost = \"exa mple\"\nhttp_port = 6001\nactor_port = 6100\ndata = \"x\"\n",
       "c.toml:25: ", "host \"exa mple\" must be an IP address or a DNS name"},
      {good_nodes + "[[node]]\nname = \"x1\"\nrole = \"data\"\nhost = \"\"\nhttp_port = 6001\nactor_port = 6100\ndata = \"x\"\n",
       "c.toml:25: ", "host \"\" must be"},
      {good_nodes + "[[node]]\nname = \"x1\"\nrole = \"data\"\nhost = \"-bad.example\"\nhttp_port = 6001\nactor_port = 6100\ndata = \"x\"\n",
       "c.toml:25: ", "host \"-bad.example\" must be"},
      {"[cluster]\nmin_copies = 0\n" + good_nodes, "c.toml:2: ", "min_copies = 0 is out of range"},
      {"[cluster]\nmin_copies = 3\n" + good_nodes, "c.toml:2: ", "min_copies = 3 cannot be reached"},
      // A wildcard address meets every address of its machine; "localhost" is 127.0.0.1.
      {good_nodes + "[[node]]\nname = \"x1\"\nrole = \"data\"\nhost = \"0.0.0.0\"\nhttp_port = 5011\nactor_port = 6100\ndata = \"x\"\n",
       "c.toml:26: ", "\"x1\" http_port 5011 on 0.0.0.0 is already taken by \"dm1\" http_port on 10.0.0.2"},
      {good_nodes + "[[node]]\nname = \"x1\"\nrole = \"data\"\nhost = \"localhost\"\nhttp_port = 5001\nactor_port = 6100\ndata = \"x\"\n",
       "c.toml:26: ", "already taken by \"master\" http_port on 127.0.0.1"},
      // Two nodes of one machine in one directory; the same path on another machine is fine (below).
      {good_nodes + "[[node]]\nname = \"x1\"\nrole = \"data\"\nhttp_port = 6001\nactor_port = 6100\ndata = \"/var/lib/stowage/rt1/\"\n",
       "c.toml:27: ", "\"x1\" data /var/lib/stowage/rt1/ is already used by \"rt1\""},
      {"[cluster]\nprobe_fanout = 1\n" + good_nodes, "c.toml:2: ", "probe_fanout = 1 is not allowed"},
      {"[cluster]\nprobe_bytes = -5\n" + good_nodes, "c.toml:2: ", "probe_bytes = -5 is out of range"},
      {"[cluster]\nprobe_timeout_ms = 1.5\n" + good_nodes, "c.toml:2: ", "probe_timeout_ms must be an integer, not a float"},
      {"[cluster]\nmaster_public_key = \"abc\"\n" + good_nodes, "c.toml:2: ", "master_public_key must be 64 hex digits"},
      {good_nodes + "public_key = \"xyz\"\n", "c.toml:", "public_key must be 64 hex digits"},
      {"[cluster]\nprobe_size = 5\n" + good_nodes, "c.toml:2: ", "unknown key \"probe_size\" in [cluster]"},
      {good_nodes + "cache_max_bytes = -1\n", "c.toml:22: ", "cache_max_bytes = -1 is out of range"},
      {good_nodes + "[[node]]\nname = \"x1\"\nrole = \"data\"\nhttp_port = 6001\nactor_port = 6100\ndata = \"x\"\ncache_min_idle_s = 5\n",
       "c.toml:28: ", "cache_max_bytes and cache_min_idle_s are for a runtime's image cache; \"x1\" is not a runtime"},
      {"nodes = 3\n" + good_nodes, "c.toml:1: ", "unknown top-level key \"nodes\""},
      {"node = 3\n", "c.toml:1: ", "node must be an array of tables"},
      {"[cluster]\n", "c.toml:1: ", "no [[node]] tables"},
      // Nodes without a master or without a data manager: reported at the first [[node]].
      {"\n[[node]]\nname = \"dm1\"\nrole = \"data\"\nhttp_port = 1\nactor_port = 2\ndata = \"x\"\n",
       "c.toml:2: ", "no node has role = \"master\""},
      {"\n\n[[node]]\nname = \"m\"\nrole = \"master\"\nhttp_port = 1\nactor_port = 2\ndata = \"x\"\n",
       "c.toml:3: ", "no node has role = \"data\""},
  };
  for (const auto& bad : cases) {
    INFO(bad.text);
    const auto msg = error_of(bad.text);
    INFO(msg);
    CHECK(msg.rfind(bad.prefix, 0) == 0);
    CHECK(msg.find(bad.says) != std::string::npos);
    CHECK(msg.find('\n') == std::string::npos);
  }
}

TEST_CASE("the same port on different hosts is fine", "[config]") {
  const auto c = parse(good_nodes + "[[node]]\nname = \"dm2\"\nrole = \"data\"\nhost = \"10.0.0.3\"\n"
                                    "http_port = 5011\nactor_port = 5111\ndata = \"x\"\n");
  CHECK(c.with_role(role::data).size() == 2);
}

TEST_CASE("load names the file and resolves relative data paths against it", "[config]") {
  temp_dir tmp;
  const auto file = tmp.path / "etc" / "cluster.toml";
  fs::create_directories(file.parent_path());
  std::string text = good_nodes;
  text.replace(text.find("/var/lib/stowage/dm1"), std::string("/var/lib/stowage/dm1").size(), "../data/dm1");
  std::ofstream(file) << text;

  const auto c = load(file);
  CHECK(c.find("dm1")->data == (tmp.path / "data" / "dm1").lexically_normal());
  CHECK(c.find("master")->data == fs::path("/var/lib/stowage/master")); // absolute stays

  std::ofstream(file) << "[cluster]\nmin_copies = \"two\"\n";
  try {
    load(file);
    FAIL("expected an error");
  } catch (const std::runtime_error& e) {
    CHECK(std::string(e.what()) == file.string() + ":2: min_copies must be an integer, not a string");
  }
  CHECK_THROWS_WITH(load(tmp.path / "absent.toml"), Catch::Contains("absent.toml: cannot open"));
  CHECK_THROWS_WITH(load(tmp.path), Catch::Contains("is a directory"));
}

TEST_CASE("to_toml round-trips through load", "[config]") {
  temp_dir tmp;
  cluster c = dev_cluster(tmp.path / "data", 3, 7000);
  c.settings.probe_bytes = 12345;
  c.settings.probe_timeout = std::chrono::milliseconds(777);
  c.settings.retry_interval = std::chrono::milliseconds(321);
  c.settings.proof_ttl = std::chrono::milliseconds(4242);
  c.settings.min_copies = 3;
  c.settings.probe_fanout = 2;
  c.settings.master_public_key = std::string(64, 'a');
  c.nodes[1].host = "10.1.2.3";
  c.nodes[2].data = tmp.path / "odd \"name\" \\ with\ttab";
  c.nodes[3].public_key = std::string(64, 'b');
  auto& rt = *std::find_if(c.nodes.begin(), c.nodes.end(), [](const node& n) { return n.role == role::runtime; });
  rt.cache_max_bytes = 10ull << 30;
  rt.cache_min_idle = std::chrono::seconds(90);

  const auto file = tmp.path / "cluster.toml";
  std::ofstream(file) << to_toml(c);
  const auto back = load(file);
  CHECK(back == c);
  CHECK(parse(to_toml(back)) == c);
  CHECK_FALSE(back == dev_cluster(tmp.path / "data", 3, 7000)); // equality does look at the fields
}

TEST_CASE("dev_cluster follows the DESIGN section 6 layout", "[config]") {
  temp_dir tmp;
  const auto c = dev_cluster(tmp.path, 3, 5000);
  std::vector<std::string> names;
  for (const auto& n : c.nodes) names.push_back(n.name);
  CHECK(names == std::vector<std::string>{"master", "dm1", "dm2", "dm3", "rt1"});

  const auto* rt1 = c.find("rt1");
  CHECK(rt1->role == role::runtime);
  CHECK(rt1->http_port == 5000);
  CHECK(rt1->actor_port == 5150);
  CHECK(c.master()->http_port == 5001);
  CHECK(c.master()->actor_port == 5100);
  for (int i = 1; i <= 3; ++i) {
    const auto* dm = c.find("dm" + std::to_string(i));
    REQUIRE(dm != nullptr);
    CHECK(dm->role == role::data);
    CHECK(dm->http_port == 5010 + i);
    CHECK(dm->actor_port == 5110 + i);
    CHECK(dm->data == tmp.path / ("dm" + std::to_string(i)));
  }
  for (const auto& n : c.nodes) {
    CHECK(n.host == "127.0.0.1");
    CHECK(n.data.is_absolute());
  }
  CHECK(c.settings == cluster_settings{});

  // The most data managers that fit, with all ports distinct.
  const auto big = dev_cluster(tmp.path, 39, 60000);
  std::set<int> ports;
  for (const auto& n : big.nodes) ports.insert({n.http_port, n.actor_port});
  CHECK(ports.size() == 2 * big.nodes.size());
  CHECK(big.find("dm39")->actor_port == 60149);

  CHECK_THROWS_WITH(dev_cluster(tmp.path, 0, 5000), Catch::Contains("--data-managers"));
  CHECK_THROWS_WITH(dev_cluster(tmp.path, 40, 5000), Catch::Contains("--data-managers"));
  CHECK_THROWS_WITH(dev_cluster(tmp.path, 3, 65400), Catch::Contains("--port-base"));
}

TEST_CASE("a relative dev data directory becomes absolute", "[config]") {
  const auto c = dev_cluster("stowage-data", 1, 5000);
  CHECK(c.find("dm1")->data == (fs::current_path() / "stowage-data" / "dm1"));
}

TEST_CASE("role names", "[config]") {
  CHECK(role_name(role::master) == "master");
  CHECK(role_name(role::data) == "data");
  CHECK(role_name(role::runtime) == "runtime");
}

TEST_CASE("every node's key comes from the file, or from its identity.pub on this host", "[unit][config]") {
  char t[] = "/tmp/stowage-keys-XXXXXX";
  fs::path dir = ::mkdtemp(t);
  auto c = dev_cluster(dir, 2, 21000);
  const std::string master_key(64, 'a'), dm1_key(64, 'b');
  for (auto& n : c.nodes) {
    if (n.name == "dm1") n.public_key = dm1_key;
    if (n.name == "dm2") n.host = "10.0.0.12"; // another host, no key line
  }
  c.settings.master_public_key = master_key; // the master's own line is empty
  auto dm2 = identity::load_or_create(c.find("dm2")->data); // a key in dm2's path here: not dm2's
  auto rt1 = identity::load_or_create(c.find("rt1")->data);

  CHECK_THROWS_WITH(node_keys(c, {"rt1"}), Catch::Contains("node dm2 (on 10.0.0.12) has no public_key"));
  for (auto& n : c.nodes)
    if (n.name == "dm2") n.public_key = dm2.public_key_hex();
  auto keys = node_keys(c, {"rt1"});
  CHECK(keys.at("master") == master_key);
  CHECK(keys.at("dm1") == dm1_key);
  CHECK(keys.at("rt1") == rt1.public_key_hex()); // from its identity.pub: same host
  CHECK(keys.size() == 4);

  // A node on this host that never ran and has no key line: said so at start.
  for (auto& n : c.nodes)
    if (n.name == "dm1") n.public_key.clear();
  CHECK_THROWS_WITH(node_keys(c, {"rt1"}), Catch::Contains("node dm1 has no public_key") && Catch::Contains("identity.pub"));
  fs::remove_all(dir);
}

TEST_CASE("a host is an IP address or a DNS name", "[config]") {
  for (std::string host : {"10.0.0.2", "localhost", "node-1.example.com", "example.com.", "db_1", "::1", "[::1]", "0.0.0.0", "::"}) {
    INFO(host);
    auto text = good_nodes;
    text.replace(text.find("10.0.0.2"), 8, host);
    CHECK(error_of(text) == "no error");
  }
  for (std::string host : {"exa mple", "a..b", "-a.example", "a-.example", "http://x", "10.0.0.2:80"}) {
    INFO(host);
    auto text = good_nodes;
    text.replace(text.find("10.0.0.2"), 8, host);
    CHECK(error_of(text).find("must be an IP address or a DNS name") != std::string::npos);
  }
}
