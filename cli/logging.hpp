// One log line per event, with the process's name in brackets; the actors
// and HTTP servers put the node's name first in each message.
#pragma once

#include <string>

namespace stowage::cli {
void setup_logging(const std::string& name, const std::string& level);
} // namespace stowage::cli
