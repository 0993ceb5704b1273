#include "config/node_keys.hpp"

#include "config/identity.hpp"

#include <algorithm>
#include <set>
#include <stdexcept>

namespace stowage::config {

std::map<std::string, std::string> node_keys(const cluster& c, const std::vector<std::string>& here) {
  std::set<std::string> local_hosts;
  for (const auto& name : here)
    if (const auto* n = c.find(name)) local_hosts.insert(n->host);
  std::map<std::string, std::string> keys;
  for (const auto& n : c.nodes) {
    if (!n.public_key.empty())
      keys[n.name] = n.public_key;
    else if (n.role == role::master && !c.settings.master_public_key.empty())
      keys[n.name] = c.settings.master_public_key;
    else if (!local_hosts.count(n.host))
      throw std::runtime_error("node " + n.name + " (on " + n.host +
                               ") has no public_key in the cluster file; copy its identity.pub there");
    else if (auto pk = stored_public_key(n.data))
      keys[n.name] = to_hex(*pk);
    else
      throw std::runtime_error("node " + n.name + " has no public_key in the cluster file and no identity.pub in " +
                               n.data.string() + "; start it once or copy its key into the file");
  }
  return keys;
}

} // namespace stowage::config
