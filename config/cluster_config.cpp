// The cluster file: parsing with toml++, validation with one-line errors that
// point at the offending line, and the inverse (to_toml) used by
// `stowage dev --print-config`.
#include "config/cluster_config.hpp"

#include <toml++/toml.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <fstream>
#include <limits>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>
#include <utility>

namespace stowage::config {

namespace {

// The largest test packet we accept: far above any sensible probe, small
// enough that a typo (an extra zero or three) cannot make a node allocate
// gigabytes per round.
constexpr std::int64_t max_probe_bytes = std::int64_t{1} << 30;

// Builds "source:line: what" messages. Line 0 means the position is unknown
// (a value built in memory), and then only the source is named.
class error_sink {
public:
  explicit error_sink(std::string_view source) : source_(source) {}

  [[noreturn]] void fail(std::uint32_t line, const std::string& what) const {
    std::string msg(source_);
    if (line > 0) msg += ":" + std::to_string(line);
    msg += ": " + what;
    throw std::runtime_error(msg);
  }
  [[noreturn]] void fail(const toml::node& at, const std::string& what) const {
    fail(static_cast<std::uint32_t>(at.source().begin.line), what);
  }

private:
  std::string_view source_;
};

const char* type_name(const toml::node& n) {
  switch (n.type()) {
    case toml::node_type::string: return "a string";
    case toml::node_type::integer: return "an integer";
    case toml::node_type::floating_point: return "a float";
    case toml::node_type::boolean: return "a boolean";
    case toml::node_type::table: return "a table";
    case toml::node_type::array: return "an array";
    case toml::node_type::date: return "a date";
    case toml::node_type::time: return "a time";
    case toml::node_type::date_time: return "a date-time";
    default: return "nothing";
  }
}

std::string in_quotes(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  out += '"';
  out += s;
  out += '"';
  return out;
}

// Reads an integer in [lo, hi]; the message names the key and the bounds.
std::int64_t integer_in(const error_sink& err, const toml::node& n, std::string_view key,
                        std::int64_t lo, std::int64_t hi) {
  const auto* v = n.as_integer();
  if (!v) err.fail(n, std::string(key) + " must be an integer, not " + type_name(n));
  const std::int64_t x = v->get();
  if (x < lo || x > hi)
    err.fail(n, std::string(key) + " = " + std::to_string(x) + " is out of range (" +
                    std::to_string(lo) + ".." + std::to_string(hi) + ")");
  return x;
}

std::string string_of(const error_sink& err, const toml::node& n, std::string_view key) {
  const auto* v = n.as_string();
  if (!v) err.fail(n, std::string(key) + " must be a string, not " + type_name(n));
  return v->get();
}

bool is_hex(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
  });
}

// Names end up in logs, metrics labels, JSON and directory names: keep them plain.
bool is_plain_name(std::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           c == '-' || c == '_' || c == '.';
  });
}

