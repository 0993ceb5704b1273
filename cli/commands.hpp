// One file per subcommand; each registers itself on the application.
#pragma once

#include <CLI/CLI.hpp>

namespace stowage::cli {
void add_serve(CLI::App& app); // cmd_serve.cpp: one data manager alone
// add_dev, add_up, add_run land with their commands.
} // namespace stowage::cli
