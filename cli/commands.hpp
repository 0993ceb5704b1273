// One file per subcommand; each registers itself on the application.
#pragma once

#include <CLI/CLI.hpp>

namespace stowage::cli {
void add_serve(CLI::App& app); // cmd_serve.cpp: one data manager alone
void add_run(CLI::App& app);   // cmd_run.cpp: pull an image and run it with runc
// add_dev, add_up land with their commands.
} // namespace stowage::cli
