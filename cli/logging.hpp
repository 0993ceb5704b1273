// One log line per event, with the process's name in brackets; the actors
// and HTTP servers put the node's name first in each message.
#pragma once

#include <string>

namespace CLI {
class App;
}

namespace stowage::cli {
/// Logs to stderr as `name`, at `level` (one of add_log_level_option's).
void setup_logging(const std::string& name, const std::string& level);
/// Adds --log-level to `cmd`. Any other value than trace, debug, info, warn
/// or error is refused with a one-line message (spdlog would take a typo
/// for "off" and silence every error).
void add_log_level_option(CLI::App& cmd, std::string& level);
} // namespace stowage::cli