// An IP literal (IPv6 bare or in brackets) or a DNS name (RFC 1123 labels,
// '_' allowed, an optional final dot): anything else would only fail once the node binds
// or another one connects.
bool is_host(std::string_view s) {
  std::string literal(s);
  if (literal.size() > 2 && literal.front() == '[' && literal.back() == ']')
    literal = literal.substr(1, literal.size() - 2);
  in_addr v4;
  in6_addr v6;
  if (::inet_pton(AF_INET, literal.c_str(), &v4) == 1 || ::inet_pton(AF_INET6, literal.c_str(), &v6) == 1)
    return true;
  if (!s.empty() && s.back() == '.') s.remove_suffix(1);
  if (s.empty() || s.size() > 253) return false;
  for (std::size_t start = 0;;) {
    const auto dot = s.find('.', start);
    const auto label = s.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') return false;
    for (char c : label)
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') return false; // '_': container networks' names
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

std::optional<role> role_from(std::string_view s) {
  if (s == "master") return role::master;
  if (s == "data") return role::data;
  if (s == "runtime") return role::runtime;
  return std::nullopt;
}

cluster_settings read_settings(const error_sink& err, const toml::table& t) {
  cluster_settings s;
  for (auto&& [key, value] : t) {
    const std::string_view k = key.str();
    if (k == "probe_bytes") {
      s.probe_bytes = static_cast<std::uint64_t>(integer_in(err, value, k, 1, max_probe_bytes));
    } else if (k == "probe_timeout_ms") {
      s.probe_timeout = std::chrono::milliseconds(
          integer_in(err, value, k, 1, std::numeric_limits<std::int32_t>::max()));
    } else if (k == "retry_interval_ms") {
      s.retry_interval = std::chrono::milliseconds(
          integer_in(err, value, k, 1, std::numeric_limits<std::int32_t>::max()));
    } else if (k == "proof_ttl_ms") {
      s.proof_ttl = std::chrono::milliseconds(
          integer_in(err, value, k, 1, std::numeric_limits<std::int32_t>::max()));
    } else if (k == "min_copies") {
      s.min_copies = static_cast<std::uint32_t>(integer_in(err, value, k, 1, 1000));
    } else if (k == "probe_fanout") {
      const auto f = integer_in(err, value, k, 0, 1000);
      if (f == 1)
        err.fail(value, "probe_fanout = 1 is not allowed: a round compares at least 2 "
                        "data managers (0 means all healthy holders)");
      s.probe_fanout = static_cast<std::uint32_t>(f);
    } else if (k == "master_public_key") {
      s.master_public_key = string_of(err, value, k);
      if (!s.master_public_key.empty() && (s.master_public_key.size() != 64 || !is_hex(s.master_public_key)))
        err.fail(value, "master_public_key must be 64 hex digits (an Ed25519 public key) or empty");
    } else {
      err.fail(value, "unknown key " + in_quotes(k) + " in [cluster]");
    }
  }
  return s;
}

struct located_node {
  config::node node;
  std::uint32_t line = 0;                        // its [[node]] header
  std::map<std::string, std::uint32_t> key_line; // where each key was written
};

located_node read_node(const error_sink& err, const toml::table& t) {
  located_node out;
  out.line = static_cast<std::uint32_t>(t.source().begin.line);
  bool has_role = false, has_http = false, has_actor = false, has_data = false, has_name = false;
  for (auto&& [key, value] : t) {
    const std::string_view k = key.str();
    out.key_line[std::string(k)] = static_cast<std::uint32_t>(value.source().begin.line);
    if (k == "name") {
      out.node.name = string_of(err, value, k);
      if (!is_plain_name(out.node.name))
        err.fail(value, "name " + in_quotes(out.node.name) +
                            " must be 1 to 64 characters of letters, digits, '-', '_' or '.'");
      has_name = true;
    } else if (k == "role") {
      const auto r = role_from(string_of(err, value, k));
      if (!r)
        err.fail(value, "role " + in_quotes(*value.value<std::string>()) +
                            " is not one of \"master\", \"data\", \"runtime\"");
      out.node.role = *r;
      has_role = true;
    } else if (k == "host") {
      out.node.host = string_of(err, value, k);
      if (!is_host(out.node.host))
        err.fail(value, "host " + in_quotes(out.node.host) + " must be an IP address or a DNS name");
    } else if (k == "http_port") {
      out.node.http_port = static_cast<std::uint16_t>(integer_in(err, value, k, 1, 65535));
      has_http = true;
    } else if (k == "actor_port") {
      out.node.actor_port = static_cast<std::uint16_t>(integer_in(err, value, k, 1, 65535));
      has_actor = true;
    } else if (k == "data") {
      const auto d = string_of(err, value, k);
      if (d.empty()) err.fail(value, "data must name a directory");
      out.node.data = d;
      has_data = true;
    } else if (k == "public_key") {
      out.node.public_key = string_of(err, value, k);
      if (!out.node.public_key.empty() && (out.node.public_key.size() != 64 || !is_hex(out.node.public_key)))
        err.fail(value, "public_key must be 64 hex digits (the node's identity.pub) or empty");
    } else if (k == "cache_max_bytes") {
      out.node.cache_max_bytes =
          static_cast<std::uint64_t>(integer_in(err, value, k, 0, std::numeric_limits<std::int64_t>::max()));
    } else if (k == "cache_min_idle_s") {
      out.node.cache_min_idle = std::chrono::seconds(integer_in(err, value, k, 1, 365LL * 24 * 3600));
    } else {
      err.fail(value, "unknown key " + in_quotes(k) + " in [[node]]");
    }
  }
  if (has_role && out.node.role != role::runtime)
    for (const char* key : {"cache_max_bytes", "cache_min_idle_s"})
      if (auto line = out.key_line.find(key); line != out.key_line.end())
        err.fail(line->second, "cache_max_bytes and cache_min_idle_s are for a runtime's image cache; " +
                                   in_quotes(out.node.name) + " is not a runtime");
  const auto missing = [&](const char* key) {
    err.fail(out.line, std::string("[[node]]") +
                           (has_name ? " " + in_quotes(out.node.name) : std::string()) +
                           " has no " + key);
  };
  if (!has_name) missing("name");
  if (!has_role) missing("role");
  if (!has_http) missing("http_port");
  if (!has_actor) missing("actor_port");
  if (!has_data) missing("data");
  return out;
}

std::uint32_t line_of(const located_node& n, const std::string& key) {
  auto it = n.key_line.find(key);
  return it == n.key_line.end() ? n.line : it->second;
}

// The rules that span nodes: unique names, one master, a data node, free ports,
// and a min_copies the cluster can actually reach.
/// The address a host string binds, for telling whether two bindings meet:
/// "localhost" is 127.0.0.1, and a wildcard ("0.0.0.0", "::") meets every
/// address on its machine (empty key).
std::string bind_key(const std::string& host) {
  if (host == "0.0.0.0" || host == "::" || host == "[::]" || host.empty()) return {};
  if (host == "localhost") return "127.0.0.1";
  return host;
}

bool same_binding(const std::string& a, const std::string& b) {
  auto x = bind_key(a), y = bind_key(b);
  return x.empty() || y.empty() || x == y;
}

void validate(const error_sink& err, const cluster_settings& s, const std::vector<located_node>& nodes,
              std::uint32_t nodes_line, std::uint32_t min_copies_line) {
  if (nodes.empty())
    err.fail(nodes_line, "no [[node]] tables: a cluster needs one master and at least one data node");

  std::map<std::string, const located_node*> by_name;
  struct taken {
    const located_node* node;
    const char* key;
    std::uint16_t port;
  };
  std::vector<taken> ports;
  std::vector<std::pair<std::filesystem::path, const located_node*>> data_dirs;
  const located_node* master = nullptr;
  std::size_t data_nodes = 0;

  for (const auto& n : nodes) {
    if (auto [it, fresh] = by_name.emplace(n.node.name, &n); !fresh)
      err.fail(line_of(n, "name"), "node name " + in_quotes(n.node.name) + " is already used on line " +
                                       std::to_string(line_of(*it->second, "name")));
    if (n.node.role == role::master) {
      if (master)
        err.fail(line_of(n, "role"), "second master " + in_quotes(n.node.name) + " (" +
                                         in_quotes(master->node.name) + " is the master): exactly one is allowed");
      master = &n;
    }
    if (n.node.role == role::data) ++data_nodes;

    const std::pair<const char*, std::uint16_t> own[] = {{"http_port", n.node.http_port},
                                                         {"actor_port", n.node.actor_port}};
    for (const auto& [key, port] : own) {
      for (const auto& t : ports)
        if (t.port == port && same_binding(t.node->node.host, n.node.host))
          err.fail(line_of(n, key), in_quotes(n.node.name) + " " + key + " " + std::to_string(port) + " on " +
                                        n.node.host + " is already taken by " + in_quotes(t.node->node.name) + " " +
                                        t.key + " on " + t.node->node.host);
      ports.push_back({&n, key, port});
    }
    // Two nodes of one machine in one directory would share a key and a store.
    auto path = n.node.data.lexically_normal();
    if (!path.has_filename() && path.has_parent_path()) path = path.parent_path(); // "dir/" is "dir"
    for (const auto& [other, by] : data_dirs)
      if (other == path && same_binding(by->node.host, n.node.host))
        err.fail(line_of(n, "data"), in_quotes(n.node.name) + " data " + n.node.data.string() +
                                         " is already used by " + in_quotes(by->node.name) +
                                         ": every node needs its own directory");
    data_dirs.emplace_back(path, &n);
  }
  if (!master)
    err.fail(nodes_line, "no node has role = \"master\": exactly one is needed");
  if (data_nodes == 0)
    err.fail(nodes_line, "no node has role = \"data\": at least one data manager is needed");
  // A push is durable on the target, on other data managers, or in the master's
  // handoff store: more copies than that can never be reached.
  if (s.min_copies > data_nodes + 1)
    err.fail(min_copies_line, "min_copies = " + std::to_string(s.min_copies) + " cannot be reached: " +
                             std::to_string(data_nodes) +
                             " data manager(s) plus the master's handoff store hold at most " +
                             std::to_string(data_nodes + 1));
}

// The document's two top-level keys; anything else is a typo worth reporting.
cluster parse_table(const toml::table& root, std::string_view source) {
  const error_sink err(source);
  cluster c;
  std::uint32_t nodes_line = 1, min_copies_line = 1;
  std::vector<located_node> nodes;
  for (auto&& [key, value] : root) {
    const std::string_view k = key.str();
    if (k == "cluster") {
      const auto* t = value.as_table();
      if (!t) err.fail(value, "cluster must be a table ([cluster]), not " + std::string(type_name(value)));
      c.settings = read_settings(err, *t);
      if (const auto* m = t->get("min_copies")) min_copies_line = m->source().begin.line;
    } else if (k == "node") {
      const auto* a = value.as_array();
      if (!a) err.fail(value, "node must be an array of tables ([[node]]), not " + std::string(type_name(value)));
      for (const auto& element : *a) {
        const auto* t = element.as_table();
        if (!t) err.fail(element, "each node must be a table ([[node]]), not " + std::string(type_name(element)));
        nodes.push_back(read_node(err, *t));
      }
      if (!nodes.empty()) nodes_line = nodes.front().line;
    } else {
      err.fail(value, "unknown top-level key " + in_quotes(k) + " (expected [cluster] and [[node]])");
    }
  }
  validate(err, c.settings, nodes, nodes_line, min_copies_line);
  c.nodes.reserve(nodes.size());
  for (auto& n : nodes) c.nodes.push_back(std::move(n.node));
  return c;
}

// TOML basic string: quotes, backslashes and control characters escaped.
std::string toml_string(std::string_view s) {
  std::string out = "\"";
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\t': out += "\\t"; break;
      case '\n': out += "\\n"; break;
      case '\f': out += "\\f"; break;
      case '\r': out += "\\r"; break;
      default:
        if (c < 0x20 || c == 0x7f) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04X", c);
          out += buf;
        } else {
          out += ch;
        }
    }
  }
  return out + "\"";
}

} // namespace

