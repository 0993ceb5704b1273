// One file per subcommand; each registers itself on the application.
#pragma once

#include <CLI/CLI.hpp>

namespace stowage::cli {
void add_serve(CLI::App& app); // cmd_serve.cpp: one data manager alone
void add_run(CLI::App& app);   // cmd_run.cpp: pull an image and run it with runc
void add_dev(CLI::App& app);   // cmd_dev.cpp: a whole cluster in one process
void add_up(CLI::App& app);    // cmd_up.cpp: the nodes of a cluster file
} // namespace stowage::cli