const node* cluster::find(std::string_view name) const {
  for (const auto& n : nodes)
    if (n.name == name) return &n;
  return nullptr;
}

const node* cluster::master() const {
  for (const auto& n : nodes)
    if (n.role == role::master) return &n;
  return nullptr;
}

std::vector<const node*> cluster::with_role(config::role r) const {
  std::vector<const node*> out;
  for (const auto& n : nodes)
    if (n.role == r) out.push_back(&n);
  return out;
}

std::string_view role_name(role r) {
  switch (r) {
    case role::master: return "master";
    case role::data: return "data";
    case role::runtime: return "runtime";
  }
  return "unknown";
}

cluster parse(std::string_view toml_text, std::string_view source_name) {
  toml::table root;
  try {
    root = toml::parse(toml_text, source_name);
  } catch (const toml::parse_error& e) {
    error_sink(source_name).fail(static_cast<std::uint32_t>(e.source().begin.line),
                                 std::string(e.description()));
  }
  return parse_table(root, source_name);
}

cluster load(const std::filesystem::path& file) {
  std::error_code ec;
  if (std::filesystem::is_directory(file, ec))
    throw std::runtime_error(file.string() + ": is a directory, not a cluster file");
  std::ifstream in(file, std::ios::binary);
  if (!in) throw std::runtime_error(file.string() + ": cannot open the cluster file");
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) throw std::runtime_error(file.string() + ": cannot read the cluster file");

  cluster c = parse(text.str(), file.string());
  // Relative data directories belong to the file, not to wherever the
  // process happens to be started from.
  const auto base = std::filesystem::absolute(file).parent_path();
  for (auto& n : c.nodes)
    if (n.data.is_relative()) n.data = (base / n.data).lexically_normal();
  return c;
}

std::string to_toml(const cluster& c) {
  const auto& s = c.settings;
  std::ostringstream out;
  // "key = value" padded so the comments line up.
  const auto line = [&out](const std::string& assignment, std::string_view comment) {
    out << assignment << std::string(assignment.size() < 26 ? 26 - assignment.size() : 1, ' ') << "# "
        << comment << "\n";
  };
  out << "# Stowage cluster file (one process per node: stowage up --config FILE --node NAME)\n"
      << "[cluster]\n";
  line("probe_bytes = " + std::to_string(s.probe_bytes), "size of a test packet");
  line("probe_timeout_ms = " + std::to_string(s.probe_timeout.count()),
       "deadline of a probe round; one that measured nobody runs again at 2x, then 4x");
  line("retry_interval_ms = " + std::to_string(s.retry_interval.count()), "handoff retry period");
  line("proof_ttl_ms = " + std::to_string(s.proof_ttl.count()), "lifetime of a push proof pair");
  line("min_copies = " + std::to_string(s.min_copies), "durable places before a push is acknowledged");
  line("probe_fanout = " + std::to_string(s.probe_fanout), "candidates per probe round; 0 = all healthy holders");
  line("master_public_key = " + toml_string(s.master_public_key),
       "hex Ed25519 (the master's identity.pub); empty in dev");
  for (const auto& n : c.nodes) {
    out << "\n[[node]]\n"
        << "name = " << toml_string(n.name) << "\n"
        << "role = " << toml_string(role_name(n.role)) << "\n"
        << "host = " << toml_string(n.host) << "\n"
        << "http_port = " << n.http_port << "\n"
        << "actor_port = " << n.actor_port << "\n"
        << "data = " << toml_string(n.data.string()) << "\n";
    if (!n.public_key.empty()) out << "public_key = " << toml_string(n.public_key) << "\n";
    if (n.role == role::runtime) {
      out << "cache_max_bytes = " << n.cache_max_bytes << "   # image cache bound; 0 = none\n"
          << "cache_min_idle_s = " << n.cache_min_idle.count() << "   # an image used more recently stays\n";
    }
  }
  return out.str();
}

cluster dev_cluster(const std::filesystem::path& dir, std::uint32_t data_managers, std::uint16_t port_base) {
  // Layout (DESIGN §6): http P (rt1), P+1 (master), P+10+i (dm i); actor
  // P+100 (master), P+110+i (dm i), P+150 (rt1). dm actor ports must stay
  // below rt1's P+150, hence at most 39 data managers.
  if (data_managers < 1 || data_managers > 39)
    throw std::runtime_error("--data-managers must be between 1 and 39, not " + std::to_string(data_managers));
  if (port_base < 1 || port_base > 65535 - 150)
    throw std::runtime_error("--port-base must be between 1 and " + std::to_string(65535 - 150) + ", not " +
                             std::to_string(port_base));
  const auto root = std::filesystem::absolute(dir).lexically_normal();
  const auto port = [&](unsigned offset) { return static_cast<std::uint16_t>(port_base + offset); };

  cluster c; // public keys stay empty in dev (see node::public_key)
  c.nodes.push_back({"master", role::master, "127.0.0.1", port(1), port(100), root / "master", {}});
  for (std::uint32_t i = 1; i <= data_managers; ++i) {
    const auto name = "dm" + std::to_string(i);
    c.nodes.push_back({name, role::data, "127.0.0.1", port(10 + i), port(110 + i), root / name, {}});
  }
  c.nodes.push_back({"rt1", role::runtime, "127.0.0.1", port(0), port(150), root / "rt1", {}});
  // The same checks as a file gets: dev and up run the very same clusters.
  return parse(to_toml(c), "stowage dev");
}

} // namespace stowage::config
